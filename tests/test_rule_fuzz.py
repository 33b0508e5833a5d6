"""Fuzzing the rule parser and checker: whatever an author writes, compiling it and running its
examples never crashes; the only failures are problems that say where (file, line, column).

Three sources of input: any text, token soup from the condition language, and valid rule
and pack files with one field swapped for random YAML.
"""

from __future__ import annotations

import copy
from types import MappingProxyType
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from assay.engine import AssayError
from assay.engine.check import Context, check_condition
from assay.engine.errors import Problem
from assay.engine.parse import SourceSpan, parse_condition
from assay.engine.store.rulesets import validate_sources
from tests.conftest import FX_YAML, LISTS_YAML, PACK_YAML, TERMS_YAML, make_pack, rule_yaml

_REFERENCE = make_pack({"fuzz-base": rule_yaml("fuzz-base", "item.gross_mass_kg > 1")}).reference
_SPAN = SourceSpan("fuzz.yaml", 8, 3)

_WORDS = [
    *("item.gross_mass_kg", "item.description", "item.kg_per_litre", "item.terms", "item.hs6"),
    *("manifest.transport_mode", "manifest.consignor.country", "params.limit", "ref.lists.hs6"),
    *("ref.lists.limits.heavy", "ref.nowhere", "item", "and", "or", "not", "in", "contains"),
    *("any of", "starts with", "ends with", "matches", "is missing", "is present", "is"),
    *("(", ")", "[", "]", ",", ">", ">=", "==", "!=", "<", "=", "+", "-", "*", "/", "1", "0"),
    *("-1", "1e308", "0.5", '"A"', '"WATER"', '"[A-Z]+"', '"A|B"', '"(A+)+"', "true", "false"),
    *('"', "'", "#", "&&", "\n", "镝", "∑"),
]
token_soup = st.lists(st.sampled_from(_WORDS), max_size=30).map(" ".join)


def _located(problems: tuple[Problem, ...] | list[Problem], file: str | None = None) -> None:
    assert problems
    for problem in problems:
        assert problem.location is not None, problem
        assert problem.location.line >= 1 and problem.location.column >= 1, problem
        if file is not None:
            assert problem.location.file == file, problem


@given(text=st.one_of(st.text(max_size=200), token_soup))
def test_any_condition_parses_and_checks_or_fails_at_a_location(text: str) -> None:
    try:
        parsed = parse_condition(text, _SPAN)
    except AssayError as exc:
        _located(exc.problems, "fuzz.yaml")
        for problem in exc.problems:
            assert problem.location is not None and problem.location.line >= 8
        return
    for scope in ("item", "manifest"):
        context = Context(
            scope,
            MappingProxyType({"limit": 1.5}),
            _REFERENCE,
            lambda line: None,
        )
        try:
            _checked, problems = check_condition(parsed, context)
        except AssayError as exc:  # a condition used as a value, found while building
            _located(exc.problems)
            continue
        if problems:
            _located(problems, "fuzz.yaml")


yaml_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=40),
        st.sampled_from(["item.gross_mass_kg > 1", "{item.line:>99}", "2001-13-45", "0x1F"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)

_RULE: dict[str, Any] = yaml.safe_load(
    rule_yaml(
        "fuzz-rule",
        'item.gross_mass_kg > params.heavy and item.description contains "WOOD"',
        extra="params: {heavy: 10}\n",
    )
)
_RULE["examples"] = {
    "hit": [{"note": "heavy wood", "item": {"gross_mass_kg": 2000}}],
    "miss": [{"note": "light", "item": {"gross_mass_kg": 5}}],
}
_PACK: dict[str, Any] = yaml.safe_load(PACK_YAML)


def _with(base: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(base)
    node: Any = changed
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node, dict) else node
    if isinstance(node, dict):
        node[path[-1]] = value
    return changed


def _sources(rule_text: str, pack_text: str = PACK_YAML) -> dict[str, str]:
    return {
        "pack.yaml": pack_text,
        "reference/terms.yaml": TERMS_YAML,
        "reference/fx.yaml": FX_YAML,
        "reference/lists.yaml": LISTS_YAML,
        "rules/fuzz-rule.yaml": rule_text,
    }


def _validated(sources: dict[str, str]) -> None:
    """Compiling and running the examples of ``sources`` ends in a report, never an
    exception; every problem in it says where."""
    report = validate_sources(sources)
    for problem in report.problems:
        assert problem["file"] in sources and problem["line"] >= 1, problem
        assert problem["column"] >= 1, problem
    for failed in report.examples_failed:
        assert failed["file"] in sources and failed["line"] >= 1, failed


def test_the_unmutated_fuzz_rule_is_valid() -> None:
    """The base the mutations start from passes, so a mutation is what any failure tests."""
    report = validate_sources(_sources(yaml.safe_dump(_RULE, allow_unicode=True)))
    assert report.ok and report.examples_passed == 2, report


@given(text=st.one_of(st.text(max_size=300), token_soup.map(lambda t: f"when: {t}\n")))
def test_any_text_as_a_rule_file_gives_located_problems(text: str) -> None:
    _validated(_sources(text))


_RULE_PATHS = [
    ["id"], ["title"], ["pattern"], ["severity"], ["score"], ["scope"], ["when"], ["explain"],
    ["references"], ["params"], ["params", "heavy"], ["examples"], ["examples", "hit"],
    ["examples", "miss"], ["extra_field"],
]  # fmt: skip
_PACK_PATHS = [
    ["name"], ["version"], ["lanes"], ["lanes", "yellow_at"], ["lanes", "red_severities"],
    ["example_base"], ["example_base", "items"], ["example_base", "transport_mode"],
]  # fmt: skip


@given(path=st.sampled_from(_RULE_PATHS), value=yaml_values)
def test_a_rule_with_any_field_swapped_for_random_yaml_gives_located_problems(
    path: list[str], value: Any
) -> None:
    text = yaml.safe_dump(_with(_RULE, path, value), allow_unicode=True)
    _validated(_sources(text))


@given(path=st.sampled_from(_PACK_PATHS), value=yaml_values)
def test_a_pack_file_with_any_field_swapped_for_random_yaml_gives_located_problems(
    path: list[str], value: Any
) -> None:
    pack = yaml.safe_dump(_with(_PACK, path, value), allow_unicode=True)
    _validated(_sources(yaml.safe_dump(_RULE, allow_unicode=True), pack))
