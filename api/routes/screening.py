"""POST /v1/screen and /v1/screen/batch: manifests in, results out, every decision logged."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from assay.api.auth import SECURITY, authorize
from assay.api.bodies import ApiError, json_response, read_json_body, validation_response
from assay.api.openapi import batch_body, manifest_body
from assay.api.service import Service, service
from assay.engine import Engine
from assay.engine.batch import Record, manifest_or_error
from assay.engine.contracts import ErrorLine, Manifest, ScreeningResult
from assay.engine.correlation.joining import Joining, with_alerts
from assay.engine.store.decisions import DecisionLogError, decision_row, new_decision_id

router = APIRouter(tags=["screening"])
log = logging.getLogger("assay.service")

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown one."},
    403: {"description": "The key's role may not screen."},
    413: {"description": "The body is larger than the configured limit (default 2 MiB)."},
    415: {"description": "The body is not application/json."},
    422: {"description": "The body is not a valid manifest; `detail` names each field."},
    503: {
        "description": "The decision log cannot keep the decision (journal not writable, or "
        "too far behind the database); nothing was answered."
    },
}


def _request_id(request: Request) -> str:
    given = request.headers.get("x-request-id", "")
    return given[:128] if given.isprintable() and given else secrets.token_hex(8)


async def screen_with(engine: Engine, manifest: Manifest) -> ScreeningResult:
    """``manifest`` screened by ``engine`` (the service's, or a draft's in the workbench).

    On the event loop only when it is quick (Engine.is_quick); else in a worker thread, so
    that the loop answers other requests meanwhile (a rete screening waits for its host)."""
    if engine.is_quick(manifest):
        return engine.screen(manifest)
    return await run_in_threadpool(engine.screen, manifest)


def correlated(
    svc: Service, result: ScreeningResult, joining: Joining | None, decision_id: str
) -> ScreeningResult:
    """``result`` with the alerts its manifest completes (engine.store.correlation): run
    only for a manifest that joins a correlation group; a manifest that only adds to a
    rule's history is noted in memory. Blocking (the database): call it off the event loop.
    If the database does not answer, the result goes without correlation, and the log says
    so: screening goes on, as it does for the rest of the service."""
    if joining is None:
        return result
    if not joining.members:
        svc.correlation.note(joining)
        return result
    try:
        alerts = svc.correlation.record(joining, decision_id)
    except SQLAlchemyError as exc:
        svc.lost_store(exc)
        log.error(
            "manifest %s was screened without its correlation rules: the database does not "
            "answer (%s)",
            joining.manifest_id,
            type(exc).__name__,
        )
        return result
    return with_alerts(result, joining, alerts)


def _to_json(result: ScreeningResult | ErrorLine) -> bytes:
    return result.__pydantic_serializer__.to_json(result)


Screened = list[tuple[Manifest, str, ScreeningResult]]


def _screen_documents(
    svc: Service, documents: list[Any], request_id: str
) -> tuple[list[ScreeningResult | ErrorLine], list[dict[str, Any]], Screened, bytes]:
    """A batch's outcomes in order, its decision rows, the screened manifests (for the
    shadow, with their per-manifest results) and the answer's body. Correlation takes the
    manifests in the batch's order."""
    engine = svc.engine
    outcomes: list[ScreeningResult | ErrorLine] = []
    rows: list[dict[str, Any]] = []
    screened: Screened = []
    for position, document in enumerate(documents, start=1):
        manifest = manifest_or_error(Record(position, document))
        if isinstance(manifest, ErrorLine):
            outcomes.append(manifest)
            continue
        own, joining = engine.screen_joining(manifest)
        decision_id = new_decision_id()
        result = correlated(svc, own, joining, decision_id)
        outcomes.append(result)
        row = decision_row(
            orjson.dumps(document),
            result,
            request_id=request_id,
            source="api",
            decision_id=decision_id,
        )
        rows.append(row)
        screened.append((manifest, decision_id, own))
    payload = b"[" + b",".join(_to_json(outcome) for outcome in outcomes) + b"]"
    return outcomes, rows, screened, payload


