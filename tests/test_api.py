"""The screening service over real HTTP: contracts, errors, decision log, metrics, load."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from typer.testing import CliRunner

from assay.api.settings import Settings
from assay.cli.main import app as cli
from assay.engine.store.journal import Status
from tests.conftest import EXAMPLES, placeless, wait_for
from tests.servers import LiveApi, live_api

JSON = {"content-type": "application/json"}
SAMPLES = {p.stem: p.read_bytes() for p in sorted(EXAMPLES.glob("*.json"))}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    data = tmp_path_factory.mktemp("api-data")
    with live_api(Settings(data_dir=data, max_body_bytes=64 * 1024)) as server:
        yield server


@pytest.fixture
def client(api: LiveApi) -> Iterator[httpx.Client]:
    with api.client("screening") as session:
        yield session


def _without_time(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "elapsed_ms"}


def test_screen_answers_what_the_cli_prints(client: httpx.Client) -> None:
    for name, body in SAMPLES.items():
        answer = client.post("/v1/screen", content=body, headers=JSON)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        printed = CliRunner().invoke(cli, ["screen", str(EXAMPLES / f"{name}.json")])
        # The CLI's line is the answer after where its record was (position, file, line).
        (line,) = placeless([json.loads(printed.stdout)])
        served, screened = _without_time(answer.json()), _without_time(line)
        # The service screens with the rule store's version 1; the CLI with a pack directory.
        assert (served["ruleset"]["version_id"], screened["ruleset"]["version_id"]) == (1, None)
        served["ruleset"]["version_id"] = None
        assert served == screened, name


def test_every_decision_is_logged_with_its_input(client: httpx.Client, api: LiveApi) -> None:
    analyst = api.auth("reviewer")
    body = SAMPLES["water-heavy"]
    answer = client.post("/v1/screen", content=body, headers={**JSON, "X-Request-ID": "req-42"})
    decision_id = answer.headers["x-decision-id"]
    assert answer.headers["x-request-id"] == "req-42"
    logged = client.get(f"/v1/decisions/{decision_id}", headers=analyst).json()
    assert logged["input_sha256"] == hashlib.sha256(body).hexdigest()
    assert logged["input"] == json.loads(body)
    assert logged["request_id"] == "req-42"
    assert logged["channel"] == answer.json()["channel"] == "red"
    assert logged["ruleset"] == answer.json()["ruleset"]
    assert [f["rule_id"] for f in logged["flags"]] == [f["rule_id"] for f in answer.json()["flags"]]
    found = client.get("/v1/decisions", params={"manifest_id": "EX-0002"}, headers=analyst)
    listed = found.json()["decisions"]
    assert decision_id in [d["decision_id"] for d in listed]
    assert listed == sorted(listed, key=lambda d: d["decision_id"], reverse=True)
    assert client.get("/v1/decisions/0000", headers=analyst).status_code == 404
    assert client.get("/v1/decisions", headers=analyst).status_code == 422  # manifest_id required
    assert client.get(f"/v1/decisions/{decision_id}").status_code == 403  # screening keys cannot


def test_batch_keeps_order_and_isolates_errors(client: httpx.Client) -> None:
    good = [json.loads(SAMPLES[name]) for name in ("clean-tiles", "water-heavy")]
    bad = dict(good[0], manifest_id="BAD-1", country_of_export="XX")
    answer = client.post("/v1/screen/batch", json=[good[0], bad, "nope", good[1]])
    assert answer.status_code == 200
    entries = answer.json()
    assert [e.get("manifest_id") for e in entries] == ["EX-0001", None, None, "EX-0002"]
    assert entries[1]["error"]["manifest_id"] == "BAD-1"
    assert entries[1]["error"]["errors"][0]["field"] == "country_of_export"
    assert entries[2]["error"]["position"] == 3
    too_many = client.post("/v1/screen/batch", json=[good[0]] * 1001)
    assert too_many.status_code in (413, 422)  # 413 when the body limit is the smaller one
    assert client.post("/v1/screen/batch", json={"not": "a list"}).status_code == 422


def test_batch_of_a_thousand(tmp_path: Path) -> None:
    good = json.loads(SAMPLES["clean-tiles"])
    with live_api(Settings(data_dir=tmp_path)) as server, server.client() as c:
        batch = [dict(good, manifest_id=f"B-{n}") for n in range(1000)]
        answer = c.post("/v1/screen/batch", json=batch, timeout=60)
        assert answer.status_code == 200
        assert [e["manifest_id"] for e in answer.json()] == [f"B-{n}" for n in range(1000)]
        assert c.post("/v1/screen/batch", json=[*batch, good]).status_code == 422


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (b'{"manifest_id": "X"}', ["body", "transport_mode"], "Field required"),
        (b"{not json", ["body"], "Invalid JSON"),
        (b"[]", ["body"], "Input should be an object"),
    ],
)
def test_invalid_body_is_422_naming_the_field(
    client: httpx.Client, body: bytes, field: list[str], message: str
) -> None:
    answer = client.post("/v1/screen", content=body, headers=JSON)
    assert answer.status_code == 422
    first = answer.json()["detail"][0]
    assert first["loc"] == field
    assert message in first["msg"]


def test_field_path_inside_items(client: httpx.Client) -> None:
    doc = json.loads(SAMPLES["water-heavy"])
    doc["items"][1]["gross_mass_kg"] = -5
    detail = client.post("/v1/screen", json=doc).json()["detail"]
    assert detail[0]["loc"] == ["body", "items", 1, "gross_mass_kg"]
    assert detail[0]["msg"] == "Input should be greater than 0"


def test_size_type_and_route_errors(client: httpx.Client) -> None:
    big = b'{"pad": "' + b"x" * (70 * 1024) + b'"}'
    assert client.post("/v1/screen", content=big, headers=JSON).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
        yield big[: len(big) // 2]
        yield big[len(big) // 2 :]

    assert client.post("/v1/screen", content=chunks(), headers=JSON).status_code == 413
    plain = {"content-type": "text/plain"}
    wrong = client.post("/v1/screen", content=SAMPLES["water-heavy"], headers=plain)
    assert wrong.status_code == 415
    assert "application/json" in wrong.json()["detail"]
    assert client.get("/v1/nothing-here").status_code == 404
    assert client.get("/v1/screen").status_code == 405


def test_rules_endpoints(client: httpx.Client, default_pack: Any) -> None:
    listing = client.get("/v1/rules").json()
    assert (listing["name"], listing["version"], listing["sha256"]) == (
        default_pack.name,
        default_pack.version,
        default_pack.sha256,
    )
    assert len(listing["rules"]) == len(default_pack.rules) + len(default_pack.correlations)
    split = next(r for r in listing["rules"] if r["id"] == "split-shipment-small-parcels")
    assert split["scope"] == "correlation: consignor within 48h"
    assert listing["lanes"] == {"yellow_at": 25, "red_at": 60, "red_severities": ["critical"]}
    one = client.get("/v1/rules/water-pet-too-heavy").json()
    assert one["pattern"] == "bottled_water_concealment"
    assert "item.kg_per_litre > params.max_kg_per_litre" in one["source"]
    assert one["params"] == {"max_kg_per_litre": 1.25}
    assert client.get("/v1/rules/no-such-rule").status_code == 404
    grouped = client.get("/v1/rules/split-shipment-small-parcels").json()
    assert grouped["when"].startswith("each: manifest.transport_mode in")
    assert "alert_when: group.count >= params.min_parcels" in grouped["when"]
    assert grouped["source"].startswith("# A correlation rule")


def test_health_ready_and_metrics(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["decision_log"] == "writable"
    client.post("/v1/screen", content=SAMPLES["water-heavy"], headers=JSON)
    assert client.get("/metrics", headers={"Authorization": ""}).status_code == 401
    text = client.get("/metrics").text
    assert 'assay_http_requests_total{method="POST",route="/v1/screen",status="200"}' in text
    assert 'assay_http_request_duration_seconds_bucket{le="0.01",route="/v1/screen"}' in text
    flag = 'assay_flags_total{pattern="bottled_water_concealment",rule_id="water-pet-too-heavy"}'
    assert flag in text
    assert 'assay_screenings_total{channel="red"}' in text


def test_openapi_shows_the_real_contracts(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/v1/screen"]["post"]
    body = post["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/Manifest"}
    assert set(body["examples"]) == set(SAMPLES)
    assert post["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ScreeningResult"
    }
    schemas = spec["components"]["schemas"]
    assert {"Manifest", "GoodsItem", "Party", "ScreeningResult", "Flag"} <= set(schemas)
    assert "gross_mass_kg" in schemas["GoodsItem"]["required"]
    assert client.get("/docs").status_code == 200


def test_concurrent_clients_get_the_sequential_answers(client: httpx.Client, api: LiveApi) -> None:
    expected = {
        name: _without_time(client.post("/v1/screen", content=body, headers=JSON).json())
        for name, body in SAMPLES.items()
    }
    names = list(SAMPLES)
    key = api.auth("screening", "border-system")

    def worker(offset: int) -> list[tuple[str, dict[str, Any]]]:
        # One keep-alive connection per client, as a border system's HTTP pool would hold.
        out = []
        with httpx.Client(base_url=api.url, timeout=60, headers=key) as session:
            for n in range(offset, 1_280, 32):
                name = names[n % len(names)]
                answer = session.post("/v1/screen", content=SAMPLES[name], headers=JSON)
                assert answer.status_code == 200
                out.append((name, _without_time(answer.json())))
        return out

    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = [pair for chunk in pool.map(worker, range(32)) for pair in chunk]
    assert len(answers) == 1_280
    assert all(answer == expected[name] for name, answer in answers)


def test_a_database_refusing_decisions_delays_them_and_503_past_the_backlog_limit(
    tmp_path: Path,
) -> None:
    """Answers go on while the database refuses (the journal keeps every decision, readable
    through the API); past the backlog limit screening answers 503 rather than answer
    unlogged; once the database accepts again, everything answered is stored."""
    refuse = (
        "CREATE TRIGGER refuse BEFORE INSERT ON decisions"
        " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    )
    settings = Settings(data_dir=tmp_path, journal_backlog_bytes=20_000)
    with live_api(settings) as server, server.client() as c, server.client("author") as author:
        answered = [c.post("/v1/screen", content=SAMPLES["water-heavy"], headers=JSON)]
        database = sqlite3.connect(tmp_path / "assay.db")
        database.execute(refuse)  # the writer's next commits fail
        database.commit()
        answered += [
            c.post("/v1/screen", content=SAMPLES["water-heavy"], headers=JSON) for _ in range(7)
        ]
        assert [answer.status_code for answer in answered] == [200] * 8
        ids = [answer.headers["X-Decision-ID"] for answer in answered]
        assert author.get(f"/v1/decisions/{ids[-1]}").json()["manifest_id"] == "EX-0002"
        directory = settings.resolved_journal_dir()

        def behind() -> bool:
            status = Status.read(directory)
            return status is not None and status.backlog > 20_000

        wait_for(behind)
        time.sleep(0.6)  # workers read the writer's status every half second
        refused = c.post("/v1/screen", content=SAMPLES["water-heavy"], headers=JSON)
        assert refused.status_code == 503
        assert "decision log" in refused.json()["detail"]
        # The database's own words (hosts, users, tables) go to the log and administrators.
        assert "database or disk is full" not in refused.text
        ready = httpx.get(f"{server.url}/readyz")
        assert ready.status_code == 503 and "refusing" in ready.json()["decision_log"]
        assert "database or disk is full" not in ready.text and "details" not in ready.json()
        admin = c.get("/readyz", headers=server.auth("admin"))
        assert "database or disk is full" in admin.json()["details"]["decision_log"]
        database.execute("DROP TRIGGER refuse")
        database.commit()

        def stored() -> bool:
            rows = database.execute("SELECT id FROM decisions").fetchall()
            return {row[0] for row in rows} == set(ids)

        wait_for(stored)
        database.close()
        time.sleep(0.6)
        assert c.post("/v1/screen", content=SAMPLES["water-heavy"], headers=JSON).status_code == 200
        assert c.get("/readyz").json()["decision_log"] == "writable"


def test_a_killed_decision_writer_is_replaced_and_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL the process copying the journal into the database: screening goes on, a new
    one starts within seconds, and every decision answered meanwhile reaches the database."""
    settings = Settings(data_dir=tmp_path)
    directory = settings.resolved_journal_dir()
    with live_api(settings) as server, server.client() as c:
        wait_for(lambda: Status.read(directory) is not None)
        first = Status.read(directory)
        assert first is not None
        os.kill(first.pid, signal.SIGKILL)
        answers = [
            c.post("/v1/screen", content=SAMPLES["water-heavy"], headers=JSON) for _ in range(20)
        ]
        assert [answer.status_code for answer in answers] == [200] * 20
        ids = {answer.headers["X-Decision-ID"] for answer in answers}
        database = sqlite3.connect(tmp_path / "assay.db")

        def stored() -> bool:
            rows = database.execute("SELECT id FROM decisions").fetchall()
            return ids <= {row[0] for row in rows}

        wait_for(stored, seconds=30)
        database.close()

        def replaced() -> bool:
            now = Status.read(directory)
            return now is not None and now.pid != first.pid

        wait_for(replaced)


