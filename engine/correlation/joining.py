"""What one screened manifest brings to the correlation rules, found from the views the
screening already built, and the result's flags once its alerts are known.

Per-manifest screening (:meth:`engine.engine.Engine.screen_joining`) computes a
:class:`Joining` from the enriched views it has anyway: the manifest's filed_at, its parties,
and per correlation rule the entities it joins (with the mass it joins with) and the entities
whose history it adds to. That costs the rules' ``each`` conditions and nothing more, so a
manifest that joins no group goes no further; one that does is handed to the store-backed
stage (:mod:`engine.store.correlation`), which holds the windows. The views are dated by the
manifest's ``filed_at`` (a manifest without one never correlates), so they are the same as
the reference evaluator's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from assay.engine.contracts import Flag, Manifest, ScreeningResult
from assay.engine.correlation.alerts import Alert, timestamp
from assay.engine.correlation.entities import party_key
from assay.engine.correlation.evaluator import history_keys, member_joins, micros
from assay.engine.correlation.language import CorrelationRule
from assay.engine.correlation.measures import NEW_CONSIGNEES, SEIZURES
from assay.engine.evaluators.closures import Predicate, predicate
from assay.engine.features import View
from assay.engine.lanes import Lanes


@dataclass(frozen=True, slots=True)
class Contribution:
    """The manifest joins ``entity_key``'s group under ``rule`` with ``mass_kg``."""

    rule: CorrelationRule
    entity_key: str
    entity: str  # the entity's name, for people
    mass_kg: float


@dataclass(frozen=True, slots=True)
class Shipment:
    """The entity shipped to the manifest's consignee at ``t`` (a rule with ``history``)."""

    rule: CorrelationRule
    entity_key: str


@dataclass(frozen=True, slots=True)
class Joining:
    """One timed manifest's part in the correlation rules of the ruleset that screened it."""

    manifest_id: str
    t: int  # filed_at, microseconds since the epoch
    filed_at: datetime
    consignor: str  # party keys
    consignee: str
    members: tuple[Contribution, ...]  # in the rules' order
    shipments: tuple[Shipment, ...]
    lanes: Lanes  # the screening ruleset's, to decide the lane again with alerts

    @property
    def rules(self) -> tuple[CorrelationRule, ...]:
        seen = {m.rule.id: m.rule for m in self.members}
        seen.update({s.rule.id: s.rule for s in self.shipments})
        return tuple(seen.values())


class Joiner:
    """The correlation rules of one ruleset, their ``each`` conditions compiled once."""

    def __init__(self, rules: Sequence[CorrelationRule], lanes: Lanes) -> None:
        # The rules that read seizures are left out: every filing joins their groups, so each
        # would cost a store transaction (docs/correlation.md, "Where they run"); the service
        # says so in its log (left_out_notice).
        self.left_out = tuple(rule for rule in rules if SEIZURES in rule.measures)
        self._rules = tuple(rule for rule in rules if SEIZURES not in rule.measures)
        self._each: tuple[Predicate, ...] = tuple(predicate(rule.each) for rule in self._rules)
        self._lanes = lanes

    def joining(
        self, manifest: Manifest, manifest_view: View, item_views: list[View]
    ) -> Joining | None:
        """What ``manifest`` brings (None: no filed_at, or nothing at all)."""
        if manifest.filed_at is None:
            return None
        members: list[Contribution] = []
        shipments: list[Shipment] = []
        for rule, each in zip(self._rules, self._each, strict=True):
            joined = member_joins(rule, each, manifest, manifest_view, item_views)
            members += [Contribution(rule, key, name, mass) for (key, name), mass in joined.items()]
            if rule.history is not None and NEW_CONSIGNEES in rule.measures:
                keys = {key for key, _ in joined} | {key for key, _ in history_keys(rule, manifest)}
                shipments += [Shipment(rule, key) for key in sorted(keys)]
        if not members and not shipments:
            return None
        return Joining(
            manifest.manifest_id,
            micros(manifest.filed_at),
            manifest.filed_at,
            party_key(manifest.consignor),
            party_key(manifest.consignee),
            tuple(members),
            tuple(shipments),
            self._lanes,
        )


def left_out_notice(rule: CorrelationRule) -> str:
    """The line the service logs for a correlation rule it does not run."""
    return (
        f"correlation rule {rule.id} reads {SEIZURES}: the service does not run it yet "
        "(batch, back-tests and replay do)"
    )


def alert_flag(alert: Alert, rule: CorrelationRule, manifest_id: str) -> Flag:
    """The flag the completing manifest (``manifest_id``) carries: the alert in a result's
    own terms, with the other members' manifest ids in its evidence."""
    return Flag(
        rule_id=alert.rule_id,
        title=rule.title,
        pattern=alert.pattern,
        severity=rule.severity,
        score=rule.score,
        role=rule.role,
        item_line=None,
        explanation=alert.explanation,
        evidence={
            "alert_id": alert.alert_id,
            "entity_key": alert.entity_key,
            "manifest_ids": [m for m in alert.manifest_ids if m != manifest_id],
            "trigger_manifest_id": alert.trigger_manifest_id,
            "first_filed_at": timestamp(alert.first_filed_at),
            "last_filed_at": timestamp(alert.last_filed_at),
            **dict(sorted(alert.measures.items())),
        },
    )


def with_alerts(
    result: ScreeningResult, joining: Joining, alerts: Sequence[Alert]
) -> ScreeningResult:
    """``result`` with a flag per alert its manifest completed, and the lane decided again
    over every flag (the ruleset's own lanes)."""
    if not alerts:
        return result
    rules = {rule.id: rule for rule in joining.rules}
    flags = [
        *result.flags,
        *(alert_flag(alert, rules[alert.rule_id], result.manifest_id) for alert in alerts),
    ]
    risk, channel = joining.lanes.decide(
        [(flag.rule_id, flag.score, flag.severity, flag.role) for flag in flags]
    )
    return result.model_copy(update={"flags": flags, "risk_score": risk, "channel": channel})
