"""GET /healthz (alive), /readyz (ruleset loaded, log writable), /metrics (Prometheus).

Health and readiness are open (load balancers probe them; they carry no data). Metrics need
a key of any role: per-rule hit counts tell which patterns are watched.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.auth import require
from api.bodies import json_response
from api.service import Service, service
from engine.store.roles import ROLES

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Ready to screen: a ruleset is loaded and the decision log accepts decisions",
    responses={503: {"description": "Not ready; the body says why."}},
)
def readyz(svc: Annotated[Service, Depends(service)]) -> Response:
    active = svc.engine.ruleset
    writable, state = svc.journal.health()
    body = {
        "status": "ready" if writable else "not ready",
        "ruleset": {"name": active.name, "version": active.version, "sha256": active.sha256},
        "rules": len(active.rules),
        "engine": svc.engine.kind,
        "decision_log": state,
    }
    return json_response(body, 200 if writable else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics (any key: give Prometheus one as its bearer token)",
    response_class=Response,
    dependencies=[Depends(require(*ROLES))],
)
def metrics(svc: Annotated[Service, Depends(service)]) -> Response:
    return Response(svc.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