def _logged(svc: Service, rows: list[dict[str, Any]]) -> None:
    try:
        svc.journal.append(rows)
    except DecisionLogError as exc:
        raise ApiError(503, f"the decision log is unavailable: {exc}") from None


@router.post(
    "/v1/screen",
    summary="Screen one manifest",
    response_model=ScreeningResult,
    responses=_ERRORS,
    openapi_extra={**manifest_body(), "security": SECURITY},
)
async def screen(request: Request) -> Response:
    """Screen one manifest and answer with its result: lane, risk score, flags.

    A manifest that completes a correlation rule's pattern (e.g. the fourth small parcel of
    one consignor in 48 hours) carries that rule's flag, its evidence naming the group's other
    manifests, and its lane reflects it; the alert is listed by `GET /v1/alerts`.
    The decision is in the log before the answer is sent; its id is in `X-Decision-ID`.
    """
    await authorize(request, ("screening",))
    svc = service(request)
    body = await read_json_body(request, svc.settings.max_body_bytes)
    try:
        manifest = Manifest.model_validate_json(body)
    except ValidationError as exc:
        return validation_response(exc)
    engine = svc.engine
    if engine.is_quick(manifest):
        own, joining = engine.screen_joining(manifest)
    else:
        own, joining = await run_in_threadpool(engine.screen_joining, manifest)
    request_id = _request_id(request)
    decision_id = new_decision_id()
    result = own
    if joining is not None and joining.members:
        result = await run_in_threadpool(correlated, svc, own, joining, decision_id)
    elif joining is not None:
        svc.correlation.note(joining)  # in memory: no round trip for a manifest in no group
    payload = _to_json(result)
    row = decision_row(
        body,
        result,
        request_id=request_id,
        source="api",
        decision_id=decision_id,
        result_json=payload,
    )
    _logged(svc, [row])
    svc.metrics.observe(result)
    shadow = svc.shadow  # screens the manifest again after the answer is sent
    return Response(
        payload,
        media_type="application/json",
        headers={"X-Decision-ID": decision_id, "X-Request-ID": request_id},
        # The shadow compares per-manifest rules: the result before correlation.
        background=BackgroundTask(shadow.screen, manifest, decision_id, own) if shadow else None,
    )


@router.post(
    "/v1/screen/batch",
    summary="Screen up to 1,000 manifests",
    response_model=list[ScreeningResult | ErrorLine],
    responses=_ERRORS,
    openapi_extra={**batch_body(1000), "security": SECURITY},
)
async def screen_batch(request: Request) -> Response:
    """Screen a JSON array of manifests; one entry per manifest, in order: its result, or an
    error object for that manifest alone (`{"error": {...}}`)."""
    await authorize(request, ("screening",))
    svc = service(request)
    body = await read_json_body(request, svc.settings.max_body_bytes)
    try:
        documents = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return json_response(
            {"detail": [{"type": "json_invalid", "loc": ["body"], "msg": f"Invalid JSON: {exc}"}]},
            422,
        )
    limit = svc.settings.max_batch
    if not isinstance(documents, list) or len(documents) > limit:
        problem = (
            "a JSON array of manifests"
            if not isinstance(documents, list)
            else (f"at most {limit} manifests, not {len(documents)}")
        )
        return json_response(
            {"detail": [{"type": "batch", "loc": ["body"], "msg": f"The body must be {problem}"}]},
            422,
        )
    request_id = _request_id(request)
    # Up to max_batch manifests (1,000 by default: ~130 ms with the compiled evaluator for
    # small ones): validated, screened and written in one worker thread, not on the loop.
    outcomes, rows, screened, payload = await run_in_threadpool(
        _screen_documents, svc, documents, request_id
    )
    _logged(svc, rows)
    for outcome in outcomes:
        if isinstance(outcome, ScreeningResult):
            svc.metrics.observe(outcome)
    shadow = svc.shadow
    return Response(
        payload,
        media_type="application/json",
        headers={"X-Request-ID": request_id},
        background=BackgroundTask(shadow.screen_all, screened) if shadow and screened else None,
    )
