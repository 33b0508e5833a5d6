"""``/ui/rulesets``: Review. Every ruleset version; one version's files, its diff against the
active version rule by rule with the back-test figures beside it, the acts its state allows
the viewer (submit, approve, reject, activate, roll back) and its audit trail.

Every act calls the same :class:`~engine.store.rulesets.RuleStore` method as its API route
(``api/routes/rulesets.py``), so the four-eyes rule and the lifecycle are enforced in one
place; when the store refuses, the page says which rule blocked the act and what to do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from assay.api.bodies import GOVERNANCE_STATUS
from assay.api.bodies import RecordId as VersionId
from assay.api.service import Service, service
from assay.api.ui import render
from assay.api.ui.session import (
    Author,
    AuthorOrReviewer,
    RefusedError,
    Reviewer,
    Viewer,
    checked_form,
)
from assay.engine.store.backtests import BacktestJob
from assay.engine.store.people import person_of
from assay.engine.store.rulesets import GovernanceError, Version

router = APIRouter(include_in_schema=False)
MAX_REASON_CHARS = 4000
# How many back-test jobs are searched for the latest one of a version.
_BACKTESTS_SEARCHED = 200
# Drafts and submitted versions (work waiting for someone) first, then the rest.
_ORDER = {"draft": 0, "submitted": 0, "approved": 1, "active": 2, "retired": 3}
_DONE = {
    "draft": "Draft created: a copy of the version it came from, yours to edit.",
    "submitted": "Submitted for review: a reviewer other than you approves or rejects it.",
    "approved": "Approved. A reviewer (not its author) can now make it active.",
    "rejected": "Sent back to its author as a draft, with your reason in the audit trail.",
}


def status_of(exc: GovernanceError) -> int:
    return GOVERNANCE_STATUS[exc.status]


def explain(exc: GovernanceError, who: Viewer, version: Version | None, doing: str) -> str:
    """What blocked an act, in the words of the rule that did."""
    if exc.status == "forbidden" and doing in ("approve", "reject", "activate"):
        return (
            f"Four-eyes rule: you wrote this version, so another reviewer must {doing} it. "
            f"({exc.message}.)"
        )
    if exc.status == "forbidden":
        author = version.author if version is not None else "its author"
        return (
            f"Only the author of a draft may {doing} it: this draft belongs to {author}. "
            "Make your own draft from the active version to change the rules. "
            f"({exc.message}.)"
        )
    if exc.status == "conflict":
        return f"This act does not fit the version's state: {exc.message}. Reload the page."
    if exc.status == "invalid" and exc.report is not None:
        return f"{exc.message}: open its files to see the problems and the failing examples."
    return exc.message[0].upper() + exc.message[1:] + "."


@dataclass(frozen=True)
class DiffLine:
    kind: str  # add, del, hunk, context
    marker: str
    text: str


def diff_lines(text: str) -> list[DiffLine]:
    """A unified diff as lines to show: the file headers dropped, each line's kind named."""
    lines = []
    for line in text.splitlines():
        if line.startswith(("--- ", "+++ ")):
            continue
        if line.startswith("@@"):
            lines.append(DiffLine("hunk", "", line))
        elif line.startswith("+"):
            lines.append(DiffLine("add", "+", line[1:]))
        elif line.startswith("-"):
            lines.append(DiffLine("del", "−", line[1:]))
        else:
            lines.append(DiffLine("context", " ", line[1:]))
    return lines


def latest_backtest(svc: Service, version_id: int) -> BacktestJob | None:
    """The newest finished back-test whose candidate is ``version_id``, with its report."""
    for job in svc.backtests.list(_BACKTESTS_SEARCHED):
        if job.candidate_id == version_id and job.state == "done":
            return svc.backtests.get(job.id)
    return None


def _sorted(versions: list[Version]) -> list[Version]:
    return sorted(versions, key=lambda v: (_ORDER.get(v.state, 9), -v.id))


def _may_edit(who: Viewer, version: Version) -> bool:
    return (
        who.role == "author"
        and version.state == "draft"
        and person_of(version.author) == who.identity.person
    )


@router.get("/ui/rulesets")
async def versions_page(request: Request, who: AuthorOrReviewer) -> Response:
    svc = service(request)
    found = await run_in_threadpool(svc.store.versions)
    active = next((v for v in found if v.state == "active"), None)
    context = {"versions": _sorted(found), "active": active}
    return render.page(request, "review_list.html", who, context)


