"""The screening service: ``create_app()`` wires the routers to one Service per process."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.telemetry import TelemetryConfig
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from assay.api import docs, openapi, ui
from assay.api.bodies import GOVERNANCE_STATUS, ApiError, json_response
from assay.api.dispatch import Direct, Handler
from assay.api.guard import ERROR_HEADERS, Guard
from assay.api.metrics import Metrics, MetricsMiddleware
from assay.api.routes import (
    alerts,
    backtests,
    decisions,
    health,
    keys,
    rules,
    rulesets,
    screening,
    shadow,
)
from assay.api.service import Service
from assay.api.settings import Settings
from assay.engine.store.redact import database_problem
from assay.engine.store.rulesets import GovernanceError

log = logging.getLogger("assay.service")


def path(request: Request) -> str:
    """The request's path as logged: at most 200 characters."""
    return request.url.path[:200]


DESCRIPTION = """Screens cargo manifests for concealed export-controlled materials.

`POST /v1/screen` takes one manifest and answers with its risk lane, risk score and flags,
each with a sentence an officer can read aloud and the evidence behind it. Every decision
is logged before it is answered (`GET /v1/decisions/{id}`)."""


# FastAPI's native OpenTelemetry, unless asked for: with it on, every request looks up the
# three global providers (environment reads included), 9 µs a request, even when none is
# configured.
TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings if settings is not None else Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        running = Service.start(settings, metrics)
        app.state.service = running
        # The engine, its caches and the rule pack live as long as the process: keep them out
        # of the cyclic collector's full passes, which otherwise stall every request in flight.
        gc.collect()
        gc.freeze()
        follower = asyncio.create_task(running.follow())
        try:
            yield
        finally:
            follower.cancel()
            running.stop()

    app = FastAPI(
        title="Assay",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        telemetry=None if settings.opentelemetry else TELEMETRY_OFF,
        docs_url=None,  # served from the package by api.docs, not from a CDN
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,  # keys are bearer tokens: no OAuth2 flow
    )
    docs.mount(app)
    ui.mount(app)
    for router in (
        screening.router,
        rules.router,
        rulesets.router,
        decisions.router,
        alerts.router,
        backtests.router,
        shadow.router,
        keys.router,
        health.router,
    ):
        app.include_router(router)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return json_response(exc.body(), exc.status)

    @app.exception_handler(GovernanceError)
    async def governance_error(request: Request, exc: GovernanceError) -> Response:
        body: dict[str, object] = {"detail": exc.message}
        if exc.report is not None:
            body["validation"] = exc.report.to_json()
        return json_response(body, GOVERNANCE_STATUS[exc.status])

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        detail = [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        return json_response({"detail": detail}, 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return json_response({"detail": exc.detail}, exc.status_code, exc.headers)

    @app.exception_handler(OperationalError)
    async def database_unreachable(request: Request, exc: OperationalError) -> Response:
        # What the database said goes to the service's log, password hidden; the client
        # learns only that it is unavailable.
        problem = database_problem(exc, settings.resolved_database_url())
        log.warning(
            "%s %s: the database cannot be reached: %s", request.method, path(request), problem
        )
        message = "the database cannot be reached; screening goes on, try this later"
        if ui.is_ui_path(request.url.path):
            answer = ui.render.refusal(request, None, message[0].upper() + message[1:] + ".", 503)
            answer.headers["Retry-After"] = "5"
            return answer
        return json_response({"detail": message}, 503, {**ERROR_HEADERS, "Retry-After": "5"})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # What went wrong is in the service's log (uvicorn logs the traceback); the client is
        # told nothing of the code, its classes or its paths.
        detail = {"detail": "internal error; the service's log has the details"}
        return json_response(detail, 500, ERROR_HEADERS)

    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # Outside the others: the screening endpoints' short way in (see api.dispatch).
    hot: dict[str, Handler] = {
        "/v1/screen": screening.screen,
        "/v1/screen/batch": screening.screen_batch,
    }
    app.add_middleware(Direct, handlers=hot, metrics=metrics)
    # Outermost: keys before bodies, bounded bodies, security headers on every answer.
    app.add_middleware(
        Guard,
        default_limit=settings.max_request_bytes,
        limits={"/v1/outcomes": settings.max_body_bytes},
        self_guarded=frozenset(hot),
    )
    openapi.install(app)
    return app
