"""/v1/backtests: what a candidate version would have done on past manifests, in the
background; and /v1/outcomes: what physical inspection found, which back-tests score."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from assay.api.auth import SECURITY, require
from assay.api.bodies import ApiError, RecordId, json_response, read_json_body, validation_detail
from assay.api.openapi import json_body
from assay.api.service import Service, service
from assay.engine.corpus import CorpusError, resolve
from assay.engine.inspections import Inspection
from assay.engine.jobs import BacktestRequest, launch, unplaced
from assay.engine.store.backtests import BacktestJob
from assay.engine.store.keys import Identity
from assay.engine.store.rulesets import GovernanceError

router = APIRouter(tags=["back-tests"])
Svc = Annotated[Service, Depends(service)]
Reader = Annotated[Identity, Depends(require("author", "reviewer"))]
Author = Annotated[Identity, Depends(require("author"))]

MAX_OUTCOMES = 10_000
_outcomes = TypeAdapter(list[Inspection])


class Accepted(BaseModel):
    id: int
    state: str
    location: str


def _version(svc: Service, which: int | str, field: str) -> int:
    try:
        return svc.store.version_id(which)
    except GovernanceError as exc:
        raise ApiError.invalid(["body", field], exc.message) from None


def _corpus_files(svc: Service, files: list[str]) -> list[str]:
    """The files the patterns match, corpus-relative, each once (:mod:`engine.corpus`,
    which bounds the work); an error names the pattern, never the directory's path."""
    try:
        return resolve(svc.settings.resolved_corpus_dir(), files)
    except CorpusError as exc:
        raise ApiError.invalid(["body", "files", exc.position], str(exc)) from None


@router.post(
    "/v1/backtests",
    status_code=202,
    response_model=Accepted,
    summary="Start a back-test",
    responses={
        422: {
            "description": "The request names no corpus, an unknown version, or files that"
            " cannot be screened: a pattern refused, past a limit or matching nothing"
            " (`loc` is [body, files, position])."
        }
    },
)
def start(request: BacktestRequest, svc: Svc, who: Author) -> Response:
    """Screen a corpus — a window of the decision log, or manifest files in the service's
    corpus directory — with a candidate version and a baseline, in a background process,
    with the evaluator the service screens with (the report's `engine`).
    Follow it at `GET /v1/backtests/{id}`: progress while it runs, the report when done."""
    job_id = begin(svc, request, who.person)
    location = f"/v1/backtests/{job_id}"
    return json_response(
        Accepted(id=job_id, state="queued", location=location).model_dump(),
        202,
        {"Location": location},
    )


def begin(svc: Service, request: BacktestRequest, person: str) -> int:
    """Store ``request`` as a queued job by ``person`` and launch its runner; the job's id.
    The API and the workbench both start back-tests here. Blocking (it resolves the corpus
    files and waits for the decision log to catch up): call it off the event loop.
    Raises :class:`ApiError` (422, ``loc`` naming the field) for an unknown version or a
    file pattern refused or matching nothing."""
    candidate = _version(svc, request.candidate, "candidate")
    baseline = _version(svc, request.baseline, "baseline") if request.baseline else None
    stored: dict[str, Any] = request.model_dump(mode="json")
    stored["engine"] = svc.settings.engine  # the job screens with the service's evaluator
    if request.files is not None:
        stored["corpus_paths"] = _corpus_files(svc, request.files)
    if request.decisions is not None:
        svc.log.caught_up()  # the window holds every decision answered before this request
    job_id = svc.backtests.create(stored, candidate, baseline, person)
    launch(job_id, svc.settings.resolved_database_url(), svc.settings.resolved_corpus_dir())
    return job_id


@router.get("/v1/backtests", response_model=list[BacktestJob], summary="Recent back-tests")
def jobs(svc: Svc, _: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[BacktestJob]:
    """The latest back-tests, newest first, with their state and progress (no reports)."""
    return [shown(svc, found) for found in svc.backtests.list(limit)]


def shown(svc: Service, found: BacktestJob) -> BacktestJob:
    """A job as answered: jobs stored by older releases name their files by absolute path
    (in the request, the report and the error); those are shown corpus-relative."""
    text = orjson.dumps(found.model_dump(mode="json")).decode()
    shown = unplaced(text, svc.settings.resolved_corpus_dir())
    return found if shown == text else BacktestJob.model_validate_json(shown)


@router.get(
    "/v1/backtests/{job_id}",
    response_model=BacktestJob,
    summary="One back-test: progress, then its report",
    responses={404: {"description": "No such back-test."}},
)
def job(job_id: RecordId, svc: Svc, _: Reader) -> BacktestJob:
    found = svc.backtests.get(job_id)
    if found is None:
        raise ApiError(404, f"no back-test {job_id}")
    return shown(svc, found)


class Recorded(BaseModel):
    recorded: int = Field(description="How many outcomes were stored.")


@router.post(
    "/v1/outcomes",
    response_model=Recorded,
    summary="Record what physical inspection found",
    responses={
        413: {"description": "The body is larger than the configured limit."},
        415: {"description": "The body is not application/json."},
        422: {"description": "An outcome is invalid; `loc` is [body, index, field]."},
    },
    openapi_extra={
        **json_body(
            {
                "oneOf": [
                    {"$ref": "#/components/schemas/Inspection"},
                    {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Inspection"},
                        "maxItems": MAX_OUTCOMES,
                    },
                ]
            },
            {
                "seizure": {
                    "manifest_id": "MF-2026-000123",
                    "result": "seizure",
                    "pattern": "tile_blending",
                    "notes": "gallium oxide powder layered under glazed tiles",
                },
            },
        ),
        "security": SECURITY,
    },
)
async def outcomes(
    request: Request, svc: Svc, who: Annotated[Identity, Depends(require("author", "reviewer"))]
) -> Recorded:
    """One outcome, or an array of up to 10,000: `manifest_id`, `result` (seizure,
    irregularity or no_find), optional `pattern` and `notes`. All or none are stored; a
    later outcome for the same manifest replaces the earlier one in figures (both are kept).
    A seizure of a screened manifest counts at once for the repeat-offender rules: the same
    consignor's or consignee's next filings carry their flag (every worker within one
    `reload_seconds` tick); one corrected to another result stops counting."""
    body = await read_json_body(request, svc.settings.max_body_bytes)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError.invalid(["body"], f"Invalid JSON: {exc}") from None
    single = isinstance(document, dict)
    if not single and not isinstance(document, list):
        raise ApiError.invalid(["body"], "The body must be an outcome object or an array of them")
    if not single and len(document) > MAX_OUTCOMES:
        raise ApiError.invalid(["body"], f"at most {MAX_OUTCOMES} outcomes, not {len(document)}")
    try:
        parsed = _outcomes.validate_python([document] if single else document)
    except ValidationError as exc:
        detail = validation_detail(exc)
        if single:  # loc [body, 0, field] -> [body, field]
            for entry in detail:
                entry["loc"] = ["body", *entry["loc"][2:]]
        raise ApiError(422, "invalid outcomes", detail) from None
    stored = await run_in_threadpool(svc.inspections.record, parsed, who.person)
    await svc.outcomes_recorded()
    return Recorded(recorded=stored)
