"""Servers for bench/api.py: the framework's floor, and screening without the decision log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from api.app import create_app

app = FastAPI()
_CONSTANT = b'{"ok":true}'


@app.post("/floor")
async def floor(request: Request) -> Response:
    """Reads the body as /v1/screen does, answers constant bytes: FastAPI's own cost."""
    await request.body()
    return Response(_CONSTANT, media_type="application/json")


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


class _NoCommit:
    """Accepts every decision at once; prices the real log by its absence."""

    def store(self, rows: Sequence[dict[str, Any]]) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def close(self) -> None:
        return None


def unlogged() -> FastAPI:
    """The real service, except that decisions are not stored."""
    service_app = create_app()
    original = service_app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(target: FastAPI) -> AsyncIterator[None]:
        async with original(target):
            target.state.service.commits.close()
            target.state.service.commits = _NoCommit()
            yield

    service_app.router.lifespan_context = lifespan
    return service_app
