"""What one HTTP connection may cost the service: uvicorn's configuration, built from Settings.

uvicorn's httptools protocol reads a request's line and headers without a size limit (the
parser keeps a header it has not finished in memory, however long it grows) and without a
deadline: a client that trickles a head or a body one byte at a time holds its connection,
and the memory behind it, for as long as it likes. :class:`BoundedHttpToolsProtocol` adds
both to uvicorn's own protocol:

* the request line and headers of one request may hold ``max_header_bytes``; the server
  answers ``431`` at the first byte beyond, closes the connection, and never hands the rest
  to the parser;
* the head must arrive within ``header_timeout_seconds`` of its first byte (of the
  connection's opening, for its first request), the body within ``body_timeout_seconds`` of
  the end of the head; else ``408``, if nothing was answered yet, and the connection closes.
  A connection that sends nothing is closed, without an answer, after the head timeout.

Between requests uvicorn's own keep-alive timeout applies. All of it costs a request that
arrives in one read, as nearly all do, a counter and no timer.

:func:`server_config` builds the uvicorn :class:`~uvicorn.Config` from
:class:`~api.settings.Settings`, for ``assay serve`` and for the tests' servers alike.
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

from assay.api.settings import Settings

# Where a connection is in its current request.
_IDLE = 0  # between requests (a new connection, or the last one read to its end)
_HEAD = 1  # a request begun, its headers not complete
_BODY = 2  # headers complete, the body not yet
_GONE = 3  # handed to the WebSocket protocol: none of this protocol's business any more


class TransportConfig(uvicorn.Config):
    """uvicorn's Config with the limits :class:`BoundedHttpToolsProtocol` enforces. It
    travels to ``--workers`` processes as uvicorn's own Config does (pickled)."""

    def __init__(
        self,
        app: Callable[..., Any] | str,
        *,
        max_header_bytes: int,
        header_timeout: float,
        body_timeout: float,
        **options: Any,
    ) -> None:
        super().__init__(app, **options)
        self.max_header_bytes = max_header_bytes
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout


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
        header_timeout=settings.header_timeout_seconds,
        body_timeout=settings.body_timeout_seconds,
        host=host,
        port=port,
        workers=workers,
        factory=factory,
        loop="uvloop",
        http=BoundedHttpToolsProtocol,
        # For anyone who swaps in h11: its own bound on a request's head (no timeouts there).
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
    """uvicorn's httptools protocol with a size limit on a request's head and deadlines for
    its head and body. Needs a :class:`TransportConfig`.

    Bytes are counted as they arrive, before the parser sees them: every byte of a read that
    comes while a head is unfinished counts toward it, and a read is handed to the parser
    only up to the limit. A request that begins in the middle of a read (pipelined behind
    another) is charged the whole rest of that read: pipelining can meet the limit sooner,
    never later. Deadlines are one timer per connection, armed only when a read leaves a
    request unfinished.
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
        self.header_timeout = config.header_timeout
        self.body_timeout = config.body_timeout
        self._phase = _IDLE
        self._head_bytes = 0  # counted toward the unfinished head; 0 once it is complete
        self._heads = 0  # heads completed on this connection
        self._deadline: asyncio.TimerHandle | None = None
        self._deadline_key = 0  # what the deadline is for: 2 * head number, +1 for its body

    # Connection events

    # asyncio.Protocol takes any BaseTransport; uvicorn's protocol (and so this one) a Transport.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that sends nothing is closed after the head timeout; for its first
        # request the head's clock starts here.
        self._deadline = self.loop.call_later(self.header_timeout, self._expired)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        super().connection_lost(exc)

    # The methods a request passes through call uvicorn's directly (not through super(),
    # which builds an object per call): they run for every request.

    def data_received(self, data: bytes) -> None:
        if self._phase != _BODY:
            if self._head_bytes + len(data) > self.max_header_bytes:
                self._feed_bounded(data)
                self._set_deadline()
                return
            self._head_bytes += len(data)
        HttpToolsProtocol.data_received(self, data)
        if self._phase == _IDLE and not self._head_bytes and self._deadline is None:
            return  # what this read brought is complete, and no deadline runs: nearly always
        if self._phase == _HEAD and not self._head_bytes:
            self._head_bytes = len(data)  # a request began within this read
        self._set_deadline()

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

    def handle_websocket_upgrade(self) -> None:
        self._phase = _GONE  # the connection is the WebSocket protocol's from here: no timers
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._unset_keepalive_if_required()
        super().handle_websocket_upgrade()

    # Parser callbacks: where the request is

    def on_message_begin(self) -> None:
        self._phase = _HEAD
        HttpToolsProtocol.on_message_begin(self)

    def on_headers_complete(self) -> None:
        self._phase = _BODY
        self._head_bytes = 0
        self._heads += 1
        HttpToolsProtocol.on_headers_complete(self)

    def on_message_complete(self) -> None:
        self._phase = _IDLE
        HttpToolsProtocol.on_message_complete(self)
        cycle = self.cycle  # None after an upgrade request on a new connection
        if cycle is not None and cycle.response_complete and self.timeout_keep_alive_task is None:
            # Answered before its body was read: the rest of the body cancelled uvicorn's
            # keep-alive timer as it arrived, and uvicorn arms it only on answering.
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    # Deadlines

    def _set_deadline(self) -> None:
        """After a read: the deadline of what is unfinished, or none."""
        phase = self._phase
        if phase == _GONE or self.transport.is_closing():
            return
        if phase == _BODY:
            key, seconds = 2 * self._heads - 1, self.body_timeout
        elif phase == _HEAD or self._head_bytes:
            key, seconds = 2 * self._heads, self.header_timeout
        else:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            return
        if self._deadline is None or self._deadline_key != key:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(seconds, self._expired)
            self._deadline_key = key

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        phase = self._phase
        if self.flow.read_paused:
            # The server stopped reading (the app has not taken the body yet, or a request
            # pipelined behind one being answered): not the client's delay.
            seconds = self.body_timeout if phase == _BODY else self.header_timeout
            self._deadline = self.loop.call_later(seconds, self._expired)
            return
        cycle = self.cycle
        if phase == _BODY:
            if cycle.response_started:
                self.transport.close()  # answered (e.g. 401 before reading): nothing to add
                return
            self._refuse(408, f"the request body did not arrive within {self.body_timeout:g} s")
            return
        if phase == _IDLE and not self._head_bytes:
            self.transport.close()  # nothing sent: a 408 here could be read as the answer
            return  # to a request that a client sends into the connection as it closes
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False  # an earlier request is being answered: close after it
            return
        self._refuse(408, f"the request headers did not arrive within {self.header_timeout:g} s")

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
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # The app is waiting for the body: it reads a disconnect, and whatever it sends
            # is dropped (this answer is the connection's last).
            cycle.disconnected = True
            cycle.message_event.set()
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
