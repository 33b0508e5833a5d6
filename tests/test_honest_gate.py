"""Honest-trade gate: every HS 2022 subheading, shipped honestly, passes the default pack.

Each level-6 subheading of ``../shared/data/hs2022.csv`` (5,612, pseudo-codes dropped) becomes
one manifest described in the nomenclature's own words, with the typical mass, value, unit,
packing and transport of its chapter and heading, from a country that makes such goods, by a
consignor registered years ago, direct or through an ordinary hub (``bench.hs_manifests``;
the figures are in ``bench.trade_figures``, written from REFERENCE.md and trade knowledge, not
from the rules). Controlled materials (REF §2) travel with an export licence from a producer.

The gate: none red, at most 1 % not green. A failure lists every manifest that is not green
with its HS code, description, lane and the rules that fired, so a rule author sees what to
fix. Honest trade stopped at the border is a cost the pack must keep small.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from assay.engine import Engine, Manifest
from bench.hs_manifests import honest_manifest
from bench.hs_nomenclature import Subheading, subheadings
from tests.conftest import HS2022

HS2022_SUBHEADINGS = 5612  # level-6 rows of the file, pseudo-codes dropped (REF §6)
MAX_NOT_GREEN = 0.01

Gate = list[tuple[Subheading, dict[str, Any]]]


@pytest.fixture(scope="module")
def gate() -> Gate:
    if not HS2022.is_file():
        pytest.fail(f"the HS 2022 nomenclature is missing: set ASSAY_SHARED (looked at {HS2022})")
    return [(subheading, honest_manifest(subheading)) for subheading in subheadings(HS2022)]


@pytest.fixture(scope="module")
def default_engine() -> Iterator[Engine]:
    engine = Engine()
    yield engine
    engine.close()


def test_gate_covers_every_level_6_subheading(
    gate: Gate, hs2022_subheadings: frozenset[str]
) -> None:
    codes = [subheading.code for subheading, _ in gate]
    assert len(codes) == len(set(codes)) == HS2022_SUBHEADINGS
    assert set(codes) == hs2022_subheadings
    for subheading, manifest in gate:
        (item,) = manifest["items"]
        assert item["hs_code"] == subheading.code
        assert item["description"] == subheading.description


def test_every_gate_manifest_validates(gate: Gate) -> None:
    problems = []
    for subheading, manifest in gate:
        try:
            Manifest.model_validate(manifest)
        except ValidationError as error:
            problems.append(f"{subheading.code}: {error}")
    assert not problems, "\n".join(problems[:20])


def test_controlled_subheadings_travel_with_a_licence(gate: Gate) -> None:
    licensed = {s.code for s, m in gate if m["items"][0].get("licences")}
    assert {"280530", "284690", "850511", "811292", "282580", "810194", "250410"} <= licensed
    assert "690721" not in licensed and "220190" not in licensed


def test_honest_trade_passes_the_default_pack(gate: Gate, default_engine: Engine) -> None:
    stopped = []
    rules: Counter[str] = Counter()
    for subheading, manifest in gate:
        result = default_engine.screen(Manifest.model_validate(manifest))
        if result.channel == "green":
            continue
        fired = sorted({flag.rule_id for flag in result.flags})
        rules.update(fired)
        stopped.append((subheading, result.channel, fired))
    red = [entry for entry in stopped if entry[1] == "red"]
    total = len(gate)
    summary = (
        f"{len(stopped)} of {total} honest manifests not green ({len(stopped) / total:.1%}; "
        f"at most {MAX_NOT_GREEN:.0%} allowed), {len(red)} red (none allowed)\n"
        f"rules that stopped them: {', '.join(f'{r} {n}' for r, n in rules.most_common())}\n"
    )
    listing = "\n".join(
        f"{s.code} {channel:<6} {', '.join(fired)} | {s.description}"
        for s, channel, fired in sorted(stopped, key=lambda e: (e[1] != "red", e[0].code))
    )
    assert not red and len(stopped) <= MAX_NOT_GREEN * total, summary + listing
