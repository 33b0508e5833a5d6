"""The engine: one object owning the active ruleset, its evaluator and the durable_rules host.

``Engine.screen(manifest)`` is the one entry point the CLI and the API use:
enrich -> evaluate -> explain -> decide. The active ruleset is swapped atomically by
:meth:`Engine.load`; a screening that already started finishes on the version it started
with, and its result names that version.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from assay.engine.contracts import Manifest, RulesetInfo, ScreeningResult, trusted
from assay.engine.correlation.joining import Joiner, Joining
from assay.engine.correlation.seizures import SeizureCounts
from assay.engine.evaluators.base import EngineKind, Evaluator
from assay.engine.evaluators.compiled import CompiledEvaluator
from assay.engine.evaluators.rete import DEFAULT_VERSIONS_PER_PROCESS, ReteEvaluator, ReteHost
from assay.engine.explain import Explainer
from assay.engine.features import Enricher
from assay.engine.ruleset import RuleSet, load_default_pack, load_pack

# Manifests of at most this many goods items are quick to screen with the compiled
# evaluator (see Engine.is_quick).
QUICK_ITEMS = 20


@dataclass(frozen=True)
class _Active:
    ruleset: RuleSet
    evaluator: Evaluator
    enricher: Enricher
    explainer: Explainer
    info: RulesetInfo
    joiner: Joiner | None  # None: the ruleset has no correlation rules


class Engine:
    """Screens manifests against one active ruleset with the chosen evaluator.

    Safe to call from many threads. ``screen`` is synchronous: with the compiled evaluator
    it takes well under a millisecond for a typical manifest (run it in a thread pool for
    very large ones); with the rete evaluator it waits for the durable_rules host process,
    one screening at a time, so asyncio callers run it in a thread pool. The rete evaluator's
    rulesets live in host processes the engine owns (:class:`ReteHost`): call :meth:`close`.

    ``version_id`` is the rule store's id of the version screened with (None for a pack not
    from the store); every result names it (``result.ruleset.version_id``). ``seizures``: the
    seizures on record that :meth:`screen_joining` asks for the rules reading
    ``history.seizures`` (the service's :class:`~engine.correlation.seizures.SeizureIndex`;
    without them those rules join no group).
    """

    def __init__(
        self,
        ruleset: RuleSet | None = None,
        *,
        kind: EngineKind = "compiled",
        rete_max_versions: int = DEFAULT_VERSIONS_PER_PROCESS,
        version_id: int | None = None,
        seizures: SeizureCounts | None = None,
    ) -> None:
        if kind not in ("compiled", "rete"):
            raise ValueError(f"unknown evaluator {kind!r}; choose 'compiled' or 'rete'")
        self.kind: EngineKind = kind
        self._swap = threading.Lock()
        self._host = ReteHost(rete_max_versions) if kind == "rete" else None
        self._seizures = seizures
        try:
            self._active = self._build(
                ruleset if ruleset is not None else load_default_pack(), version_id
            )
        except BaseException:
            if self._host is not None:
                self._host.close()
            raise

    @classmethod
    def from_directory(cls, directory: str | Path | None, kind: EngineKind = "compiled") -> Engine:
        """An engine on the pack in ``directory`` (None: the default pack)."""
        return cls(load_pack(directory) if directory is not None else None, kind=kind)

    def _build(self, ruleset: RuleSet, version_id: int | None) -> _Active:
        evaluator: Evaluator
        if self._host is not None:
            evaluator = ReteEvaluator(ruleset, self._host)
        else:
            evaluator = CompiledEvaluator(ruleset)
        return _Active(
            ruleset,
            evaluator,
            Enricher(ruleset),
            Explainer(ruleset),
            RulesetInfo(
                name=ruleset.name,
                version=ruleset.version,
                sha256=ruleset.sha256,
                version_id=version_id,
            ),
            (
                Joiner(ruleset.correlations, ruleset.lanes, self._seizures)
                if ruleset.correlations
                else None
            ),
        )

    @property
    def ruleset(self) -> RuleSet:
        return self._active.ruleset

    @property
    def version_id(self) -> int | None:
        """The rule store's id of the version screened with (None: not from the store)."""
        return self._active.info.version_id

    @property
    def rete_host(self) -> ReteHost | None:
        """The rete evaluator's durable_rules host (None with the compiled evaluator)."""
        return self._host

    def is_quick(self, manifest: Manifest) -> bool:
        """Whether screening ``manifest`` is quick enough for an event loop to wait for.

        The compiled evaluator is pure Python. Measured on the sample manifests, grown to
        N items: 0.02-0.3 ms at 1 item, 0.1-0.7 ms at 5, 0.2-3.1 ms at 20 (3.1 when every
        item is flagged: explanations cost most), 15-25 ms at 200; a hop to a thread pool
        (starlette's ``run_in_threadpool``) adds ~250 µs. Up to :data:`QUICK_ITEMS` items the
        hop would cost more than it saves, and the loop waits at most a few milliseconds.
        The rete evaluator is never quick: it waits for the durable_rules host process,
        behind every other screening of this engine.
        """
        return self._host is None and len(manifest.items) <= QUICK_ITEMS

    def load(self, ruleset: RuleSet, *, version_id: int | None = None) -> None:
        """Compile ``ruleset`` and make it the active one, atomically. ``version_id``: its
        id in the rule store, named by every result screened with it."""
        fresh = self._build(ruleset, version_id)
        with self._swap:
            old, self._active = self._active, fresh
        old.evaluator.close()

    def screen(self, manifest: Manifest, *, today: date | None = None) -> ScreeningResult:
        """Screen one validated manifest. ``today`` dates ages when it has no ``filed_at``."""
        return self._run(manifest, today, joining=False)[0]

    def screen_joining(
        self, manifest: Manifest, *, today: date | None = None
    ) -> tuple[ScreeningResult, Joining | None]:
        """Screen one manifest, and say what it brings to the ruleset's correlation rules
        (None: no correlation rules, no ``filed_at``, or it joins no group and adds to no
        history). Found from the views the screening built: the rules' ``each`` conditions
        are its only extra cost. The correlation stage (:mod:`engine.store.correlation`) then
        judges the windows; :func:`engine.correlation.joining.with_alerts` adds its alerts'
        flags to the result."""
        return self._run(manifest, today, joining=True)

    def _run(
        self, manifest: Manifest, today: date | None, *, joining: bool
    ) -> tuple[ScreeningResult, Joining | None]:
        started = time.perf_counter()
        if self._host is None:
            active = self._active
            return self._screen(active, manifest, today, started, joining)
        with self._swap:
            active = self._active
            evaluator = active.evaluator
            assert isinstance(evaluator, ReteEvaluator)
            evaluator.acquire()
        try:
            return self._screen(active, manifest, today, started, joining)
        finally:
            evaluator.release()

    def _screen(
        self,
        active: _Active,
        manifest: Manifest,
        today: date | None,
        started: float,
        joining: bool,
    ) -> tuple[ScreeningResult, Joining | None]:
        on = today if today is not None else datetime.now(UTC).date()
        manifest_view, item_views = active.enricher.enrich(manifest, on)
        hits = active.evaluator.evaluate(manifest_view, item_views)
        flags = active.explainer.flags(hits, manifest_view, item_views)
        risk, channel = active.ruleset.lanes.decide(
            [(flag.rule_id, flag.score, flag.severity, flag.role) for flag in flags]
        )
        joined = (
            active.joiner.joining(manifest, manifest_view, item_views)
            if joining and active.joiner is not None
            else None
        )
        result = trusted(
            ScreeningResult,
            {
                "manifest_id": manifest.manifest_id,
                "channel": channel,
                "risk_score": risk,
                "flags": flags,
                "ruleset": active.info,
                "elapsed_ms": round((time.perf_counter() - started) * 1000.0, 3),
            },
        )
        return result, joined

    def close(self) -> None:
        """Release the evaluator's resources (durable_rules rulesets and host processes)."""
        self._active.evaluator.close()
        if self._host is not None:
            self._host.close()
