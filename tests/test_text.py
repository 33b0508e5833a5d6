"""Text normalisation, multilingual keyword groups, thickness, and the fast constructor."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.engine.contracts import Flag, trusted
from assay.engine.text import TermMatcher, normalise, thickness_mm

MATCHER = TermMatcher(
    {
        "WATER": ["water", "drinking water", "agua", "水"],
        "SOLDER_PASTE": ["solder paste", "pasta de soldar"],
        "MANNEQUIN": ["mannequin*", "人体模型"],
        "DYSPROSIUM": ["dysprosium", "Dy2O3", "óxido de disprosio", "氧化镝"],
    }
)


@given(st.text())
def test_normalise_is_idempotent_and_durable_safe(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert '"' not in once and "\\" not in once
    assert not any(ord(ch) < 0x20 for ch in once)
    assert once == once.strip() and "  " not in once


@pytest.mark.parametrize(
    ("description", "groups"),
    [
        ("Drinking Water 550ml PET", {"WATER"}),
        ("WATERPROOF JACKETS", set()),
        ("AGUA POTABLE", {"WATER"}),
        ("矿泉水 玻璃瓶", {"WATER"}),
        ("SOLDER PASTE SAC305", {"SOLDER_PASTE"}),
        ("PASTA DE SOLDAR", {"SOLDER_PASTE"}),
        ("SOLDER WIRE PASTE-FREE", set()),
        ("FEMALE MANNEQUINS", {"MANNEQUIN"}),
        ("ÓXIDO DE DISPROSIO 99%", {"DYSPROSIUM"}),
        ("OXIDO DE DISPROSIO", set()),
        ("含氧化镝的粉末", {"DYSPROSIUM"}),
        ("DY2O3 POWDER AND WATER", {"DYSPROSIUM", "WATER"}),
    ],
)
def test_term_groups(description: str, groups: set[str]) -> None:
    assert MATCHER.match(normalise(description)) == groups


@pytest.mark.parametrize(
    ("description", "mm"),
    [
        ("PORCELAIN TILES 600X600MM 10MM", 10.0),
        ("OUTDOOR PAVERS 600X600X20MM", 20.0),
        ("R11 PAVERS 60X60 CM 2CM", 20.0),
        ("TILE 9,5 MM", 9.5),
        ("TILES 1200X600MM", None),
        ("TILES 100MM", None),
    ],
)
def test_thickness(description: str, mm: float | None) -> None:
    assert thickness_mm(normalise(description)) == mm


def test_trusted_equals_validated() -> None:
    values = {
        "rule_id": "r",
        "title": "t",
        "pattern": "p",
        "severity": "low",
        "score": 5,
        "item_line": None,
        "explanation": "x.",
        "evidence": {"item.line": 1.0},
    }
    fast = trusted(Flag, dict(values))
    assert fast == Flag.model_validate(values)
    assert fast.model_dump_json() == Flag.model_validate(values).model_dump_json()
