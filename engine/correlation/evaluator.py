"""The plain-Python reference evaluator of correlation rules: per-entity windows in memory.

It is the oracle later evaluators (durable_rules) must match, so its semantics are spelled out:

* **Order.** Manifests are taken in ``(filed_at, manifest_id)`` order. :func:`correlate` sorts
  its input that way first, so the order of arrival never changes the alerts;
  :meth:`Correlator.push` takes a stream that is already in that order and refuses a manifest
  filed before one it has seen (:class:`OutOfOrderError`). A manifest without ``filed_at`` has no
  place on the data's clock: it is skipped and counted (:attr:`Correlator.skipped`).
* **Members.** A manifest joins a rule's group when ``each`` holds for it (``scope:
  manifest``) or for any of its goods items (``scope: item``; the member's mass is then the
  matching items' gross mass, and with ``hs_heading`` in ``group_by`` each heading's matching
  items join that heading's group).
* **Window, inclusive at both ends.** When a member arrives at time ``t``, the group is the
  entity's members filed in ``[t - window, t]``: one filed exactly ``window`` earlier still
  counts, one filed a microsecond before that does not. The baseline is ``[t - window -
  baseline, t - window)``. Time is the data's own (``filed_at``), never the wall clock.
* **Alerts.** Each member whose arrival leaves ``alert_when`` true raises one alert, listing
  every member of its group; its id depends on the rule, the entity and that member only.
* **Seizures** (the repeat offender's ``history.seizures``). The manifest ids with a confirmed
  seizure (inspection outcome ``seizure``) are given with the stream; a seizure is a timed
  event at its seized manifest's ``filed_at``, merged into the stream just after that
  manifest, so it counts for every later manifest of the same entity (in ``(filed_at,
  manifest_id)`` order, never the seized manifest itself) filed within ``history`` after it:
  ``t - history <= t_seized``, inclusive. The data's clock, not the time the outcome was
  recorded: a back-test and a re-run give the same alerts, and outcomes read from a file
  (which carry no time) mean the same as outcomes from the store. The price: an inspection
  takes hours or days, so a back-test may count a seizure for a filing made before the
  seizure was known (:meth:`Correlator.seize` of a live stream counts it only from then on).
* **Memory.** Members older than ``window + baseline`` and consignees last seen longer ago
  than ``history`` are dropped as data time passes, and an entity with nothing left is
  dropped whole (a sweep at most every ``window`` of data time — the shortest rule's — and
  only once as many manifests have been pushed since the last sweep as it left entities, so
  its cost is spread over the pushes: at most one entity visited per push and rule), so
  memory follows the live windows,
  not the length of the stream.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from assay.engine import conditions as c
from assay.engine.contracts import Manifest
from assay.engine.correlation.alerts import Alert, alert_id, render, spoken_duration, utc
from assay.engine.correlation.entities import entity_key, party_key
from assay.engine.correlation.language import CorrelationRule
from assay.engine.correlation.measures import SEIZURES
from assay.engine.evaluators.closures import Predicate, predicate
from assay.engine.features import Enricher, View
from assay.engine.ruleset import RuleSet

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_SECOND = 1_000_000  # microseconds


class CorrelationEvaluator(Protocol):
    """What every correlation evaluator offers: this reference one, and the durable_rules one
    of a later slice, which must give the same alerts for the same stream."""

    def push(self, manifest: Manifest) -> list[Alert]:
        """Take the next manifest of a stream in filed_at order; the alerts it completes."""
        ...


class OutOfOrderError(ValueError):
    """A manifest filed before one already pushed: the stream must be in filed_at order."""


def micros(moment: datetime) -> int:
    """Exact microseconds since the epoch (a naive time is taken as UTC)."""
    return (utc(moment) - _EPOCH) // _MICRO


def moment(t: int) -> datetime:
    """The UTC time ``t`` microseconds after the epoch: :func:`micros` undone."""
    return _EPOCH + t * _MICRO


def order_key(manifest: Manifest) -> tuple[int, str]:
    """The position of a manifest on the data's clock: filed_at, then manifest_id."""
    assert manifest.filed_at is not None
    return micros(manifest.filed_at), manifest.manifest_id


