"""Running every rule's examples, like OPA's tester: each must hit or miss as it says.

A rule's ``examples.hit`` must make that rule fire; ``examples.miss`` must not. Given an
evaluator (``assay rules test``), examples run through the full engine path: enrich, then
every rule of the pack on that evaluator. Without one (validating a pack or a draft), each
example is enriched and tested against its own rule only, as a compiled closure: the same
answer, at a cost that grows with the pack's size rather than with its size squared, so a
hostile draft of many rules with many examples cannot hold a service worker for minutes.

A correlation rule's examples are sequences of manifests: each runs through the reference
correlation evaluator (:mod:`engine.correlation.evaluator`; with ``assay rules test --engine
rete``, the durable_rules one) with that rule alone, and hits
when any manifest of the sequence raises an alert (the sequence's ``outcomes`` give its
seizures, for ``history.seizures``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from assay.engine.contracts import Manifest
from assay.engine.correlation.alerts import Alert
from assay.engine.correlation.evaluator import correlate
from assay.engine.correlation.language import CorrelationRule
from assay.engine.errors import Location
from assay.engine.evaluators.base import Evaluator
from assay.engine.evaluators.closures import predicate
from assay.engine.features import Enricher
from assay.engine.ruleset import RuleSet

# correlate(ruleset, manifests, rules, seized): the alerts of a correlation example.
Correlate = Callable[
    [RuleSet, Iterable[Manifest], Sequence[CorrelationRule] | None, Collection[str]], list[Alert]
]

# Examples date ages from this day when their manifest has no filed_at, so that results
# do not change with the calendar.
EXAMPLE_DAY = date(2026, 1, 1)


@dataclass(frozen=True)
class ExampleOutcome:
    rule_id: str
    expect_hit: bool
    fired: bool
    note: str | None
    location: Location

    @property
    def passed(self) -> bool:
        return self.expect_hit == self.fired

    def describe(self) -> str:
        want = "fire" if self.expect_hit else "not fire"
        got = "fired" if self.fired else "did not fire"
        return f"{self.location}: example_failed: rule '{self.rule_id}' should {want}, but it {got}"


def run_examples(
    ruleset: RuleSet, evaluator: Evaluator | None = None, correlator: Correlate = correlate
) -> list[ExampleOutcome]:
    """Outcomes of every example of every rule, in pack order; correlation examples through
    ``correlator`` (the reference's ``correlate``, or durable_rules' for ``--engine rete``)."""
    enricher = Enricher(ruleset)
    outcomes: list[ExampleOutcome] = []
    for index, rule in enumerate(ruleset.rules):
        own = predicate(rule.when)
        for example in rule.examples:
            manifest_view, item_views = enricher.enrich(example.manifest, EXAMPLE_DAY)
            if evaluator is not None:
                hits = evaluator.evaluate(manifest_view, item_views)
                fired = any(hit.rule == index for hit in hits)
            elif rule.scope == "manifest":
                fired = own({}, manifest_view)
            else:
                fired = any(own(item, manifest_view) for item in item_views)
            outcomes.append(
                ExampleOutcome(rule.id, example.expect_hit, fired, example.note, example.location)
            )
    for correlation in ruleset.correlations:
        # A sequence alerts when any of its manifests completes the rule's pattern.
        for sequence in correlation.examples:
            fired = bool(correlator(ruleset, sequence.manifests, (correlation,), sequence.seized))
            outcomes.append(
                ExampleOutcome(
                    correlation.id, sequence.expect_hit, fired, sequence.note, sequence.location
                )
            )
    return outcomes
