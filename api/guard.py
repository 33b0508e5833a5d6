"""What every request passes before its route: the key before the body, a bounded body, and the
security headers on every answer.

FastAPI reads and parses a route's JSON body before it solves the route's dependencies, the
key check among them: a 23 MB body sent without any key to a draft-file route was read and
parsed (494 MB in the worker, ``/healthz`` held for 2.5 s) before the 401. :class:`Guard`
sits outside the app and, for every request that sends a body,

1. checks the key (401 before a byte of the body is read; the role is checked by the route,
   which reuses the identity found here), then
2. bounds the body: 413 at once when ``Content-Length`` says it is too large, and 413 as soon
   as a streamed (chunked) body passes the limit while the route reads it.

The screening endpoints (``POST /v1/screen``, ``/v1/screen/batch``) do both themselves, first
thing, on their short path (:mod:`api.dispatch`); the guard only adds headers to them.

Every answer gets ``X-Content-Type-Options: nosniff``, a Content-Security-Policy that allows
nothing (the API documentation pages get one that allows what they load), ``frame-ancestors
'none'`` and ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``, ``Cache-Control:
no-store`` (answers carry keys, decisions and manifests) unless the route set its own, and
``Strict-Transport-Security`` when served over TLS.

The workbench's pages (``/ui``) are signed in with a session cookie, not a key: the guard
bounds their bodies and gives them their own Content-Security-Policy (scripts and styles
from the service only); each page checks its session, role and CSRF token (:mod:`api.ui`).
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assay.api import docs, ui
from assay.api.auth import authenticate
from assay.api.bodies import ApiError, json_response

_API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _headers(csp: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-content-type-options", b"nosniff"),
        (b"content-security-policy", csp.encode()),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-resource-policy", b"same-origin"),
    ]


_API_HEADERS = _headers(_API_CSP)
# For the one answer the guard never sees: Starlette's 500, sent from outside every middleware.
ERROR_HEADERS = {
    name.decode(): value.decode()
    for name, value in [*_headers(_API_CSP), (b"cache-control", b"no-store")]
}
_DOCS_HEADERS = _headers(docs.CSP)
_UI_HEADERS = _headers(ui.CSP)
_NO_STORE = (b"cache-control", b"no-store")
_HSTS = (b"strict-transport-security", b"max-age=31536000")


class BodyTooLarge(HTTPException):
    """A body past its route's limit: 413, and the connection is closed after the answer."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"the request body is larger than {limit} bytes", {"Connection": "close"}
        )


def _declared_length(scope: Scope) -> tuple[int | None, bool]:
    """``(Content-Length, whether a body follows)`` from the request's headers."""
    length: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = int(value) if value.isdigit() else None
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked or bool(length)


class Guard:
    """The outermost layer of the app: see the module's docstring. ``limits`` maps exact paths
    to their body limit; any other path has ``default_limit``."""

    def __init__(
        self,
        app: ASGIApp,
        default_limit: int,
        limits: Mapping[str, int],
        self_guarded: frozenset[str],
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits = dict(limits)
        self.self_guarded = self_guarded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        in_ui = ui.is_ui_path(path)
        if in_ui:
            extra = _UI_HEADERS
        elif docs.is_docs_path(path):
            extra = _DOCS_HEADERS
        else:
            extra = _API_HEADERS
        tls = scope.get("scheme") == "https"

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers += extra
                if not any(name == b"cache-control" for name, _ in headers):
                    headers.append(_NO_STORE)
                if tls:
                    headers.append(_HSTS)
                message = {**message, "headers": headers}
            await send(message)

        if path in self.self_guarded:
            await self.app(scope, receive, secured)
            return
        declared, has_body = _declared_length(scope)
        if not has_body:
            await self.app(scope, receive, secured)
            return
        if scope["method"] in _BODY_METHODS and not in_ui:
            try:
                scope["assay.identity"] = await authenticate(Request(scope))
            except ApiError as exc:
                answer = json_response(exc.body(), exc.status, {"Connection": "close"})
                await answer(scope, receive, secured)
                return
        limit = self.limits.get(path, self.default_limit)
        if declared is not None and declared > limit:
            too_large = BodyTooLarge(limit)
            answer = json_response({"detail": too_large.detail}, 413, too_large.headers)
            await answer(scope, receive, secured)
            return
        received = 0

        async def bounded() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, bounded, secured)
