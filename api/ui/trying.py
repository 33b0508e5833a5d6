"""``/ui/try``: Try a manifest (being built)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from assay.api.ui import render
from assay.api.ui.session import AnyScreener

router = APIRouter(include_in_schema=False)


@router.get("/ui/try")
async def page(request: Request, who: AnyScreener) -> Response:
    return render.page(request, "stub.html", who, {"title": "Try a manifest"})
