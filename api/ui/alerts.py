"""``/ui/alerts``: what the correlation rules raised across shipments, newest first, each
linked to the decision that completed it and to its members' decisions.

The list is the one ``GET /v1/alerts`` answers (``CorrelationStore.alerts``), filtered by
rule and entity with GET parameters, so a filtered list has its own URL.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from assay.api.service import service
from assay.api.ui import render
from assay.api.ui.session import AuthorOrReviewer

router = APIRouter(include_in_schema=False)

SHOWN = 200


@router.get("/ui/alerts")
async def alerts_page(
    request: Request,
    who: AuthorOrReviewer,
    rule_id: Annotated[str | None, Query(max_length=64)] = None,
    entity: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    svc = service(request)
    chosen_rule = rule_id or None
    chosen_entity = (entity or "").strip() or None
    found = await run_in_threadpool(
        svc.correlation.alerts, rule_id=chosen_rule, entity_key=chosen_entity, limit=SHOWN
    )
    context = {
        "alerts": found,
        "rules": [rule.id for rule in svc.engine.ruleset.correlations],
        "rule_id": chosen_rule,
        "entity": chosen_entity,
        "shown": SHOWN,
    }
    return render.page(request, "alerts.html", who, context)
