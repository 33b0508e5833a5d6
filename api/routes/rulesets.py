"""/v1/rulesets: versions, drafts, four-eyes review, activation, rollback, diffs, audit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from assay.api.auth import require
from assay.api.bodies import RecordId
from assay.api.service import Service, service
from assay.engine.limits import MAX_FILE_BYTES
from assay.engine.store.keys import Identity
from assay.engine.store.rulesets import GovernanceError, Version

router = APIRouter(tags=["rulesets"])
Svc = Annotated[Service, Depends(service)]
Reader = Annotated[Identity, Depends(require("author", "reviewer"))]
Author = Annotated[Identity, Depends(require("author"))]
Reviewer = Annotated[Identity, Depends(require("reviewer"))]


class VersionView(BaseModel):
    id: int
    parent_id: int | None
    state: str
    author: str
    created_at: datetime
    updated_at: datetime
    name: str
    version: str
    sha256: str
    comment: str | None
    files: list[str]


def _view(version: Version) -> VersionView:
    return VersionView(**{**version.__dict__, "files": list(version.files)})


class FileBody(BaseModel):
    source: Annotated[str, Field(max_length=MAX_FILE_BYTES, description="The file's YAML text.")]


class Comment(BaseModel):
    comment: Annotated[str | None, Field(max_length=4000)] = None


class Reason(BaseModel):
    reason: Annotated[str, Field(min_length=1, max_length=4000)]


class OptionalReason(BaseModel):
    reason: Annotated[str | None, Field(max_length=4000)] = None


@router.get("/v1/rulesets", response_model=list[VersionView], summary="Every version")
def versions(svc: Svc, _: Reader) -> list[VersionView]:
    return [_view(v) for v in svc.store.versions()]


@router.get("/v1/rulesets/{version_id}", response_model=VersionView, summary="One version")
def version(version_id: RecordId, svc: Svc, _: Reader) -> VersionView:
    return _view(svc.store.get(version_id))


@router.get("/v1/rulesets/{version_id}/files/{path:path}", summary="One file's source text")
def file(version_id: RecordId, path: str, svc: Svc, _: Reader) -> dict[str, str]:
    sources = svc.store.sources(version_id)
    if path not in sources:
        raise GovernanceError("not_found", f"version {version_id} has no file {path}")
    return {"path": path, "source": sources[path]}


@router.get("/v1/rulesets/{version_id}/validation", summary="Compile it and run its examples")
async def validation(version_id: RecordId, svc: Svc, _: Reader) -> dict[str, Any]:
    report = await run_in_threadpool(svc.store.validate, version_id)
    return report.to_json()


@router.get("/v1/rulesets/{a}/diff/{b}", summary="Rules added, removed and changed from a to b")
def diff(a: RecordId, b: RecordId, svc: Svc, _: Reader) -> dict[str, Any]:
    return svc.store.diff(a, b)


@router.get("/v1/audit", summary="The audit trail (of one version, or all)")
def audit(
    svc: Svc, _: Reader, version_id: Annotated[int | None, Query(ge=1, le=2**53)] = None
) -> list[dict[str, Any]]:
    return [event.__dict__ for event in svc.store.audit(version_id)]


@router.post(
    "/v1/rulesets/{version_id}/drafts",
    response_model=VersionView,
    status_code=201,
    summary="A draft: a copy of this version to edit",
)
def create_draft(version_id: RecordId, svc: Svc, who: Author) -> VersionView:
    return _view(svc.store.get(svc.store.create_draft(version_id, who)))


@router.put("/v1/rulesets/{version_id}/files/{path:path}", summary="Write a file of a draft")
async def write(
    version_id: RecordId, path: str, body: FileBody, svc: Svc, who: Author
) -> dict[str, Any]:
    report = await run_in_threadpool(svc.store.write_file, version_id, path, body.source, who)
    return report.to_json()


@router.delete("/v1/rulesets/{version_id}/files/{path:path}", summary="Delete a file of a draft")
async def delete(version_id: RecordId, path: str, svc: Svc, who: Author) -> dict[str, Any]:
    report = await run_in_threadpool(svc.store.write_file, version_id, path, None, who)
    return report.to_json()


@router.post("/v1/rulesets/{version_id}/submit", summary="Submit a valid draft for review")
async def submit(version_id: RecordId, svc: Svc, who: Author) -> dict[str, Any]:
    report = await run_in_threadpool(svc.store.submit, version_id, who)
    return {"state": "submitted", "validation": report.to_json()}


@router.post("/v1/rulesets/{version_id}/approve", summary="Approve a submitted version")
def approve(version_id: RecordId, body: Comment, svc: Svc, who: Reviewer) -> dict[str, str]:
    svc.store.approve(version_id, who, body.comment)
    return {"state": "approved"}


@router.post("/v1/rulesets/{version_id}/reject", summary="Send a submitted version back")
def reject(version_id: RecordId, body: Reason, svc: Svc, who: Reviewer) -> dict[str, str]:
    svc.store.reject(version_id, who, body.reason)
    return {"state": "draft"}


@router.post("/v1/rulesets/{version_id}/activate", summary="Make an approved version active")
def activate(version_id: RecordId, body: OptionalReason, svc: Svc, who: Reviewer) -> dict[str, str]:
    svc.store.activate(version_id, who, body.reason)
    return {"state": "active"}


@router.post("/v1/rulesets/{version_id}/rollback", summary="Reactivate an earlier version")
def rollback(version_id: RecordId, body: Reason, svc: Svc, who: Reviewer) -> dict[str, str]:
    svc.store.rollback(version_id, who, body.reason)
    return {"state": "active"}
