"""A long run against `assay serve`: 50,000 requests, and the server's memory stays flat."""

from __future__ import annotations

import http.client
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from tests.conftest import EXAMPLES
from tests.servers import assay_serve, create_key

BODIES = [p.read_bytes() for p in sorted(EXAMPLES.glob("*.json"))]
REQUESTS = 50_000
CLIENTS = 4


def _drive(url: str, key: str, count: int) -> int:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    ok = 0
    for n in range(count):
        connection.request(
            "POST",
            "/v1/screen",
            BODIES[n % len(BODIES)],
            {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        )
        response = connection.getresponse()
        response.read()
        ok += response.status == 200
    connection.close()
    return ok


def test_memory_stays_flat_over_fifty_thousand_requests(tmp_path: Path) -> None:
    key = create_key(tmp_path, "screening")
    with assay_serve(tmp_path) as (url, process):
        server = psutil.Process(process.pid)
        assert _drive(url, key, 3_000) == 3_000  # warm-up: caches, allocator pools, SQLite pages
        before = server.memory_info().rss
        with ThreadPoolExecutor(CLIENTS) as pool:
            answered = sum(
                pool.map(_drive, [url] * CLIENTS, [key] * CLIENTS, [REQUESTS // CLIENTS] * CLIENTS)
            )
        after = server.memory_info().rss
    assert answered == REQUESTS
    grown = after - before
    # 100 bytes kept per request would be 5 MB; the bound leaves room for allocator noise.
    assert grown < 8 * 1024 * 1024, f"server RSS grew {grown / 1e6:.1f} MB over {REQUESTS} requests"
