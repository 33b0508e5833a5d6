"""The repeat offenders in the service: a seizure recorded through the API (or the workbench)
makes the same party's next filing carry the rule's flag in its own answer, the alert is
listed by GET /v1/alerts, and a clean party's filing costs nothing more. On SQLite and
PostgreSQL, across workers and restarts, and alert for alert as the reference evaluator with
``Correlator.seize`` called at the same points of the stream."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, func, select

from assay.api.settings import Settings
from assay.engine.contracts import Manifest
from assay.engine.correlation.alerts import Alert
from assay.engine.correlation.entities import party_key
from assay.engine.correlation.evaluator import Correlator
from assay.engine.correlation.joining import Joiner
from assay.engine.correlation.rete import ReteGroupJudge
from assay.engine.correlation.seizures import SeizureIndex
from assay.engine.store.correlation import CorrelationStore
from assay.engine.store.database import (
    alerts,
    correlation_members,
    correlation_shipped,
)
from tests.conftest import empty_postgres, wait_for
from tests.correlation_support import ENRICHER
from tests.servers import LiveApi, assay_serve, create_key, live_api
from tests.test_repeat_offender import CONSIGNEE, OFFENDER, PACK, T0, YEAR, _manifest
from tests.ui_support import csrf_of, signed_in

JSON = {"Content-Type": "application/json"}
OFFENDERS = {OFFENDER.id, CONSIGNEE.id}


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = None if request.param == "sqlite" else empty_postgres()
    return Settings(data_dir=tmp_path, database_url=url)


def _screen(client: httpx.Client, manifest: Manifest) -> dict[str, Any]:
    answer = client.post("/v1/screen", content=manifest.model_dump_json(), headers=JSON)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def _offences(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["rule_id"]: f for f in result["flags"] if f["rule_id"] in OFFENDERS}


def _outcome(api: LiveApi, manifest_id: str, result: str = "seizure") -> None:
    answer = httpx.post(
        f"{api.url}/v1/outcomes",
        json={"manifest_id": manifest_id, "result": result},
        headers=api.auth("author"),
    )
    assert answer.status_code == 200, answer.text


def _offender_rows(api: LiveApi) -> int:
    with api.service.db.connect() as connection:
        query = select(func.count()).where(correlation_members.c.rule_id.in_(OFFENDERS))
        return int(connection.execute(query).scalar_one())


def test_a_seized_consignor_files_again_and_carries_the_flag(backend: Settings) -> None:
    with live_api(backend) as api, api.client() as client:
        assert _offences(_screen(client, _manifest("SEIZED", T0))) == {}
        _outcome(api, "SEIZED")
        again = _screen(client, _manifest("AGAIN", T0 + timedelta(days=30)))
        flags = _offences(again)
        assert set(flags) == OFFENDERS  # the seized manifest's consignor and consignee
        flag = flags[OFFENDER.id]
        assert (flag["severity"], flag["score"]) == (OFFENDER.severity, OFFENDER.score)
        evidence = flag["evidence"]
        seized = _manifest("SEIZED", T0)
        assert evidence["entity_key"] == f"consignor={party_key(seized.consignor)}"
        assert evidence["history.seizures"] == 1.0
        assert evidence["trigger_manifest_id"] == "AGAIN"
        assert "1 of its earlier manifests" in flag["explanation"]
        # The lane is decided over every flag; a repeat offender is never green.
        assert again["channel"] in ("yellow", "red")
        assert (again["risk_score"], again["channel"]) == PACK.lanes.decide(
            [(f["rule_id"], f["score"], f["severity"], f["role"]) for f in again["flags"]]
        )
        listed = httpx.get(
            f"{api.url}/v1/alerts",
            params={"rule_id": OFFENDER.id},
            headers=api.auth("reviewer"),
        ).json()["alerts"]
        assert [a["alert_id"] for a in listed] == [evidence["alert_id"]]
        assert listed[0]["manifest_ids"] == ["AGAIN"]

        # A clean consignor (and consignee) files: no flag, and no member row written.
        before = _offender_rows(api)
        clean = _manifest("CLEAN", T0 + timedelta(days=31), "SHENZHEN CLEAN", consignee="C2")
        assert _offences(_screen(client, clean)) == {}
        assert _offender_rows(api) == before

        # Another consignor, to the seized manifest's consignee: the consignee's rule alone.
        buyer = _manifest("TO-BUYER", T0 + timedelta(days=32), "SHENZHEN OTHER")
        flags = _offences(_screen(client, buyer))
        assert set(flags) == {CONSIGNEE.id}
        assert flags[CONSIGNEE.id]["evidence"]["entity_key"].startswith("consignee=")


def test_a_seizure_counts_for_365_days_to_the_microsecond(backend: Settings) -> None:
    with live_api(backend) as api, api.client() as client:
        for name in ("A", "B"):
            _screen(client, _manifest(f"SEIZED-{name}", T0, f"GANZHOU {name}", consignee=name))
            _outcome(api, f"SEIZED-{name}")
        on_time = _manifest("A-YEAR", T0 + YEAR, "GANZHOU A", consignee="A")
        late = _manifest(
            "B-YEAR", T0 + YEAR + timedelta(microseconds=1), "GANZHOU B", consignee="B"
        )
        assert set(_offences(_screen(client, on_time))) == OFFENDERS
        assert _offences(_screen(client, late)) == {}


def test_a_corrected_seizure_stops_counting_and_a_restart_keeps_the_record(
    backend: Settings,
) -> None:
    with live_api(backend) as api, api.client() as client:
        _screen(client, _manifest("SEIZED", T0))
        _outcome(api, "SEIZED")
    with live_api(backend) as api, api.client() as client:  # a new process: from the store
        assert set(_offences(_screen(client, _manifest("AFTER", T0 + YEAR / 2)))) == OFFENDERS
        _outcome(api, "SEIZED", "no_find")  # corrected: the latest outcome counts
        assert _offences(_screen(client, _manifest("LATER", T0 + YEAR / 2 + YEAR / 4))) == {}
    with live_api(backend) as api, api.client() as client:
        assert _offences(_screen(client, _manifest("LAST", T0 + YEAR - timedelta(1)))) == {}


def test_a_batch_counts_the_seizures_on_record(tmp_path: Path) -> None:
    with live_api(Settings(data_dir=tmp_path)) as api, api.client() as client:
        _screen(client, _manifest("SEIZED", T0))
        _outcome(api, "SEIZED")
        body = "[" + ",".join(
            m.model_dump_json()
            for m in (_manifest("B1", T0 + YEAR / 3), _manifest("B2", T0, "CLEAN", consignee="X"))
        )
        answer = client.post("/v1/screen/batch", content=body + "]", headers=JSON)
        assert [set(_offences(r)) for r in answer.json()] == [OFFENDERS, set()]


def test_a_seizure_recorded_in_the_workbench_counts_at_once(tmp_path: Path) -> None:
    with live_api(Settings(data_dir=tmp_path)) as api, api.client() as client:
        answer = client.post(
            "/v1/screen", content=_manifest("SEIZED", T0).model_dump_json(), headers=JSON
        )
        path = f"/ui/decisions/{answer.headers['x-decision-id']}"
        with signed_in(api, "reviewer") as reviewer:
            token = csrf_of(reviewer.get(path).text)
            done = reviewer.post(f"{path}/outcome", data={"csrf": token, "result": "seizure"})
            assert done.status_code == 303
        assert set(_offences(_screen(client, _manifest("AGAIN", T0 + YEAR / 2)))) == OFFENDERS


def test_an_outcome_recorded_by_one_worker_counts_in_the_others(tmp_path: Path) -> None:
    """Two workers: each request on a connection of its own, so both answer filings; once
    the seizure is recorded (by one of them), every later filing carries the flag."""
    screening = {"Authorization": f"Bearer {create_key(tmp_path, 'screening')}"}
    author = {"Authorization": f"Bearer {create_key(tmp_path, 'author')}"}
    with assay_serve(tmp_path, "--workers", "2") as (url, _process):

        def screen(manifest: Manifest) -> dict[str, Any]:
            answer = httpx.post(
                f"{url}/v1/screen",
                content=manifest.model_dump_json(),
                headers={**JSON, **screening},
            )
            assert answer.status_code == 200, answer.text
            found: dict[str, Any] = answer.json()
            return found

        screen(_manifest("SEIZED", T0))
        recorded = httpx.post(
            f"{url}/v1/outcomes",
            json={"manifest_id": "SEIZED", "result": "seizure"},
            headers=author,
        )
        assert recorded.status_code == 200, recorded.text
        filings = iter(range(1, 10_000))

        def every_worker_counts_it() -> bool:
            return all(
                set(_offences(screen(_manifest(f"F{next(filings)}", T0 + YEAR / 2)))) == OFFENDERS
                for _ in range(8)
            )

        wait_for(every_worker_counts_it)


# ---------------------------------------------------------------- against the reference


# (consignor, consignee, hours after the previous filing, seize the filing this many back)
_events = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.integers(0, 2),
        st.sampled_from([0, 1, 5, 24 * 30, 24 * 200, 24 * 365]),
        st.none() | st.integers(0, 3),
    ),
    min_size=1,
    max_size=14,
)


def _ids(found: list[Alert]) -> list[tuple[str, str, str, float | None]]:
    return sorted(
        (a.alert_id, a.rule_id, a.trigger_manifest_id, a.measures.get("history.seizures"))
        for a in found
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(_events)
def test_the_service_stage_raises_the_reference_alerts_with_seizures_on_a_live_stream(
    db: Engine, events: list[tuple[int, int, int, int | None]]
) -> None:
    """Seizures recorded at points of a stream in filed_at order: the store-backed stage
    (asking the seizure index) raises the alert ids the reference raises when
    ``Correlator.seize`` is called at the same points."""
    with db.begin() as connection:
        for table in (correlation_members, correlation_shipped, alerts):
            connection.execute(delete(table))
    index = SeizureIndex()
    joiner = Joiner(PACK.correlations, PACK.lanes, index)
    store = CorrelationStore(db)
    reference = Correlator(PACK)
    expected: list[Alert] = []
    found: list[Alert] = []
    stream: list[Manifest] = []
    at = T0
    for n, (consignor, consignee, hours, back) in enumerate(events):
        at += timedelta(hours=hours)
        manifest = _manifest(f"M{n:02}", at, f"GANZHOU {consignor}", consignee=f"B{consignee}")
        stream.append(manifest)
        expected += reference.push(manifest)
        joining = joiner.joining(manifest, *ENRICHER.enrich(manifest, date(1970, 1, 1)))
        if joining is not None and joining.members:
            found += store.record(joining)
        elif joining is not None:
            store.note(joining)
        seized = None if back is None else stream[max(0, len(stream) - 1 - back)]
        # A manifest's outcome is one seizure, however often recorded (the latest counts);
        # Correlator.seize would count a second call twice.
        if seized is not None and seized.manifest_id not in index.seized():
            reference.seize(seized)
            index.replace([seized])
    assert _ids(found) == _ids(expected)


def test_under_the_rete_engine_the_repeat_offenders_are_judged_with_their_seizures(
    db: Engine,
) -> None:
    """``--engine rete``: durable_rules holds no seizures, so ReteGroupJudge judges the rules
    reading them with the reference's measures, the seizure count included."""
    with db.begin() as connection:
        for table in (correlation_members, correlation_shipped, alerts):
            connection.execute(delete(table))
    index = SeizureIndex()
    joiner = Joiner(PACK.correlations, PACK.lanes, index)
    store = CorrelationStore(db, judge=ReteGroupJudge())
    reference = Correlator(PACK)
    seized, again = _manifest("SEIZED", T0), _manifest("AGAIN", T0 + YEAR)
    found: list[Alert] = []
    expected = reference.push(seized)
    reference.seize(seized)
    index.replace([seized])
    expected += reference.push(again)
    for manifest in (seized, again):
        joining = joiner.joining(manifest, *ENRICHER.enrich(manifest, date(1970, 1, 1)))
        if joining is not None and joining.members:
            found += store.record(joining)
    assert {a.rule_id for a in found} == OFFENDERS
    assert _ids(found) == _ids(expected)


