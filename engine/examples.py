"""Running every rule's examples, like OPA's tester: each must hit or miss as it says.

A rule's ``examples.hit`` must make that rule fire; ``examples.miss`` must not. Examples
run through the full engine path (enrich, evaluate) on the chosen evaluator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from engine.errors import Location
from engine.evaluators.base import Evaluator
from engine.evaluators.compiled import CompiledEvaluator
from engine.features import Enricher
from engine.ruleset import RuleSet

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


def run_examples(ruleset: RuleSet, evaluator: Evaluator | None = None) -> list[ExampleOutcome]:
    """Outcomes of every example of every rule, in pack order."""
    evaluator = evaluator if evaluator is not None else CompiledEvaluator(ruleset)
    enricher = Enricher(ruleset)
    outcomes: list[ExampleOutcome] = []
    for index, rule in enumerate(ruleset.rules):
        for example in rule.examples:
            manifest_view, item_views = enricher.enrich(example.manifest, EXAMPLE_DAY)
            hits = evaluator.evaluate(manifest_view, item_views)
            fired = any(hit.rule == index for hit in hits)
            outcomes.append(
                ExampleOutcome(rule.id, example.expect_hit, fired, example.note, example.location)
            )
    return outcomes
