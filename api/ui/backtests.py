"""``/ui/backtests``: Back-tests (being built)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from assay.api.ui import render
from assay.api.ui.session import AuthorOrReviewer

router = APIRouter(include_in_schema=False)


@router.get("/ui/backtests")
async def page(request: Request, who: AuthorOrReviewer) -> Response:
    return render.page(request, "stub.html", who, {"title": "Back-tests"})