def test_a_failing_screening_is_a_500_with_a_json_body_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The screening endpoints' short way in (api.dispatch) leaves unexpected errors to the
    app's error handling, and still counts them under the route."""

    def broken(manifest: object) -> None:
        raise RuntimeError("the engine broke")

    with live_api(Settings(data_dir=tmp_path)) as server:
        monkeypatch.setattr(server.service.engine, "screen_joining", broken)
        with server.client() as c:
            answer = c.post("/v1/screen", content=SAMPLES["water-heavy"], headers=JSON)
        assert answer.status_code == 500
        # Nothing of the code (classes, messages, paths) reaches the client; headers still do.
        assert answer.json() == {"detail": "internal error; the service's log has the details"}
        assert "RuntimeError" not in answer.text and "engine broke" not in answer.text
        assert answer.headers["x-content-type-options"] == "nosniff"
        with server.client() as fresh:  # uvicorn closes a connection whose request raised
            metrics = fresh.get("/metrics").text
    assert 'assay_http_requests_total{method="POST",route="/v1/screen",status="500"} 1.0' in metrics


@pytest.mark.parametrize("enabled", [False, True])
def test_opentelemetry_is_looked_for_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    """Off (the default), answering never looks up OpenTelemetry's providers (FastAPI's
    native telemetry costs ~9 µs a request doing so); on (ASSAY_OPENTELEMETRY), every request
    does, and traces would go to the provider the operator configured."""
    looked: list[str] = []
    original = trace.get_tracer_provider

    def get_tracer_provider() -> trace.TracerProvider:
        looked.append("tracer")
        return original()

    monkeypatch.setattr(trace, "get_tracer_provider", get_tracer_provider)
    settings = Settings(data_dir=tmp_path, opentelemetry=enabled)
    with live_api(settings) as server, server.client() as c:
        for _ in range(3):
            assert c.get("/healthz").status_code == 200
    assert len(looked) >= 3 if enabled else looked == []
