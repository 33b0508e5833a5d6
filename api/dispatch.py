"""The screening endpoints' short way in: ``POST /v1/screen`` straight to its handler.

The handlers in :mod:`api.routes.screening` stay ordinary FastAPI routes (OpenAPI, ``/docs``,
every other method and path go through the router as usual); this middleware, placed
outside FastAPI's own layers, calls them directly for the requests that make a border
service's load. Measured in-process on one request (5-item manifest, decision log not
counted): 264 µs through the full stack, 150 µs calling the handler; route matching over
every route of the app, dependency solving for a handler that takes only the request, and
five middleware layers made the difference. What those layers did for these two endpoints is
done here: the metrics (:meth:`api.metrics.Metrics.answer`) and the error answers of
:class:`api.bodies.ApiError`; any other exception goes on to the app's error handling (500).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from assay.api.bodies import ApiError, json_response
from assay.api.metrics import Metrics

Handler = Callable[[Request], Awaitable[Response]]


class Direct:
    """Dispatches ``POST`` to the exact paths in ``handlers``; everything else to ``app``."""

    def __init__(self, app: ASGIApp, handlers: dict[str, Handler], metrics: Metrics) -> None:
        self.app = app
        self.handlers = handlers
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = None
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            handler = self.handlers.get(scope["path"])
        if handler is None:
            await self.app(scope, receive, send)
            return

        async def respond(sending: Send) -> None:
            try:
                response = await handler(Request(scope, receive))
            except ApiError as exc:
                response = json_response(exc.body(), exc.status)
            await response(scope, receive, sending)

        await self.metrics.answer(scope, send, respond, route=scope["path"])
