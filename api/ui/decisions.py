"""``/ui/decisions``: the decision log searched by manifest id or decision id, one decision as
it was made (input, flags and their explanations, ruleset version), and recording what the
inspection of its manifest found.

Reads are the API's (:class:`~engine.store.decisions.DecisionLog`, as ``/v1/decisions``); an
outcome is validated by the same :class:`~engine.inspections.Inspection` model and stored by
the same :meth:`~engine.store.inspections.InspectionStore.record` as ``POST /v1/outcomes``.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from assay.api.service import Service, service
from assay.api.ui import render
from assay.api.ui.session import AuthorOrReviewer, RefusedError, Viewer, checked_form
from assay.engine.inspections import Inspection
from assay.engine.store.decisions import Decision

router = APIRouter(include_in_schema=False)

LATEST = 50
FOUND = 100
RESULTS = (
    ("seizure", "Seizure", "controlled goods found"),
    ("irregularity", "Irregularity", "something else wrong: value, quantity, origin…"),
    ("no_find", "No find", "nothing wrong found"),
)
_FIELDS = ("result", "pattern", "notes")


def search(svc: Service, query: str | None) -> list[Decision]:
    """The decision whose id is ``query`` and the decisions about the manifest ``query``,
    newest first; with no query, the latest :data:`LATEST`."""
    svc.log.caught_up()
    if not query:
        return svc.log.latest(LATEST)
    found = {d.decision_id: d for d in svc.log.for_manifest(query, FOUND)}
    exact = svc.log.get(query) if len(query) <= 32 else None
    if exact is not None:
        found[exact.decision_id] = exact
    return sorted(found.values(), key=lambda d: (d.created_at, d.decision_id), reverse=True)


@router.get("/ui/decisions")
async def decisions_page(
    request: Request,
    who: AuthorOrReviewer,
    q: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    query = (q or "").strip() or None
    found = await run_in_threadpool(search, service(request), query)
    context = {"q": query, "decisions": found, "latest": LATEST}
    return render.page(request, "decisions.html", who, context)


def _decision(svc: Service, decision_id: str) -> Decision:
    found = svc.log.get(decision_id) if len(decision_id) <= 32 else None
    if found is None:
        raise RefusedError(
            f"There is no decision {decision_id!r} in the log: search the Decisions page by "
            "manifest id or decision id.",
            404,
        )
    return found


async def _page(
    request: Request,
    who: Viewer,
    decision: Decision,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    svc = service(request)
    outcomes = await run_in_threadpool(svc.inspections.for_manifest, decision.manifest_id)
    context: dict[str, Any] = {
        "decision": decision,
        "flags": [
            (flag, [(name, render.evidence_text(value)) for name, value in flag.evidence.items()])
            for flag in decision.flags
        ],
        "manifest": orjson.dumps(decision.input, option=orjson.OPT_INDENT_2).decode(),
        "outcomes": outcomes,
        "results": RESULTS,
        "patterns": sorted({rule.pattern for rule in svc.engine.ruleset.every_rule}),
        "values": values or {},
        "errors": errors or {},
        "recorded": request.query_params.get("recorded") == "1",
    }
    return render.page(request, "decision.html", who, context, status)


@router.get("/ui/decisions/{decision_id}")
async def decision_page(request: Request, decision_id: str, who: AuthorOrReviewer) -> Response:
    decision = await run_in_threadpool(_decision, service(request), decision_id)
    return await _page(request, who, decision)


def outcome_errors(exc: ValidationError) -> dict[str, str]:
    """The first problem with each field of the form (by field name; ``form`` for the rest)."""
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        name = str(error["loc"][0]) if error["loc"] else "form"
        field = name if name in _FIELDS else "form"
        message = error["msg"]
        if field == "result":
            message = "Choose what the inspection found: seizure, irregularity or no find."
        elif field == "pattern" and error["type"] == "string_pattern_mismatch":
            message = (
                "A pattern is written as rules name it: lower-case letters, digits and "
                "underscores, starting with a letter (e.g. tile_blending)."
            )
        errors.setdefault(field, message)
    return errors


@router.post("/ui/decisions/{decision_id}/outcome")
async def record_outcome(request: Request, decision_id: str, who: AuthorOrReviewer) -> Response:
    form = await checked_form(request, who)
    svc = service(request)
    decision = await run_in_threadpool(_decision, svc, decision_id)
    values = {name: str(form.get(name) or "").strip() for name in _FIELDS}
    try:
        outcome = Inspection.model_validate(
            {
                "manifest_id": decision.manifest_id,
                "result": values["result"],
                "pattern": values["pattern"] or None,
                "notes": values["notes"] or None,
            }
        )
    except ValidationError as exc:
        errors = outcome_errors(exc)
        return await _page(request, who, decision, values=values, errors=errors, status=422)
    await run_in_threadpool(svc.inspections.record, [outcome], who.identity.person)
    await svc.outcomes_recorded()
    return RedirectResponse(f"/ui/decisions/{decision.decision_id}?recorded=1#outcomes", 303)
