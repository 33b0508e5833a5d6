"""What one service process holds: settings, the engine, the stores, the metrics.

The engine screens with the rule store's *active* version. On first start the store is
empty and the rule pack (``--rules``, or the one shipped with Assay) becomes version 1.
Every worker process follows the store: :meth:`Service.follow` checks the active version
every ``reload_seconds`` and, when it changed, compiles it and swaps it in atomically —
requests already screening finish on the version they started with. The same loop follows the
current shadow run (:mod:`api.shadow`): it loads or drops the shadow version's engine and
stores the shadow's results, and reads the inspection outcomes recorded since its last tick
into the seizures the repeat-offender rules count (:mod:`engine.store.seizures`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from sqlalchemy import Engine as Database
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from assay.api.drafts import DraftEngines
from assay.api.metrics import Metrics
from assay.api.settings import Settings
from assay.api.shadow import Shadow
from assay.engine import Engine
from assay.engine.correlation.language import CorrelationRule
from assay.engine.correlation.rete import ReteGroupJudge
from assay.engine.correlation.seizures import SeizureIndex
from assay.engine.ruleset import (
    RuleSet,
    compile_pack,
    default_pack_dir,
    load_pack,
    read_sources,
    sources_sha256,
)
from assay.engine.store.backtests import BacktestStore
from assay.engine.store.correlation import SEEDING_LEASE, CorrelationStore
from assay.engine.store.database import connect
from assay.engine.store.decisions import DecisionLog
from assay.engine.store.inspections import InspectionStore
from assay.engine.store.journal import Journal
from assay.engine.store.keys import KeyStore
from assay.engine.store.offline import OfflineCopy
from assay.engine.store.redact import SecretFilter, database_problem, shown_url
from assay.engine.store.rulesets import RuleStore
from assay.engine.store.schema import SchemaError
from assay.engine.store.schema import ensure as ensure_schema
from assay.engine.store.seeding import keeps_record, seed_records
from assay.engine.store.seizures import SeizuresOnRecord, longest_history
from assay.engine.store.sessions import SessionStore
from assay.engine.store.shadow import ShadowStore

log = logging.getLogger("assay.service")
# Service.active when the worker started without the database: no stored version is known
# to be active (any marker the store gives differs, so the next refresh loads it).
NOT_FROM_STORE = (0, "")
# How often a worker refreshes the offline copy of the API keys in force.
_KEEP_KEYS_SECONDS = 30.0


@dataclass
class Service:
    settings: Settings
    engine: Engine
    log: DecisionLog
    journal: Journal
    metrics: Metrics
    db: Database
    store: RuleStore
    keys: KeyStore
    backtests: BacktestStore
    inspections: InspectionStore
    shadows: ShadowStore
    sessions: SessionStore  # the workbench's sign-ins (api/ui)
    correlation: CorrelationStore  # correlation windows and alerts (engine.store.correlation)
    seizures: SeizuresOnRecord  # the seizures on record the engine's joiner counts
    active: tuple[int, str]  # (version id, sha256) the store says is active; NOT_FROM_STORE
    loaded: Loaded  # what the engine screens with, and why when it is not the active version
    offline: OfflineCopy  # the copies kept for a start without the database
    unreachable: str | None = None  # why the database does not answer (for the log, admins)
    shadow: Shadow | None = None  # the shadow run this worker screens with, if any
    # The shadow run (id, sha256) whose version this worker could not load: not tried again
    # until the current shadow run changes.
    shadow_failed: tuple[int, str] | None = None
    # Engines of versions not in force, for the workbench's trials (api/ui/trying.py).
    drafts: DraftEngines = field(default_factory=DraftEngines)
    # Threads seeding correlation records from the decision log (seed_correlation_records),
    # and the signal that stops them at shutdown.
    seeding: list[threading.Thread] = field(default_factory=list)
    seeding_pending: bool = False  # a rule's record may still want seeding (check_seeding)
    stopping: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, settings: Settings, metrics: Metrics) -> Service:
        """The service, screening with the store's active version; if the database cannot be
        reached, with the copy of the version last loaded from it, else the pack in
        ``--rules`` or the shipped one, saying so (decisions wait in the journal, and
        :meth:`follow` picks the store up when it answers)."""
        url = settings.resolved_database_url()
        SecretFilter.install(url)  # uvicorn's handlers exist by now
        db = connect(url)
        store = RuleStore(db)
        offline = OfflineCopy(settings.resolved_offline_dir())
        keys = KeyStore(db, offline)
        directory = settings.rules if settings.rules is not None else default_pack_dir()
        unreachable: str | None = None
        try:
            marker = _seed(db, store, directory, settings.rules is None)
            ruleset, loaded = load_active(store, marker[0], directory)
            if loaded.version_id is not None:
                offline.keep_ruleset(loaded.version_id, ruleset.sources)
            keys.keep_copy()
        except SchemaError:
            db.dispose()
            raise
        except (SQLAlchemyError, OSError) as exc:
            unreachable = database_problem(exc, url)
            ruleset, loaded = load_offline(offline, directory, settings.rules, unreachable)
            marker = NOT_FROM_STORE
            log.error("%s (%s: %s)", loaded.problem, shown_url(url), unreachable)
        journal = settings.resolved_journal_dir()
        decision_log = DecisionLog(url, journal, upgrade=False)
        seized = SeizureIndex()
        seizures = SeizuresOnRecord(db, decision_log, seized)
        if unreachable is None:
            try:
                seizures.refresh(longest_history(ruleset.correlations))
            except (SQLAlchemyError, OSError) as exc:  # read again at the next tick
                log.error("could not read the seizures on record: %s", database_problem(exc, url))
        started = cls(
            settings=settings,
            engine=Engine(
                ruleset,
                kind=settings.engine,
                rete_max_versions=settings.rete_max_versions,
                version_id=loaded.version_id,
                seizures=seized,
            ),
            log=decision_log,
            journal=Journal(journal, url, backlog_limit=settings.journal_backlog_bytes),
            metrics=metrics,
            db=db,
            store=store,
            keys=keys,
            backtests=BacktestStore(db),
            inspections=InspectionStore(db),
            shadows=ShadowStore(db),
            sessions=SessionStore(db),
            correlation=CorrelationStore(
                db, judge=ReteGroupJudge() if settings.engine == "rete" else None
            ),
            seizures=seizures,
            active=marker,
            loaded=loaded,
            offline=offline,
            unreachable=unreachable,
        )
        if unreachable is None:
            started.seed_correlation_records()
        return started

    async def follow(self) -> None:
        """Keep the engine on the store's active version, and the shadow on the current shadow
        run, storing its results (runs for the process's life). While the database cannot be
        reached it says so once, and tries again each time."""
        kept_keys = checked_seeding = time.monotonic()
        while True:
            await asyncio.sleep(self.settings.reload_seconds)
            try:
                self.journal.watch()  # a decision writer that died is replaced
            except OSError:
                log.exception("could not check the decision writer")
            if not await self.reach_store():
                continue
            try:
                # Shipments of manifests that joined no group, kept since the last tick.
                await run_in_threadpool(self.correlation.flush)
            except Exception as exc:
                if not self.lost_store(exc):
                    log.exception("could not write the correlation history")
            try:
                if await self.refresh():
                    await run_in_threadpool(self.keep_ruleset)
            except Exception as exc:  # a bad moment (database busy): try again next time
                if not self.lost_store(exc):
                    log.exception("could not follow the active ruleset version")
                continue
            try:
                await run_in_threadpool(self.refresh_seizures)
            except Exception as exc:
                if not self.lost_store(exc):
                    log.exception("could not read the seizures on record")
            try:
                await self.follow_shadow()
            except Exception as exc:
                if not self.lost_store(exc):
                    log.exception("could not follow the shadow run")
            if time.monotonic() - checked_seeding >= SEEDING_LEASE.total_seconds():
                checked_seeding = time.monotonic()
                try:
                    await run_in_threadpool(self.check_seeding)
                except Exception as exc:
                    if not self.lost_store(exc):
                        log.exception("could not check the seeding of the correlation records")
            if time.monotonic() - kept_keys >= _KEEP_KEYS_SECONDS:
                kept_keys = time.monotonic()
                try:
                    await run_in_threadpool(self.keys.keep_copy)
                except Exception as exc:
                    if not self.lost_store(exc):
                        log.exception("could not keep a copy of the API keys")

    async def reach_store(self) -> bool:
        """Whether the database may be used now. A worker that started without it first
        brings the schema to the newest revision and seeds an empty store (as a start with
        the database does); the next :meth:`refresh` then loads the active version."""
        if self.unreachable is None:
            return True
        try:
            if self.active == NOT_FROM_STORE:
                await run_in_threadpool(
                    _seed, self.db, self.store, self._pack_dir(), self.settings.rules is None
                )
            else:
                await run_in_threadpool(self.store.active_marker)
        except Exception as exc:
            self.lost_store(exc)
            return False
        log.warning("the database answers again: following the store's active version")
        self.unreachable = None
        self.seed_correlation_records()
        return True

    def lost_store(self, exc: Exception) -> bool:
        """Whether ``exc`` is the database not answering: noted for /readyz, and logged in
        one line when it starts or its reason changes (not once a tick)."""
        if not isinstance(exc, SQLAlchemyError | OSError):
            return False
        problem = database_problem(exc, self.settings.resolved_database_url())
        if problem != self.unreachable:
            log.error("the database cannot be reached: %s; screening goes on", problem)
        self.unreachable = problem
        return True

    def keep_ruleset(self) -> None:
        """Keep the stored version the engine now screens with on local disk, for a start
        without the database."""
        if self.loaded.version_id is not None:
            self.offline.keep_ruleset(self.loaded.version_id, self.engine.ruleset.sources)

    def _pack_dir(self) -> Path:
        return self.settings.rules if self.settings.rules is not None else default_pack_dir()

    async def follow_shadow(self) -> None:
        """Store the shadow's results so far; start, switch or stop shadowing as the store says."""
        current = self.shadow
        if current is not None:
            rows = current.take()
            if rows:
                try:
                    await run_in_threadpool(self.shadows.record, rows)
                except Exception:
                    current.pending[:0] = rows  # kept for the next try (bounded by Shadow)
                    raise
        run = await run_in_threadpool(self.shadows.current)
        wanted = (run.id, run.version_sha256) if run is not None and run.shadowing else None
        if wanted == (None if current is None else (current.run_id, current.sha256)):
            return
        if current is not None:
            self.shadow = None
            await run_in_threadpool(current.engine.close)
            log.info("stopped shadowing run %s", current.run_id)
        if run is not None and wanted is not None and wanted != self.shadow_failed:
            # With the evaluator live traffic is screened with, so that the comparison is
            # of the versions alone; built off the event loop (the rete evaluator starts a
            # durable_rules host process).
            try:
                engine = await run_in_threadpool(self._shadow_engine, run.version_id)
            except Exception:
                self.shadow_failed = wanted
                log.exception(
                    "cannot shadow version %s (run %s) with the %s evaluator",
                    run.version_id,
                    run.id,
                    self.settings.engine,
                )
                return
            self.shadow_failed = None
            self.shadow = Shadow(run.id, run.version_sha256, engine)
            log.info("shadowing version %s (run %s)", run.version_id, run.id)

    def _shadow_engine(self, version_id: int) -> Engine:
        return Engine(
            self.store.compile(version_id),
            kind=self.settings.engine,
            rete_max_versions=self.settings.rete_max_versions,
            version_id=version_id,
        )

    async def refresh(self) -> bool:
        """Load the active version if it changed; whether it did. A version that does not
        load — does not compile, or the evaluator refuses it — is tried once (until the
        store's active version changes again): the engine keeps screening with what it has,
        and /readyz (503, naming the version) and the log say so."""
        marker = await run_in_threadpool(self.store.active_marker)
        if marker is None or marker == self.active:
            return False
        self.active = marker
        try:
            ruleset = await run_in_threadpool(self.store.compile, marker[0])
            await run_in_threadpool(
                functools.partial(self.engine.load, ruleset, version_id=marker[0])
            )
        except Exception as exc:
            self.loaded = Loaded(
                self.loaded.version_id,
                f"active version {marker[0]} does not load; still screening with "
                f"{_describe(self.loaded.version_id)}",
                _reason(exc),
            )
            log.error("%s: %s", self.loaded.problem, self.loaded.detail)
            return False
        self.loaded = Loaded(marker[0], None, None)
        log.info("now screening with ruleset version %s (%s)", marker[0], marker[1][:12])
        self.seed_correlation_records()
        return True

    def refresh_seizures(self) -> None:
        """Read the inspection outcomes recorded since the last look (by any worker) into the
        seizures the repeat-offender rules count; blocking (the database). Called when this
        worker records outcomes, and on every tick of :meth:`follow`. A new ruleset version
        needs nothing here: the index computes a changed rule's entities on first use."""
        self.seizures.refresh(longest_history(self.engine.ruleset.correlations))

    async def outcomes_recorded(self) -> None:
        """After this worker stored outcomes: a seizure among them counts for its next
        screening at once (other workers read it at their next tick). The outcomes are
        stored already, so a database hiccup here only delays that to the next tick."""
        try:
            await run_in_threadpool(self.refresh_seizures)
        except Exception as exc:
            if not self.lost_store(exc):
                log.exception("could not read the seizures on record")

    def seed_correlation_records(self) -> None:
        """Seed, off the request path, the record of shipments of each correlation rule in
        force that keeps one and was never seeded, from the decision log
        (:mod:`engine.store.seeding`: one worker of all takes each rule). Until every such
        rule is seeded, :meth:`follow` asks again each ``SEEDING_LEASE`` (a worker seeding
        one may have been killed)."""
        rules = [r for r in self.engine.ruleset.correlations if keeps_record(r)]
        self.seeding_pending = bool(rules)
        if not rules:
            return
        self.seeding = [t for t in self.seeding if t.is_alive()]
        thread = threading.Thread(
            target=self._seed_records, args=(rules,), name="assay-seed-records", daemon=True
        )
        self.seeding.append(thread)
        thread.start()

    def _seed_records(self, rules: list[CorrelationRule]) -> None:
        try:
            seed_records(self.correlation, self.log, rules, stopped=self.stopping.is_set)
        except Exception as exc:
            if not self.lost_store(exc):
                log.exception("could not seed the correlation records")

    def check_seeding(self) -> None:
        """Start the seeding again if a rule's record is still not seeded and no seeding runs
        here (blocking: one read of the store)."""
        if not self.seeding_pending or any(t.is_alive() for t in self.seeding):
            return
        rules = [r.id for r in self.engine.ruleset.correlations if keeps_record(r)]
        if self.correlation.unseeded(rules):
            self.seed_correlation_records()
        else:
            self.seeding_pending = False

    def wait_for_seeding(self) -> None:
        """Until the seedings started so far are done (for a test, or a tool)."""
        for thread in list(self.seeding):
            thread.join()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.seeding:
            thread.join(timeout=10)  # stops at its next chunk
        try:
            self.correlation.flush()
        except Exception:
            log.exception("could not write the last correlation history")
        if self.shadow is not None:
            try:
                self.shadows.record(self.shadow.take())
            except Exception:
                log.exception("could not store the last shadow results")
            self.shadow.engine.close()
        self.journal.close()
        self.log.close()
        self.engine.close()
        self.db.dispose()


@dataclass(frozen=True)
class Loaded:
    """Which ruleset version the engine screens with (None: the pack in ``--rules`` or the one
    shipped with Assay), and, when that is not the store's active version, why: ``problem``
    for anyone, ``detail`` (the compiler's own words) for the log and administrators."""

    version_id: int | None
    problem: str | None
    detail: str | None


def _describe(version_id: int | None) -> str:
    return f"version {version_id}" if version_id is not None else "the shipped rule pack"


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


def _seed(db: Database, store: RuleStore, directory: Path, shipped: bool) -> tuple[int, str]:
    """The schema at the newest revision, an empty store seeded with the pack in
    ``directory``; the active version's marker."""
    ensure_schema(db)
    imported = store.import_directory(directory)
    marker = store.active_marker()
    if marker is None:
        raise RuntimeError("the rule store has no active version; activate or roll back one")
    if imported is None and not shipped and sources_sha256(read_sources(directory)) != marker[1]:
        log.warning(
            "--rules %s is not what the store screens with: it only seeds an empty store."
            " Screening with active version %s; publish changes through /v1/rulesets.",
            directory,
            marker[0],
        )
    return marker


def load_offline(
    offline: OfflineCopy, directory: Path, given: Path | None, unreachable: str
) -> tuple[RuleSet, Loaded]:
    """What a worker screens with when the database cannot be reached at its start: the copy
    of the version it last loaded from the store, if it loads, else the pack in
    ``directory`` (``--rules``, or the shipped one)."""
    kept = offline.ruleset()
    if kept is not None:
        try:
            ruleset = compile_pack(kept.sources, origin=f"version {kept.version_id}")
        except Exception as exc:
            log.error("the kept copy of version %s does not load: %s", kept.version_id, exc)
        else:
            when = kept.kept_at.isoformat(timespec="seconds")
            problem = (
                f"the database cannot be reached; screening with version {kept.version_id}, "
                f"the last active version loaded from it (kept {when})"
            )
            return ruleset, Loaded(kept.version_id, problem, unreachable)
    pack = "the rule pack in --rules" if given is not None else "the shipped rule pack"
    problem = (
        f"the database cannot be reached and no copy of its active version is kept here; "
        f"screening with {pack}"
    )
    return load_pack(directory), Loaded(None, problem, unreachable)


def load_active(store: RuleStore, active_id: int, directory: Path) -> tuple[RuleSet, Loaded]:
    """The active version compiled; if it does not load (stored by an older release, or past
    a bound added since), the most recently active version that loads, else the pack in
    ``directory``. A worker always starts and screens; what it screens with is said."""
    try:
        return store.compile(active_id), Loaded(active_id, None, None)
    except Exception as exc:
        detail = _reason(exc)
        log.error("active ruleset version %s does not load: %s", active_id, detail)
    for version_id in store.previously_active():
        if version_id == active_id:
            continue
        try:
            ruleset = store.compile(version_id)
        except Exception:
            continue
        problem = (
            f"active version {active_id} does not load; screening with version {version_id}, "
            "the last active version that loads"
        )
        log.error("%s", problem)
        return ruleset, Loaded(version_id, problem, detail)
    problem = f"active version {active_id} does not load; screening with the shipped rule pack"
    log.error("%s (%s)", problem, directory)
    return load_pack(directory), Loaded(None, problem, detail)


def service(request: Request) -> Service:
    """The running service."""
    found: Service = request.app.state.service
    return found