class FiledOrder:
    """The clock of one stream, as every evaluator keeps it: a manifest without filed_at has
    no place on it (skipped and counted), and one filed before a manifest already taken is
    refused (:class:`OutOfOrderError`)."""

    def __init__(self) -> None:
        self.watermark: tuple[int, str] | None = None
        self.skipped = 0  # manifests without filed_at

    def place(self, manifest: Manifest) -> tuple[int, str] | None:
        """The manifest's ``(filed_at µs, manifest_id)``, or None when it has no filed_at."""
        if manifest.filed_at is None:
            self.skipped += 1
            return None
        position = order_key(manifest)
        if self.watermark is not None and position < self.watermark:
            raise OutOfOrderError(
                f"manifest {manifest.manifest_id} (filed {manifest.filed_at.isoformat()}) "
                "comes after a later one; feed manifests in filed_at order, or use correlate()"
            )
        self.watermark = position
        return position


@dataclass(frozen=True, slots=True)
class Member:
    t: int  # filed_at, microseconds since the epoch
    manifest_id: str
    filed_at: datetime
    mass_kg: float
    consignor: str
    consignee: str
    new_consignee: bool
    # Whether the record of shipments covered the rule's warm-up when this member was filed:
    # when not, group.new_consignees of the group it ends is missing (see covered()).
    covered: bool = True


def covered(rule: CorrelationRule, t: int, record_since: int | None) -> bool:
    """Whether "new consignee" is knowable for a member filed at ``t`` (µs) when the record of
    shipments starts at ``record_since`` (µs; None: nothing recorded yet, so this member
    starts it): the record must cover the rule's warm-up before ``t``."""
    if rule.warm_up is None:
        return True
    start = t if record_since is None else record_since
    return t - start >= rule.warm_up * _SECOND


@dataclass
class _Entity:
    members: deque[Member] = field(default_factory=deque)
    last_shipped: dict[str, int] = field(default_factory=dict)  # consignee -> last t
    seizures: list[int] = field(default_factory=list)  # seized manifests' t, sorted

    def empty(self) -> bool:
        return not self.members and not self.last_shipped and not self.seizures


def _number(node: c.Value, measures: dict[str, float | None]) -> float | None:
    if isinstance(node, c.Field):
        return measures[node.path]
    if isinstance(node, c.Const):
        return node.value if isinstance(node.value, float) else None
    if isinstance(node, c.Neg):
        inner = _number(node.operand, measures)
        return None if inner is None else -inner
    if isinstance(node, c.Arith):
        a, b = _number(node.left, measures), _number(node.right, measures)
        if a is None or b is None:
            return None
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        return None if b == 0 else a / b
    return None


