"""GET /healthz (alive), /readyz (the active ruleset version loaded, log writable), /metrics.

``/readyz`` answers 200 while decisions are accepted, also when the database cannot be
reached (screening goes on, decisions wait in the journal): ``database`` says whether it
answers, ``decision_log`` how much waits for it, ``ruleset.problem`` what is screened with.

Health and readiness are open (load balancers probe them): they say which part is unavailable,
never the database's own error text, server paths or the compiler's messages, which go to
the log and, under ``details``, to a caller with an admin key. Metrics need a key of any
role: per-rule hit counts tell which patterns are watched.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from assay.api.auth import optional_caller, require
from assay.api.bodies import json_response
from assay.api.service import Service, service
from assay.engine.store.roles import ROLES

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Ready to screen: the store's active ruleset version is loaded and the decision "
    "log accepts decisions",
    responses={
        503: {
            "description": "Not ready; the body says why: the decision log refuses, or the "
            "active version does not load (`ruleset.problem` names it; the worker still "
            "screens, with the version in `ruleset.version_id`)."
        }
    },
)
def readyz(request: Request, svc: Annotated[Service, Depends(service)]) -> Response:
    active = svc.engine.ruleset
    health = svc.journal.health()
    loaded = svc.loaded
    ruleset: dict[str, object] = {
        "name": active.name,
        "version": active.version,
        "sha256": active.sha256,
        "version_id": loaded.version_id,
        "active_version_id": svc.active[0],
    }
    if loaded.problem is not None:
        ruleset["problem"] = loaded.problem
    # A worker screening with anything but the active version answers with rules the
    # governance process has replaced: out of the load balancer's rotation until it loads.
    # While the database cannot be reached no worker can know the active version: each
    # screens with the last one it loaded (or the shipped pack) and stays in rotation, the
    # decisions waiting in the journal (README, "starting without the database").
    ready = health.accepting and (loaded.problem is None or svc.unreachable is not None)
    body: dict[str, object] = {
        "status": "ready" if ready else "not ready",
        "ruleset": ruleset,
        "rules": len(active.rules),
        "engine": svc.engine.kind,
        "decision_log": health.state,
        "database": "reachable" if svc.unreachable is None else "cannot be reached",
    }
    caller = optional_caller(request)
    if caller is not None and caller.role == "admin":
        body["details"] = {
            "decision_log": health.detail,
            "ruleset": loaded.detail,
            "database": svc.unreachable,
        }
    return json_response(body, 200 if ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics (any key: give Prometheus one as its bearer token)",
    response_class=Response,
    dependencies=[Depends(require(*ROLES))],
)
def metrics(svc: Annotated[Service, Depends(service)]) -> Response:
    return Response(svc.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
