"""What one service process holds: settings, the engine, the stores, the metrics.

The engine screens with the rule store's *active* version. On first start the store is
empty and the rule pack (``--rules``, or the one shipped with Assay) becomes version 1.
Every worker process follows the store: :meth:`Service.follow` checks the active version
every ``reload_seconds`` and, when it changed, compiles it and swaps it in atomically —
requests already screening finish on the version they started with. The same loop follows the
current shadow run (:mod:`api.shadow`): it loads or drops the shadow version's engine and
stores the shadow's results.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from sqlalchemy import Engine as Database
from starlette.concurrency import run_in_threadpool

from assay.api.metrics import Metrics
from assay.api.settings import Settings
from assay.api.shadow import Shadow
from assay.engine import Engine
from assay.engine.ruleset import RuleSet, default_pack_dir, load_pack, read_sources, sources_sha256
from assay.engine.store.backtests import BacktestStore
from assay.engine.store.database import open_database
from assay.engine.store.decisions import DecisionLog
from assay.engine.store.inspections import InspectionStore
from assay.engine.store.journal import Journal
from assay.engine.store.keys import KeyStore
from assay.engine.store.rulesets import RuleStore
from assay.engine.store.shadow import ShadowStore

log = logging.getLogger("assay.service")


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
    active: tuple[int, str]  # (version id, sha256) the store says is active
    loaded: Loaded  # what the engine screens with, and why when it is not the active version
    shadow: Shadow | None = None  # the shadow run this worker screens with, if any
    # The shadow run (id, sha256) whose version this worker could not load: not tried again
    # until the current shadow run changes.
    shadow_failed: tuple[int, str] | None = None

    @classmethod
    def start(cls, settings: Settings, metrics: Metrics) -> Service:
        url = settings.resolved_database_url()
        db = open_database(url)
        store = RuleStore(db)
        directory = settings.rules if settings.rules is not None else default_pack_dir()
        imported = store.import_directory(directory)
        marker = store.active_marker()
        if marker is None:
            raise RuntimeError("the rule store has no active version; activate or roll back one")
        seeded = imported is not None or settings.rules is None
        if not seeded and sources_sha256(read_sources(directory)) != marker[1]:
            log.warning(
                "--rules %s is not what the store screens with: it only seeds an empty store."
                " Screening with active version %s; publish changes through /v1/rulesets.",
                directory,
                marker[0],
            )
        journal = settings.resolved_journal_dir()
        decisions = DecisionLog(url, journal)
        ruleset, loaded = load_active(store, marker[0], directory)
        return cls(
            settings=settings,
            engine=Engine(
                ruleset,
                kind=settings.engine,
                rete_max_versions=settings.rete_max_versions,
                version_id=loaded.version_id,
            ),
            log=decisions,
            journal=Journal(journal, url, backlog_limit=settings.journal_backlog_bytes),
            metrics=metrics,
            db=db,
            store=store,
            keys=KeyStore(db),
            backtests=BacktestStore(db),
            inspections=InspectionStore(db),
            shadows=ShadowStore(db),
            active=marker,
            loaded=loaded,
        )

    async def follow(self) -> None:
        """Keep the engine on the store's active version, and the shadow on the current shadow
        run, storing its results (runs for the process's life)."""
        while True:
            await asyncio.sleep(self.settings.reload_seconds)
            try:
                self.journal.watch()  # a decision writer that died is replaced
            except OSError:
                log.exception("could not check the decision writer")
            try:
                await self.refresh()
            except Exception:  # a bad moment (database busy): try again next time
                log.exception("could not follow the active ruleset version")
            try:
                await self.follow_shadow()
            except Exception:
                log.exception("could not follow the shadow run")

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
        return True

    def stop(self) -> None:
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
