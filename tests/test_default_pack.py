"""The default rule pack: its examples, its HS codes, and the outcomes officers rely on."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import yaml

from assay.engine import Engine, Manifest, RuleSet
from assay.engine import conditions as c
from assay.engine.examples import run_examples
from assay.engine.rulefile import build_example_manifest
from assay.engine.ruleset import default_pack_dir
from assay.fixtures.synth import PATTERNS
from tests.conftest import EXAMPLES

_HS_FIELDS = {"item.hs_code", "item.hs2", "item.hs4", "item.hs6"}


def test_every_pattern_is_covered(default_pack: RuleSet) -> None:
    assert {rule.pattern for rule in default_pack.rules} >= set(PATTERNS)


@pytest.mark.parametrize("kind", ["compiled", "rete"])
def test_every_example_passes_on_both_evaluators(kind: str, request: pytest.FixtureRequest) -> None:
    engine: Engine = request.getfixturevalue(f"{kind}_engine")
    outcomes = run_examples(engine.ruleset, engine._active.evaluator)
    failed = [o.describe() for o in outcomes if not o.passed]
    assert not failed, "\n".join(failed)
    rules = {o.rule_id for o in outcomes}
    assert rules == {rule.id for rule in engine.ruleset.rules} | {
        rule.id for rule in engine.ruleset.correlations
    }
    assert all(
        {o.expect_hit for o in outcomes if o.rule_id == rule} == {True, False} for rule in rules
    )


def _reference_hs_lists(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _reference_hs_lists(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, tuple | list) and ".hs6" in f".{path}":
        for code in node:
            yield path, str(code)


def _condition_hs_codes(condition: c.Condition) -> Iterator[str]:
    for node in c.walk(condition):
        operands: tuple[c.Value, ...] = ()
        if isinstance(node, c.Compare):
            operands = (node.left, node.right)
        elif isinstance(node, c.In):
            operands = (node.needle, node.haystack)
        elif isinstance(node, c.Text):
            operands = (node.subject, node.needles)
        if not any(isinstance(o, c.Field) and o.path in _HS_FIELDS for o in operands):
            continue
        for operand in operands:
            if isinstance(operand, c.Const):
                values = operand.value if isinstance(operand.value, tuple) else (operand.value,)
                yield from (str(v) for v in values)


def test_every_hs_code_is_a_real_hs2022_subheading(
    default_pack: RuleSet, hs2022_subheadings: frozenset[str]
) -> None:
    codes: list[tuple[str, str]] = list(_reference_hs_lists(default_pack.reference.namespaces))
    for rule in default_pack.rules:
        codes += [(f"{rule.id}: when", code) for code in _condition_hs_codes(rule.when)]
        codes += [
            (f"{rule.id}: example", item.hs_code)
            for example in rule.examples
            for item in example.manifest.items
        ]
    assert len(codes) > 100
    bad = []
    for where, code in codes:
        if len(code) >= 6:
            real = code[:6] in hs2022_subheadings
        else:  # a chapter or heading prefix must begin some real subheading
            real = any(sub.startswith(code) for sub in hs2022_subheadings)
        if not real:
            bad.append(f"{where}: {code}")
    assert not bad, bad


@pytest.mark.parametrize(
    ("example", "channel", "rules"),
    [
        ("clean-tiles.json", "green", set()),
        (
            "water-heavy.json",
            "red",
            {"water-pet-too-heavy", "china-departure-non-china-origin"},
        ),
        ("solder-bulk.json", "yellow", {"solder-paste-bulk-packaging"}),
        # Declared honestly with a licence: the licence check is flagged for the officer, as an
        # indicator; nothing about the goods themselves is wrong, so the lane stays green.
        ("magnets-declared.json", "green", {"controlled-licence-to-verify"}),
    ],
)
@pytest.mark.parametrize("kind", ["compiled", "rete"])
def test_shared_examples(
    example: str, channel: str, rules: set[str], kind: str, request: pytest.FixtureRequest
) -> None:
    engine: Engine = request.getfixturevalue(f"{kind}_engine")
    manifest = Manifest.model_validate_json((EXAMPLES / example).read_bytes())
    result = engine.screen(manifest)
    assert result.channel == channel
    fired = {flag.rule_id for flag in result.flags}
    assert rules <= fired
    if not rules:
        assert fired == set()
    for flag in result.flags:
        assert flag.explanation.endswith(".")
        assert flag.evidence


def test_water_explanation_reads_aloud(compiled_engine: Engine) -> None:
    manifest = Manifest.model_validate_json((EXAMPLES / "water-heavy.json").read_bytes())
    flags = {f.rule_id: f for f in compiled_engine.screen(manifest).flags}
    flag = flags["water-pet-too-heavy"]
    assert flag.item_line == 1
    assert flag.explanation.startswith(
        "Line 1 is declared as bottled water but weighs 2.30 kg per litre"
    )
    assert flag.evidence["item.kg_per_litre"] == pytest.approx(2.3)
    assert flag.evidence["params.max_kg_per_litre"] == 1.25


HONEST_HEAVY: dict[str, dict[str, Any]] = {
    "glass-bottled water, 1.6 kg/L": {
        "item": {
            "hs_code": "220110",
            "description": "MINERAL WATER 750ML GLASS BOTTLES X 12",
            "origin_country": "IT",
            "quantity": 9000,
            "quantity_unit": "l",
            "packages": 1000,
            "package_type": "CT",
            "gross_mass_kg": 14400,
            "volume_m3": 24,
            "value": 9900,
        },
        "manifest": {
            "country_of_export": "IT",
            "countries_of_routing": ["IT", "US"],
            "consignor": {"country": "IT"},
        },
    },
    "20 mm porcelain pavers, 48 kg/m2": {
        "item": {
            "hs_code": "690721",
            "description": "PORCELAIN OUTDOOR PAVERS 600X600X20MM",
            "quantity": 600,
            "quantity_unit": "m2",
            "packages": 60,
            "package_type": "PL",
            "gross_mass_kg": 28800,
            "value": 14000,
        },
    },
    "20 mm pavers, thickness written apart": {
        "item": {
            "hs_code": "690722",
            "description": "R11 OUTDOOR PAVERS 60X60 CM 2CM",
            "quantity": 600,
            "quantity_unit": "m2",
            "packages": 60,
            "package_type": "PL",
            "gross_mass_kg": 29400,
            "value": 15000,
        },
    },
    "fibreglass mannequins with stands, 15 kg": {
        "item": {
            "hs_code": "961800",
            "description": "FIBREGLASS FEMALE MANNEQUINS WITH METAL STAND",
            "quantity": 200,
            "quantity_unit": "pcs",
            "packages": 200,
            "package_type": "CT",
            "gross_mass_kg": 3000,
            "value": 24000,
        },
    },
    "tiles through the Singapore hub": {
        "item": {
            "hs_code": "690721",
            "description": "PORCELAIN FLOOR TILES 600X600MM 10MM",
            "quantity": 1440,
            "quantity_unit": "m2",
            "packages": 1000,
            "package_type": "CT",
            "gross_mass_kg": 33120,
            "value": 15840,
        },
        "manifest": {"countries_of_routing": ["ES", "SG", "US"]},
    },
}


@pytest.mark.parametrize("case", sorted(HONEST_HEAVY))
@pytest.mark.parametrize("kind", ["compiled", "rete"])
def test_honest_heavy_trade_is_not_sent_to_red(
    case: str, kind: str, default_pack: RuleSet, request: pytest.FixtureRequest
) -> None:
    engine: Engine = request.getfixturevalue(f"{kind}_engine")
    patch = copy.deepcopy(HONEST_HEAVY[case])
    manifest = Manifest.model_validate(build_example_manifest(default_pack.example_base, patch))
    result = engine.screen(manifest)
    assert result.channel in ("green", "yellow"), [f.explanation for f in result.flags]


def test_the_controlled_name_groups_hold_every_element_groups_phrases() -> None:
    """terms.yaml repeats the element groups in CONTROLLED_NAME and OTHER_CONTROLLED_NAME:
    a name added to one element, in any language, is a controlled name too."""
    terms = yaml.safe_load((default_pack_dir() / "reference" / "terms.yaml").read_text())
    groups = terms["groups"]

    def phrases(*names: str) -> set[str]:
        return {p for name in names for ps in groups[name].values() for p in ps}

    controlled: tuple[str, ...] = ("SAMARIUM", "GADOLINIUM", "TERBIUM", "DYSPROSIUM", "LUTETIUM")
    controlled += ("SCANDIUM", "YTTRIUM", "GALLIUM", "GERMANIUM", "ANTIMONY")
    assert phrases("CONTROLLED_NAME") == phrases(*controlled)
    other = ("TUNGSTEN", "GRAPHITE", "BISMUTH", "TELLURIUM", "INDIUM")
    assert phrases("OTHER_CONTROLLED_NAME") == phrases(*other)