def test_a_clean_partys_filing_joins_no_repeat_offender_group() -> None:
    """Every filing would be a member of the repeat offenders' groups in the reference; the
    joiner asks the seizure index first, so a filing by a party with no seizure joins none
    (and goes to no store transaction for them)."""
    index = SeizureIndex()
    joiner = Joiner(PACK.correlations, PACK.lanes, index)
    seized = _manifest("SEIZED", T0)
    index.replace([seized])
    clean = _manifest("CLEAN", T0 + timedelta(days=1), "SHENZHEN CLEAN", consignee="C2")
    joining = joiner.joining(clean, *ENRICHER.enrich(clean, date(1970, 1, 1)))
    assert joining is None or not {m.rule.id for m in joining.members} & OFFENDERS
    again = _manifest("AGAIN", T0 + timedelta(days=1))
    joining = joiner.joining(again, *ENRICHER.enrich(again, date(1970, 1, 1)))
    assert joining is not None
    assert {(m.rule.id, m.seizures) for m in joining.members} == {
        (OFFENDER.id, 1),
        (CONSIGNEE.id, 1),
    }
    # The seized manifest itself never counts its own seizure.
    joining = joiner.joining(seized, *ENRICHER.enrich(seized, date(1970, 1, 1)))
    assert joining is None or not {m.rule.id for m in joining.members} & OFFENDERS
