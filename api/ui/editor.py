"""The rule editor: one file of a ruleset version in CodeMirror (vendored, ``static/vendor/``),
editable by the draft's author and read only for everyone else.

While the author types, ``editor.js`` posts the text to ``/ui/rulesets/{id}/check``, which
validates the draft with that file replaced, saving nothing
(:meth:`~engine.store.rulesets.RuleStore.check_file`): the same problems as ``assay rules
check`` and as saving gives, shown at their line and column with their hint, and the results
of every rule's examples. Saving goes through
:meth:`~engine.store.rulesets.RuleStore.write_file`, as ``PUT /v1/rulesets/{id}/files/...``
does. Without script the page is a labelled textarea with the same Save and Run examples
buttons.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from assay.api.bodies import RecordId as VersionId
from assay.api.service import Service, service
from assay.api.ui import render
from assay.api.ui.review import explain, status_of
from assay.api.ui.session import (
    Author,
    AuthorOrReviewer,
    RefusedError,
    Viewer,
    check_header_token,
    checked_form,
)
from assay.engine.fields import CATALOGUE
from assay.engine.limits import MAX_FILE_BYTES
from assay.engine.store.people import person_of
from assay.engine.store.rulesets import GovernanceError, Validation, Version

router = APIRouter(include_in_schema=False)
RuleId = Annotated[str, Path(min_length=1, max_length=200)]
# The names a condition can read, for completion: the catalogue (``assay rules fields``).
FIELDS: list[dict[str, str]] = [
    {"name": f.path, "type": str(f.type), "doc": f.doc, "derived": "yes" if f.derived else "no"}
    for f in CATALOGUE
]
# The condition language's keywords (``engine/grammar.lark``), for the editor's highlighting.
KEYWORDS = [
    "and",
    "or",
    "not",
    "in",
    "contains",
    "any",
    "of",
    "starts",
    "ends",
    "with",
    "matches",
    "is",
    "missing",
    "present",
    "true",
    "false",
]


class CheckBody(BaseModel):
    path: Annotated[str, Field(min_length=1, max_length=500)]
    source: Annotated[str, Field(max_length=MAX_FILE_BYTES)]


def _may_edit(who: Viewer, version: Version) -> bool:
    return (
        who.role == "author"
        and version.state == "draft"
        and person_of(version.author) == who.identity.person
    )


def _read_only_reason(who: Viewer, version: Version) -> str | None:
    if _may_edit(who, version):
        return None
    if version.state != "draft":
        return f"Version #{version.id} is {version.state}: only a draft can be changed."
    if who.role != "author":
        return "You signed in with a reviewer key: reviewers read drafts, authors write them."
    return f"This draft belongs to {version.author}: only its author edits it."


def _report_view(report: Validation | None, path: str) -> dict[str, Any] | None:
    """A validation report as the page shows it: problems of this file first."""
    if report is None:
        return None
    data = report.to_json()
    for failed in data["examples"]["failed"]:  # the place is shown beside it already
        place = f"{failed['file']}:{failed['line']}:{failed['column']}: "
        failed["message"] = failed["message"].removeprefix(place)
    data["problems"] = sorted(
        data["problems"], key=lambda p: (p.get("file") != path, p.get("line") or 0)
    )
    return data


def _editor_context(
    svc: Service, who: Viewer, version_id: int, path: str, source: str | None
) -> dict[str, Any]:
    try:
        version = svc.store.get(version_id)
        sources = svc.store.sources(version_id)
    except GovernanceError as exc:
        raise RefusedError(explain(exc, who, None, "open"), status_of(exc)) from None
    if path not in sources and source is None:
        raise RefusedError(
            f"Version #{version_id} has no file {path[:200]}: pick one from the version's page.",
            404,
        )
    return {
        "ruleset": version,
        "file_path": path,
        "source": sources.get(path, "") if source is None else source,
        "files": version.files,
        "read_only": _read_only_reason(who, version),
        "fields": FIELDS,
        "keywords": KEYWORDS,
    }


async def _editor_page(
    request: Request,
    who: Viewer,
    version_id: int,
    path: str,
    *,
    source: str | None = None,
    report: Validation | None = None,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    svc = service(request)
    context = await run_in_threadpool(_editor_context, svc, who, version_id, path, source)
    context.update(report=_report_view(report, path), notice=notice, error=error)
    return render.page(request, "editor.html", who, context, status)


@router.get("/ui/rulesets/{version_id}/files/{path:path}")
async def editor_page(
    request: Request, version_id: VersionId, path: str, who: AuthorOrReviewer
) -> Response:
    report = None
    notice = None
    if request.query_params.get("saved") == "1":
        report = await run_in_threadpool(service(request).store.validate, version_id)
        notice = f"Saved {path[:200]}."
    return await _editor_page(request, who, version_id, path, report=report, notice=notice)


async def _posted_source(request: Request, who: Viewer) -> str:
    form = await checked_form(request, who)
    source = form.get("source")
    if not isinstance(source, str):
        raise RefusedError("The form had no source text: reload the page and try again.", 400)
    if len(source.encode()) > MAX_FILE_BYTES:
        raise RefusedError(f"A rule file has at most {MAX_FILE_BYTES:,} bytes.", 413)
    # Browsers send a textarea's line breaks as CRLF; the store keeps LF, as files on disk.
    return source.replace("\r\n", "\n")


@router.post("/ui/rulesets/{version_id}/files/{path:path}")
async def save(request: Request, version_id: VersionId, path: str, who: Author) -> Response:
    source = await _posted_source(request, who)
    svc = service(request)
    try:
        await run_in_threadpool(svc.store.write_file, version_id, path, source, who.identity)
    except GovernanceError as exc:
        return await _editor_page(
            request,
            who,
            version_id,
            path,
            source=source,
            report=exc.report,
            error=explain(exc, who, None, "edit"),
            status=status_of(exc),
        )
    return RedirectResponse(f"/ui/rulesets/{version_id}/files/{quote(path)}?saved=1", 303)


@router.post("/ui/rulesets/{version_id}/examples/{path:path}")
async def run_examples(request: Request, version_id: VersionId, path: str, who: Author) -> Response:
    """The examples run on the text as posted, nothing saved (the page without script)."""
    source = await _posted_source(request, who)
    svc = service(request)
    try:
        report = await run_in_threadpool(svc.store.check_file, version_id, path, source)
    except GovernanceError as exc:
        raise RefusedError(explain(exc, who, None, "check"), status_of(exc)) from None
    return await _editor_page(request, who, version_id, path, source=source, report=report)


@router.post("/ui/rulesets/{version_id}/check")
async def check(request: Request, version_id: VersionId, who: Author) -> Response:
    """The draft's validation with one file replaced, nothing saved: for the editor's script
    (header ``X-CSRF-Token``, JSON ``{path, source}``)."""
    check_header_token(request, who)
    try:
        body = CheckBody.model_validate_json(await request.body())
    except ValidationError as exc:
        return JSONResponse({"detail": str(exc.errors()[0]["msg"])}, 422)
    svc = service(request)
    try:
        report = await run_in_threadpool(
            svc.store.check_file, version_id, body.path, body.source.replace("\r\n", "\n")
        )
    except GovernanceError as exc:
        return JSONResponse({"detail": exc.message}, status_of(exc))
    return JSONResponse(_report_view(report, body.path))


@router.post("/ui/rules/{rule_id}/edit")
async def edit_rule(request: Request, rule_id: RuleId, who: Author) -> Response:
    """Edit one rule: in the viewer's newest open draft, or a new draft of the active
    version; then the editor on the file that declares the rule."""
    await checked_form(request, who)
    svc = service(request)

    def open_draft() -> tuple[int, str]:
        draft = svc.store.open_draft_of(who.identity)
        if draft is None:
            draft_id = svc.store.create_draft(svc.store.version_id("active"), who.identity)
        else:
            draft_id = draft.id
        return draft_id, svc.store.file_of_rule(draft_id, rule_id)

    try:
        draft_id, path = await run_in_threadpool(open_draft)
    except GovernanceError as exc:
        raise RefusedError(explain(exc, who, None, "edit"), status_of(exc)) from None
    return RedirectResponse(f"/ui/rulesets/{draft_id}/files/{quote(path)}", 303)
