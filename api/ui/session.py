"""Who is signed in to the workbench, and whether a form came from one of its pages.

Signing in with an API key begins a session (:mod:`engine.store.sessions`); the browser
holds its id in a cookie signed with the service's secret (HMAC-SHA256), ``HttpOnly``,
``SameSite=Strict``, ``Path=/ui``, ``Secure`` when served over TLS, expiring with the
session. The key itself is never kept, in the cookie or anywhere else, and never appears in
a URL: it is sent once, in the body of the sign-in form.

Every page checks the session (expired, signed out, or its key revoked: back to sign-in)
and the role of its key, as the API checks roles (:func:`viewer`). Every form and every
script's request that changes something carries the session's CSRF token (a form field
``csrf`` or the ``X-CSRF-Token`` header), compared in constant time; a request whose
``Origin`` names another site is refused too. The sign-in form, before any session, carries
a token signed with the same secret that expires in an hour.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from assay.api.service import Service, service
from assay.engine.store.keys import Identity
from assay.engine.store.roles import Role
from assay.engine.store.sessions import Session

COOKIE = "assay_ui"
COOKIE_PATH = "/ui"
SIGN_IN_TOKEN_SECONDS = 3600
# Where each role lands after signing in; a role not here may not use the workbench.
LANDING: dict[Role, str] = {
    "author": "/ui/rules",
    "reviewer": "/ui/rules",
    "screening": "/ui/try",
}


class SignInNeededError(Exception):
    """No session in force: the page answers with a redirect to the sign-in form."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or "sign in")
        self.reason = reason


class RefusedError(Exception):
    """The page or action is not for this key's role, or a form failed its check: an error
    page (403, or ``status``) that says why."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Viewer:
    """The signed-in person: their key's identity, and their session's CSRF token."""

    identity: Identity
    csrf: str
    session_id: str

    @property
    def role(self) -> Role:
        return self.identity.role


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(secret: bytes, text: str) -> str:
    return _b64(hmac.new(secret, text.encode(), hashlib.sha256).digest())


def cookie_value(secret: bytes, session_id: str, expires: datetime) -> str:
    """``<session id>.<expiry, unix seconds>.<signature>``."""
    text = f"{session_id}.{int(expires.timestamp())}"
    return f"{text}.{_sign(secret, text)}"


def session_id_of(secret: bytes, value: str) -> str | None:
    """The session id in a cookie, if its signature holds and it has not expired."""
    parts = value.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    text = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_sign(secret, text), parts[2]):
        return None
    if int(parts[1]) <= time.time():
        return None
    return parts[0]


def sign_in_token(secret: bytes) -> str:
    """The sign-in form's CSRF token: its time, signed."""
    stamp = str(int(time.time()))
    return f"{stamp}.{_sign(secret, 'sign-in.' + stamp)}"


def sign_in_token_holds(secret: bytes, token: str) -> bool:
    stamp, _, signature = token.partition(".")
    if not stamp.isdigit() or not hmac.compare_digest(_sign(secret, "sign-in." + stamp), signature):
        return False
    return 0 <= time.time() - int(stamp) <= SIGN_IN_TOKEN_SECONDS


def set_cookie(
    request: Request, response_headers: dict[str, str], value: str, expires: datetime
) -> None:
    """The ``Set-Cookie`` header for ``value``, Secure over TLS."""
    seconds = max(0, int((expires - datetime.now(UTC)).total_seconds()))
    attributes = [
        f"{COOKIE}={value}",
        f"Path={COOKIE_PATH}",
        f"Max-Age={seconds}",
        "HttpOnly",
        "SameSite=Strict",
    ]
    if request.url.scheme == "https":
        attributes.append("Secure")
    response_headers["set-cookie"] = "; ".join(attributes)


def clear_cookie(request: Request, response_headers: dict[str, str]) -> None:
    set_cookie(request, response_headers, "", datetime.now(UTC))


def same_site(request: Request) -> bool:
    """Whether the request came from this service's own pages. A browser says where a
    request comes from in ``Sec-Fetch-Site`` (which must then be ``same-origin``) and in
    ``Origin`` (which, when it names a site, must be this host; under the service's
    ``Referrer-Policy: no-referrer`` a browser sends ``null`` there)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site != "same-origin":
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None or fetch_site == "same-origin"
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def _session(request: Request, svc: Service) -> tuple[str, Session] | None:
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    secret = await run_in_threadpool(svc.sessions.signing_secret)
    session_id = session_id_of(secret, value)
    if session_id is None:
        return None
    session = await run_in_threadpool(svc.sessions.get, session_id)
    return (session_id, session) if session is not None else None


async def current(request: Request) -> Viewer | None:
    """The signed-in viewer, or None."""
    found = await _session(request, service(request))
    if found is None:
        return None
    session_id, session = found
    return Viewer(session.identity, session.csrf, session_id)


def _a(words: str) -> str:
    """``words`` with its indefinite article: "an author", "a reviewer"."""
    return ("an " if words[:1] in "aeiou" else "a ") + words


def viewer(*roles: Role) -> Any:
    """A dependency: the signed-in viewer, whose key has one of ``roles`` (else the sign-in
    form, or a 403 page that names the roles)."""

    async def dependency(request: Request) -> Viewer:
        found = await current(request)
        if found is None:
            raise SignInNeededError()
        if found.role not in roles:
            svc = service(request)
            await run_in_threadpool(
                svc.keys.note_refusal, found.identity, request.method, request.url.path, roles
            )
            raise RefusedError(
                f"This page needs {_a(' or '.join(roles))} key; you signed in with "
                f"{_a(found.role)} key."
            )
        return found

    return Depends(dependency)


async def checked_form(request: Request, who: Viewer) -> FormData:
    """The form a page posted, after its CSRF token and origin are checked."""
    form = await request.form()
    token = form.get("csrf")
    if not isinstance(token, str) or not hmac.compare_digest(token, who.csrf):
        raise RefusedError(
            "This form has expired or did not come from the workbench: reload the page and "
            "try again.",
            400,
        )
    if not same_site(request):
        raise RefusedError("This form was sent from another site.", 400)
    return form


def check_header_token(request: Request, who: Viewer) -> None:
    """For a script's request: the ``X-CSRF-Token`` header and the origin."""
    token = request.headers.get("x-csrf-token", "")
    if not hmac.compare_digest(token, who.csrf) or not same_site(request):
        raise RefusedError("This request did not come from the workbench: reload the page.", 400)


Author = Annotated[Viewer, viewer("author")]
Reviewer = Annotated[Viewer, viewer("reviewer")]
AuthorOrReviewer = Annotated[Viewer, viewer("author", "reviewer")]
AnyScreener = Annotated[Viewer, viewer("screening", "author", "reviewer")]
