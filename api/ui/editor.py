"""``/ui/drafts``: Drafts (being built)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from assay.api.ui import render
from assay.api.ui.session import Author

router = APIRouter(include_in_schema=False)


@router.get("/ui/drafts")
async def page(request: Request, who: Author) -> Response:
    return render.page(request, "stub.html", who, {"title": "Drafts"})
