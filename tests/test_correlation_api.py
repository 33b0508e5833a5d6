"""Correlation in the service: the manifest that completes a pattern carries its flag in its
own answer and decision, alerts are listed by GET /v1/alerts, and the windows live in the
store, so a restart or several workers change nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, select
from sqlalchemy.exc import OperationalError

from assay.api.settings import Settings
from assay.engine.contracts import Manifest
from assay.engine.correlation.evaluator import correlate
from assay.engine.store.database import alerts
from tests.browser import browsing, shoot
from tests.conftest import empty_postgres
from tests.servers import assay_serve, create_key, live_api
from tests.test_correlation import PACK, SPLIT, T0, _manifest
from tests.ui_support import signed_in

JSON = {"Content-Type": "application/json"}


def _parcels(prefix: str, consignor: str = "SHENZHEN A", hours: int = 8) -> list[Manifest]:
    """Four small express parcels of solder paste from one consignor: the fourth completes
    the split-shipment pattern (4 within 48 h)."""
    return [
        _manifest(f"{prefix}-{n}", T0 + timedelta(hours=hours * n), consignor) for n in range(4)
    ]


def _body(manifest: Manifest) -> bytes:
    return manifest.model_dump_json().encode()


def _split(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [flag for flag in result["flags"] if flag["rule_id"] == SPLIT.id]


def _screen(client: httpx.Client, manifests: list[Manifest]) -> list[httpx.Response]:
    answers = [client.post("/v1/screen", content=_body(m), headers=JSON) for m in manifests]
    assert all(answer.status_code == 200 for answer in answers), answers[-1].text
    return answers


def test_the_completing_manifest_carries_the_flag_and_the_alert_is_listed(
    tmp_path: Path,
) -> None:
    with live_api(Settings(data_dir=tmp_path)) as api, api.client() as client:
        answers = _screen(client, _parcels("SPLIT"))
        results = [answer.json() for answer in answers]
        assert [len(_split(result)) for result in results] == [0, 0, 0, 1]
        [flag] = _split(results[3])
        assert flag["pattern"] == "split_shipment"
        assert (flag["severity"], flag["score"]) == (SPLIT.severity, SPLIT.score)
        assert flag["evidence"]["manifest_ids"] == ["SPLIT-0", "SPLIT-1", "SPLIT-2"]
        assert "filed 4 express or postal parcels" in flag["explanation"]
        # The lane is decided over every flag, the correlation flag included.
        flags = results[3]["flags"]
        assert (results[3]["risk_score"], results[3]["channel"]) == PACK.lanes.decide(
            [(f["rule_id"], f["score"], f["severity"], f["role"]) for f in flags]
        )
        assert results[3]["risk_score"] > results[2]["risk_score"]

        reviewer = api.auth("reviewer")
        decision_id = answers[3].headers["x-decision-id"]
        logged = client.get(f"/v1/decisions/{decision_id}", headers=reviewer).json()
        assert [f["rule_id"] for f in logged["flags"]] == [f["rule_id"] for f in flags]
        assert logged["channel"] == results[3]["channel"]

        listed = client.get("/v1/alerts", headers=reviewer)
        assert listed.status_code == 200, listed.text
        [alert] = listed.json()["alerts"]
        assert alert["alert_id"] == flag["evidence"]["alert_id"]
        assert alert["manifest_ids"] == ["SPLIT-0", "SPLIT-1", "SPLIT-2", "SPLIT-3"]
        assert alert["decision_id"] == decision_id
        assert alert["links"]["decision"] == f"/v1/decisions/{decision_id}"
        assert alert["links"]["manifests"][0] == "/v1/decisions?manifest_id=SPLIT-0"
        assert client.get(alert["links"]["decision"], headers=reviewer).status_code == 200

        def count(**params: str) -> int:
            found = client.get("/v1/alerts", params=params, headers=api.auth("author"))
            assert found.status_code == 200, found.text
            return len(found.json()["alerts"])

        assert count(rule_id=SPLIT.id) == 1
        assert count(rule_id="volume-jump-controlled-heading") == 0
        assert count(entity=alert["entity_key"]) == 1 and count(entity="consignor=XX/1") == 0
        assert count(since="2026-10-02T00:00:00Z", until="2026-10-02T00:00:00Z") == 1
        assert count(since="2026-10-02T00:00:01Z") == 0
        assert count(until="2026-10-01T23:59:59Z") == 0
        assert client.get("/v1/alerts").status_code == 403  # screening keys cannot

        # A retry of the completing manifest answers the same and stores no second alert.
        again = _screen(client, _parcels("SPLIT")[3:])[0].json()
        assert _split(again) == [flag]
        assert count() == 1


def test_a_batch_correlates_in_its_order(tmp_path: Path) -> None:
    with live_api(Settings(data_dir=tmp_path)) as api, api.client() as client:
        body = b"[" + b",".join(_body(m) for m in _parcels("BATCH")) + b"]"
        answer = client.post("/v1/screen/batch", content=body, headers=JSON)
        assert answer.status_code == 200, answer.text
        assert [len(_split(result)) for result in answer.json()] == [0, 0, 0, 1]


def test_a_restart_in_the_middle_of_a_burst_still_alerts(tmp_path: Path) -> None:
    parcels = _parcels("BURST")
    with live_api(Settings(data_dir=tmp_path)) as api, api.client() as client:
        assert [_split(a.json()) for a in _screen(client, parcels[:2])] == [[], []]
    with live_api(Settings(data_dir=tmp_path)) as api, api.client() as client:
        later = [answer.json() for answer in _screen(client, parcels[2:])]
        assert [len(_split(result)) for result in later] == [0, 1]
        assert _split(later[1])[0]["evidence"]["manifest_ids"] == ["BURST-0", "BURST-1", "BURST-2"]


def test_an_alert_a_late_manifest_undoes_is_listed_as_withdrawn(tmp_path: Path) -> None:
    """A volume jump alerted, then a manifest filed in its baseline window arrives: the alert
    stays listed, marked withdrawn by that manifest, and the standing list leaves it out."""
    tiles = {"mode": "sea", "hs_code": "690721"}
    base = _manifest("VJ-BASE", T0, "TILE EXPORTER", kg=100, **tiles)
    jump = _manifest("VJ-JUMP", T0 + timedelta(days=60), "TILE EXPORTER", kg=1500, **tiles)
    late = _manifest("VJ-LATE", T0 + timedelta(days=20), "TILE EXPORTER", kg=200, **tiles)
    with live_api(Settings(data_dir=tmp_path)) as api, api.client() as client:
        results = [answer.json() for answer in _screen(client, [base, jump, late])]
        jumped = [f for f in results[1]["flags"] if f["pattern"] == "volume_jump"]
        assert len(jumped) == 1
        reviewer = api.auth("reviewer")
        [alert] = client.get("/v1/alerts", headers=reviewer).json()["alerts"]
        assert alert["alert_id"] == jumped[0]["evidence"]["alert_id"]
        assert alert["withdrawn_by"] == "VJ-LATE" and alert["withdrawn_at"] is not None
        standing = client.get("/v1/alerts", params={"withdrawn": "false"}, headers=reviewer)
        assert standing.json()["alerts"] == []
        withdrawn = client.get("/v1/alerts", params={"withdrawn": "true"}, headers=reviewer)
        assert [a["alert_id"] for a in withdrawn.json()["alerts"]] == [alert["alert_id"]]


def _alert_lines(url: str, key: str) -> list[tuple[str, tuple[str, ...]]]:
    found = httpx.get(
        f"{url}/v1/alerts", params={"limit": 1000}, headers={"Authorization": f"Bearer {key}"}
    )
    assert found.status_code == 200, found.text
    return sorted((a["alert_id"], tuple(a["manifest_ids"])) for a in found.json()["alerts"])


@pytest.mark.parametrize(
    ("database", "workers"),
    [("sqlite", 1), ("sqlite", 2), ("postgresql", 1), ("postgresql", 2)],
)
def test_n_workers_give_the_alerts_of_one(tmp_path: Path, database: str, workers: int) -> None:
    """Three consignors' bursts interleaved, each request on a connection of its own (so the
    workers share them): the alerts are the reference evaluator's, whatever the workers, on
    the embedded SQLite store and on PostgreSQL (where the workers take turns per entity
    with advisory locks instead of SQLite's single writer)."""
    bursts = [_parcels(f"W{c}", f"CONSIGNOR {c}", hours=6 + c) for c in range(3)]
    stream = sorted((m for burst in bursts for m in burst), key=lambda m: m.filed_at or T0)
    expected = sorted((a.alert_id, a.manifest_ids) for a in correlate(PACK, stream))
    assert len(expected) >= 3
    env = {"ASSAY_DATABASE_URL": empty_postgres()} if database == "postgresql" else {}
    screening = create_key(tmp_path, "screening", env=env)
    reviewer = create_key(tmp_path, "reviewer", env=env)
    with assay_serve(tmp_path, "--workers", str(workers), env=env) as (url, _process):
        for manifest in stream:
            answer = httpx.post(
                f"{url}/v1/screen",
                content=_body(manifest),
                headers={**JSON, "Authorization": f"Bearer {screening}", "Connection": "close"},
            )
            assert answer.status_code == 200, answer.text
        assert _alert_lines(url, reviewer) == expected
    if database == "postgresql":  # the windows and alerts were in PostgreSQL, not a file
        held = create_engine(env["ASSAY_DATABASE_URL"])
        with held.connect() as connection:
            stored = connection.execute(select(alerts.c.alert_id)).scalars().all()
        held.dispose()
        assert sorted(stored) == [alert_id for alert_id, _ in expected]


def test_the_alerts_endpoint_is_in_the_openapi(tmp_path: Path) -> None:
    with live_api(Settings(data_dir=tmp_path)) as api:
        spec = httpx.get(f"{api.url}/openapi.json").json()
        operation = spec["paths"]["/v1/alerts"]["get"]
        assert {p["name"] for p in operation["parameters"]} >= {
            "rule_id",
            "entity",
            "since",
            "until",
            "limit",
        }


def test_a_database_that_does_not_answer_leaves_screening_without_correlation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def down(*_: object) -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))

    with live_api(Settings(data_dir=tmp_path)) as api, api.client() as client:
        monkeypatch.setattr(api.service.correlation, "record", down)
        answer = client.post("/v1/screen", content=_body(_parcels("DOWN")[0]), headers=JSON)
        assert answer.status_code == 200
        assert _split(answer.json()) == []  # answered, with the manifest rules alone
    assert "DOWN-0 was screened without its correlation rules" in caplog.text


