"""The seizures on record, kept in step with the store for the service's repeat-offender rules.

A confirmed seizure is a manifest whose **latest** recorded inspection outcome is ``seizure``
(:meth:`engine.store.inspections.InspectionStore.latest`, as back-tests, replay and ``assay
screen --outcomes`` read them): a seizure corrected to ``no_find`` stops counting. Its place
on the data's clock and its parties are those of the seized manifest as screened, read from
the decision log (``decisions.input``, the newest decision about that manifest; the journal
too, for a decision not yet copied into the database).

:class:`SeizuresOnRecord` reads only what is new: it remembers the last ``inspections.id`` it
read, and a refresh that finds no newer row (one ``max(id)`` query) does nothing else. The
service refreshes when it records an outcome itself (at once) and on each tick of its follow
loop, so another worker's outcome counts within one tick. An outcome whose manifest the log
does not hold (not screened by the service, or not written yet) is tried again each tick
from the database, in one query.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Collection, Iterable

import orjson
from pydantic import ValidationError
from sqlalchemy import Engine, func, select

from assay.engine.contracts import Manifest
from assay.engine.correlation.language import CorrelationRule
from assay.engine.correlation.measures import SEIZURES
from assay.engine.correlation.seizures import SeizureIndex
from assay.engine.store.database import decisions, inspections
from assay.engine.store.decisions import DecisionLog

# Manifest ids per query of the decision log (bound parameters stay well under every limit).
_CHUNK = 500


class SeizuresOnRecord:
    """Feeds a :class:`SeizureIndex` from the inspections table and the decision log."""

    def __init__(self, db: Engine, log: DecisionLog, index: SeizureIndex) -> None:
        self._db = db
        self._log = log
        self.index = index
        self._seen = 0  # the newest inspections.id read
        self._unresolved: set[str] = set()  # seized manifests the decision log lacked
        # One refresh at a time (the follow loop's tick and a request recording outcomes).
        self._refreshing = threading.Lock()

    def refresh(self, longest_history: int | None = None) -> bool:
        """Read the outcomes recorded since the last refresh into the index; whether it
        changed. ``longest_history`` (seconds, the longest ``history`` of the rules reading
        seizures): seizures too old to count at the latest data time are forgotten."""
        with self._db.connect() as connection:
            newest = connection.execute(select(func.max(inspections.c.id))).scalar() or 0
            latest: dict[str, str] = {}
            if newest > self._seen:
                query = (
                    select(inspections.c.manifest_id, inspections.c.result)
                    .where(inspections.c.id > self._seen, inspections.c.id <= newest)
                    .order_by(inspections.c.id)
                )
                for manifest_id, result in connection.execute(query):
                    latest[manifest_id] = result  # ids ascend: the last one stands
        released = {m for m, result in latest.items() if result != "seizure"}
        fresh = {m for m, result in latest.items() if result == "seizure"}
        retried = self._unresolved - released - fresh
        changed = False
        if fresh or retried or released:
            found = self._manifests(fresh, retried)
            self._unresolved = (fresh | retried) - found.keys()
            if found or released & self.index.seized():
                self.index.replace(found.values(), released)
                changed = True
        self._seen = newest
        if longest_history is not None:
            self.index.prune(longest_history)
        return changed

    def _manifests(self, fresh: Collection[str], retried: Collection[str]) -> dict[str, Manifest]:
        """The seized manifests as last screened, by id (those with a filed_at): from the
        database, then, for outcomes just read, from the journal (not yet copied)."""
        found: dict[str, Manifest] = {}
        wanted = sorted({*fresh, *retried})
        with self._db.connect() as connection:
            for start in range(0, len(wanted), _CHUNK):
                query = (
                    select(decisions.c.manifest_id, decisions.c.input)
                    .where(decisions.c.manifest_id.in_(wanted[start : start + _CHUNK]))
                    .order_by(decisions.c.created_at, decisions.c.id)
                )
                for manifest_id, text in connection.execute(query):
                    _keep(found, manifest_id, orjson.loads(text))  # the newest stands
        for manifest_id in sorted(set(fresh) - found.keys()):
            for decision in self._log.for_manifest(manifest_id, limit=1):
                _keep(found, manifest_id, decision.input)
        return {k: v for k, v in found.items() if v.filed_at is not None}


def _keep(found: dict[str, Manifest], manifest_id: str, document: object) -> None:
    # Only valid manifests are screened and logged; an odd row counts nothing.
    with contextlib.suppress(ValidationError):
        found[manifest_id] = Manifest.model_validate(document)


def longest_history(rules: Iterable[CorrelationRule]) -> int | None:
    """The longest ``history`` (seconds) of the rules that read seizures, or None."""
    found = [rule.history for rule in rules if SEIZURES in rule.measures and rule.history]
    return max(found, default=None)