def holds(node: c.Condition, measures: dict[str, float | None]) -> bool:
    """The group condition on these measures (a comparison reading null is false)."""
    if isinstance(node, c.And):
        return all(holds(i, measures) for i in node.items)
    if isinstance(node, c.Or):
        return any(holds(i, measures) for i in node.items)
    if isinstance(node, c.Not):
        return not holds(node.item, measures)
    if isinstance(node, c.Known):
        return node.value
    assert isinstance(node, c.Compare)
    a, b = _number(node.left, measures), _number(node.right, measures)
    if a is None or b is None:
        return False
    return {
        "==": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[node.op]


def measure(
    rule: CorrelationRule, members: Sequence[Member], t: int, seizures: int = 0
) -> dict[str, float | None]:
    """Every measure of the group ending at ``t`` (members are in order, none after ``t``);
    ``seizures`` is the entity's count within ``history`` before ``t``. group.new_consignees
    is missing (None) when the last member was filed before the record covered the warm-up."""
    start = t - rule.window * _SECOND
    group = [m for m in members if m.t >= start]
    base = [m for m in members if m.t < start]
    return {
        "group.count": float(len(group)),
        "group.mass_kg": sum(m.mass_kg for m in group),
        "group.max_mass_kg": max(m.mass_kg for m in group),
        "group.first_mass_kg": group[0].mass_kg,
        "group.last_mass_kg": group[-1].mass_kg,
        "group.span_hours": (group[-1].t - group[0].t) / (3600 * _SECOND),
        "group.distinct_consignors": float(len({m.consignor for m in group})),
        "group.distinct_consignees": float(len({m.consignee for m in group})),
        "group.new_consignees": float(len({m.consignee for m in group if m.new_consignee}))
        if group[-1].covered
        else None,
        SEIZURES: float(seizures),
        "baseline.count": float(len(base)),
        "baseline.mass_kg": sum(m.mass_kg for m in base),
    }


def member_joins(
    rule: CorrelationRule,
    each: Predicate,
    manifest: Manifest,
    manifest_view: View,
    item_views: list[View],
) -> dict[tuple[str, str], float]:
    """(entity key, name) -> the mass with which ``manifest`` joins that entity's group under
    ``rule`` (``each`` is the rule's compiled ``each``); shared with the durable_rules
    evaluator, which asserts one fact per join."""
    joins: dict[tuple[str, str], float] = {}
    if rule.scope == "manifest":
        if each({}, manifest_view):
            joins[entity_key(rule.group_by, manifest)] = manifest_view["total_gross_mass_kg"]
        return joins
    by_heading = "hs_heading" in rule.group_by
    for item in item_views:
        if each(item, manifest_view):
            heading = item.source.hs_code[:4] if by_heading else None  # type: ignore[attr-defined]
            key = entity_key(rule.group_by, manifest, heading)
            joins[key] = joins.get(key, 0.0) + item.source.gross_mass_kg  # type: ignore[attr-defined]
    return joins


def history_keys(rule: CorrelationRule, manifest: Manifest) -> set[tuple[str, str]]:
    """Every entity a manifest belongs to, member or not: its history counts."""
    if "hs_heading" not in rule.group_by:
        return {entity_key(rule.group_by, manifest)}
    return {entity_key(rule.group_by, manifest, item.hs_code[:4]) for item in manifest.items}


def make_alert(
    rule: CorrelationRule,
    key: str,
    name: str,
    members: Iterable[Member],
    t: int,
    measures: dict[str, float | None],
) -> Alert:
    """The alert of the group ending at ``t`` (``members`` in order, none after ``t``); shared
    with the durable_rules evaluator so that both write the same alert."""
    start = t - rule.window * _SECOND
    group = [m for m in members if m.t >= start]
    trigger = group[-1]
    values: dict[str, object] = {
        **measures,
        **{f"params.{k}": v for k, v in rule.params.items()},
        "entity": name,
        "entity_key": key,
        "window": spoken_duration(rule.window_text),
        "baseline_window": spoken_duration(rule.baseline_text),
        "first_filed_at": group[0].filed_at,
        "last_filed_at": trigger.filed_at,
    }
    return Alert(
        alert_id=alert_id(rule.id, key, trigger.manifest_id),
        rule_id=rule.id,
        pattern=rule.pattern,
        severity=rule.severity,
        group_by=rule.group_by,
        entity_key=key,
        entity=name,
        trigger_manifest_id=trigger.manifest_id,
        manifest_ids=tuple(m.manifest_id for m in group),
        first_filed_at=group[0].filed_at,
        last_filed_at=trigger.filed_at,
        measures={k: v for k, v in measures.items() if k in rule.measures},
        explanation=render(rule.explain, values),
    )


class Correlator:
    """Per-entity windows for the correlation rules of one ruleset (or the ``rules`` given).

    ``seized``: the ids of manifests with a confirmed seizure; each counts, as it is pushed,
    for the rules that read ``history.seizures`` (:meth:`seize` adds one later).

    ``record_since``: where the record of shipments starts (a rule's ``warm_up`` counts from
    it); by default the first timed manifest pushed, so a batch, a back-test and a replay are
    deterministic. A part of a stream split by entity gives the whole stream's start."""

    def __init__(
        self,
        ruleset: RuleSet,
        rules: Sequence[CorrelationRule] | None = None,
        seized: Collection[str] = (),
        record_since: datetime | None = None,
    ) -> None:
        self._rules = tuple(ruleset.correlations if rules is None else rules)
        self._seized = frozenset(seized)
        self._reads_seizures = tuple(SEIZURES in rule.measures for rule in self._rules)
        # Only a rule reading group.new_consignees needs each entity's consignees of the
        # history: a repeat-offender rule (history for its seizures) keeps none.
        self._keeps_consignees = tuple(rule.keeps_shipments for rule in self._rules)
        reads = {path for rule in self._rules for path in rule.reads}
        self._enricher = Enricher(ruleset, reads)
        self._each = tuple(predicate(rule.each) for rule in self._rules)
        self._state: tuple[dict[str, _Entity], ...] = tuple({} for _ in self._rules)
        self._clock = FiledOrder()
        self._record_since = None if record_since is None else micros(record_since)
        self._next_sweep = 0
        self._since_sweep = 0  # manifests pushed since the last sweep
        self._swept_left = 0  # entities the last sweep left

    @property
    def rules(self) -> tuple[CorrelationRule, ...]:
        return self._rules

    @property
    def skipped(self) -> int:
        """Manifests pushed without filed_at."""
        return self._clock.skipped

    def live_entities(self) -> int:
        """Entities holding members or history now (what memory grows with)."""
        return sum(len(state) for state in self._state)

    def push(self, manifest: Manifest) -> list[Alert]:
        """Take the next manifest of a stream in filed_at order; the alerts it completes."""
        position = self._clock.place(manifest)
        if position is None:
            return []
        t = position[0]
        if self._record_since is None:
            self._record_since = t  # the record of shipments starts with the stream
        self._since_sweep += 1
        if t >= self._next_sweep and self._since_sweep >= self._swept_left:
            self._sweep(t)
        manifest_view, item_views = self._enricher.enrich(manifest, date(1970, 1, 1))
        alerts: list[Alert] = []
        for index, rule in enumerate(self._rules):
            alerts += self._apply(index, rule, manifest, manifest_view, item_views, t)
        if manifest.manifest_id in self._seized:
            self.seize(manifest)
        return alerts

    def seize(self, manifest: Manifest) -> None:
        """Record a confirmed seizure at ``manifest`` (at its filed_at) for every entity it
        belongs to, for the rules that read ``history.seizures``: it counts for the entity's
        manifests pushed from now on, filed within ``history`` after it."""
        if manifest.filed_at is None:
            return
        t = micros(manifest.filed_at)
        for index, rule in enumerate(self._rules):
            if not self._reads_seizures[index]:
                continue
            for key, _name in history_keys(rule, manifest):
                bisect.insort(self._state[index].setdefault(key, _Entity()).seizures, t)

    def _joins(
        self, index: int, manifest: Manifest, manifest_view: View, item_views: list[View]
    ) -> dict[tuple[str, str], float]:
        return member_joins(
            self._rules[index], self._each[index], manifest, manifest_view, item_views
        )

    def _apply(
        self,
        index: int,
        rule: CorrelationRule,
        manifest: Manifest,
        manifest_view: View,
        item_views: list[View],
        t: int,
    ) -> list[Alert]:
        state = self._state[index]
        consignee = party_key(manifest.consignee)
        alerts: list[Alert] = []
        joins = self._joins(index, manifest, manifest_view, item_views)
        for (key, name), mass in joins.items():
            entity = state.setdefault(key, _Entity())
            self._expire(rule, entity, t)
            seen = entity.last_shipped.get(consignee)
            member = Member(
                t,
                manifest.manifest_id,
                manifest.filed_at,  # type: ignore[arg-type]  # push() skipped the None
                mass,
                party_key(manifest.consignor),
                consignee,
                seen is None,
                covered(rule, t, self._record_since),
            )
            entity.members.append(member)
            seizures = bisect.bisect_right(entity.seizures, t)  # expired ones are gone
            measures = measure(rule, entity.members, t, seizures)
            if holds(rule.alert_when, measures):
                alerts.append(self._alert(rule, key, name, entity.members, t, measures))
        if self._keeps_consignees[index]:
            for key, _name in set(joins) | history_keys(rule, manifest):
                entity = state.setdefault(key, _Entity())
                entity.last_shipped[consignee] = t
        return alerts

    @staticmethod
    def _expire(rule: CorrelationRule, entity: _Entity, t: int) -> None:
        oldest = t - rule.retention * _SECOND
        members = entity.members
        while members and members[0].t < oldest:
            members.popleft()
        if rule.history is not None and entity.last_shipped:
            since = t - rule.history * _SECOND
            entity.last_shipped = {k: v for k, v in entity.last_shipped.items() if v >= since}
        if rule.history is not None and entity.seizures:
            since = t - rule.history * _SECOND
            del entity.seizures[: bisect.bisect_left(entity.seizures, since)]

    def _sweep(self, t: int) -> None:
        """Drop entities with nothing left inside their rule's retention or history."""
        for rule, state in zip(self._rules, self._state, strict=True):
            for key in list(state):
                entity = state[key]
                self._expire(rule, entity, t)
                if entity.empty():
                    del state[key]
        shortest = min((rule.window for rule in self._rules), default=3600)
        self._next_sweep = t + shortest * _SECOND
        self._since_sweep = 0
        self._swept_left = self.live_entities()

    _alert = staticmethod(make_alert)


def correlate(
    ruleset: RuleSet,
    manifests: Iterable[Manifest],
    rules: Sequence[CorrelationRule] | None = None,
    seized: Collection[str] = (),
    record_since: datetime | None = None,
) -> list[Alert]:
    """Every alert of the correlation rules over ``manifests``, taken in filed_at order
    whatever order they come in (manifests without filed_at are skipped); ``seized`` names
    the manifests with a confirmed seizure (for ``history.seizures``); ``record_since`` where
    the record of shipments starts (default: the earliest manifest, see :class:`Correlator`)."""
    correlator = Correlator(ruleset, rules, seized, record_since)
    timed = sorted((m for m in manifests if m.filed_at is not None), key=order_key)
    alerts: list[Alert] = []
    for manifest in timed:
        alerts += correlator.push(manifest)
    return alerts
