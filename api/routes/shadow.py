"""/v1/shadow: run a submitted or approved version beside the active one on live traffic,
and compare what the two would have said. The shadow's results are stored, never returned."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from assay.api.auth import require
from assay.api.bodies import ApiError
from assay.api.service import Service, service
from assay.engine.store.keys import Identity
from assay.engine.store.rulesets import GovernanceError
from assay.engine.store.shadow import SHADOWABLE, ShadowRun

router = APIRouter(tags=["shadow"])
Svc = Annotated[Service, Depends(service)]
Reviewer = Annotated[Identity, Depends(require("reviewer"))]
Reader = Annotated[Identity, Depends(require("author", "reviewer"))]


class ShadowStart(BaseModel):
    version_id: Annotated[int, Field(ge=1, le=2**53, description="A submitted or approved one.")]


class RunView(BaseModel):
    id: int
    version_id: int
    version_state: str
    started_by: str
    started_at: datetime
    stopped_by: str | None
    stopped_at: datetime | None
    shadowing: bool = Field(description="Whether workers screen with it now.")
    note: str | None = Field(description="Why it is not shadowing, when it is not.")


def _view(run: ShadowRun) -> RunView:
    note = None
    if run.stopped_at is not None:
        note = f"stopped by {run.stopped_by}"
    elif not run.shadowing:
        note = (
            f"paused: version {run.version_id} is {run.version_state} now;"
            " only a submitted or approved version is shadowed"
        )
    return RunView(**asdict(run), shadowing=run.shadowing, note=note)


class ShadowReport(BaseModel):
    run: RunView | None
    active_version_id: int = Field(description="The version the service answers with.")
    comparison: dict[str, Any] | None = Field(
        description="screened, channel and flag agreement, channel mix of each, channel moves,"
        " rules gained and lost, and the latest manifests on which the two differ."
    )


@router.put("/v1/shadow", response_model=RunView, summary="Shadow a version on live traffic")
def start(body: ShadowStart, svc: Svc, who: Reviewer) -> RunView:
    """Every worker screens each manifest with this version too, after answering with the
    active one, within `reload_seconds`. Replaces the current shadow run, if any."""
    version = svc.store.get(body.version_id)
    if version.state not in SHADOWABLE:
        raise GovernanceError(
            "conflict",
            f"version {version.id} is {version.state}; only a submitted or approved version"
            " can be shadowed",
        )
    run = svc.shadows.get(svc.shadows.start(version.id, who.person))
    assert run is not None
    return _view(run)


@router.delete(
    "/v1/shadow",
    response_model=RunView,
    summary="Stop shadowing",
    responses={404: {"description": "Nothing is being shadowed."}},
)
def stop(svc: Svc, who: Reviewer) -> RunView:
    stopped = svc.shadows.stop(who.person)
    if stopped is None:
        raise ApiError(404, "no shadow run is current")
    return _view(stopped)


@router.get("/v1/shadow", response_model=ShadowReport, summary="Shadow against active")
async def report(
    svc: Svc,
    _: Reader,
    run_id: Annotated[int | None, Query(ge=1, le=2**53, description="Default: the latest.")] = None,
    examples: Annotated[int, Query(ge=0, le=1000)] = 20,
) -> ShadowReport:
    """The latest shadow run (or `run_id`): how often the shadow version agreed with the
    active one, the channel mix each would cause, the rules it fired that the active did not
    (and the reverse), and the latest manifests on which they differ, with the shadow's
    explanations."""
    if run_id is None:
        run = await run_in_threadpool(svc.shadows.latest)
    else:
        run = await run_in_threadpool(svc.shadows.get, run_id)
        if run is None:
            raise ApiError(404, f"no shadow run {run_id}")
    comparison = (
        await run_in_threadpool(svc.shadows.compare, run.id, examples) if run is not None else None
    )
    return ShadowReport(
        run=_view(run) if run is not None else None,
        active_version_id=svc.active[0],
        comparison=comparison,
    )
