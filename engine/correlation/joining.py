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

The rules that read ``history.seizures`` (the repeat offenders) would take every filing of a
party into their groups; here a manifest joins one only when the
:class:`~engine.correlation.seizures.SeizureCounts` given say its entity has a seizure that
counts for it, so a filing by a clean party costs a look-up in memory and no transaction.
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
from assay.engine.correlation.measures import SEIZURES
from assay.engine.correlation.seizures import SeizureCounts
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
    seizures: int = 0  # history.seizures of the entity for this manifest (rules reading it)


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

    def __init__(
        self,
        rules: Sequence[CorrelationRule],
        lanes: Lanes,
        seizures: SeizureCounts | None = None,
    ) -> None:
        # A rule reading seizures asks ``seizures`` first (without them, as in a screening
        # outside the service, its groups are never joined).
        self._rules = tuple(rules)
        self._each: tuple[Predicate, ...] = tuple(predicate(rule.each) for rule in self._rules)
        self._reads_seizures = tuple(SEIZURES in rule.measures for rule in self._rules)
        self._seizures = seizures
        self._lanes = lanes

    def joining(
        self, manifest: Manifest, manifest_view: View, item_views: list[View]
    ) -> Joining | None:
        """What ``manifest`` brings (None: no filed_at, or nothing at all)."""
        if manifest.filed_at is None:
            return None
        t = micros(manifest.filed_at)
        parties = {
            "consignor": party_key(manifest.consignor),
            "consignee": party_key(manifest.consignee),
        }
        members: list[Contribution] = []
        shipments: list[Shipment] = []
        for rule, each, offender in zip(self._rules, self._each, self._reads_seizures, strict=True):
            if offender:
                joins = (rule, each, manifest, manifest_view, item_views, t, parties)
                members += self._offending(*joins)
                continue
            joined = member_joins(rule, each, manifest, manifest_view, item_views)
            members += [Contribution(rule, key, name, mass) for (key, name), mass in joined.items()]
            if rule.keeps_shipments:
                keys = {key for key, _ in joined} | {key for key, _ in history_keys(rule, manifest)}
                shipments += [Shipment(rule, key) for key in sorted(keys)]
        if not members and not shipments:
            return None
        return Joining(
            manifest.manifest_id,
            t,
            manifest.filed_at,
            parties["consignor"],
            parties["consignee"],
            tuple(members),
            tuple(shipments),
            self._lanes,
        )

    def _offending(
        self,
        rule: CorrelationRule,
        each: Predicate,
        manifest: Manifest,
        manifest_view: View,
        item_views: list[View],
        t: int,
        parties: dict[str, str],
    ) -> list[Contribution]:
        """The groups of a rule reading seizures that ``manifest`` (filed at ``t``, its
        ``parties`` keyed by role) joins: those of its entities with a seizure that counts
        for it, when ``each`` holds (checked only then). A party with no seizure at all, the
        usual case, is ruled out by a set look-up before any entity key is computed."""
        seizures = self._seizures
        if seizures is None:
            return []
        for role, party in parties.items():
            if role in rule.group_by and not seizures.may_count(role, party):
                return []
        counts = {
            key: n
            for key, _name in history_keys(rule, manifest)
            if (n := seizures.count(rule, key, t, manifest.manifest_id))
        }
        if not counts:
            return []
        joined = member_joins(rule, each, manifest, manifest_view, item_views)
        return [
            Contribution(rule, key, name, mass, counts[key])
            for (key, name), mass in joined.items()
            if key in counts
        ]


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
