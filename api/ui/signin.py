"""``/ui``: the sign-in form, signing in with an API key, and signing out."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from assay.api.service import service
from assay.api.ui import render
from assay.api.ui.session import (
    LANDING,
    Viewer,
    checked_form,
    clear_cookie,
    cookie_value,
    current,
    same_site,
    set_cookie,
    sign_in_token,
    sign_in_token_holds,
)

router = APIRouter(include_in_schema=False)

_REASONS = {
    "signed-out": "You have signed out.",
    "expired": "Your session has ended: sign in again.",
}


async def _form(
    request: Request, next_page: str | None, error: str | None = None, status: int = 200
) -> Response:
    secret = await run_in_threadpool(service(request).sessions.signing_secret)
    reason = _REASONS.get(request.query_params.get("reason", ""))
    context = {
        "token": sign_in_token(secret),
        "next": render.local_target(next_page, ""),
        "error": error,
        "notice": reason,
    }
    return render.page(request, "signin.html", None, context, status)


@router.get("/ui")
async def sign_in_form(
    request: Request, next_page: Annotated[str | None, Query(alias="next", max_length=2000)] = None
) -> Response:
    who = await current(request)
    if who is not None:
        return RedirectResponse(render.local_target(next_page, LANDING[who.role]), 303)
    return await _form(request, next_page)


@router.post("/ui/signin")
async def sign_in(request: Request) -> Response:
    svc = service(request)
    form = await request.form()
    key = form.get("key")
    token = form.get("token")
    next_page = form.get("next")
    next_page = next_page if isinstance(next_page, str) else None
    secret = await run_in_threadpool(svc.sessions.signing_secret)
    if not (isinstance(token, str) and sign_in_token_holds(secret, token) and same_site(request)):
        return await _form(request, next_page, "The sign-in form had expired: try again.", 400)
    if not isinstance(key, str) or not key.strip():
        return await _form(request, next_page, "Enter your API key.", 422)
    identity = await run_in_threadpool(svc.keys.identify, key.strip())
    if identity is None or identity.key_id is None:
        return await _form(request, next_page, "This key is unknown or has been revoked.", 401)
    if identity.role not in LANDING:
        return await _form(
            request,
            next_page,
            f"A {identity.role} key cannot use the workbench: sign in with a screening, "
            "author or reviewer key.",
            403,
        )
    lifetime = timedelta(minutes=svc.settings.ui_session_minutes)
    session_id, session = await run_in_threadpool(svc.sessions.begin, identity, lifetime)
    headers: dict[str, str] = {}
    value = cookie_value(secret, session_id, session.expires_at)
    set_cookie(request, headers, value, session.expires_at)
    target = render.local_target(next_page, LANDING[identity.role])
    return RedirectResponse(target, 303, headers)


@router.post("/ui/signout")
async def sign_out(request: Request) -> Response:
    who: Viewer | None = await current(request)
    headers: dict[str, str] = {}
    clear_cookie(request, headers)
    if who is None:
        return RedirectResponse("/ui", 303, headers)
    await checked_form(request, who)
    await run_in_threadpool(service(request).sessions.end, who.session_id, who.identity)
    return RedirectResponse("/ui?reason=signed-out", 303, headers)
