"""What one HTTP connection may cost the service: uvicorn's configuration, built from Settings.

uvicorn's httptools protocol reads a request's line and headers without a size limit: the
parser keeps a header it has not finished in memory, however long it grows (a 50 MB header
held open costs 50 MB). :class:`BoundedHttpToolsProtocol` is uvicorn's own protocol with a
limit: the request line and headers of one request may hold ``max_header_bytes``; the
server answers ``431`` at the first byte beyond, closes the connection, and never hands the
rest to the parser. It costs a request that arrives in one read, as nearly all do, a
counter.

:func:`server_config` builds the uvicorn :class:`~uvicorn.Config` from
:class:`~api.settings.Settings`, for ``assay serve`` and for the tests' servers alike, so
that the tests run the service as it is deployed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import orjson
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState
from uvicorn.supervisors import Multiprocess

from api.settings import Settings

# Where a connection is in its current request.
_IDLE = 0  # between requests (a new connection, or the last one read to its end)
_HEAD = 1  # a request begun, its headers not complete
_BODY = 2  # headers complete, the body not yet


class TransportConfig(uvicorn.Config):
    """uvicorn's Config with the limits :class:`BoundedHttpToolsProtocol` enforces. It
    travels to ``--workers`` processes as uvicorn's own Config does (pickled)."""

    def __init__(
        self, app: Callable[..., Any] | str, *, max_header_bytes: int, **options: Any
    ) -> None:
        super().__init__(app, **options)
        self.max_header_bytes = max_header_bytes


def server_config(
    app: Callable[..., Any] | str,
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int = 1,
    factory: bool = False,
) -> TransportConfig:
    """The uvicorn configuration of the service: ``assay serve`` and the tests both run it."""
    return TransportConfig(
        app,
        max_header_bytes=settings.max_header_bytes,
        host=host,
        port=port,
        workers=workers,
        factory=factory,
        loop="uvloop",
        http=BoundedHttpToolsProtocol,
        # For anyone who swaps in h11: its own bound on a request's head.
        h11_max_incomplete_event_size=settings.max_header_bytes,
        timeout_keep_alive=settings.keepalive_timeout_seconds,
        server_header=False,  # no "server: uvicorn" banner; the date header stays
        date_header=True,
        # A lifespan that fails stops the server, rather than serving without a Service.
        lifespan="on",
        access_log=settings.access_log,
        log_level="warning",
    )


def run_server(config: TransportConfig) -> None:
    """Serve ``config`` until stopped: ``uvicorn.run`` for a Config built here (``run``
    builds its own Config and would drop the limits). Several workers share one socket."""
    server = uvicorn.Server(config)
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        else:
            server.run()
    except KeyboardInterrupt:
        pass
    if config.workers == 1 and not server.started:
        sys.exit(STARTUP_FAILURE)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size limit on a request's head. Needs a
    :class:`TransportConfig`.

    Bytes are counted as they arrive, before the parser sees them: every byte of a read that
    comes while a head is unfinished counts toward it, and a read is handed to the parser
    only up to the limit. A request that begins in the middle of a read (pipelined behind
    another) is charged the whole rest of that read: pipelining can meet the limit sooner,
    never later.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not isinstance(config, TransportConfig):
            raise TypeError("BoundedHttpToolsProtocol reads its limits from a TransportConfig")
        super().__init__(config, server_state, app_state, _loop)
        self.max_header_bytes = config.max_header_bytes
        self._phase = _IDLE
        self._head_bytes = 0  # counted toward the unfinished head; 0 once it is complete

    def data_received(self, data: bytes) -> None:
        if self._phase != _BODY:
            if self._head_bytes + len(data) > self.max_header_bytes:
                self._feed_bounded(data)
                return
            self._head_bytes += len(data)
        super().data_received(data)
        if self._phase == _HEAD and not self._head_bytes:
            self._head_bytes = len(data)  # a request began within this read

    def _feed_bounded(self, data: bytes) -> None:
        """Feed ``data`` in pieces: no more than the head's room while a head is unfinished."""
        rest = memoryview(data)
        while rest:
            if self._phase == _BODY:
                piece, rest = rest, rest[:0]
            else:
                room = self.max_header_bytes - self._head_bytes
                if room <= 0:
                    self._head_too_large()
                    return
                piece, rest = rest[:room], rest[room:]
                self._head_bytes += len(piece)
            # uvicorn annotates `data` as bytes; httptools parses any buffer, a view is no copy.
            super().data_received(piece)  # type: ignore[arg-type]
            if self.transport.is_closing() or self.parser.should_upgrade():
                return  # answered 400, or handed to another protocol: nothing more to parse
            if self._phase == _HEAD and not self._head_bytes:
                self._head_bytes = len(piece)  # a request began within this piece

    # Parser callbacks: where the request is

    def on_message_begin(self) -> None:
        self._phase = _HEAD
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._phase = _BODY
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = _IDLE
        super().on_message_complete()

    # Answers of the transport itself

    def _head_too_large(self) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # A pipelined request beyond the limit while an earlier one is being answered:
            # read nothing more, and close once that answer is sent.
            cycle.keep_alive = False
            self.flow.pause_reading()
            return
        self._refuse(
            431, f"the request line and headers are larger than {self.max_header_bytes} bytes"
        )

    def _refuse(self, status: int, detail: str) -> None:
        """Answer ``status`` with a JSON ``detail`` and close the connection."""
        body = orjson.dumps({"detail": detail})
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: %d\r\n" % len(body),
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
