"""Judging one entity's window: the seam between where the members are kept and who decides.

The store-backed stage (:mod:`engine.store.correlation`) reads an entity's members from the
database and asks a :class:`WindowJudge` whether the group ending with the member that just
arrived raises an alert. :class:`PythonJudge` judges with the reference evaluator's own
measures and condition (:func:`engine.correlation.evaluator.measure` and ``holds``), so the
stage gives the reference's alerts; under ``--engine rete`` the service gives the stage
:class:`~engine.correlation.rete.ReteGroupJudge`, which lets durable_rules judge the
sequence patterns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from assay.engine.correlation.evaluator import Member, holds, measure
from assay.engine.correlation.language import CorrelationRule


class WindowJudge(Protocol):
    def judge(
        self, rule: CorrelationRule, members: Sequence[Member], t: int, seizures: int = 0
    ) -> Mapping[str, float | None] | None:
        """The measures of the group if the member at ``t`` (the last of ``members``, which
        are in filed_at order, none after ``t``, none before ``t - window - baseline``)
        completes the rule's pattern; None if it does not. ``seizures``: the entity's
        ``history.seizures`` for that member (rules reading it)."""
        ...


class PythonJudge:
    """The reference evaluator's judgement, on members read from anywhere."""

    def judge(
        self, rule: CorrelationRule, members: Sequence[Member], t: int, seizures: int = 0
    ) -> Mapping[str, float | None] | None:
        measures = measure(rule, members, t, seizures)
        return measures if holds(rule.alert_when, measures) else None
