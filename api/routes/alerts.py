"""GET /v1/alerts: the alerts correlation rules raised, each linked to its decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from assay.api.auth import require
from assay.api.service import Service, service
from assay.engine.store.correlation import StoredAlert

router = APIRouter(tags=["alerts"], dependencies=[Depends(require("author", "reviewer", "admin"))])


class AlertLinks(BaseModel):
    decision: str | None = Field(
        description="The decision of the manifest that completed the pattern "
        "(`/v1/decisions/{id}`); null for an alert raised outside the API."
    )
    manifests: list[str] = Field(
        description="For each member, its decisions (`/v1/decisions?manifest_id=`), in "
        "filed_at order."
    )


class AlertOut(BaseModel):
    alert_id: str = Field(description="The same for the same rule, entity and completing manifest.")
    rule_id: str
    pattern: str
    severity: str
    entity_key: str = Field(description="Who the group is keyed by, e.g. consignor=CN/91440300…")
    entity: str = Field(description="The entity in words.")
    trigger_manifest_id: str = Field(description="The manifest that completed the pattern.")
    manifest_ids: list[str] = Field(description="Every member of the group, in filed_at order.")
    first_filed_at: datetime
    last_filed_at: datetime
    measures: dict[str, float | None]
    explanation: str
    created_at: datetime
    decision_id: str | None
    withdrawn_at: datetime | None = Field(
        description="Set when a manifest filed before the group's last member arrived later "
        "and the group no longer meets the rule (a member in a baseline window, say); null "
        "while the alert stands."
    )
    withdrawn_by: str | None = Field(description="That late manifest's id.")
    links: AlertLinks


class AlertList(BaseModel):
    alerts: list[AlertOut]


def _out(stored: StoredAlert) -> AlertOut:
    alert = stored.alert
    return AlertOut(
        alert_id=alert.alert_id,
        rule_id=alert.rule_id,
        pattern=alert.pattern,
        severity=alert.severity,
        entity_key=alert.entity_key,
        entity=alert.entity,
        trigger_manifest_id=alert.trigger_manifest_id,
        manifest_ids=list(alert.manifest_ids),
        first_filed_at=alert.first_filed_at,
        last_filed_at=alert.last_filed_at,
        measures=dict(alert.measures),
        explanation=alert.explanation,
        created_at=stored.created_at,
        decision_id=stored.decision_id,
        withdrawn_at=stored.withdrawn_at,
        withdrawn_by=stored.withdrawn_by,
        links=AlertLinks(
            decision=f"/v1/decisions/{stored.decision_id}" if stored.decision_id else None,
            manifests=[
                f"/v1/decisions?manifest_id={quote(m, safe='')}" for m in alert.manifest_ids
            ],
        ),
    )


@router.get("/v1/alerts", response_model=AlertList, summary="Alerts of the correlation rules")
async def list_alerts(
    svc: Annotated[Service, Depends(service)],
    rule_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    entity: Annotated[
        str | None,
        Query(min_length=1, max_length=1000, description="An entity key, e.g. consignor=CN/…"),
    ] = None,
    since: Annotated[
        datetime | None,
        Query(description="Alerts whose last member was filed at or after this time."),
    ] = None,
    until: Annotated[
        datetime | None,
        Query(description="Alerts whose last member was filed at or before this time."),
    ] = None,
    withdrawn: Annotated[
        bool | None,
        Query(description="true: only withdrawn alerts; false: only standing ones; absent: all."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AlertList:
    """Stored alerts, newest (by the completing manifest's filed_at) first, at most `limit`.
    Each links to the decision that completed it and to its members' decisions."""
    found = await run_in_threadpool(
        svc.correlation.alerts,
        rule_id=rule_id,
        entity_key=entity,
        since=since,
        until=until,
        withdrawn=withdrawn,
        limit=limit,
    )
    return AlertList(alerts=[_out(stored) for stored in found])
