"""The detection benchmark's corpus: valid manifests, reproducible, labelled as built, and
honest where it says it is honest (bench/detection_corpus.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest

from assay.engine import Manifest
from bench.detection_corpus import PATTERNS, SCENARIOS, TIERS, Label, allocate, generate
from bench.goods_catalogue import ORDINARY
from bench.hs_nomenclature import Subheading, subheadings
from bench.trade_figures import CONTROLLED, COVER, PER_USD, profile_for
from tests.conftest import HS2022

SIZE = 1500
Corpus = list[tuple[dict[str, Any], Label]]


@pytest.fixture(scope="module")
def nomenclature() -> list[Subheading]:
    if not HS2022.is_file():
        pytest.fail(f"the HS 2022 nomenclature is missing: set ASSAY_SHARED (looked at {HS2022})")
    return subheadings(HS2022)


@pytest.fixture(scope="module")
def corpus(nomenclature: list[Subheading]) -> Corpus:
    return generate(SIZE, 7, nomenclature)


def test_every_manifest_validates(corpus: Corpus) -> None:
    problems = []
    for manifest, label in corpus:
        try:
            Manifest.model_validate(manifest)
        except ValueError as error:
            problems.append(f"{label.scenario}: {error}")
    assert not problems, "\n".join(problems[:10])


def test_same_seed_same_corpus_other_seed_other_corpus(
    corpus: Corpus, nomenclature: list[Subheading]
) -> None:
    def dump(c: Corpus) -> bytes:
        return b"".join(orjson.dumps(m) + orjson.dumps(label.__dict__) for m, label in c)

    assert dump(generate(SIZE, 7, nomenclature)) == dump(corpus)
    assert dump(generate(SIZE, 8, nomenclature)) != dump(corpus)


def test_labels_follow_the_plan(corpus: Corpus) -> None:
    counts = Counter(label.scenario for _, label in corpus)
    assert counts == Counter(allocate(SIZE))
    assert sum(allocate(SIZE).values()) == SIZE
    assert {label.tier for _, label in corpus} == set(TIERS)
    ids = [label.manifest_id for _, label in corpus]
    assert ids == [m["manifest_id"] for m, _ in corpus] and len(set(ids)) == SIZE
    cells = {(s.pattern, s.form) for s in SCENARIOS if s.tier == "concealment"}
    assert cells == {(p, f) for p in PATTERNS for f in ("plain", "harder")}
    for scenario in SCENARIOS:
        assert (scenario.tier == "concealment") == (scenario.pattern is not None)


def test_every_hs_code_is_a_real_subheading(
    corpus: Corpus, hs2022_subheadings: frozenset[str]
) -> None:
    used = {item["hs_code"] for m, _ in corpus for item in m["items"]}
    used |= {code for goods in ORDINARY for code in goods.hs}
    used |= {material.hs for material in CONTROLLED}
    assert used <= hs2022_subheadings, used - hs2022_subheadings


def test_every_subheading_has_a_trade_profile(nomenclature: list[Subheading]) -> None:
    for subheading in nomenclature:
        profile = profile_for(subheading.code)
        assert profile.origins and profile.modes
        assert 0 < profile.usd_per_kg[0] <= profile.usd_per_kg[1]
        assert 0 < profile.kg_per_unit[0] <= profile.kg_per_unit[1]


def _usd_per_kg(item: dict[str, Any]) -> float:
    return float(item["value"]) / PER_USD[item["currency"]] / float(item["net_mass_kg"])


def test_honest_cover_goods_keep_honest_physics(corpus: Corpus) -> None:
    """Honest water, tiles and mannequins stay within the reference ranges (REF §4, §7), in
    whatever unit they are declared: the corpus is honest where its label says so."""
    pet = COVER["water.pet_kg_per_litre"]
    glass = COVER["water.glass_kg_per_litre"]
    for manifest, label in corpus:
        if label.tier == "concealment":
            continue
        for item in manifest["items"]:
            unit, gross = item.get("quantity_unit"), item["gross_mass_kg"]
            per_unit = gross / item["quantity"] if unit else None
            if item["hs_code"].startswith("2201") and unit == "l":
                assert per_unit is not None
                assert pet.low - 0.01 <= per_unit <= pet.high + 0.01 or (
                    glass.low - 0.01 <= per_unit <= glass.high + 0.01
                ), (label, item)
            if item["hs_code"].startswith("6907") and unit == "m2":
                assert per_unit is not None and 17.9 <= per_unit <= 50.1, (label, item)
            if item["hs_code"] == "961800" and unit == "pcs":
                assert per_unit is not None and per_unit <= 16.1, (label, item)
            if item["hs_code"] == "381010" and label.tier != "honest_hs_wording":
                assert item["package_type"] == "CT" and _usd_per_kg(item) <= 151, (label, item)


def test_concealment_lines_are_what_they_say(corpus: Corpus) -> None:
    """Spot checks that each concealment scenario put in what its label says."""
    for manifest, label in corpus:
        items = manifest["items"]
        if label.scenario == "water_heavy_litres":
            water = [i for i in items if i["hs_code"].startswith("2201")]
            assert water and water[0]["gross_mass_kg"] / water[0]["quantity"] >= 1.9
        if label.scenario == "mannequins_heavy_pieces":
            figures = [i for i in items if i["hs_code"] == "961800"]
            assert figures and figures[0]["gross_mass_kg"] / figures[0]["quantity"] >= 25
        if label.scenario == "through_third_country":
            assert manifest["countries_of_routing"][0] == "CN"
            assert all(i["origin_country"] != "CN" for i in items)
        if label.scenario == "routing_hidden_chinese_port":
            assert "countries_of_routing" not in manifest
            assert manifest["port_of_loading"].startswith("CN")
        if label.pattern == "controlled_material":
            assert not any(i.get("licences") for i in items)
