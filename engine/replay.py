"""Replaying logged decisions with another rule pack: what would change.

Each logged input is screened again with the candidate engine, dated as it was when first
screened (its ages and dates do not move), and compared with what was decided then.

The candidate's correlation rules then run once over the replayed manifests in filed_at order
(a manifest decided twice counts once, its last decision standing), with the seizures given
(the inspection outcomes on record, for the repeat-offender rules): the alerts they would
have raised over that stretch of the log, per rule (:attr:`ReplayReport.alerts`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from assay.engine.contracts import Manifest, ScreeningResult
from assay.engine.correlation.alerts import Alert
from assay.engine.correlation.evaluator import correlate
from assay.engine.engine import Engine
from assay.engine.store.decisions import Decision


@dataclass(frozen=True, slots=True)
class Change:
    decision_id: str
    manifest_id: str
    before_channel: str
    after_channel: str
    before_rules: tuple[str, ...]
    after_rules: tuple[str, ...]
    explanations: tuple[str, ...]  # the new result's flags, in words

    @property
    def kind(self) -> str:
        if not self.before_rules and self.after_rules:
            return "newly flagged"
        if self.before_rules and not self.after_rules:
            return "no longer flagged"
        return "flags changed" if self.before_rules != self.after_rules else "channel moved"


@dataclass
class ReplayReport:
    replayed: int = 0
    unchanged: int = 0
    unreadable: int = 0
    changes: list[Change] = field(default_factory=list)
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    rule_gains: Counter[str] = field(default_factory=Counter)
    rule_losses: Counter[str] = field(default_factory=Counter)
    alerts: list[Alert] = field(default_factory=list)  # the candidate's correlation alerts

    def alerts_by_rule(self) -> Counter[str]:
        return Counter(alert.rule_id for alert in self.alerts)

    def count(self, kind: str) -> int:
        return sum(1 for change in self.changes if change.kind == kind)


def _rules(result_flags: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(result_flags)))


def replay(
    decisions: Iterable[Decision], engine: Engine, seized: Collection[str] = ()
) -> ReplayReport:
    """Re-screen ``decisions`` with ``engine``; ``seized``: the manifest ids with a confirmed
    seizure, the seizure stream of its correlation rules."""
    report = ReplayReport()
    timed: dict[str, Manifest] = {}
    for decision in decisions:
        try:
            manifest = Manifest.model_validate(decision.input)
        except ValidationError:
            report.unreadable += 1
            continue
        if engine.ruleset.correlations:
            timed[manifest.manifest_id] = manifest
        after: ScreeningResult = engine.screen(manifest, today=decision.created_at.date())
        report.replayed += 1
        before_rules = _rules(flag.rule_id for flag in decision.flags)
        after_rules = _rules(flag.rule_id for flag in after.flags)
        if before_rules == after_rules and decision.channel == after.channel:
            report.unchanged += 1
            continue
        report.moves[(decision.channel, after.channel)] += 1
        report.rule_gains.update(set(after_rules) - set(before_rules))
        report.rule_losses.update(set(before_rules) - set(after_rules))
        report.changes.append(
            Change(
                decision_id=decision.decision_id,
                manifest_id=decision.manifest_id,
                before_channel=decision.channel,
                after_channel=after.channel,
                before_rules=before_rules,
                after_rules=after_rules,
                explanations=tuple(flag.explanation for flag in after.flags),
            )
        )
    if timed:
        report.alerts = correlate(engine.ruleset, timed.values(), seized=seized)
    return report
