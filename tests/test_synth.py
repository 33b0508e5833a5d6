"""The synthetic labelled corpus: valid manifests, reproducible, honest labels."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.engine.contracts import Manifest
from assay.fixtures.synth import HS_CODES, PATTERNS, SCENARIOS, Label, generate, write_corpus

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"

Corpus = list[tuple[dict[str, Any], Label]]


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return list(generate(2_000, 20260101))


@pytest.fixture(scope="module")
def hs2022(hs2022_subheadings: frozenset[str]) -> frozenset[str]:
    return hs2022_subheadings


def _kg_per(item: dict[str, Any], unit: str) -> float | None:
    if item.get("quantity_unit") != unit:
        return None
    return float(item["gross_mass_kg"]) / float(item["quantity"])


_THICK = re.compile(r"(?<![X\d.])(\d{1,2})\s*(MM|CM)\b")


def _thickness_mm(desc: str) -> float | None:
    m = _THICK.search(desc.upper())
    if m is None:
        return None
    return float(m.group(1)) * (10 if m.group(2) == "CM" else 1)


def _blended(item: dict[str, Any]) -> bool:
    """Heavier than the stated thickness allows (>= 40 % over 2.5 kg/m2 per mm), or > 55 kg/m2."""
    kgm2 = _kg_per(item, "m2")
    if kgm2 is None:
        return False
    t = _thickness_mm(item["description"])
    return kgm2 > 55 if t is None else kgm2 >= 1.39 * 2.5 * t


# ---------------------------------------------------------------------------- contract


@pytest.mark.parametrize("seed", [0, 1, 42, 987_654_321])
def test_every_manifest_validates(seed: int) -> None:
    for manifest, _ in generate(750, seed):
        Manifest.model_validate(manifest)


def test_samples_validate() -> None:
    files = sorted(SAMPLES.glob("*.json"))
    assert len(files) == 4
    for path in files:
        Manifest.model_validate_json(path.read_bytes())


def test_manifest_ids_unique_and_items_in_range(corpus: Corpus) -> None:
    ids = [m["manifest_id"] for m, _ in corpus]
    assert len(set(ids)) == len(ids)
    sizes = [len(m["items"]) for m, _ in corpus]
    assert min(sizes) >= 1
    assert max(sizes) <= 60
    assert 3.0 <= sum(sizes) / len(sizes) <= 5.0
    assert any(s >= 20 for s in sizes)


# ---------------------------------------------------------------------------- reproducibility


def test_same_seed_same_output() -> None:
    a = [orjson.dumps(m) + orjson.dumps(lab.to_json()) for m, lab in generate(300, 5)]
    b = [orjson.dumps(m) + orjson.dumps(lab.to_json()) for m, lab in generate(300, 5)]
    assert a == b


def test_different_seed_different_output() -> None:
    a = [orjson.dumps(m) for m, _ in generate(50, 5)]
    b = [orjson.dumps(m) for m, _ in generate(50, 6)]
    assert a != b


def test_prefix_stable() -> None:
    """The first N manifests do not depend on how many are asked for."""
    short = [orjson.dumps(m) for m, _ in generate(20, 9)]
    long = [orjson.dumps(m) for m, _ in generate(200, 9)][:20]
    assert short == long


# ---------------------------------------------------------------------------- labels


def test_labels_match_manifests(corpus: Corpus) -> None:
    for manifest, label in corpus:
        assert label.manifest_id == manifest["manifest_id"]
        assert label.scenario in SCENARIOS[label.kind]
        assert set(label.patterns) <= set(PATTERNS)
        assert len(set(label.patterns)) == len(label.patterns)
        if label.kind == "concealment":
            assert label.patterns
        else:
            assert label.patterns == ()
        js = label.to_json()
        assert js == {
            "manifest_id": label.manifest_id,
            "kind": label.kind,
            "patterns": list(label.patterns),
            "scenario": label.scenario,
        }


def test_every_pattern_occurs(corpus: Corpus) -> None:
    counts = Counter(p for _, lab in corpus for p in lab.patterns)
    for pattern in PATTERNS:
        assert counts[pattern] >= 10, (pattern, counts)
    assert any(len(lab.patterns) >= 2 for _, lab in corpus)


def test_shares_near_rates(corpus: Corpus) -> None:
    kinds = Counter(lab.kind for _, lab in corpus)
    n = len(corpus)
    assert abs(kinds["concealment"] / n - 0.15) < 0.03
    assert abs(kinds["honest_heavy"] / n - 0.05) < 0.02


@pytest.mark.parametrize(("conceal", "heavy"), [(0.0, 0.0), (0.5, 0.2), (1.0, 0.0), (0.0, 1.0)])
def test_custom_rates(conceal: float, heavy: float) -> None:
    labels = [
        lab for _, lab in generate(1_000, 3, concealment_rate=conceal, honest_heavy_rate=heavy)
    ]
    kinds = Counter(lab.kind for lab in labels)
    assert abs(kinds["concealment"] / 1_000 - conceal) < 0.05
    assert abs(kinds["honest_heavy"] / 1_000 - heavy) < 0.05


def test_bad_rates_rejected() -> None:
    with pytest.raises(ValueError, match="exceed"):
        list(generate(1, 1, concealment_rate=0.7, honest_heavy_rate=0.4))
    with pytest.raises(ValueError, match="between"):
        list(generate(1, 1, concealment_rate=-0.1))


def test_all_scenarios_occur() -> None:
    seen = {lab.scenario for _, lab in generate(6_000, 11)}
    for names in SCENARIOS.values():
        assert set(names) <= seen


# ---------------------------------------------------------------------------- HS codes


def test_hs_codes_are_hs2022(corpus: Corpus, hs2022: frozenset[str]) -> None:
    assert not HS_CODES - hs2022, sorted(HS_CODES - hs2022)
    used = {it["hs_code"] for m, _ in corpus for it in m["items"]}
    for code in used:
        assert re.fullmatch(r"\d{6}(\d{2}){0,2}", code), code
        assert code[:6] in hs2022, code
        assert code[:6] in HS_CODES, code


# ---------------------------------------------------------------------------- domain truth


def test_clean_cover_goods_stay_plausible(corpus: Corpus) -> None:
    """Clean and honest-heavy goods stay inside the reference's physical bounds."""
    for manifest, label in corpus:
        if label.kind == "concealment":
            continue
        for it in manifest["items"]:
            hs, desc = it["hs_code"][:6], it["description"]
            if hs in {"220190", "220110"}:
                kgl = _kg_per(it, "l")
                if kgl is not None:
                    limit = 1.81 if ("GLASS" in desc or "VIDRIO" in desc) else 1.121
                    assert kgl <= limit, (label, it)
            elif hs == "961800":
                kgpc = _kg_per(it, "pcs")
                if kgpc is not None:
                    assert kgpc <= 16.01, (label, it)
            elif hs.startswith("6907"):
                kgm2 = _kg_per(it, "m2")
                if kgm2 is not None:
                    t = _thickness_mm(desc)
                    assert kgm2 <= (2.61 * t if t is not None else 35.0), (label, it)
            elif hs == "381010":
                assert it["gross_mass_kg"] <= 1_000, (label, it)
                if "value" in it and it.get("currency", "USD") == "USD":
                    assert 20 <= it["value"] / it["gross_mass_kg"] <= 150.01
            if hs in ("280530", "284690", "850511", "811292", "282580", "810194", "250410"):
                assert it.get("licences"), (label, it)


