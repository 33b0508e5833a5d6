"""What one connection may cost the service, tried as an attacker tries it: raw sockets
against a real uvicorn on loopback, configured as `assay serve` configures it.

The server here has 1-second timeouts so that the slow attacks are quick to run; the bounds
the tests allow are generous (the timeout plus seconds), and none asserts a speed."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import psutil
import pytest

from assay.api.settings import Settings
from tests.servers import LiveApi, assay_serve, live_api

LIMIT = 16 * 1024  # the default max_header_bytes, which the shared server keeps
TIMEOUT = 1.0  # the shared server's head, body and keep-alive timeouts
GRACE = 5.0  # how much later than its timeout a connection may close and still pass
MB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("transport"),
        header_timeout_seconds=TIMEOUT,
        body_timeout_seconds=TIMEOUT,
        keepalive_timeout_seconds=int(TIMEOUT),
        open_screening_on_loopback=True,  # a body the app waits for, without a key
    )
    with live_api(settings) as live:
        yield live


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until_closed(sock: socket.socket, within: float) -> bytes:
    """Everything the server sends until it closes the connection, which it must do within
    ``within`` seconds."""
    deadline = time.monotonic() + within
    received = b""
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"the connection was still open after {within} s: {received[:200]!r}"
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except ConnectionResetError:  # closed while the client was still sending
            return received
        except TimeoutError:
            continue  # the assertion above reports it
        if not data:
            return received
        received += data


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one HTTP/1.1 response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def send_until_refused(sock: socket.socket, head: bytes, size: int) -> int:
    """``head``, then ``size`` bytes of header value in 64 KiB chunks, until all is sent or
    the server closes the connection; the bytes of value sent."""
    chunk = b"a" * 65536
    sent = 0
    try:
        sock.sendall(head)
        while sent < size:
            sock.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


def trickle(sock: socket.socket, data: bytes, every: float = 0.05) -> None:
    """Send ``data`` a byte at a time, one every ``every`` seconds, until the server answers
    or closes, the bytes run out, or the server's timeout and the grace have passed."""
    deadline = time.monotonic() + TIMEOUT + GRACE
    for byte in data:
        if select.select([sock], [], [], every)[0] or time.monotonic() > deadline:
            return  # an answer, or the end of the connection, is there to read
        try:
            sock.send(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return


def read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length, leaving the connection open."""
    sock.settimeout(GRACE)
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    length = int(parse(received)[1]["content-length"])
    while len(received.partition(b"\r\n\r\n")[2]) < length:
        received += sock.recv(65536)
    return received


def test_a_10_mb_header_is_answered_431_and_the_connection_closed(server: LiveApi) -> None:
    with connect(server.url) as sock:
        head = b"GET /healthz HTTP/1.1\r\nHost: assay\r\nX-Request-ID: "
        sent = send_until_refused(sock, head, 10 * MB)
        status, headers, body = parse(read_until_closed(sock, within=GRACE))
    assert status == 431
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert orjson.loads(body) == {
        "detail": f"the request line and headers are larger than {LIMIT} bytes"
    }
    assert sent < 10 * MB, "the server read the whole header before refusing it"


def test_a_50_mb_header_is_not_held_in_memory(server: LiveApi) -> None:
    """The server (a thread of this process) refuses the header at the limit and closes the
    connection: the client cannot send the rest, and the process has not grown by it."""
    process = psutil.Process()
    before = process.memory_info().rss
    with connect(server.url) as sock:
        sent = send_until_refused(sock, b"GET /healthz HTTP/1.1\r\nHost: assay\r\nX-Big: ", 50 * MB)
        grown = process.memory_info().rss - before  # while the client still holds it open
        assert sent < 10 * MB, f"{sent} bytes of header were read: the connection stayed open"
        assert grown < 20 * MB, f"the process grew by {grown} bytes"
        assert parse(read_until_closed(sock, within=GRACE))[0] == 431


def test_a_head_of_exactly_the_limit_is_served_and_one_byte_more_is_not(
    server: LiveApi,
) -> None:
    def request(size: int) -> int:
        start = b"GET /healthz HTTP/1.1\r\nHost: assay\r\nConnection: close\r\nX-Filler: "
        end = b"\r\n\r\n"
        head = start + b"f" * (size - len(start) - len(end)) + end
        assert len(head) == size
        with connect(server.url) as sock:
            sock.sendall(head)
            return parse(read_until_closed(sock, within=GRACE))[0]

    assert request(LIMIT) == 200
    assert request(LIMIT + 1) == 431


def test_a_head_trickled_a_byte_at_a_time_is_cut_off_with_408(server: LiveApi) -> None:
    with connect(server.url) as sock:
        start = time.monotonic()
        trickle(sock, b"GET /healthz HTTP/1.1\r\nHost: assay\r\nX-Slow: " + b"s" * 1000)
        status, headers, body = parse(read_until_closed(sock, within=TIMEOUT + GRACE))
    assert time.monotonic() - start < TIMEOUT + GRACE
    assert status == 408
    assert headers["connection"] == "close"
    assert orjson.loads(body) == {"detail": "the request headers did not arrive within 1 s"}


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(server: LiveApi) -> None:
    with connect(server.url) as sock:
        assert read_until_closed(sock, within=TIMEOUT + GRACE) == b""


def test_a_body_trickled_a_byte_at_a_time_is_cut_off_with_408(
    server: LiveApi, caplog: pytest.LogCaptureFixture
) -> None:
    with connect(server.url) as sock:
        sock.sendall(
            b"POST /v1/screen HTTP/1.1\r\nHost: assay\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n"
        )
        trickle(sock, b" " * 1000)
        status, headers, body = parse(read_until_closed(sock, within=TIMEOUT + GRACE))
    assert status == 408
    assert headers["connection"] == "close"
    assert orjson.loads(body) == {"detail": "the request body did not arrive within 1 s"}
    # The handler learns the body will not come; it ends quietly, without a traceback in the
    # log per such request (which would let anyone flood the log).
    answered = httpx.get(f"{server.url}/healthz")  # the worker has moved on
    assert answered.status_code == 200
    assert not [r for r in caplog.records if "Exception in ASGI application" in r.getMessage()]


def _keyed_post(server: LiveApi, length: int) -> bytes:
    """The head of a POST to /healthz with a valid key (past the guard: the app answers 405
    without reading the body) and a body of ``length`` bytes to come."""
    key = server.auth("screening")["Authorization"]
    return (
        f"POST /healthz HTTP/1.1\r\nHost: assay\r\nAuthorization: {key}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def test_a_body_trickled_after_the_answer_is_cut_off_too(server: LiveApi) -> None:
    """The app answers (405) without reading the body; the client goes on trickling it."""
    with connect(server.url) as sock:
        sock.sendall(_keyed_post(server, 1000))
        assert parse(read_response(sock))[0] == 405
        trickle(sock, b"x" * 1000)
        assert read_until_closed(sock, within=GRACE) == b""  # closed, and no second answer


def test_a_connection_idle_after_an_early_answer_and_its_body_is_closed(server: LiveApi) -> None:
    """Answered (405) before its body was read, then sent the body: uvicorn's keep-alive
    timer, cancelled by the body's arrival, was never armed again."""
    with connect(server.url) as sock:
        sock.sendall(_keyed_post(server, 10))
        assert parse(read_response(sock))[0] == 405
        sock.sendall(b"0123456789")
        assert read_until_closed(sock, within=4.0) == b""


def test_an_idle_keepalive_connection_is_closed_after_its_timeout(server: LiveApi) -> None:
    with connect(server.url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: assay\r\n\r\n")
        assert parse(read_response(sock))[0] == 200
        # Within less than uvicorn's own default (5 s), which kept it open before.
        assert read_until_closed(sock, within=4.0) == b""


def test_answers_carry_a_date_and_no_server_banner(server: LiveApi) -> None:
    with connect(server.url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: assay\r\nConnection: close\r\n\r\n")
        status, headers, _ = parse(read_until_closed(sock, within=GRACE))
    assert status == 200
    assert "server" not in headers
    assert "date" in headers


def test_the_settings_reach_uvicorn() -> None:
    from assay.api.transport import BoundedHttpToolsProtocol, server_config  # noqa: PLC0415

    settings = Settings(
        max_header_bytes=4096,
        header_timeout_seconds=3,
        body_timeout_seconds=4,
        keepalive_timeout_seconds=2,
    )
    config = server_config("assay.api.app:create_app", settings, host="127.0.0.1", port=1)
    assert config.http is BoundedHttpToolsProtocol
    assert (config.max_header_bytes, config.header_timeout, config.body_timeout) == (4096, 3, 4)
    assert config.h11_max_incomplete_event_size == 4096
    assert config.timeout_keep_alive == 2
    assert config.server_header is False
    assert config.date_header is True


def test_assay_serve_workers_apply_the_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`assay serve --workers 2`: the limits travel to the worker processes."""
    monkeypatch.setenv("ASSAY_MAX_HEADER_BYTES", "4096")
    with assay_serve(tmp_path, "--workers", "2") as (url, _process):
        for _ in range(4):  # new connections: both workers, most likely, answer one
            with connect(url) as sock:
                sock.sendall(
                    b"GET /healthz HTTP/1.1\r\nHost: assay\r\nConnection: close\r\n"
                    b"X-Filler: " + b"f" * 5000 + b"\r\n\r\n"
                )
                status, headers, body = parse(read_until_closed(sock, within=GRACE))
            assert status == 431
            assert "server" not in headers
            assert b"4096 bytes" in body
