"""Prometheus metrics: requests and latency by route, flags by rule and pattern, lanes.

Each app has its own registry (no process-global state). With several worker processes
(``assay serve --workers N``) the figures are shared through ``PROMETHEUS_MULTIPROC_DIR``,
which ``assay serve`` sets, so ``/metrics`` reports the whole service whichever worker answers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assay.engine.contracts import ScreeningResult

# Answers a request through the ``send`` it is given.
Responder = Callable[[Send], Awaitable[None]]

_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        register = None if self.multiprocess else self.registry
        self.requests = Counter(
            "assay_http_requests_total",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=register,
        )
        self.latency = Histogram(
            "assay_http_request_duration_seconds",
            "Time from request to the end of the response, by route template.",
            ["route"],
            buckets=_BUCKETS,
            registry=register,
        )
        self.flags = Counter(
            "assay_flags_total",
            "Flags raised, by rule and pattern.",
            ["rule_id", "pattern"],
            registry=register,
        )
        self.results = Counter(
            "assay_screenings_total",
            "Manifests screened, by lane.",
            ["channel"],
            registry=register,
        )

        # Label lookups cost more than the increments; children are kept by their labels.
        self._children: dict[tuple[str, ...], Any] = {}

    def child(self, metric: Counter | Histogram, *labels: str) -> Any:
        key = (metric._name, *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def observe(self, result: ScreeningResult) -> None:
        self.child(self.results, result.channel).inc()
        for flag in result.flags:
            self.child(self.flags, flag.rule_id, flag.pattern).inc()

    async def answer(
        self, scope: Scope, send: Send, respond: Responder, route: str | None = None
    ) -> None:
        """Run ``respond`` (with a ``send`` that notes the status), then count and time the
        request under ``route``, or else the route template the router matched
        (``/v1/rules/{rule_id}``); a request that raised counts as a 500."""
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await respond(send_status)
        finally:
            if route is None:
                route = getattr(scope.get("route"), "path", "unmatched")
            self.child(self.requests, route, scope["method"], str(status)).inc()
            self.child(self.latency, route).observe(time.perf_counter() - started)

    def exposition(self) -> bytes:
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request under its route template (``/v1/rules/{rule_id}``)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.metrics.answer(scope, send, lambda sending: self.app(scope, receive, sending))
