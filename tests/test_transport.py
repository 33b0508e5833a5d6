"""What one connection may cost the service, tried as an attacker tries it: raw sockets
against a real uvicorn on loopback, configured as `assay serve` configures it.

The server here has 1-second timeouts so that the slow attacks are quick to run; the bounds
the tests allow are generous (the timeout plus seconds), and none asserts a speed."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from api.settings import Settings
from tests.servers import LiveApi, live_api

TIMEOUT = 1.0  # the shared server's keep-alive timeout
GRACE = 5.0  # how much later than its timeout a connection may close and still pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("transport"),
        keepalive_timeout_seconds=int(TIMEOUT),
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
    from api.transport import server_config  # noqa: PLC0415

    settings = Settings(keepalive_timeout_seconds=2)
    config = server_config("api.app:create_app", settings, host="127.0.0.1", port=1)
    assert config.timeout_keep_alive == 2
    assert config.server_header is False
    assert config.date_header is True
