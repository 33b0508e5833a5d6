"""What every evaluator is: a checked ruleset in, hits out, no state kept between calls."""

from __future__ import annotations

from typing import Literal, NamedTuple, Protocol

from assay.engine.features import View

EngineKind = Literal["compiled", "rete"]


class Hit(NamedTuple):
    """Rule ``rule`` (its index in the ruleset) matched goods item ``line`` (None: the manifest)."""

    rule: int
    line: int | None


def canonical(hits: set[Hit] | list[Hit]) -> list[Hit]:
    """The one order both evaluators return: manifest-level hits first, then items by line;
    within each, rules in pack order."""
    return sorted(hits, key=lambda h: (-1 if h.line is None else h.line, h.rule))


class Evaluator(Protocol):
    """Runs one ruleset's conditions over one manifest's views."""

    kind: EngineKind

    def evaluate(self, manifest: View, items: list[View]) -> list[Hit]:
        """Every (rule, item) that matches, in :func:`canonical` order."""
        ...

    def close(self) -> None:
        """Release what the evaluator holds (durable_rules handles); idempotent."""
        ...
