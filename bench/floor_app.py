"""Servers for bench/api.py: the framework's floor, and screening without the decision log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from assay.api.app import TELEMETRY_OFF, create_app

# Configured as the service is (FastAPI's OpenTelemetry off, its default): the floor is the
# framework's cost as Assay runs it, so the ratio does not gain from the setting.
app = FastAPI(telemetry=TELEMETRY_OFF)
_CONSTANT = b'{"ok":true}'


@app.post("/floor")
async def floor(request: Request) -> Response:
    """Reads the body as /v1/screen does, answers constant bytes: FastAPI's own cost."""
    await request.body()
    return Response(_CONSTANT, media_type="application/json")


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


class _NoJournal:
    """Accepts every decision and keeps none; prices the real log by its absence."""

    def append(self, rows: Sequence[dict[str, Any]]) -> None:
        return None

    def watch(self) -> None:
        return None

    def health(self) -> tuple[bool, str]:
        return True, "not kept (benchmark)"

    def close(self) -> None:
        return None


def unlogged() -> FastAPI:
    """The real service, except that decisions are not stored."""
    service_app = create_app()
    original = service_app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(target: FastAPI) -> AsyncIterator[None]:
        async with original(target):
            target.state.service.journal.close()
            target.state.service.journal = _NoJournal()
            yield

    service_app.router.lifespan_context = lifespan
    return service_app
