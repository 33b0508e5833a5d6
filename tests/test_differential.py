"""The two evaluators are one language: on random rules and random manifests they agree.

Hypothesis writes rules from the grammar (comparisons, arithmetic, lists, sets, text tests,
patterns, presence, and/or/not, both scopes) and manifests with nulls, zeros, boundary
values and unicode; the compiled evaluator (with and without its index) and the rete
evaluator must return the same hits. A disagreement fails with the rule text and manifest.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from assay.engine import AssayError, Manifest
from assay.engine.evaluators.base import Hit
from assay.engine.evaluators.compiled import CompiledEvaluator
from assay.engine.evaluators.rete import ReteEvaluator, ReteHost
from assay.engine.features import Enricher
from tests.conftest import make_pack, rule_yaml
from tests.strategies import conditions, manifests

HOST = ReteHost(max_versions=10_000)
DAY = date(2026, 10, 1)


def _hits(evaluator: Any, enricher: Enricher, manifest: Manifest) -> list[Hit]:
    view, items = enricher.enrich(manifest, DAY)
    result: list[Hit] = evaluator.evaluate(view, items)
    return result


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    rules=st.lists(
        st.tuples(conditions(), st.sampled_from(["item", "item", "manifest"])),
        min_size=1,
        max_size=6,
    ),
    docs=st.lists(manifests(), min_size=1, max_size=4),
)
def test_compiled_and_rete_agree_on_generated_rules(
    rules: list[tuple[str, str]], docs: list[dict[str, Any]]
) -> None:
    sources = {}
    for n, (when, wanted) in enumerate(rules):
        # A condition that reads no item field can be a manifest-level rule.
        scope = "manifest" if wanted == "manifest" and "item." not in when else "item"
        rule_id = f"r{n:02d}-generated"
        sources[rule_id] = rule_yaml(rule_id, when, scope=scope)
    try:
        ruleset = make_pack(sources)
    except AssayError as exc:
        # Generated text may be ill-typed (e.g. a text field compared with a number field);
        # such rules must be rejected with a located problem, never crash.
        assert all(p.location is not None for p in exc.problems), exc
        assert {p.code for p in exc.problems} <= {
            "type_mismatch",
            "unknown_name",
            "unsafe_regex",
        }, exc
        event(f"rejected: {exc.problems[0].code}")
        return
    compiled = CompiledEvaluator(ruleset)
    unindexed = CompiledEvaluator(ruleset, use_index=False)
    try:
        rete = ReteEvaluator(ruleset, HOST)
    except AssayError as exc:
        # Known, named divergence: durable_rules' pattern automata are capped at 4,096 states
        # (e.g. '.*BB{2}A.*'); the rete evaluator refuses the pack, naming rule and place.
        assert exc.code == "rete_limit", exc
        assert all("pattern automaton of rule 'r" in p.message for p in exc.problems), exc
        event("refused by durable_rules: automaton too large")
        return
    enricher = Enricher(ruleset)
    try:
        for doc in docs:
            manifest = Manifest.model_validate(doc)
            expected = _hits(unindexed, enricher, manifest)
            assert _hits(compiled, enricher, manifest) == expected, "index changed the result"
            got = _hits(rete, enricher, manifest)
            event("manifest with hits" if expected else "manifest without hits")
            if got != expected:
                rules_text = "\n".join(f"[{r.scope}] {r.when_text}" for r in ruleset.rules)
                raise AssertionError(
                    f"compiled {expected} != rete {got}\nrules:\n{rules_text}\nmanifest: {doc}"
                )
    finally:
        rete.close()
