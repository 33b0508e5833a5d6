"""Seeding a correlation rule's record of shipments from the decision log.

A rule reading ``group.new_consignees`` needs the record of whom each entity shipped to
within its ``history``; that record (``correlation_shipped``) starts empty when the store is
new, when the correlation tables came with an upgrade, or when the rule is newly published,
and the rule's ``warm_up`` would then keep it silent for weeks. The decision log already
holds what was screened: each decision's ``input`` is the manifest as received. So when the
service first meets such a rule (at start, at a version load), one worker — the one whose
:meth:`~engine.store.correlation.CorrelationStore.claim_seeding` succeeds — reads the log,
oldest first, in chunks, and notes each logged manifest's shipments exactly as the screening
would (:func:`engine.correlation.evaluator.history_keys`, the entities the
:class:`~engine.correlation.joining.Joiner` gives a manifest's shipments), then moves the
record's start back to the earliest manifest it covers.

Bounds. The log is read from ``history + SCREENED_WITHIN`` (log time) before its newest
decision, a chunk at a time; shipments are written every ``chunk`` decisions, so memory holds
one chunk's shipments, never a year. A manifest screened more than ``SCREENED_WITHIN`` after
its filing, and logged before that range, is not seen (the error is towards alerting).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from pydantic import ValidationError

from assay.engine.contracts import Manifest
from assay.engine.correlation.alerts import timestamp
from assay.engine.correlation.entities import party_key
from assay.engine.correlation.evaluator import history_keys, micros, moment
from assay.engine.correlation.language import CorrelationRule
from assay.engine.correlation.measures import SEIZURES
from assay.engine.store.correlation import CorrelationStore
from assay.engine.store.decisions import DecisionLog

log = logging.getLogger("assay.correlation")
_SECOND = 1_000_000
# How long after its filing a manifest is screened, at most, for the seeding to see it.
SCREENED_WITHIN = timedelta(days=30)


@dataclass(frozen=True)
class Seeded:
    """What one rule's record was seeded with."""

    rule_id: str
    decisions: int  # timed manifests read from the log and noted
    since: int | None  # the record's start now (µs), None when the log had nothing


def keeps_record(rule: CorrelationRule) -> bool:
    """Whether the service keeps a record of shipments for ``rule``, as the Joiner decides: a
    rule reading seizures joins only through them and notes no shipments."""
    return rule.keeps_shipments and SEIZURES not in rule.measures


def seed_records(
    store: CorrelationStore,
    decisions: DecisionLog,
    rules: Iterable[CorrelationRule],
    chunk: int = 1_000,
    stopped: Callable[[], bool] = lambda: False,
) -> list[Seeded]:
    """Seed the record of each of ``rules`` that keeps one and was never seeded (this caller
    takes it: see the module's docstring); what was seeded, also said in the log. When
    ``stopped()`` turns true (the service shuts down) it stops at the next chunk, with what it
    wrote so far and the record's start left as the screening set it, and gives its claims
    up (the next start takes them again), as it does when it fails; a claim whose worker was
    killed is taken over once its lease runs out (``SEEDING_LEASE``)."""
    claimed = [r for r in rules if keeps_record(r) and store.claim_seeding(r.id)]
    if not claimed:
        return []
    ids = [r.id for r in claimed]
    try:
        seeded = _seed(store, decisions, claimed, chunk, stopped)
    except BaseException:
        with contextlib.suppress(Exception):  # the database may be what failed: the lease ends
            store.end_seeding(ids, done=False)
        raise
    store.end_seeding(ids, done=bool(seeded))
    return seeded


def _seed(
    store: CorrelationStore,
    decisions: DecisionLog,
    claimed: Sequence[CorrelationRule],
    chunk: int,
    stopped: Callable[[], bool],
) -> list[Seeded]:
    ids = [r.id for r in claimed]
    newest = decisions.latest(1)
    counts = dict.fromkeys((r.id for r in claimed), 0)
    earliest: dict[str, int] = {}
    latest = -(2**63)
    if newest:
        reach = max(r.history or 0 for r in claimed)
        start = newest[0].created_at - timedelta(seconds=reach) - SCREENED_WITHIN
        pending: dict[tuple[str, str, str], int] = {}
        for number, (_id, _at, text) in enumerate(decisions.inputs_between(start), start=1):
            manifest = _manifest(text)
            if manifest is not None and manifest.filed_at is not None:
                t = micros(manifest.filed_at)
                latest = max(latest, t)
                _note(claimed, manifest, t, pending, counts, earliest)
            if number % chunk == 0:
                _write(store, pending, claimed, latest)
                if stopped():
                    log.warning("stopped seeding the correlation records: the service stops")
                    return []
                store.seeding_alive(ids)
        _write(store, pending, claimed, latest)
    seeded: list[Seeded] = []
    for rule in claimed:
        since = None
        if rule.id in earliest:
            assert rule.history is not None
            since = max(earliest[rule.id], latest - rule.history * _SECOND)
            store.seed({}, {rule.id: since})
        seeded.append(Seeded(rule.id, counts[rule.id], since))
        log.info(
            "seeded the record of %s from %d logged decisions since %s",
            rule.id,
            counts[rule.id],
            "(none)" if since is None else timestamp(moment(since)),
        )
    return seeded


def _manifest(text: str) -> Manifest | None:
    """The logged input as a manifest; None for one that is not (its decision was an error)."""
    try:
        return Manifest.model_validate_json(text)
    except ValidationError:
        return None


def _note(
    rules: Sequence[CorrelationRule],
    manifest: Manifest,
    t: int,
    pending: dict[tuple[str, str, str], int],
    counts: dict[str, int],
    earliest: dict[str, int],
) -> None:
    consignee = party_key(manifest.consignee)
    for rule in rules:
        counts[rule.id] += 1
        earliest[rule.id] = min(t, earliest.get(rule.id, t))
        for key, _name in history_keys(rule, manifest):
            at = (rule.id, key, consignee)
            pending[at] = max(t, pending.get(at, t))


def _write(
    store: CorrelationStore,
    pending: dict[tuple[str, str, str], int],
    rules: Sequence[CorrelationRule],
    latest: int,
) -> None:
    """Write a chunk's shipments, leaving out those already older than their rule's history
    before the newest filing met (they could never count)."""
    history = {r.id: (r.history or 0) * _SECOND for r in rules}
    kept = {k: t for k, t in pending.items() if t >= latest - history[k[0]]}
    pending.clear()
    if kept:
        store.seed(kept, {})