def test_under_the_rete_engine_durable_rules_judges_the_split_shipment(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`--engine rete`: the store-backed stage asks durable_rules whether a group completes
    the sequence pattern; the answer and the alert are the compiled service's."""
    with live_api(Settings(data_dir=tmp_path, engine="rete")) as api, api.client() as client:
        assert type(api.service.correlation._judge).__name__ == "ReteGroupJudge"
        results = [answer.json() for answer in _screen(client, _parcels("RETE"))]
        assert [len(_split(result)) for result in results] == [0, 0, 0, 1]
        [flag] = _split(results[3])
        expected = [a for a in correlate(PACK, _parcels("RETE")) if a.rule_id == SPLIT.id]
        assert flag["evidence"]["alert_id"] == expected[0].alert_id
        assert flag["explanation"] == expected[0].explanation


def test_the_workbench_lists_correlation_rules_with_their_hits(tmp_path: Path) -> None:
    """An analyst finds the split-shipment rule among the rules, with its hit and the
    sentence of the manifest that completed it."""
    with live_api(Settings(data_dir=tmp_path)) as api, api.client() as client:
        _screen(client, _parcels("UI"))
        # The pages wait for the decision writer up to 2 s; a loaded machine may need more.
        assert api.service.log.caught_up(timeout=60)
        with signed_in(api, "reviewer") as reviewer:
            listing = reviewer.get("/ui/rules", params={"pattern": "split_shipment"})
            assert listing.status_code == 200
            row = listing.text.split('href="/ui/rules/split-shipment-small-parcels"')[1]
            cells = re.findall(r'<td class="num">\s*([^<]*?)\s*</td>', row.split("</tr>")[0])
            assert cells[:3] == ["50", "1", "1"]  # score, hits in 7 and in 30 days
            page = reviewer.get("/ui/rules/split-shipment-small-parcels")
            assert page.status_code == 200
            assert "correlation: consignor within 48h" in page.text
            assert "group.count &gt;= params.min_parcels" in page.text
            assert "filed 4 express or postal parcels" in page.text  # its recent hit


def test_an_analyst_reads_the_alerts_in_the_workbench(tmp_path: Path) -> None:
    """The Alerts page lists what the correlation rules raised, filters by rule and entity,
    and leads to the decision that completed each alert."""
    with live_api(Settings(data_dir=tmp_path)) as api, browsing(api.url) as browser:
        page = browser.page()
        browser.sign_in(page, api.service.keys.create("reviewer", "Rui Reviewer"), "/ui/alerts")
        expect(page.get_by_text("No alerts yet")).to_be_visible()
        shoot(page, "alerts-empty", tablet=False)
        with api.client() as client:
            _screen(client, _parcels("ALERT"))
        page.reload()
        row = page.locator("table.alerts tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("filed 4 express or postal parcels")
        expect(row.get_by_role("link", name="ALERT-0")).to_be_visible()
        shoot(page, "alerts")
        page.get_by_label("Rule").select_option("volume-jump-controlled-heading")
        page.get_by_role("button", name="Show").click()
        expect(page.get_by_text("No alert matches these filters.")).to_be_visible()
        page.get_by_role("link", name="Show all").click()
        page.get_by_role("link", name="The decision that completed it").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("ALERT-3")
        # A volume jump that a late manifest undid is shown withdrawn, naming it.
        tiles = {"mode": "sea", "hs_code": "690721"}
        with api.client() as client:
            _screen(
                client,
                [
                    _manifest("VJ-BASE", T0, "TILE EXPORTER", kg=100, **tiles),
                    _manifest(
                        "VJ-JUMP", T0 + timedelta(days=60), "TILE EXPORTER", kg=1500, **tiles
                    ),
                    _manifest("VJ-LATE", T0 + timedelta(days=20), "TILE EXPORTER", kg=200, **tiles),
                ],
            )
        page.goto(f"{api.url}/ui/alerts?rule_id=volume-jump-controlled-heading")
        withdrawn = page.locator("table.alerts tbody tr")
        expect(withdrawn).to_have_count(1)
        expect(withdrawn).to_contain_text("withdrawn")
        expect(withdrawn).to_contain_text("VJ-LATE, filed earlier, arrived later")
        shoot(page, "alerts-withdrawn", tablet=False)
    browser.assert_clean()
