"""Text normalisation, multilingual keyword groups, thickness, and the fast constructor."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from assay.engine.contracts import Flag, trusted
from assay.engine.ruleset import default_pack_dir, load_default_pack
from assay.engine.text import (
    TermMatcher,
    bottle_litres,
    normalise,
    pieces_written,
    thickness_mm,
)

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
        "role": "indicator",
        "item_line": None,
        "explanation": "x.",
        "evidence": {"item.line": 1.0},
    }
    fast = trusted(Flag, dict(values))
    assert fast == Flag.model_validate(values)
    assert fast.model_dump_json() == Flag.model_validate(values).model_dump_json()


# The shipped pack's keyword groups and exclusions, as the default engine matches them.
PACK_TERMS = load_default_pack().reference.terms


def _groups(text: str) -> frozenset[str]:
    return PACK_TERMS.match(normalise(text))


@pytest.mark.parametrize(
    "text",
    [
        "Ores and concentrates n.e.c. in chapter 26; other than antimony",
        "Compounds, inorganic or organic (excluding cerium), of rare-earth metals",
        "PET BOTTLE RESIN, ANTIMONY-FREE",
        "pigment not containing antimony",
        "Lamps; tungsten halogen, 12V 50W",
        "TUNGSTEN CARBIDE DRILL BITS SET 13PCS",
        "MAGNETIC RESONANCE IMAGING APPARATUS",
        "ZIRCONIA DENTAL BLOCKS YTTRIA STABILIZED",
        "GRAPHITE ELECTRODES UHP 450MM",
        "颜料 不含锑",
        "Pigmente ohne Antimon",
    ],
)
def test_a_material_named_to_exclude_it_is_not_a_mention(text: str) -> None:
    assert {"CONTROLLED_NAME", "OTHER_CONTROLLED_NAME"}.isdisjoint(_groups(text)), text


@pytest.mark.parametrize(
    ("text", "group"),
    [
        ("ANTIMONY TRIOXIDE 99.8%", "CONTROLLED_NAME"),
        ("Antimony ores and concentrates", "CONTROLLED_NAME"),
        ("TUNGSTEN CARBIDE POWDER 0.8 MICRON", "OTHER_CONTROLLED_NAME"),  # runs past the tool name
        ("CERAMIC TILES; DYSPROSIUM OXIDE", "CONTROLLED_NAME"),  # a clause after an exclusion
        ("PIGMENT NOT CONTAINING LEAD, ANTIMONY TRIOXIDE", "CONTROLLED_NAME"),
        ("NDFEB MAGNETS N52 DY FREE", "HRE_FREE"),  # a phrase taking in the excluding word
        ("magnets without dysprosium", "HRE_FREE"),
        ("烧结钕铁硼 无镝", "HRE_FREE"),
        ("氧化镝 99.5%", "CONTROLLED_NAME"),
    ],
)
def test_a_material_named_outside_an_exclusion_is_a_mention(text: str, group: str) -> None:
    assert group in _groups(text), text


def test_a_free_material_is_not_named_but_its_free_phrase_is() -> None:
    groups = _groups("NDFEB MAGNET DYSPROSIUM FREE")
    assert "HRE_FREE" in groups and "DYSPROSIUM" not in groups


def _flat(phrases: list[str] | dict[str, list[str]]) -> list[str]:
    return phrases if isinstance(phrases, list) else [p for ps in phrases.values() for p in ps]


_TERMS_YAML = yaml.safe_load((default_pack_dir() / "reference" / "terms.yaml").read_text())
PLAIN_TERMS = TermMatcher({g: _flat(p) for g, p in _TERMS_YAML["groups"].items()})
_WORDS = ["ANTIMONY", "FREE", "OTHER", "THAN", "WITHOUT", "TUNGSTEN", "HALOGEN", "DY", "不含", "锑"]


@given(st.lists(st.sampled_from([*_WORDS, ";", ",", "(", ")", "-", " X "]), max_size=12))
def test_exclusions_only_ever_remove_groups(pieces: list[str]) -> None:
    text = normalise(" ".join(pieces))
    assert PACK_TERMS.match(text) <= PLAIN_TERMS.match(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DRINKING WATER 24X500ML PET", (0.5, 24)),
        ("AGUA MINERAL 6 X 1,5 L", (1.5, 6)),
        ("MINERAL WATER 1.5L GLASS", (1.5, None)),
        ("EAU MINERALE 75CL", (0.75, None)),
        ("WATER 19L JUG", (19.0, None)),
        ("SPRING WATER", (None, None)),
        ("PALLET 1200X800MM", (None, None)),  # a size in mm is not a bottle
    ],
)
def test_bottle_sizes_are_read_from_the_description(
    text: str, expected: tuple[float | None, int | None]
) -> None:
    assert bottle_litres(normalise(text)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MANNEQUINS 1PC/CTN", (None, 1)),
        ("DRESS FORMS 2 PCS/CTN", (None, 2)),
        ("PLASTIC MANNEQUINS FULL BODY 52 PCS", (52, None)),
        ("MANNEQUINS 1,200 PCS", (1200, None)),
        ("SHOP WINDOW MANNEQUINS ASSORTED", (None, None)),
    ],
)
def test_piece_counts_are_read_from_the_description(
    text: str, expected: tuple[int | None, int | None]
) -> None:
    assert pieces_written(normalise(text)) == expected


@given(st.text(max_size=80))
def test_written_quantities_are_in_range_or_absent(text: str) -> None:
    size, per_pack = bottle_litres(normalise(text))
    assert size is None or 0.05 <= size <= 25.0
    assert per_pack is None or per_pack > 0
    total, per_package = pieces_written(normalise(text))
    assert total is None or total > 0
    assert per_package is None or per_package > 0
