"""The decision log on SQLite and PostgreSQL: append, read back, group commit, replay."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from api.settings import Settings
from engine import Engine, Manifest
from engine.replay import replay
from engine.ruleset import default_pack_dir, load_pack
from engine.store.decisions import DecisionLog, DecisionLogError, decision_row
from engine.store.writer import Checkpointer, DecisionWriter, SharedWriter
from tests.conftest import EXAMPLES, empty_postgres
from tests.servers import live_api

SAMPLES = {p.stem: p.read_bytes() for p in sorted(EXAMPLES.glob("*.json"))}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'assay.db'}"
        return
    yield empty_postgres()


def _rows(engine: Engine, names: list[str]) -> list[dict[str, object]]:
    out = []
    for name in names:
        body = SAMPLES[name]
        result = engine.screen(Manifest.model_validate_json(body))
        out.append(decision_row(body, result, request_id=f"r-{name}", source="cli"))
    return out


def _clean_tiles_logged(url: str) -> int:
    """How many decisions about the clean-tiles sample (EX-0001) the log at ``url`` holds."""
    log = DecisionLog(url)
    try:
        return len(log.for_manifest("EX-0001", limit=1000))
    finally:
        log.close()


def test_append_and_read_back(database_url: str, compiled_engine: Engine) -> None:
    log = DecisionLog(database_url)
    try:
        rows = _rows(compiled_engine, ["water-heavy", "clean-tiles", "water-heavy"])
        log.append(rows)
        found = log.get(str(rows[0]["id"]))
        assert found is not None
        assert found.manifest_id == "EX-0002" and found.channel == "red"
        assert found.request_id == "r-water-heavy" and found.source == "cli"
        assert found.created_at.tzinfo is not None
        assert found.input == json.loads(SAMPLES["water-heavy"])
        assert [f.rule_id for f in found.flags] == [
            f.rule_id
            for f in compiled_engine.screen(
                Manifest.model_validate_json(SAMPLES["water-heavy"])
            ).flags
        ]
        newest_first = log.for_manifest("EX-0002")
        assert [d.decision_id for d in newest_first] == [rows[2]["id"], rows[0]["id"]]
        window = list(log.between(datetime.now(UTC) - timedelta(minutes=5)))
        assert [d.decision_id for d in window] == [r["id"] for r in rows]
        assert list(log.between(datetime.now(UTC) + timedelta(minutes=5))) == []
        assert log.writable()
    finally:
        log.close()
    assert not log.writable()
    with pytest.raises(DecisionLogError):
        log.append(rows)


def test_the_writer_commits_before_settling_and_concurrent_decisions_share_commits(
    database_url: str, compiled_engine: Engine
) -> None:
    log = DecisionLog(database_url)
    writer = DecisionWriter(database_url)
    row = _rows(compiled_engine, ["clean-tiles"])[0]

    async def one() -> bool:
        await writer.store([{**row, "id": "alone"}])
        return log.get("alone") is not None  # committed when the store is settled

    async def many() -> None:
        await asyncio.gather(*(writer.store([{**row, "id": f"g{n:04d}"}]) for n in range(500)))

    try:
        assert asyncio.run(one())
        before = writer.commits
        asyncio.run(many())
        assert len(log.for_manifest("EX-0001", limit=1000)) == 501
        assert writer.commits - before < 500  # not one commit per decision
    finally:
        writer.close()
        log.close()


def test_workers_share_the_writer_of_assay_serve(tmp_path: Path, compiled_engine: Engine) -> None:
    """Two workers' decisions go through one writer (commits serve both); a worker that
    cannot reach it starts its own."""
    url = f"sqlite:///{tmp_path / 'assay.db'}"
    shared = SharedWriter(url)
    workers = [DecisionWriter(url, shared.address) for _ in range(2)]
    row = _rows(compiled_engine, ["clean-tiles"])[0]

    async def both() -> None:
        await asyncio.gather(
            *(
                worker.store([{**row, "id": f"w{index}-{n:03d}"}])
                for n in range(200)
                for index, worker in enumerate(workers)
            )
        )

    try:
        asyncio.run(both())
        assert all(worker.pid is None for worker in workers)  # none started a writer
        assert sum(worker.commits for worker in workers) < 400
    finally:
        for worker in workers:
            worker.close()
        shared.close()
    alone = DecisionWriter(url, shared.address)  # the shared writer is gone

    async def one() -> None:
        await alone.store([{**row, "id": "alone"}])

    try:
        asyncio.run(one())
        assert alone.pid is not None
    finally:
        alone.close()
    assert _clean_tiles_logged(url) == 401


def test_a_writer_that_dies_fails_the_decisions_in_flight_and_is_replaced(
    tmp_path: Path, compiled_engine: Engine
) -> None:
    """Decisions the writer had not reported committed fail (the service answers 503, not an
    unlogged result); the next decision starts a new writer."""
    url = f"sqlite:///{tmp_path / 'assay.db'}"
    log = DecisionLog(url)
    writer = DecisionWriter(url)
    row = _rows(compiled_engine, ["clean-tiles"])[0]

    async def scenario() -> tuple[str, bool]:
        await writer.store([{**row, "id": "before"}])
        first = writer.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        with pytest.raises(DecisionLogError) as failed:
            await writer.store([{**row, "id": "in-flight"}])
        await writer.store([{**row, "id": "after"}])
        assert writer.pid not in (None, first)
        return str(failed.value), log.get("after") is not None

    try:
        reason, stored_after = asyncio.run(scenario())
        assert "the decision writer stopped" in reason and "exit code -9" in reason
        assert stored_after and log.get("before") is not None
    finally:
        writer.close()
        log.close()


def test_closing_the_writer_commits_everything_it_was_sent(
    tmp_path: Path, compiled_engine: Engine
) -> None:
    url = f"sqlite:///{tmp_path / 'assay.db'}"
    writer = DecisionWriter(url)
    row = _rows(compiled_engine, ["clean-tiles"])[0]

    async def send() -> None:
        for n in range(300):  # sent, never awaited
            writer.store([{**row, "id": f"c{n:04d}"}])

    asyncio.run(send())
    writer.close()
    assert _clean_tiles_logged(url) == 300


def test_replay_reports_what_a_candidate_pack_changes(
    tmp_path: Path, compiled_engine: Engine
) -> None:
    url = f"sqlite:///{tmp_path / 'assay.db'}"
    log = DecisionLog(url)
    log.append(_rows(compiled_engine, list(SAMPLES)))
    candidate_dir = tmp_path / "candidate"
    shutil.copytree(
        default_pack_dir(), candidate_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    # The candidate stops treating licensed controlled goods as a documentary check.
    (next(candidate_dir.rglob("controlled-licence-to-verify.yaml"))).unlink()
    candidate = Engine(load_pack(candidate_dir))
    report = replay(log.between(datetime(2000, 1, 1, tzinfo=UTC)), candidate)
    log.close()
    assert report.replayed == 4
    assert report.count("no longer flagged") == 1
    change = next(c for c in report.changes if c.kind == "no longer flagged")
    assert change.manifest_id == "EX-0004"
    assert (change.before_channel, change.after_channel) == ("yellow", "green")
    assert report.moves[("yellow", "green")] == 1
    assert report.rule_losses["controlled-licence-to-verify"] == 1
    assert report.unchanged == 3


def test_service_logs_to_postgresql(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=empty_postgres())
    with live_api(settings) as server, server.client("reviewer") as client, server.client() as lane:
        answer = lane.post(
            "/v1/screen",
            content=SAMPLES["water-heavy"],
            headers={"content-type": "application/json"},
        )
        assert answer.status_code == 200
        logged = client.get(f"/v1/decisions/{answer.headers['x-decision-id']}").json()
        assert logged["channel"] == "red"
        assert client.get("/readyz").json()["decision_log"] == "writable"


def test_each_flag_is_indexed_with_its_decision(database_url: str, compiled_engine: Engine) -> None:
    log = DecisionLog(database_url)
    try:
        rows = _rows(compiled_engine, ["water-heavy", "clean-tiles"])
        log.append(rows)
        db = create_engine(database_url)
        with db.connect() as connection:
            flagged = connection.execute(
                text("SELECT decision_id, rule_id, manifest_id FROM decision_flags")
            ).all()
        db.dispose()
    finally:
        log.close()
    water = compiled_engine.screen(Manifest.model_validate_json(SAMPLES["water-heavy"]))
    assert sorted(flagged) == sorted(
        (rows[0]["id"], rule_id, "EX-0002") for rule_id in {f.rule_id for f in water.flags}
    )  # and none for the green clean-tiles decision


def test_the_write_ahead_log_is_flushed_outside_commits(
    tmp_path: Path, compiled_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = DecisionLog(f"sqlite:///{tmp_path / 'assay.db'}")
    flushed: list[str] = []
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        flushed.append(str(Path(f"/proc/self/fd/{fd}").readlink()))
        real(fd)

    try:
        log.sync_wal()  # nothing logged yet: no log file, nothing to do
        assert flushed == []
        log.append(_rows(compiled_engine, ["water-heavy"]))
        monkeypatch.setattr(os, "fdatasync", fdatasync)
        log.sync_wal()
        assert flushed == [str(tmp_path / "assay.db-wal")] and log.last_error is None
    finally:
        log.close()
    log.sync_wal()  # closed: a no-op
    assert len(flushed) == 1


def test_the_service_writer_leaves_every_sync_to_the_checkpointer(
    tmp_path: Path, compiled_engine: Engine
) -> None:
    """The writer process's committing connection never fsyncs (no checkpoint of its own,
    no synced log restarts); the checkpointer's connection does, and a last synced
    checkpoint at close leaves the database holding everything. (Set up here as
    ``engine.store.writer.serve`` sets it up, to look at the connections.)"""
    path = tmp_path / "assay.db"
    log = DecisionLog(f"sqlite:///{path}")
    log.hand_off_syncs()
    checkpointer = Checkpointer(log)
    rows = _rows(compiled_engine, ["clean-tiles", "water-heavy"])
    try:
        log.append(rows)
        writer = log._writer
        assert writer.execute("PRAGMA synchronous").fetchone()[0] == 0
        assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        with log._db.connect() as other:
            assert other.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    finally:
        checkpointer.close()
        log.close()
    wal = Path(f"{path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    with create_engine(f"sqlite:///{path}").connect() as reopened:
        assert reopened.execute(text("SELECT count(*) FROM decisions")).scalar() == 2
