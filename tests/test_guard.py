"""Every route checks the key before it reads a body, bounds the body, and answers with the
security headers (api/guard.py). The attacks of the security review are the inputs."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assay.api.settings import Settings
from tests.conftest import EXAMPLES
from tests.servers import LiveApi, live_api

DRAFT_FILE = "/v1/rulesets/2/files/water/extra.yaml"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("guard"), max_request_bytes=64 * 1024)
    with live_api(settings) as server:
        with server.client("author", "alice") as alice:
            assert alice.post("/v1/rulesets/1/drafts").json()["id"] == 2
        yield server


def _head(api: LiveApi, method: str, path: str, headers: dict[str, str]) -> socket.socket:
    """A connection that has sent a request's head and none of its body."""
    port = int(api.url.rsplit(":", 1)[1])
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return conn


def _answer(conn: socket.socket) -> tuple[int, bytes]:
    """The status and raw text of the first answer on ``conn`` (up to 64 KiB)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    conn.close()
    return int(data.split(b" ", 2)[1]), data


def test_a_large_body_without_a_key_gets_401_before_any_of_it_is_sent(api: LiveApi) -> None:
    """A 23 MB body to a draft-file route without a key was read and parsed (494 MB in the
    worker, /healthz held for 2.5 s) before the 401. Now the 401 comes after the head alone:
    the client has not sent a byte of the body when it is answered."""
    conn = _head(
        api,
        "PUT",
        DRAFT_FILE,
        {"Content-Type": "application/json", "Content-Length": str(23 * 1024 * 1024)},
    )
    status, raw = _answer(conn)
    assert status == 401 and b"an API key is required" in raw
    assert b"x-content-type-options: nosniff" in raw.lower()


def test_a_body_over_the_limit_gets_413_at_once_with_a_valid_key(api: LiveApi) -> None:
    key = api.auth("author", "alice")["Authorization"]
    conn = _head(
        api,
        "PUT",
        DRAFT_FILE,
        {"Authorization": key, "Content-Type": "application/json", "Content-Length": "70000"},
    )
    status, raw = _answer(conn)
    assert status == 413 and b"larger than 65536 bytes" in raw


def test_a_streamed_body_is_cut_off_at_the_limit(api: LiveApi) -> None:
    """A chunked body declares no length: it is counted as it arrives and refused once it
    passes the limit, long before the client has sent it all."""
    key = api.auth("author", "alice")["Authorization"]
    conn = _head(
        api,
        "PUT",
        DRAFT_FILE,
        {"Authorization": key, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    chunk = b'{"source": "' + b"a" * 16_000
    sent = 0
    conn.settimeout(0.2)
    answered = b""
    while sent < 4 * 1024 * 1024 and not answered:
        try:
            conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        except OSError:  # the server closed the connection after its answer
            break
        sent += len(chunk)
        try:
            answered = conn.recv(65536)
        except TimeoutError:
            continue
    conn.settimeout(10)
    if not answered:
        answered = conn.recv(65536)
    assert answered.startswith(b"HTTP/1.1 413"), answered[:200]
    assert sent < 1024 * 1024  # refused after ~64 KiB, not after the whole body
    conn.close()


def test_a_body_within_the_limit_and_a_valid_key_reaches_the_route(api: LiveApi) -> None:
    with api.client("author", "alice") as alice:
        answer = alice.put(DRAFT_FILE, json={"source": "not: [a rule"})
    assert answer.status_code == 422 and "was not saved" in answer.json()["detail"]


def test_the_role_is_still_checked_by_the_route(api: LiveApi) -> None:
    with api.client("screening") as gate:
        answer = gate.put(DRAFT_FILE, json={"source": "id: x\n"})
    assert answer.status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "key", "status"),
    [
        ("GET", "/healthz", None, 200),
        ("GET", "/readyz", None, 200),
        ("POST", "/v1/screen", "screening", 200),
        ("POST", "/v1/screen", None, 401),
        ("GET", "/v1/rulesets", "author", 200),
        ("GET", "/v1/keys", "author", 403),
        ("GET", "/v1/nowhere", None, 404),
        ("GET", "/openapi.json", None, 200),
    ],
)
def test_every_answer_carries_the_security_headers(
    api: LiveApi, method: str, path: str, key: str | None, status: int
) -> None:
    headers = {"Content-Type": "application/json", **(api.auth(key) if key else {})}  # type: ignore[arg-type]
    body = (EXAMPLES / "water-heavy.json").read_bytes() if method == "POST" else None
    answer = httpx.request(method, api.url + path, headers=headers, content=body)
    assert answer.status_code == status
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in answer.headers  # plain HTTP here


def test_unauthenticated_answers_name_no_server_path(api: LiveApi, tmp_path: Path) -> None:
    ready = httpx.get(api.url + "/readyz").text
    data_dir = str(api.service.settings.data_dir)
    assert data_dir not in ready and "sqlite" not in ready.lower()
