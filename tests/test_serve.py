"""`assay serve` as operators run it: several workers, one decision log, shared metrics."""

from __future__ import annotations

import http.client
import re
from pathlib import Path

import httpx
import psutil
from sqlalchemy import create_engine, make_url, text

from tests.conftest import EXAMPLES, empty_postgres, wait_for
from tests.servers import assay_serve, create_key

BODY = (EXAMPLES / "water-heavy.json").read_bytes()


def test_two_workers_share_the_log_and_the_metrics(tmp_path: Path) -> None:
    screening = {"Authorization": f"Bearer {create_key(tmp_path, 'screening')}"}
    analyst = {"Authorization": f"Bearer {create_key(tmp_path, 'author', 'analyst')}"}
    with assay_serve(tmp_path, "--workers", "2") as (url, _process):
        host, port = url.removeprefix("http://").split(":")
        for _ in range(120):  # a new connection each time, so both workers answer
            connection = http.client.HTTPConnection(host, int(port), timeout=30)
            connection.request(
                "POST", "/v1/screen", BODY, {"Content-Type": "application/json", **screening}
            )
            response = connection.getresponse()
            response.read()
            assert response.status == 200
            connection.close()
        metrics = httpx.get(f"{url}/metrics", headers=screening).text
        decisions = httpx.get(
            f"{url}/v1/decisions",
            params={"manifest_id": "EX-0002", "limit": 1000},
            headers=analyst,
        ).json()["decisions"]
    served = re.search(
        r'assay_http_requests_total\{method="POST",route="/v1/screen",status="200"\} (\S+)', metrics
    )
    assert served is not None and float(served.group(1)) == 120.0
    assert 'assay_screenings_total{channel="red"} 120.0' in metrics
    assert len(decisions) == 120
    assert len({d["decision_id"] for d in decisions}) == 120


def test_a_killed_server_keeps_every_decision_it_answered(tmp_path: Path) -> None:
    """SIGKILL mid-load, to the server, its workers and its decision writer at once (nothing
    drains): every decision whose answer reached the client is in the log once the service
    is back, and none twice."""
    screening = {"Authorization": f"Bearer {create_key(tmp_path, 'screening')}"}
    answered: list[str] = []
    with (
        assay_serve(tmp_path, "--workers", "2") as (url, process),
        httpx.Client(timeout=10) as client,
    ):
        for _ in range(300):
            response = client.post(
                f"{url}/v1/screen",
                content=BODY,
                headers={"Content-Type": "application/json", **screening},
            )
            assert response.status_code == 200
            answered.append(response.headers["X-Decision-ID"])
        server = psutil.Process(process.pid)
        family = server.children(recursive=True)
        for member in [*family, server]:
            member.kill()
        psutil.wait_procs(family)
        process.wait()
    database = create_engine(f"sqlite:///{tmp_path / 'assay.db'}")

    def stored() -> list[str]:
        with database.connect() as connection:
            return [row[0] for row in connection.execute(text("SELECT id FROM decisions"))]

    with assay_serve(tmp_path):  # its writer copies what the journal still holds
        wait_for(lambda: set(answered) <= set(stored()))
    assert sorted(stored()) == sorted(answered)
    database.dispose()


def test_the_database_password_is_never_printed(tmp_path: Path) -> None:
    url = empty_postgres()
    password = make_url(url).password
    assert password
    with assay_serve(tmp_path, "--database-url", url) as (served, process):
        assert process.stderr is not None
        banner = process.stderr.readline().decode()
        assert httpx.get(f"{served}/readyz").status_code == 200
    assert "decision log postgresql+psycopg://" in banner
    assert f":{password}@" not in banner and ":***@" in banner
