"""GET /v1/decisions/{decision_id} and /v1/decisions?manifest_id=: the decision log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from assay.api.auth import require
from assay.api.bodies import ApiError
from assay.api.service import Service, service
from assay.engine.store.decisions import Decision

router = APIRouter(tags=["decisions"], dependencies=[Depends(require("author", "reviewer"))])


class DecisionList(BaseModel):
    decisions: list[Decision]


@router.get(
    "/v1/decisions/{decision_id}",
    response_model=Decision,
    summary="One logged decision, with the input as received",
    responses={404: {"description": "No such decision."}},
)
def decision(decision_id: str, svc: Annotated[Service, Depends(service)]) -> Decision:
    found = svc.log.get(decision_id)
    if found is None:
        raise ApiError(404, f"no decision {decision_id!r}")
    return found


@router.get("/v1/decisions", response_model=DecisionList, summary="Decisions about a manifest")
def decisions(
    svc: Annotated[Service, Depends(service)],
    manifest_id: Annotated[str, Query(min_length=1, max_length=64)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DecisionList:
    """Every logged decision about `manifest_id`, newest first."""
    return DecisionList(decisions=svc.log.for_manifest(manifest_id, limit))
