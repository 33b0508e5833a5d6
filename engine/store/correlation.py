"""The correlation stage backed by the store: windows in the database, so every worker (and a
restarted service) sees the same groups.

For one screened manifest's :class:`~engine.correlation.joining.Joining`, in one transaction:

1. **Serialise per entity.** PostgreSQL: ``pg_advisory_xact_lock`` on a 64-bit hash of each
   (rule, entity) the manifest joins, taken in sorted order (two manifests joining the same
   two entities cannot deadlock); two workers screening members of one entity take turns,
   members of different entities do not wait for each other. SQLite has a single writer: the
   transaction begins with ``BEGIN IMMEDIATE``, so it holds the write lock from its start.
2. **Per member** (rule, entity): whether its consignee is new (``correlation_shipped``:
   the entity's last shipment to it within ``history``), insert it into
   ``correlation_members`` (once per manifest: a retry finds its row and keeps its values),
   read the entity's members in ``[t - window - baseline, t]`` up to this manifest's place
   ``(t, manifest_id)`` with the ``(rule_id, entity_key, t)`` index, and ask the
   :class:`~engine.correlation.judge.WindowJudge`; an alert is built by the reference
   evaluator's own code and stored once (``alert_id`` is the primary key: a retry, or another
   worker, cannot store it twice).
3. **History**: ``correlation_shipped`` keeps per (rule, entity, consignee) the last ``t``,
   and ``correlation_records`` per rule where that record starts (``since_t``): the earliest
   manifest ever noted for the rule (or decision seeded, :meth:`CorrelationStore.seed`). A
   member filed less than the rule's ``warm_up`` after it has ``group.new_consignees``
   missing, as in the reference evaluator, whose record starts with its stream. The minimum,
   not the first to arrive: a worker that notes an earlier manifest than another moves the
   start back, so every worker and a restart agree; the sweep never moves it (the record
   still covers from there when its oldest shipments expire).

Manifests that join no group but add to a ``history`` rule's record (every timed manifest, with
the default pack's new-receivers rule) are not worth a database round trip on the screening's
hot path: :meth:`CorrelationStore.note` keeps them in memory, and they are written by the next
member's transaction in this process (before its consignees are judged) or by :meth:`flush`
(the service's follow loop, each tick, and at shutdown). Within one process the order is
therefore exact; across workers, a shipment a worker has not flushed yet is unseen by another
for up to one tick; a worker killed hard loses its unflushed shipments (a consignee may then
be counted as new: the error is towards alerting).

**Expiry, by data time.** When the data time this process has seen passes its next sweep
point (every shortest window of the rules it has met), members older than their rule's
``window + baseline`` and shipments older than its ``history``, counted from
``LATE_TOLERANCE`` before that data time, are deleted (indexes on ``(rule_id, t)`` and
``(rule_id, last_t)``), so the tables follow the live windows (and the tolerance), as the
reference evaluator's memory does.

**Out of order.** The reference takes a stream in filed_at order; the API takes manifests as
they come. A manifest filed before members already stored is judged on its own window up to
its own place, and judges again the groups of the later members within reach, with itself in
them (:func:`_settle`): alerts it completes are stored (and flagged on it), standing ones
get its membership, ones it undoes (a baseline ratio) are withdrawn, naming it. Sweeps run
``LATE_TOLERANCE`` of data time behind the newest manifest, so a manifest that late still
finds its window whole. A member's "new consignee" is decided when it arrives.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    Executable,
    RowMapping,
    bindparam,
    case,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from assay.engine.correlation.alerts import Alert, alert_id
from assay.engine.correlation.evaluator import Member, covered, make_alert, moment
from assay.engine.correlation.joining import Contribution, Joining
from assay.engine.correlation.judge import PythonJudge, WindowJudge
from assay.engine.correlation.language import CorrelationRule
from assay.engine.store.database import (
    alerts,
    correlation_members,
    correlation_records,
    correlation_shipped,
    stored_utc,
)

_SECOND = 1_000_000  # microseconds
# How late (in data time) a manifest may arrive after later-filed ones of its entity and still
# find its window whole: sweeps keep this much more than the rules' windows need. Filings reach
# the border service within hours of being lodged; a week covers a system outage's backlog.
LATE_TOLERANCE = timedelta(days=7)
# A seeding whose worker gave no sign of life this long is taken over by another (it writes
# one every chunk of the decision log: seconds apart).
SEEDING_LEASE = timedelta(minutes=2)
# Shipments kept in memory by note() beyond which the next note writes them at once.
_MAX_PENDING = 4096


_M = correlation_members.c
_BY_ENTITY = (_M.rule_id == bindparam("rule_id"), _M.entity_key == bindparam("entity_key"))
# Built once: a statement built per call costs more than the query (SQLAlchemy's expression
# building and cache key).
_WINDOW = (
    select(_M.t, _M.manifest_id, _M.mass_kg, _M.consignor, _M.consignee, _M.new_consignee)
    .where(*_BY_ENTITY, _M.t >= bindparam("start"), _M.t <= bindparam("end"))
    .order_by(_M.t, _M.manifest_id)
)
_OWN = select(_M.new_consignee).where(*_BY_ENTITY, _M.manifest_id == bindparam("manifest_id"))
_S = correlation_shipped.c
_SEEN = select(_S.last_t).where(
    _S.rule_id == bindparam("rule_id"),
    _S.entity_key == bindparam("entity_key"),
    _S.consignee == bindparam("consignee"),
)
_INSERT = insert(correlation_members)
_R = correlation_records.c
_SINCE = select(_R.since_t).where(_R.rule_id == bindparam("rule_id"))


def lock_key(rule_id: str, entity_key: str) -> int:
    """A signed 64-bit key for ``pg_advisory_xact_lock``, the same in every process."""
    digest = hashlib.sha256(f"{rule_id}\0{entity_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True)
class StoredAlert:
    """An alert as stored, with the decision of the manifest that completed it."""

    alert: Alert
    decision_id: str | None
    created_at: datetime
    # Set when a manifest filed earlier arrived later and the group no longer alerts.
    withdrawn_at: datetime | None = None
    withdrawn_by: str | None = None  # that late manifest


class CorrelationStore:
    """Correlation windows, history and alerts in the database (thread-safe)."""

    def __init__(
        self,
        db: Engine,
        judge: WindowJudge | None = None,
        late_tolerance: timedelta = LATE_TOLERANCE,
    ) -> None:
        self._db = db
        self._judge: WindowJudge = judge if judge is not None else PythonJudge()
        # Sweeps run this much data time behind the newest manifest seen, so a manifest
        # arriving up to this late after later-filed ones still finds its window whole.
        self._late = late_tolerance // timedelta(microseconds=1)
        self._lock = threading.Lock()  # guards the fields below
        self._pending: dict[tuple[str, str, str], int] = {}  # (rule, entity, consignee) -> t
        self._pending_since: dict[str, int] = {}  # rule -> the earliest t noted, not written
        # rule -> the start of its record as last read or written here: the stored one is no
        # later (it only moves back), so a member this covers is covered.
        self._since: dict[str, int] = {}
        self._rules: dict[str, CorrelationRule] = {}  # every rule met, for the sweep
        self._next_sweep: int | None = None
        self._watermark = 0  # the latest data time met

    # ------------------------------------------------------------------ screening

    def push(self, joining: Joining, decision_id: str | None = None) -> list[Alert]:
        """Everything ``joining`` brings, written now; the alerts its manifest completes."""
        if not joining.members:
            self.note(joining)
            self.flush()
            return []
        return self.record(joining, decision_id)

    def note(self, joining: Joining) -> None:
        """Keep the shipments of a manifest that joins no group, to be written later (see the
        module's docstring); written at once when too many are waiting."""
        full = False
        with self._lock:
            self._meet(joining)
            for shipment in joining.shipments:
                key = (shipment.rule.id, shipment.entity_key, joining.consignee)
                if joining.t > self._pending.get(key, -(2**63)):
                    self._pending[key] = joining.t
                self._note_since(shipment.rule.id, joining.t)
            full = len(self._pending) >= _MAX_PENDING
        if full:
            self.flush()

    def flush(self) -> None:
        """Write the shipments :meth:`note` kept (no transaction when there are none)."""
        with self._lock:
            if not self._pending and not self._pending_since:
                return
        with self._taken() as (pending, since), self._db.begin() as connection:
            _write_shipments(connection, pending)
            _write_since(connection, since)
        self._maybe_sweep()

    def record(self, joining: Joining, decision_id: str | None = None) -> list[Alert]:
        """Judge the manifest's members in their entities' windows, store its alerts; the
        alerts (stored now or before, by a retry of the same manifest)."""
        with self._lock:
            self._meet(joining)
            # This manifest starts (or moves back) its rules' records, in its own transaction
            # (one that fails loses it with the manifest's shipments); not written when a start
            # known here is no later (the stored one is no later than that).
            own_since = {
                s.rule.id: joining.t
                for s in joining.shipments
                if joining.t < self._since.get(s.rule.id, 2**63)
            }
        found: list[Alert] = []
        with self._taken() as (pending, since), self._db.begin() as connection:
            if connection.dialect.name == "sqlite":
                # The write lock before the first read: the sqlite3 module would begin the
                # transaction only at the first write, after the window was read.
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            elif connection.dialect.name == "postgresql":
                keys = sorted({lock_key(m.rule.id, m.entity_key) for m in joining.members})
                for key in keys:
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            _write_shipments(connection, pending)
            _write_since(connection, {**since, **_earliest(own_since, since)})
            for member in joining.members:
                own, later = self._member(connection, joining, member)
                if own is not None:
                    _store_alert(connection, own, decision_id)
                    found.append(own)
                # Later-filed members' groups, judged again with this late manifest in them:
                # the alerts it completes (new or standing again) are its own flags too.
                late = joining.manifest_id
                for alert_key, alert in later:
                    settled = _settle(connection, alert_key, alert, late, decision_id)
                    if settled and alert is not None:
                        found.append(alert)
            _write_shipments(
                connection,
                {
                    (s.rule.id, s.entity_key, joining.consignee): joining.t
                    for s in joining.shipments
                },
            )
        with self._lock:
            for rule_id, t in own_since.items():
                self._since[rule_id] = min(t, self._since.get(rule_id, t))
        self._maybe_sweep()
        return found

    def _member(
        self, connection: Connection, joining: Joining, part: Contribution
    ) -> tuple[Alert | None, list[tuple[str, Alert | None]]]:
        """Insert one member and judge its group; the alert it completes, if any, and for
        each member filed after it (already stored: it arrived late) within reach, that
        member's alert id and its alert judged again (None: its group no longer alerts)."""
        rule, t = part.rule, joining.t
        keys = {"rule_id": rule.id, "entity_key": part.entity_key}
        reach = rule.retention * _SECOND
        rows = connection.execute(_WINDOW, {**keys, "start": t - reach, "end": t + reach}).all()
        position = (t, joining.manifest_id)
        since = self._record_since(connection, rule, t)
        stored = [
            Member(
                at,
                manifest_id,
                moment(at),
                mass,
                consignor,
                consignee,
                bool(new),
                covered(rule, at, since),
            )
            for at, manifest_id, mass, consignor, consignee, new in rows
            if manifest_id != joining.manifest_id
        ]
        own = connection.execute(_OWN, {**keys, "manifest_id": joining.manifest_id}).first()
        if own is not None:  # screened before (a retry): judged as it was then
            new = bool(own[0])
        else:
            new = True
            if rule.history is not None:  # else every consignee is new, as in the reference
                last = connection.execute(_SEEN, {**keys, "consignee": joining.consignee}).scalar()
                new = last is None or last < t - rule.history * _SECOND
            connection.execute(
                _INSERT,
                {
                    **keys,
                    "t": t,
                    "manifest_id": joining.manifest_id,
                    "mass_kg": part.mass_kg,
                    "consignor": joining.consignor,
                    "consignee": joining.consignee,
                    "new_consignee": new,
                },
            )
        this = Member(
            t,
            joining.manifest_id,
            joining.filed_at,
            part.mass_kg,
            joining.consignor,
            joining.consignee,
            new,
            covered(rule, t, since),
        )
        earlier = [m for m in stored if (m.t, m.manifest_id) < position]
        later = [m for m in stored if (m.t, m.manifest_id) > position]
        alert = self._judged(rule, part, [*earlier, this], part.seizures)
        members = [*earlier, this, *later]
        later_judged: list[tuple[str, Alert | None]] = []
        if part.seizures:
            # A repeat offender's later members were judged on their own seizures, which
            # this member does not change: nothing to judge again.
            return alert, later_judged
        for index, member in enumerate(members[len(earlier) + 1 :], start=len(earlier) + 1):
            group = [m for m in members[: index + 1] if m.t >= member.t - reach]
            key = alert_id(rule.id, part.entity_key, member.manifest_id)
            later_judged.append((key, self._judged(rule, part, group)))
        return alert, later_judged

    def _record_since(self, connection: Connection, rule: CorrelationRule, t: int) -> int | None:
        """Where ``rule``'s record of shipments starts (None: nothing noted for it), read from
        the store unless what this process knows already covers ``t`` (it only moves back)."""
        if rule.warm_up is None:
            return None
        with self._lock:
            known = self._since.get(rule.id)
        if known is not None and covered(rule, t, known):
            return known
        stored = connection.execute(_SINCE, {"rule_id": rule.id}).scalar()
        with self._lock:
            if stored is not None:
                self._since[rule.id] = min(stored, self._since.get(rule.id, stored))
            return self._since.get(rule.id)

    def _note_since(self, rule_id: str, t: int) -> None:
        """A manifest at ``t`` noted for ``rule_id``'s record (under ``self._lock``)."""
        if t < self._since.get(rule_id, 2**63):
            self._since[rule_id] = t
            self._pending_since[rule_id] = min(t, self._pending_since.get(rule_id, t))

    def _judged(
        self, rule: CorrelationRule, part: Contribution, members: list[Member], seizures: int = 0
    ) -> Alert | None:
        """The alert of the group ending with its last member, if the judge says so
        (``seizures``: that member's ``history.seizures``)."""
        t = members[-1].t
        measures = self._judge.judge(rule, members, t, seizures)
        if measures is None:
            return None
        return make_alert(rule, part.entity_key, part.entity, members, t, dict(measures))

    # ------------------------------------------------------------------ seeding

    def claim_seeding(self, rule_id: str, now: datetime | None = None) -> bool:
        """Take the seeding of ``rule_id``'s record from the decision log: true for one caller
        at a time (every worker of every host asks), until the seeding is done
        (:meth:`end_seeding`). A claim whose holder gave no sign of life for
        ``SEEDING_LEASE`` (a worker killed, a database lost mid-way) is taken over."""
        now = now or datetime.now(UTC)
        table = correlation_records
        with self._db.begin() as connection:
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            connection.execute(
                dialect.insert(table)
                .values(rule_id=rule_id, since_t=None, seeded_at=None, seeding_at=None)
                .on_conflict_do_nothing(index_elements=[table.c.rule_id])
            )
            free = table.c.seeding_at.is_(None) | (table.c.seeding_at < now - SEEDING_LEASE)
            taken = connection.execute(
                table.update()
                .where(table.c.rule_id == rule_id, table.c.seeded_at.is_(None), free)
                .values(seeding_at=now)
                .returning(table.c.rule_id)
            ).first()
        return taken is not None

    def seeding_alive(self, rule_ids: Collection[str], now: datetime | None = None) -> None:
        """The seeding of ``rule_ids`` goes on: its claims stay this caller's."""
        table = correlation_records
        with self._db.begin() as connection:
            connection.execute(
                table.update()
                .where(table.c.rule_id.in_(list(rule_ids)), table.c.seeded_at.is_(None))
                .values(seeding_at=now or datetime.now(UTC))
            )

    def end_seeding(self, rule_ids: Collection[str], done: bool) -> None:
        """The seeding of ``rule_ids`` ends: ``done`` (never seeded again) or given up (the
        service stops, or it failed: another claim may take it at once)."""
        table = correlation_records
        ended = {"seeded_at": datetime.now(UTC)} if done else {}
        with self._db.begin() as connection:
            connection.execute(
                table.update()
                .where(table.c.rule_id.in_(list(rule_ids)), table.c.seeded_at.is_(None))
                .values(seeding_at=None, **ended)
            )

    def unseeded(self, rule_ids: Collection[str]) -> set[str]:
        """Those of ``rule_ids`` whose record was not seeded yet (never claimed, or claimed
        and not done)."""
        table = correlation_records
        with self._db.connect() as connection:
            done = connection.execute(
                select(table.c.rule_id).where(
                    table.c.rule_id.in_(list(rule_ids)), table.c.seeded_at.is_not(None)
                )
            ).scalars()
            return set(rule_ids) - set(done)

    def seed(self, shipments: dict[tuple[str, str, str], int], since: dict[str, int]) -> None:
        """Write shipments read from the decision log (later ones already stored win) and move
        each rule's record start back to ``since`` (the earlier one wins)."""
        with self._db.begin() as connection:
            _write_shipments(connection, shipments)
            _write_since(connection, since)
        with self._lock:
            for rule_id, t in since.items():
                known = self._since.get(rule_id)
                self._since[rule_id] = t if known is None else min(known, t)

    def record_since(self, rule_id: str) -> int | None:
        """Where ``rule_id``'s record of shipments starts (µs of data time), as stored."""
        with self._db.connect() as connection:
            found: int | None = connection.execute(_SINCE, {"rule_id": rule_id}).scalar()
        return found

    # ------------------------------------------------------------------ expiry

    def _meet(self, joining: Joining) -> None:
        """Note the rules and the data time seen (under ``self._lock``)."""
        for rule in joining.rules:
            self._rules[rule.id] = rule
        if self._next_sweep is None:
            self._next_sweep = joining.t  # the first sweep comes with the first manifest
        self._watermark = max(self._watermark, joining.t)

    def _maybe_sweep(self) -> None:
        with self._lock:
            if self._next_sweep is None or self._watermark < self._next_sweep:
                return
            t = self._watermark
            rules = list(self._rules.values())
            shortest = min((rule.window for rule in rules), default=3600)
            self._next_sweep = t + shortest * _SECOND
        self.sweep(t - self._late, rules)

    def sweep(self, t: int, rules: Iterable[CorrelationRule]) -> None:
        """Delete what can no longer count at data time ``t``: members older than their rule's
        window + baseline, shipments older than its history."""
        with self._db.begin() as connection:
            for rule in rules:
                connection.execute(
                    delete(correlation_members).where(
                        correlation_members.c.rule_id == rule.id,
                        correlation_members.c.t < t - rule.retention * _SECOND,
                    )
                )
                if rule.history is not None:
                    connection.execute(
                        delete(correlation_shipped).where(
                            correlation_shipped.c.rule_id == rule.id,
                            correlation_shipped.c.last_t < t - rule.history * _SECOND,
                        )
                    )

    def rows(self) -> tuple[int, int]:
        """(members, shipments) held now: what the tables grow with."""
        with self._db.connect() as connection:
            members = connection.execute(select(correlation_members.c.t)).all()
            shipped = connection.execute(select(correlation_shipped.c.last_t)).all()
        return len(members), len(shipped)

    # ------------------------------------------------------------------ reading

    def alerts(
        self,
        *,
        rule_id: str | None = None,
        entity_key: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        withdrawn: bool | None = None,
        limit: int = 100,
    ) -> list[StoredAlert]:
        """Stored alerts, newest (last filed_at) first; ``since``/``until`` bound the last
        member's filed_at, inclusive; ``withdrawn`` keeps only the withdrawn (True) or the
        standing (False) ones."""
        query = select(alerts)
        if withdrawn is not None:
            query = query.where(
                alerts.c.withdrawn_at.is_not(None) if withdrawn else alerts.c.withdrawn_at.is_(None)
            )
        if rule_id is not None:
            query = query.where(alerts.c.rule_id == rule_id)
        if entity_key is not None:
            query = query.where(alerts.c.entity_key == entity_key)
        if since is not None:
            query = query.where(alerts.c.last_filed_at >= since)
        if until is not None:
            query = query.where(alerts.c.last_filed_at <= until)
        query = query.order_by(alerts.c.last_filed_at.desc(), alerts.c.alert_id).limit(limit)
        with self._db.connect() as connection:
            return [_stored(row) for row in connection.execute(query).mappings()]

    @contextlib.contextmanager
    def _taken(self) -> Iterator[tuple[dict[tuple[str, str, str], int], dict[str, int]]]:
        """The shipments (and record starts) kept by :meth:`note`, taken for one transaction;
        put back if it fails (the database did not answer), to be written by a later one."""
        with self._lock:
            taken, self._pending = self._pending, {}
            since, self._pending_since = self._pending_since, {}
        try:
            yield taken, since
        except BaseException:
            with self._lock:
                for key, t in taken.items():
                    if t > self._pending.get(key, -(2**63)):
                        self._pending[key] = t
                for rule_id, t in since.items():
                    self._pending_since[rule_id] = min(t, self._pending_since.get(rule_id, t))
            raise


def _upsert_shipments(dialect: Any) -> Executable:
    """Each (rule, entity, consignee)'s last shipment: the later of the stored and the new."""
    table = correlation_shipped
    statement = dialect.insert(table)
    later = case(
        (statement.excluded.last_t > table.c.last_t, statement.excluded.last_t),
        else_=table.c.last_t,
    )
    upsert: Executable = statement.on_conflict_do_update(
        index_elements=[table.c.rule_id, table.c.entity_key, table.c.consignee],
        set_={"last_t": later},
    )
    return upsert


def _upsert_since(dialect: Any) -> Executable:
    """Each rule's record start: the earlier of the stored and the new (a row made by a
    seeding claim has none yet)."""
    table = correlation_records
    statement = dialect.insert(table)
    earlier = case(
        (table.c.since_t.is_(None), statement.excluded.since_t),
        (statement.excluded.since_t < table.c.since_t, statement.excluded.since_t),
        else_=table.c.since_t,
    )
    upsert: Executable = statement.on_conflict_do_update(
        index_elements=[table.c.rule_id], set_={"since_t": earlier}
    )
    return upsert


def _insert_alert(dialect: Any) -> Executable:
    """An alert, unless its id is stored already (a retry, or another worker)."""
    statement: Executable = (
        dialect.insert(alerts)
        .on_conflict_do_nothing(index_elements=[alerts.c.alert_id])
        .returning(alerts.c.alert_id)  # a row when stored now (psycopg's rowcount is -1)
    )
    return statement


# Per dialect, built once (see _WINDOW).
_UPSERT_SHIPMENTS = MappingProxyType(
    {"sqlite": _upsert_shipments(sqlite), "postgresql": _upsert_shipments(postgresql)}
)
_UPSERT_SINCE = MappingProxyType(
    {"sqlite": _upsert_since(sqlite), "postgresql": _upsert_since(postgresql)}
)
_INSERT_ALERT = MappingProxyType(
    {"sqlite": _insert_alert(sqlite), "postgresql": _insert_alert(postgresql)}
)


def _write_shipments(connection: Connection, shipments: dict[tuple[str, str, str], int]) -> None:
    if not shipments:
        return
    rows = [
        {"rule_id": r, "entity_key": e, "consignee": c, "last_t": t}
        for (r, e, c), t in sorted(shipments.items())
    ]
    connection.execute(_UPSERT_SHIPMENTS[connection.dialect.name], rows)


def _earliest(own: dict[str, int], since: dict[str, int]) -> dict[str, int]:
    """Per rule of ``own``, the earlier of its start and the one in ``since``."""
    return {rule_id: min(t, since.get(rule_id, t)) for rule_id, t in own.items()}


def _write_since(connection: Connection, since: dict[str, int]) -> None:
    if not since:
        return
    rows = [{"rule_id": r, "since_t": t} for r, t in sorted(since.items())]
    connection.execute(_UPSERT_SINCE[connection.dialect.name], rows)


_A = alerts.c
_STANDING = select(_A.manifest_ids, _A.withdrawn_at).where(_A.alert_id == bindparam("key"))
_WITHDRAW = (
    update(alerts)
    .where(_A.alert_id == bindparam("key"))
    .values(withdrawn_at=bindparam("at"), withdrawn_by=bindparam("by"))
)
_REGROUP = (
    update(alerts)
    .where(_A.alert_id == bindparam("key"))
    .values(
        manifest_ids=bindparam("manifest_ids"),
        first_filed_at=bindparam("first"),
        measures=bindparam("measures"),
        explanation=bindparam("explanation"),
        withdrawn_at=None,
        withdrawn_by=None,
    )
)


def _settle(
    connection: Connection,
    key: str,
    alert: Alert | None,
    late_manifest_id: str,
    decision_id: str | None,
) -> bool:
    """A later member's alert ``key`` after a late manifest (``late_manifest_id``) joined its
    group: stored if new, its members and measures brought up to date if standing (the late
    member is one of them), withdrawn if the group no longer alerts (a member in a baseline
    window, say), standing again if a later judgement restores it. Whether the late
    manifest completes it now (new, or standing again): then it is one of its flags."""
    stored = connection.execute(_STANDING, {"key": key}).first()
    if alert is None:
        if stored is not None and stored.withdrawn_at is None:
            connection.execute(
                _WITHDRAW, {"key": key, "at": datetime.now(UTC), "by": late_manifest_id}
            )
        return False
    if stored is None:
        return _store_alert(connection, alert, decision_id)
    members = orjson.dumps(list(alert.manifest_ids)).decode()
    if stored.withdrawn_at is not None or stored.manifest_ids != members:
        connection.execute(
            _REGROUP,
            {
                "key": key,
                "manifest_ids": members,
                "first": alert.first_filed_at,
                "measures": orjson.dumps(dict(alert.measures)).decode(),
                "explanation": alert.explanation,
            },
        )
    return stored.withdrawn_at is not None


def _store_alert(connection: Connection, alert: Alert, decision_id: str | None) -> bool:
    """Store ``alert`` unless stored already; whether it was stored now."""
    row = {
        "alert_id": alert.alert_id,
        "rule_id": alert.rule_id,
        "pattern": alert.pattern,
        "severity": alert.severity,
        "entity_key": alert.entity_key,
        "entity": alert.entity,
        "trigger_manifest_id": alert.trigger_manifest_id,
        "manifest_ids": orjson.dumps(list(alert.manifest_ids)).decode(),
        "first_filed_at": alert.first_filed_at,
        "last_filed_at": alert.last_filed_at,
        "measures": orjson.dumps(dict(alert.measures)).decode(),
        "explanation": alert.explanation,
        "created_at": datetime.now(UTC),
        "decision_id": decision_id,
    }
    return connection.execute(_INSERT_ALERT[connection.dialect.name], row).first() is not None


def _group_by(key: str) -> tuple[str, ...]:
    """The key parts of an entity key (``consignor=…;hs_heading=…``); a name holding ``;``
    adds no part."""
    parts = (part.split("=", 1)[0] for part in key.split(";") if "=" in part)
    return tuple(dict.fromkeys(p for p in parts if p in _KEY_PARTS))


_KEY_PARTS = frozenset(("consignor", "consignee", "route", "hs_heading"))


def _stored(row: RowMapping) -> StoredAlert:
    get = row.__getitem__
    alert = Alert(
        alert_id=get("alert_id"),
        rule_id=get("rule_id"),
        pattern=get("pattern"),
        severity=get("severity"),
        group_by=_group_by(get("entity_key")),
        entity_key=get("entity_key"),
        entity=get("entity"),
        trigger_manifest_id=get("trigger_manifest_id"),
        manifest_ids=tuple(orjson.loads(get("manifest_ids"))),
        first_filed_at=stored_utc(get("first_filed_at")),
        last_filed_at=stored_utc(get("last_filed_at")),
        measures=orjson.loads(get("measures")),
        explanation=get("explanation"),
    )
    return StoredAlert(
        alert,
        get("decision_id"),
        stored_utc(get("created_at")),
        stored_utc(get("withdrawn_at")),
        get("withdrawn_by"),
    )