def test_concealment_carries_its_signal(corpus: Corpus) -> None:
    """Each labelled pattern has something in the manifest a careful officer could see."""
    for manifest, label in corpus:
        items = manifest["items"]
        if "bottled_water_concealment" in label.patterns:
            waters = [_kg_per(i, "l") for i in items if i["hs_code"][:4] == "2201"]
            assert any(k is not None and k >= 1.4 for k in waters), label
        if "mannequin_concealment" in label.patterns:
            dummies = [_kg_per(i, "pcs") for i in items if i["hs_code"] == "961800"]
            assert any(k is not None and k >= 25 for k in dummies), label
        if "tile_blending" in label.patterns:
            tiles = [i for i in items if i["hs_code"].startswith("6907")]
            assert any(_blended(i) for i in tiles), label
        if "transshipment" in label.patterns:
            routing = manifest.get("countries_of_routing", [])
            exp = manifest["country_of_export"]
            assert exp != "CN"
            assert (routing and routing[0] == "CN") or any(
                i["hs_code"].startswith("2825") for i in items
            ), label
        if "controlled_material" in label.patterns:
            assert any(
                i["hs_code"][:6]
                in (
                    "280530",
                    "284690",
                    "850511",
                    "811292",
                    "811299",
                    "282590",
                    "282560",
                    "282580",
                    "811010",
                    "810194",
                    "810110",
                    "284180",
                    "284990",
                    "250410",
                    "380110",
                )
                and not i.get("licences")
                for i in items
            ), label


def test_routing_starts_at_export_unless_transshipped(corpus: Corpus) -> None:
    for manifest, label in corpus:
        routing = manifest.get("countries_of_routing")
        if not routing:
            continue
        assert routing[-1] == manifest["destination_country"]
        if routing[0] != manifest["country_of_export"]:
            assert routing[0] == "CN"
            assert routing[1] == manifest["country_of_export"]
            non_cn = any(i["origin_country"] != "CN" for i in manifest["items"])
            assert ("transshipment" in label.patterns) == non_cn, label


def test_young_consignors_have_dates(corpus: Corpus) -> None:
    young = 0
    for manifest, _ in corpus:
        est = manifest["consignor"].get("established_on")
        if est is not None and est >= "2024":
            assert "filed_at" in manifest
            assert est < manifest["filed_at"][:10]
            young += 1
    assert young > 20


# ---------------------------------------------------------------------------- files and properties


def test_write_corpus(tmp_path: Path) -> None:
    out, lab = tmp_path / "m.jsonl", tmp_path / "l.jsonl"
    n, items = write_corpus(out, lab, 500, 77)
    lines = out.read_bytes().splitlines()
    labels = [orjson.loads(x) for x in lab.read_bytes().splitlines()]
    assert n == len(lines) == len(labels) == 500
    manifests = [orjson.loads(x) for x in lines]
    assert items == sum(len(m["items"]) for m in manifests)
    assert [m["manifest_id"] for m in manifests] == [x["manifest_id"] for x in labels]
    expected = [orjson.loads(orjson.dumps(m)) for m, _ in generate(500, 77)]
    assert manifests == expected


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**63),
    n=st.integers(min_value=0, max_value=40),
    conceal=st.floats(min_value=0.0, max_value=0.6),
    heavy=st.floats(min_value=0.0, max_value=0.4),
)
def test_property_any_seed_validates(seed: int, n: int, conceal: float, heavy: float) -> None:
    pairs = list(generate(n, seed, concealment_rate=conceal, honest_heavy_rate=heavy))
    assert len(pairs) == n
    for manifest, label in pairs:
        Manifest.model_validate(manifest)
        assert label.manifest_id == manifest["manifest_id"]
        assert (label.kind == "concealment") == bool(label.patterns)
