"""The rule language: what parses, what it means, and errors that say where, what and how."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given

from assay.engine import AssayError, Engine, Manifest
from assay.engine import conditions as c
from assay.engine.evaluators.base import EngineKind
from assay.engine.evaluators.compiled import CompiledEvaluator
from assay.engine.features import Enricher
from assay.engine.parse import SourceSpan, load_yaml, parse_condition
from tests.conftest import BASE_MANIFEST, make_pack, rule_yaml
from tests.strategies import conditions

SPAN = SourceSpan("r.yaml", 1, 7)


def _problem(when: str, **kw: Any) -> str:
    with pytest.raises(AssayError) as caught:
        make_pack({"rule-x": rule_yaml("rule-x", when, **kw)})
    return str(caught.value)


# ---------------------------------------------------------------------------- parsing


def test_precedence_not_and_or() -> None:
    tree = parse_condition("not item.a > 1 and item.b > 2 or item.c > 3", SPAN)
    assert isinstance(tree, c.Or)
    first = tree.items[0]
    assert isinstance(first, c.And)
    assert isinstance(first.items[0], c.Not)


def test_arithmetic_precedence_and_parentheses() -> None:
    tree = parse_condition("item.a + 2 * item.b > (item.c - 1) / 4", SPAN)
    assert isinstance(tree, c.Compare)
    assert isinstance(tree.left, c.Arith) and tree.left.op == "+"
    assert isinstance(tree.right, c.Arith) and tree.right.op == "/"


def test_keyword_forms() -> None:
    tree = parse_condition(
        'item.d contains any of ["A", "B"] and item.d starts with "X" and item.d ends with any '
        'of ["Y"] and item.x is missing and item.y is present and item.z not in [1, 2]',
        SPAN,
    )
    assert isinstance(tree, c.And)
    kinds = [type(x).__name__ for x in tree.items]
    assert kinds == ["Text", "Text", "Text", "Not", "Present", "In"]
    last = tree.items[5]
    assert isinstance(last, c.In) and last.negated  # a test of its own, not Not(In)


@given(conditions())
def test_every_generated_condition_parses(text: str) -> None:
    parse_condition(text, SPAN)


# ----------------------------------------------------------------------------- errors


def test_syntax_error_has_file_line_column_caret_and_hint() -> None:
    message = _problem("item.kg_per_litre >\n  and item.gross_mass_kg > 1")
    assert message.splitlines() == [
        "test/rules/rule-x.yaml:9:5: rule_syntax: unexpected 'and'; expected '(', a field name "
        'such as item.kg_per_litre, a number or a quoted text such as "WATER"',
        "        and item.gross_mass_kg > 1",
        "        ^",
        '  hint: e.g. item.kg_per_litre > 1.3 and "WATER" in item.terms',
    ]


def test_symbols_instead_of_words() -> None:
    message = _problem("item.gross_mass_kg > 1 && item.value > 2")
    assert "test/rules/rule-x.yaml:8:26: rule_syntax: unexpected character '&'" in message
    assert "hint: write 'and', 'or', 'not' in words" in message


def test_unknown_name_suggests_the_closest() -> None:
    message = _problem("item.kg_per_liter > 1.2")
    assert "test/rules/rule-x.yaml:8:3: unknown_name: unknown name 'item.kg_per_liter'" in message
    assert "hint: did you mean 'item.kg_per_litre' or" in message


def test_unknown_reference_key_lists_neighbours() -> None:
    message = _problem("item.hs6 in ref.lists.hs66")
    assert "unknown name 'ref.lists.hs66'" in message
    assert "did you mean 'ref.lists.hs6' or" in message


def test_reference_group_is_not_a_value() -> None:
    message = _problem("item.kg_per_litre > ref.lists.limits")
    assert "'ref.lists.limits' is a group of reference values" in message
    assert "ref.lists.limits.heavy" in message


def test_item_field_in_manifest_rule() -> None:
    message = _problem("item.gross_mass_kg > 1", scope="manifest")
    assert (
        "'item.gross_mass_kg' is a goods-item field, but this rule has scope: manifest" in message
    )


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("item.hs_code == 850511", "cannot compare item.hs_code (a text) with 850511 (a number)"),
        ('item.description > "A"', "'>' orders numbers; a text values can only be compared"),
        ('item.terms == "WATER"', "'==' compares single values; use 'in' for lists and sets"),
        ("item.origin_country in item.terms", "needs a quoted text on the left"),
        ("item.gross_mass_kg + item.description > 1", "arithmetic '+' needs a number"),
        ('item.gross_mass_kg contains "A"', "'contains' needs a text, but item.gross_mass_kg"),
        ("item.gross_mass_kg", "item.gross_mass_kg is a number, not a condition"),
        ('item.description contains ""', "'contains' with an empty text is always true"),
        ("1 > 2", "the condition is always false"),
        ('item.hs6 in ["1", 2]', "a list must hold only texts or only numbers"),
    ],
)
def test_type_errors(when: str, expected: str) -> None:
    message = _problem(when)
    assert "type_mismatch" in message
    assert expected in message


def test_template_errors() -> None:
    assert "bad_template: unknown name 'item.kg_per_liter'" in _problem(
        "item.gross_mass_kg > 1", explain="Line {item.line} weighs {item.kg_per_liter} kg/L."
    )
    assert "the format '.2f' does not fit item.description" in _problem(
        "item.gross_mass_kg > 1", explain="Line {item.description:.2f} is heavy today."
    )


def test_schema_errors_point_at_the_field() -> None:
    text = rule_yaml("rule-x", "item.gross_mass_kg > 1").replace(
        "severity: medium", "severity: huge"
    )
    text = text.replace("score: 30", "score: 30\ncolour: red")
    with pytest.raises(AssayError) as caught:
        make_pack({"rule-x": text})
    rendered = str(caught.value)
    assert "test/rules/rule-x.yaml:4:11: rule_schema: severity: Input should be 'low'" in rendered
    assert "test/rules/rule-x.yaml:6:1: rule_schema: unknown field 'colour'" in rendered


def test_yaml_syntax_error() -> None:
    with pytest.raises(AssayError) as caught:
        make_pack({"rule-x": "id: rule-x\ntitle: [unclosed\n"})
    assert caught.value.code == "yaml_syntax"
    assert "test/rules/rule-x.yaml:3:1" in str(caught.value)


def test_id_must_match_file_and_be_unique() -> None:
    text = rule_yaml("rule-x", "item.gross_mass_kg > 1")
    with pytest.raises(AssayError) as caught:
        make_pack({"rule-y": text})
    assert "the rule id 'rule-x' must match its file name 'rule-y.yaml'" in str(caught.value)
    with pytest.raises(AssayError) as caught:
        make_pack({"rule-x": text}, **{"other/rule-x.yaml": text})
    assert caught.value.code == "duplicate_rule"


def test_invalid_example_manifest_is_located() -> None:
    text = rule_yaml("rule-x", "item.gross_mass_kg > 1").replace(
        "hit: [{note: unused}]", "hit: [{item: {gross_mass_kg: -5}}]"
    )
    with pytest.raises(AssayError) as caught:
        make_pack({"rule-x": text})
    message = str(caught.value)
    assert "this example is not a valid manifest: items.0.gross_mass_kg" in message


@pytest.mark.parametrize("kind", ["compiled", "rete"])
def test_evidence_gives_whole_numbers_as_integers(kind: EngineKind) -> None:
    """A count is 1, not 1.0, in the evidence an officer or a downstream system reads; a
    fraction stays a fraction."""
    when = "item.licence_count >= 0 and item.gross_mass_kg > params.floor"
    rule = rule_yaml("rule-x", when, extra="params: {floor: 2.5}\n")
    engine = Engine(make_pack({"rule-x": rule}), kind=kind)
    doc = {**BASE_MANIFEST, "items": [{**BASE_MANIFEST["items"][0], "gross_mass_kg": 2000.5}]}
    [flag] = engine.screen(Manifest.model_validate(doc)).flags
    assert flag.evidence["item.licence_count"] == 0
    assert type(flag.evidence["item.licence_count"]) is int
    assert flag.evidence["params.floor"] == 2.5
    assert type(flag.evidence["item.gross_mass_kg"]) is float
    dumped = flag.model_dump_json()
    assert '"item.licence_count":0' in dumped and '"item.gross_mass_kg":2000.5' in dumped


def test_block_scalar_positions() -> None:
    doc = load_yaml("f.yaml", "a: 1\nwhen: >\n  first line\n  second line\n")
    span = doc.span(("when",))
    location = span.locate(1, 7, "first line second line")
    assert (location.line, location.column) == (3, 9)
    assert span.locate(1, 15, "first line second line").line == 4


# ---------------------------------------------------------------------------- meaning


def _fires(when: str, **item: Any) -> bool:
    ruleset = make_pack({"rule-x": rule_yaml("rule-x", when)})
    doc: dict[str, Any] = {**BASE_MANIFEST, "items": [{**BASE_MANIFEST["items"][0], **item}]}
    view, items = Enricher(ruleset).enrich(Manifest.model_validate(doc), date(2026, 1, 1))
    return bool(CompiledEvaluator(ruleset).evaluate(view, items))


def test_missing_values_make_comparisons_false_and_not_true() -> None:
    assert not _fires("item.net_mass_kg > 0")
    assert not _fires("item.net_mass_kg <= 0")
    assert _fires("not (item.net_mass_kg > 0)")
    assert _fires("item.net_mass_kg is missing")


@pytest.mark.parametrize("kind", ["compiled", "rete"])
def test_not_in_reads_a_missing_value_as_false_like_every_comparison(kind: EngineKind) -> None:
    """docs/rule-language.md: `x not in [...]` is false when x is missing (as `!=` is), and
    `not (x in [...])` is plain negation, true when x is missing. Both evaluators agree."""
    whens = {
        "not-in": "item.net_mass_kg not in [1, 2]",
        "not-of-in": "not (item.net_mass_kg in [1, 2])",
        "not-of-not-in": "not (item.net_mass_kg not in [1, 2])",
        "text-not-in": 'manifest.port_of_loading_country not in ["CN"]',
        "unequal": "item.net_mass_kg != 1",
    }
    engine = Engine(
        make_pack({rid: rule_yaml(rid, when) for rid, when in whens.items()}), kind=kind
    )
    base = BASE_MANIFEST["items"][0]

    def fired(port: str | None, **item: Any) -> set[str]:
        doc = {**BASE_MANIFEST, "port_of_loading": port, "items": [{**base, **item}]}
        return {f.rule_id for f in engine.screen(Manifest.model_validate(doc)).flags}

    assert fired(None, net_mass_kg=None) == {"not-of-in", "not-of-not-in"}
    assert fired("THLCH", net_mass_kg=3) == {
        "not-in",
        "not-of-in",
        "text-not-in",
        "unequal",
    }
    assert fired("CNSGH", net_mass_kg=2) == {"not-of-not-in", "unequal"}


def test_division_by_zero_is_missing() -> None:
    assert not _fires("item.gross_mass_kg / (item.quantity - 100) > 0")
    assert _fires("(item.gross_mass_kg / (item.quantity - 100)) is missing")


def test_text_ignores_case_and_spacing() -> None:
    assert _fires('item.description contains "wooden   furniture"')
    assert _fires('item.description == "Wooden Furniture"')
    assert _fires('item.quantity_unit == "pcs"')


def test_terms_any_language() -> None:
    assert _fires('"WATER" in item.terms', description="Agua potable 600ml")
    assert _fires('"GLASS" in item.terms', description="矿泉水 玻璃瓶")
    assert not _fires('"WATER" in item.terms', description="WATERPROOF JACKETS")
    assert _fires('"MANNEQUIN" in item.terms', description="FEMALE MANNEQUINS WITH STAND")


def test_explanation_reads_features_the_condition_did_not() -> None:
    ruleset = make_pack(
        {
            "rule-x": rule_yaml(
                "rule-x",
                "item.gross_mass_kg > 1",
                explain="Line {item.line}: {item.description} at {item.usd_per_kg:.2f} USD/kg.",
            )
        }
    )
    engine = Engine(ruleset)
    result = engine.screen(Manifest.model_validate(BASE_MANIFEST))
    assert result.flags[0].explanation == "Line 1: WOODEN FURNITURE at 10.00 USD/kg."
    assert result.flags[0].evidence["item.usd_per_kg"] == 10.0


def test_an_indicator_alone_keeps_the_lane_green_and_weighs_beside_a_finding() -> None:
    young = rule_yaml("young-seller", "item.gross_mass_kg > 1", extra="role: indicator\n")
    heavy = rule_yaml("heavy-goods", "item.gross_mass_kg > 1000")
    engine = Engine(make_pack({"young-seller": young, "heavy-goods": heavy}))

    def screened(mass: float) -> tuple[str, int, dict[str, str]]:
        doc = {**BASE_MANIFEST, "items": [{**BASE_MANIFEST["items"][0], "gross_mass_kg": mass}]}
        result = engine.screen(Manifest.model_validate(doc))
        return result.channel, result.risk_score, {f.rule_id: f.role for f in result.flags}

    assert screened(500) == ("green", 0, {"young-seller": "indicator"})
    assert screened(2000) == (
        "yellow",
        51,  # 1 - 0.7 x 0.7
        {"young-seller": "indicator", "heavy-goods": "finding"},
    )


def test_an_indicator_cannot_have_a_severity_that_forces_red() -> None:
    text = rule_yaml("young-seller", "item.gross_mass_kg > 1", extra="role: indicator\n")
    with pytest.raises(AssayError) as caught:
        make_pack({"young-seller": text.replace("severity: medium", "severity: critical")})
    assert "an indicator cannot have severity 'critical'" in str(caught.value)
    assert "test/rules/young-seller.yaml:4:11" in str(caught.value)
