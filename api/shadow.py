"""Shadow screening in one worker: the shadow version's engine and the rows not yet stored.

After a request is answered, :meth:`Shadow.screen` screens the same manifest with the shadow
version and keeps the comparison; the service's follow loop stores the kept rows every
``reload_seconds`` (:meth:`Shadow.take`). The answer never waits for the shadow, and never
carries anything of it. Shadowing costs a second screening per manifest on the same worker,
with the evaluator the service is configured with (``ASSAY_ENGINE``), so that the comparison
is of the two versions alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from assay.engine import Engine
from assay.engine.contracts import Manifest, ScreeningResult
from assay.engine.store.shadow import shadow_row

log = logging.getLogger("assay.shadow")

# Rows kept between two flushes at most: beyond it (the database is down) rows are counted
# as dropped rather than held without bound.
_MAX_PENDING = 50_000


@dataclass
class Shadow:
    run_id: int
    sha256: str
    engine: Engine
    pending: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0

    async def screen(
        self, manifest: Manifest, decision_id: str | None, live: ScreeningResult
    ) -> None:
        try:
            if self.engine.is_quick(manifest):  # else in a worker thread (Engine.is_quick)
                result = self.engine.screen(manifest)
            else:
                result = await run_in_threadpool(self.engine.screen, manifest)
        except Exception:  # the shadow must never hurt the live service
            log.exception("shadow screening of %s failed", manifest.manifest_id)
            return
        if len(self.pending) >= _MAX_PENDING:
            self.dropped += 1
            return
        self.pending.append(shadow_row(self.run_id, decision_id, live, result))

    async def screen_all(self, screened: list[tuple[Manifest, str, ScreeningResult]]) -> None:
        for manifest, decision_id, live in screened:
            await self.screen(manifest, decision_id, live)

    def take(self) -> list[dict[str, Any]]:
        rows, self.pending = self.pending, []
        if self.dropped:
            log.warning(
                "shadow run %s: %s results dropped (store unavailable)", self.run_id, self.dropped
            )
            self.dropped = 0
        return rows
