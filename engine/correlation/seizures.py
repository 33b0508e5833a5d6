"""The seizures on record, indexed for the repeat-offender rules (``history.seizures``) of a
live stream, so that a screening can ask "has this entity a seizure within ``history``
before me?" without a database round trip.

Every filing of a party would join a repeat-offender group, so the service cannot afford a
store transaction per filing to find out; it keeps the seized manifests in memory instead
(:class:`SeizureIndex`, filled by :mod:`engine.store.seizures`) and the
:class:`~engine.correlation.joining.Joiner` asks it (:class:`SeizureCounts`, a protocol: the
engine does not depend on the store). A manifest whose entities have no seizure costs a
dict look-up and nothing more.

A seizure's entity is that of its seized manifest under the rule's ``group_by``, computed by
the reference evaluator's own code (:func:`~engine.correlation.evaluator.history_keys`, as
:meth:`Correlator.seize <engine.correlation.evaluator.Correlator.seize>` does); it counts for
a filing at ``(t, manifest_id)`` when it comes strictly before it in ``(filed_at,
manifest_id)`` order and ``t - history <= t_seized`` (the reference's rule).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Mapping
from typing import Protocol

from assay.engine.contracts import Manifest
from assay.engine.correlation.entities import party_key
from assay.engine.correlation.evaluator import history_keys, micros
from assay.engine.correlation.language import CorrelationRule

_SECOND = 1_000_000  # microseconds
# Per entity key: the seizures' (t, manifest_id), sorted.
_Entities = Mapping[str, tuple[tuple[int, str], ...]]


class SeizureCounts(Protocol):
    """What the joiner asks of the seizures on record."""

    def count(self, rule: CorrelationRule, entity_key: str, t: int, manifest_id: str) -> int:
        """Seizures of ``entity_key`` under ``rule`` that count for the filing at ``(t,
        manifest_id)``: before it in filed_at order, at most ``history`` earlier."""
        ...

    def may_count(self, role: str, party: str) -> bool:
        """Whether any seized manifest has ``party`` (a party key) as its ``role``
        (``consignor`` or ``consignee``): false lets a filing skip every rule grouping by
        that role without computing its entity keys."""
        ...


class SeizureIndex:
    """Seized manifests, and per rule the entities' seizure times (thread-safe).

    Readers never lock: every change builds new mappings and swaps them in (seizures are
    rare, filings are many). A rule met for the first time, or changed (another ruleset
    version), has its entities computed from the seized manifests kept, on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # serialises writers
        self._seized: Mapping[str, Manifest] = {}  # manifest_id -> the seized manifest
        # (role, party key) of every seized manifest's consignor and consignee
        self._parties: frozenset[tuple[str, str]] = frozenset()
        # rule id -> (the rule's group_by, its entities), rebuilt when the group_by changes
        self._by_rule: Mapping[str, tuple[tuple[str, ...], _Entities]] = {}
        self.watermark = 0  # the latest data time asked about (µs)

    def __len__(self) -> int:
        return len(self._seized)

    def seized(self) -> frozenset[str]:
        """The manifest ids counted now."""
        return frozenset(self._seized)

    def may_count(self, role: str, party: str) -> bool:
        return (role, party) in self._parties

    def count(self, rule: CorrelationRule, entity_key: str, t: int, manifest_id: str) -> int:
        # A benign race between threads: the watermark only bounds what prune() drops.
        self.watermark = max(self.watermark, t)
        entry = self._by_rule.get(rule.id)
        if entry is None or entry[0] != rule.group_by:
            if not self._seized:
                return 0
            entry = self._index_rule(rule)
        times = entry[1].get(entity_key)
        if not times:
            return 0
        assert rule.history is not None  # history.seizures needs it (language.py)
        low = bisect.bisect_left(times, (t - rule.history * _SECOND, ""))
        high = bisect.bisect_left(times, (t, manifest_id))
        return max(0, high - low)

    def replace(self, seized: Iterable[Manifest], released: Iterable[str] = ()) -> None:
        """Count the seized manifests given (a manifest read again replaces its earlier
        reading) and stop counting those ``released`` (their latest outcome is no longer a
        seizure)."""
        with self._lock:
            kept = dict(self._seized)
            for manifest_id in released:
                kept.pop(manifest_id, None)
            for manifest in seized:
                if manifest.filed_at is not None:
                    kept[manifest.manifest_id] = manifest
            self._swap(kept)

    def prune(self, longest_history: int) -> None:
        """Forget seizures filed more than ``longest_history`` seconds before the latest data
        time met: they can count for no later filing (bounded memory)."""
        since = self.watermark - longest_history * _SECOND
        with self._lock:
            old = {
                m.manifest_id
                for m in self._seized.values()
                if m.filed_at is not None and micros(m.filed_at) < since
            }
            if not old:
                return
            self._swap({k: v for k, v in self._seized.items() if k not in old})

    def _swap(self, seized: Mapping[str, Manifest]) -> None:
        """Make ``seized`` the seizures counted (under ``self._lock``)."""
        parties = {("consignor", party_key(m.consignor)) for m in seized.values()}
        parties |= {("consignee", party_key(m.consignee)) for m in seized.values()}
        self._parties = frozenset(parties)
        self._seized = seized
        self._by_rule = {}  # recomputed per rule on first use

    def _index_rule(self, rule: CorrelationRule) -> tuple[tuple[str, ...], _Entities]:
        with self._lock:
            entities: dict[str, list[tuple[int, str]]] = {}
            for manifest in self._seized.values():
                assert manifest.filed_at is not None
                at = (micros(manifest.filed_at), manifest.manifest_id)
                for key, _name in history_keys(rule, manifest):
                    bisect.insort(entities.setdefault(key, []), at)
            entry = (rule.group_by, {key: tuple(times) for key, times in entities.items()})
            self._by_rule = {**self._by_rule, rule.id: entry}
            return entry