def _version_context(svc: Service, who: Viewer, version_id: int) -> dict[str, Any]:
    try:
        version = svc.store.get(version_id)
    except GovernanceError as exc:
        raise RefusedError(explain(exc, who, None, "open"), status_of(exc)) from None
    active = svc.store.active()
    diff = None
    if active is not None and active.id != version.id:
        diff = svc.store.diff(active.id, version.id)
    job = latest_backtest(svc, version.id)
    result: dict[str, Any] = job.result if job is not None and isinstance(job.result, dict) else {}
    by_rule = {row["rule_id"]: row for row in result.get("rules", []) if isinstance(row, dict)}
    return {
        "ruleset": version,
        "active": active,
        "diff": diff,
        "diff_lines": diff_lines,
        "backtest": job,
        "backtest_rules": by_rule,
        "changes": result.get("changes"),
        "may_edit": _may_edit(who, version),
        "is_own": person_of(version.author) == who.identity.person,
        "audit": svc.store.audit(version.id),
        "reload_seconds": svc.settings.reload_seconds,
    }


async def _version_page(
    request: Request,
    who: Viewer,
    version_id: int,
    *,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    svc = service(request)
    context = await run_in_threadpool(_version_context, svc, who, version_id)
    context.update(notice=notice, error=error)
    return render.page(request, "review_version.html", who, context, status)


@router.get("/ui/rulesets/{version_id}")
async def version_page(request: Request, version_id: VersionId, who: AuthorOrReviewer) -> Response:
    done = request.query_params.get("done", "")
    notice = _DONE.get(done)
    if done in ("activated", "rolledback"):
        seconds = service(request).settings.reload_seconds
        notice = (
            f"Version {version_id} is now the active version: every worker of the service "
            f"screens with it within {seconds:g} seconds."
        )
    return await _version_page(request, who, version_id, notice=notice)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > MAX_REASON_CHARS:
        raise GovernanceError("invalid", f"the {name} has more than {MAX_REASON_CHARS} characters")
    return text


async def _act(
    request: Request,
    who: Viewer,
    version_id: int,
    doing: str,
    act: Callable[[Service, FormData], Any],
    done: str,
) -> Response:
    """Check the form, do ``act`` through the store, and 303 to the version's page; when the
    store refuses, the version's page again with the rule that blocked it."""
    form = await checked_form(request, who)
    svc = service(request)
    try:
        await run_in_threadpool(act, svc, form)
    except GovernanceError as exc:
        try:
            version: Version | None = await run_in_threadpool(svc.store.get, version_id)
        except GovernanceError:
            version = None
        message = explain(exc, who, version, doing)
        if version is None:
            raise RefusedError(message, status_of(exc)) from None
        return await _version_page(request, who, version_id, error=message, status=status_of(exc))
    return RedirectResponse(f"/ui/rulesets/{version_id}?done={done}", 303)


@router.post("/ui/rulesets/{version_id}/drafts")
async def create_draft(request: Request, version_id: VersionId, who: Author) -> Response:
    form = await checked_form(request, who)
    del form
    svc = service(request)
    try:
        draft_id = await run_in_threadpool(svc.store.create_draft, version_id, who.identity)
    except GovernanceError as exc:
        raise RefusedError(explain(exc, who, None, "copy"), status_of(exc)) from None
    return RedirectResponse(f"/ui/rulesets/{draft_id}?done=draft", 303)


@router.post("/ui/rulesets/{version_id}/submit")
async def submit(request: Request, version_id: VersionId, who: Author) -> Response:
    def act(svc: Service, form: FormData) -> None:
        svc.store.submit(version_id, who.identity)

    return await _act(request, who, version_id, "submit", act, "submitted")


@router.post("/ui/rulesets/{version_id}/approve")
async def approve(request: Request, version_id: VersionId, who: Reviewer) -> Response:
    def act(svc: Service, form: FormData) -> None:
        svc.store.approve(version_id, who.identity, _text(form, "comment") or None)

    return await _act(request, who, version_id, "approve", act, "approved")


@router.post("/ui/rulesets/{version_id}/reject")
async def reject(request: Request, version_id: VersionId, who: Reviewer) -> Response:
    def act(svc: Service, form: FormData) -> None:
        svc.store.reject(version_id, who.identity, _text(form, "reason"))

    return await _act(request, who, version_id, "reject", act, "rejected")


@router.post("/ui/rulesets/{version_id}/activate")
async def activate(request: Request, version_id: VersionId, who: Reviewer) -> Response:
    def act(svc: Service, form: FormData) -> None:
        svc.store.activate(version_id, who.identity, _text(form, "reason") or None)

    return await _act(request, who, version_id, "activate", act, "activated")


@router.post("/ui/rulesets/{version_id}/rollback")
async def rollback(request: Request, version_id: VersionId, who: Reviewer) -> Response:
    def act(svc: Service, form: FormData) -> None:
        svc.store.rollback(version_id, who.identity, _text(form, "reason"))

    return await _act(request, who, version_id, "roll back to", act, "rolledback")
