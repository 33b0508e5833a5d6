"""The decision log on SQLite and PostgreSQL: append, read back, group commit, replay."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import sqlite3
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from assay.api.settings import Settings
from assay.cli.main import app as cli
from assay.engine import Engine, Manifest
from assay.engine.replay import replay
from assay.engine.ruleset import default_pack_dir, load_pack
from assay.engine.store.database import decisions, open_database, utc_text
from assay.engine.store.decisions import (
    DecisionLog,
    DecisionLogError,
    decision_row,
    new_decision_id,
)
from assay.engine.store.journal import (
    FIELDS,
    Journal,
    Status,
    decode_records,
    decode_rows,
    encode,
    encode_rows,
    ingester_running,
    journal_dir,
    journal_key,
    read_frames,
    segments,
    start_ingester,
)
from assay.engine.store.writer import Checkpointer, Copier, serve
from assay.fixtures.synth import generate
from tests.conftest import EXAMPLES, empty_postgres, wait_for
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


def _journal_rows(engine: Engine, prefix: str, count: int) -> list[dict[str, object]]:
    """``count`` decision rows as a worker writes them: JSON-ready, with unique ids."""
    row = _rows(engine, ["water-heavy"])[0]
    return [
        {**row, "id": f"{prefix}{n:05d}", "created_at": row["created_at"]} for n in range(count)
    ]


@contextmanager
def _ingesting(directory: Path, url: str) -> Iterator[threading.Event]:
    """The ingester's loop (engine.store.writer.serve) on a thread until the block ends."""
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(directory, url, stop))
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=60)


def _stored(url: str) -> tuple[list[str], int]:
    """Decision ids in the database (with repeats, if any) and the number of flag rows."""
    database = open_database(url)
    try:
        with database.connect() as connection:
            ids = [row[0] for row in connection.execute(text("SELECT id FROM decisions"))]
            flags = connection.execute(text("SELECT count(*) FROM decision_flags")).scalar_one()
    finally:
        database.dispose()
    return ids, int(flags)


def test_the_ingester_copies_every_workers_journal_once(
    database_url: str, compiled_engine: Engine, tmp_path: Path
) -> None:
    """Two workers' journals, each rotating through several segments, end up in the database
    exactly once; finished segments and their offsets are gone afterwards."""
    directory = tmp_path / "journal"
    open_database(database_url).dispose()  # as assay serve does, before its writer starts
    workers = [Journal(directory, database_url, segment_bytes=40_000, start=False) for _ in "ab"]
    rows = {name: _journal_rows(compiled_engine, name, 150) for name in "ab"}
    with _ingesting(directory, database_url):
        for n in range(150):
            for name, worker in zip("ab", workers, strict=True):
                worker.append([rows[name][n]])
        for worker in workers:
            worker.close()
        wait_for(lambda: len(_stored(database_url)[0]) == 300)
        wait_for(lambda: segments(directory) == [])
    ids, flags = _stored(database_url)
    assert sorted(ids) == sorted(str(row["id"]) for name in "ab" for row in rows[name])
    assert flags == 300 * len(rows["a"][0]["rule_ids"])  # type: ignore[arg-type]
    database = open_database(database_url)
    with database.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM journal_offsets")).scalar() == 0
    database.dispose()


def test_journals_of_two_hosts_sharing_a_database_keep_to_their_own(
    database_url: str, compiled_engine: Engine, tmp_path: Path
) -> None:
    """Two hosts, each with its journal and writer, one database: a writer restarting on one
    host leaves the other's offsets alone, and nothing is copied twice."""
    open_database(database_url).dispose()
    a, b = tmp_path / "host-a", tmp_path / "host-b"
    worker_a = Journal(a, database_url, start=False)
    worker_b = Journal(b, database_url, start=False)
    rows = _journal_rows(compiled_engine, "h", 12)
    for row in rows[:5]:
        worker_a.append([row])
    for row in rows[5:10]:
        worker_b.append([row])
    with _ingesting(b, database_url):
        wait_for(lambda: len(_stored(database_url)[0]) == 5)
    with _ingesting(a, database_url):  # a writer on host A starts after B's has copied
        wait_for(lambda: len(_stored(database_url)[0]) == 10)
    log = DecisionLog(database_url, b)
    try:
        assert log.journal_offsets() != {}  # B's offsets survived A's writer starting
        assert journal_key(a) != journal_key(b)
    finally:
        log.close()
    worker_b.append([rows[10]])
    worker_a.append([rows[11]])
    for worker in (worker_a, worker_b):
        worker.close()
    with _ingesting(b, database_url), _ingesting(a, database_url):
        wait_for(lambda: segments(a) == [] and segments(b) == [])
    ids, _ = _stored(database_url)
    assert sorted(ids) == sorted(str(row["id"]) for row in rows)


def test_a_killed_ingester_neither_loses_nor_repeats_a_decision(
    tmp_path: Path, compiled_engine: Engine
) -> None:
    url = f"sqlite:///{tmp_path / 'assay.db'}"
    directory = tmp_path / "journal"
    worker = Journal(directory, url, segment_bytes=200_000, start=False)
    rows = _journal_rows(compiled_engine, "k", 1_200)
    for round_ in range(4):  # kill it mid-copy, four times
        ingester = start_ingester(directory, url)
        for row in rows[round_ * 300 : (round_ + 1) * 300]:
            worker.append([row])
        time.sleep(0.05)
        ingester.kill()
        ingester.wait()
    worker.close()
    with _ingesting(directory, url):
        wait_for(lambda: segments(directory) == [])
    ids, flags = _stored(url)
    assert len(ids) == 1_200 and set(ids) == {str(row["id"]) for row in rows}
    assert flags == 1_200 * len(rows[0]["rule_ids"])  # type: ignore[arg-type]


def test_a_write_cut_short_by_a_crash_is_dropped_with_its_segment(
    tmp_path: Path, compiled_engine: Engine
) -> None:
    url = f"sqlite:///{tmp_path / 'assay.db'}"
    directory = tmp_path / "journal"
    worker = Journal(directory, url, start=False)
    rows = _journal_rows(compiled_engine, "t", 3)
    for row in rows:
        worker.append([row])
    (segment,) = segments(directory)
    whole = encode(orjson.dumps([{**rows[0], "id": "never-answered"}]))
    with segment.open("ab") as handle:
        handle.write(whole[: len(whole) // 2])  # the worker died inside its write
    worker.close()
    with _ingesting(directory, url):
        wait_for(lambda: segments(directory) == [])
    assert sorted(_stored(url)[0]) == ["t00000", "t00001", "t00002"]


def test_an_intact_frame_that_is_not_decision_rows_is_skipped_not_fatal(
    tmp_path: Path, compiled_engine: Engine
) -> None:
    """A frame from a bug or another version (rows lacking columns, records that do not fit
    their frame, an unknown version) is logged and skipped; the writer goes on with the
    frames after it."""
    url = f"sqlite:///{tmp_path / 'assay.db'}"
    directory = tmp_path / "journal"
    worker = Journal(directory, url, start=False)
    rows = _journal_rows(compiled_engine, "m", 2)
    worker.append([rows[0]])
    (segment,) = segments(directory)
    whole = encode_rows([rows[0]])
    fields = orjson.dumps(["only", "two"])
    with segment.open("ab") as handle:
        handle.write(encode(orjson.dumps([{"id": "half-a-row"}])))  # version 1
        handle.write(encode(b'"not a list"'))
        handle.write(encode(b"\x07" + whole[1:]))  # a version this one does not know
        handle.write(encode(whole[:-1]))  # a record longer than its frame
        handle.write(encode(whole + b"\x00\x01"))  # a record header cut short
        handle.write(encode(b"\x02" + struct.pack("<III", len(fields), 0, 0) + fields))
    worker.append([rows[1]])
    worker.close()
    reader = DecisionLog(url, directory)  # reads past them too, before the writer runs
    try:
        assert reader.get("m00001") is not None
        assert [d.decision_id for d in reader.for_manifest(str(rows[0]["manifest_id"]))] == [
            "m00001",
            "m00000",
        ]
    finally:
        reader.close()
    with _ingesting(directory, url):
        wait_for(lambda: segments(directory) == [])
    assert sorted(_stored(url)[0]) == ["m00000", "m00001"]


def test_a_journal_left_by_the_previous_version_is_copied(
    database_url: str, tmp_path: Path, compiled_engine: Engine
) -> None:
    """Frames of the first journal format (a JSON list of rows) left on disk by an older
    version, then frames of this one: every decision stored once, its time kept."""
    directory = tmp_path / "journal"
    worker = Journal(directory, database_url, start=False)
    rows = _journal_rows(compiled_engine, "v", 3)
    worker.append([rows[0]])
    (segment,) = segments(directory)
    with segment.open("ab") as handle:
        handle.write(encode(orjson.dumps(rows[1:])))
    worker.close()
    with _ingesting(directory, database_url):
        wait_for(lambda: segments(directory) == [])
    log = DecisionLog(database_url)
    try:
        for row in rows:
            stored = log.get(str(row["id"]))
            assert stored is not None
            assert stored.created_at == row["created_at"]
            assert stored.input_sha256 == row["input_sha256"]
    finally:
        log.close()


_times = st.datetimes(
    min_value=datetime(2000, 1, 1), timezones=st.sampled_from([UTC, timezone(timedelta(hours=7))])
)


# Any decision row: any text in every field, any aware time.
_any_rows = st.fixed_dictionaries(
    {
        **{name: st.text(max_size=40) for name in FIELDS},
        "created_at": _times,
        "risk_score": st.integers(min_value=0, max_value=100),
        "elapsed_ms": st.floats(min_value=0, max_value=1e6),
        "request_id": st.none() | st.text(max_size=20),
        "ruleset_version_id": st.none() | st.integers(min_value=1, max_value=2**31 - 1),
        "rule_ids": st.lists(st.text(max_size=12), max_size=3),
        "input": st.text(max_size=300),
        "result": st.text(max_size=200),
    }
)


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(_any_rows, max_size=5))
def test_journal_records_give_back_the_rows_written(rows: list[dict[str, object]]) -> None:
    """Any decision rows, any text in their input and result, any aware time: read back as
    written, the time as the database's UTC text."""
    decoded = decode_rows(encode_rows(rows))
    expected = [{**row, "created_at": utc_text(row["created_at"])} for row in rows]  # type: ignore[arg-type]
    assert decoded == expected


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(_any_rows, max_size=6, unique_by=lambda row: row["id"]))
def test_the_ingester_stores_every_column_of_the_rows_the_workers_wrote(
    rows: list[dict[str, Any]],
) -> None:
    """Rows a worker wrote to the journal (``encode_rows``), read by the ingester
    (``decode_records``) and stored without becoming rows again (``append_records``): the
    database holds every column of every row as given, the time as its UTC text, and one
    flag row for each of a row's rule ids."""
    with tempfile.TemporaryDirectory() as directory:
        log = DecisionLog(f"sqlite:///{directory}/assay.db")
        try:
            log.append_records(decode_records(encode_rows(rows)), {}, (), "")
            with log._db.connect() as connection:
                stored = [
                    dict(row._mapping)
                    for row in connection.exec_driver_sql("SELECT * FROM decisions ORDER BY id")
                ]
                flags = connection.exec_driver_sql(
                    "SELECT decision_id, rule_id, created_at, manifest_id FROM decision_flags"
                ).all()
        finally:
            log.close()
    columns = [column.name for column in decisions.columns]
    given = sorted(rows, key=lambda row: row["id"])
    assert stored == [
        {**{name: row[name] for name in columns}, "created_at": utc_text(row["created_at"])}
        for row in given
    ]
    assert sorted(flags) == sorted(
        (row["id"], rule_id, utc_text(row["created_at"]), row["manifest_id"])
        for row in rows
        for rule_id in row["rule_ids"]
    )


@settings(max_examples=60, deadline=None)
@given(
    payloads=st.lists(st.binary(min_size=0, max_size=300), max_size=12),
    cut=st.integers(min_value=0),
    limit=st.integers(min_value=1, max_value=2_000),
)
def test_frames_read_back_whole_up_to_where_a_write_was_cut(
    payloads: list[bytes], cut: int, limit: int
) -> None:
    """Reading from offset 0 in steps of ``limit`` bytes gives back exactly the frames written
    entirely before the cut, and says where they end and how much follows."""
    data = b"".join(encode(payload) for payload in payloads)
    cut %= len(data) + 1
    bounds = list(itertools.accumulate(len(encode(payload)) for payload in payloads))
    whole = sum(1 for bound in bounds if bound <= cut)
    with tempfile.TemporaryFile() as handle:
        handle.write(data[:cut])
        handle.flush()
        got: list[bytes] = []
        offset = 0
        while True:
            found = read_frames(handle.fileno(), offset, limit)
            got.extend(bytes(payload) for payload in found.payloads)
            if found.end == offset:
                break
            offset = found.end
    assert got == payloads[:whole]
    assert found.end == (bounds[whole - 1] if whole else 0)
    assert found.rest == cut - found.end


def test_decisions_not_yet_ingested_are_read_from_the_journal(
    tmp_path: Path, compiled_engine: Engine
) -> None:
    """One decision and a manifest's decisions are read from the database and the journal
    alike; a window read can wait for the writer to catch up (caught_up)."""
    url = f"sqlite:///{tmp_path / 'assay.db'}"
    directory = tmp_path / "journal"
    worker = Journal(directory, url, start=False)
    rows = _journal_rows(compiled_engine, "p", 3)
    newest_first = ["p00002", "p00001", "p00000"]
    log = DecisionLog(url, directory)
    try:
        log.append(rows[:1])  # one already in the database
        for row in rows[1:]:
            worker.append([row])
        found = log.get("p00002")
        assert found is not None and found.channel == "red" and found.source == "cli"
        assert [d.decision_id for d in log.for_manifest("EX-0002")] == newest_first
        assert not log.caught_up(timeout=0.05)  # nobody copies the journal yet
        with _ingesting(directory, url):
            assert log.caught_up()
            assert sorted(_stored(url)[0]) == sorted(newest_first)  # at once, no waiting
            worker.close()
            wait_for(lambda: segments(directory) == [])
        assert [d.decision_id for d in log.for_manifest("EX-0002")] == newest_first
        assert log.get("nowhere") is None
    finally:
        log.close()


def test_a_journal_nobody_ingests_starts_an_ingester(
    tmp_path: Path, compiled_engine: Engine
) -> None:
    """A worker whose journal has no ingester starts one; closing the worker stops it after
    it has copied everything."""
    url = f"sqlite:///{tmp_path / 'assay.db'}"
    directory = tmp_path / "journal"
    worker = Journal(directory, url)
    rows = _journal_rows(compiled_engine, "s", 50)
    try:
        wait_for(lambda: ingester_running(directory))
        for row in rows:
            worker.append([row])
    finally:
        worker.close()
    assert not ingester_running(directory)
    assert sorted(_stored(url)[0]) == [str(row["id"]) for row in rows]
    assert segments(directory) == []


def test_a_journal_too_far_behind_refuses_decisions(
    tmp_path: Path, compiled_engine: Engine
) -> None:
    """While the database refuses decisions, the journal keeps them; past the backlog limit
    the worker is told to refuse (503), and accepts again once the ingester catches up."""
    path = tmp_path / "assay.db"
    url = f"sqlite:///{path}"
    directory = tmp_path / "journal"
    open_database(url).dispose()
    database = sqlite3.connect(path)
    database.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON decisions"
        " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    )
    database.commit()
    worker = Journal(directory, url, backlog_limit=20_000, start=False)
    rows = _journal_rows(compiled_engine, "b", 20)
    try:
        with _ingesting(directory, url):
            for row in rows[:10]:
                worker.append([row])
            wait_for(lambda: (Status.read(directory) or Status(0, 0, None, 0)).backlog > 20_000)
            status = Status.read(directory)
            assert status is not None and "database or disk is full" in (status.error or "")
            time.sleep(0.6)  # the worker reads the status every half second
            with pytest.raises(DecisionLogError, match=r"behind.*database is not accepting") as no:
                worker.append([rows[10]])
            assert "database or disk is full" not in str(no.value)  # its words: the log's
            database.execute("DROP TRIGGER refuse")
            database.commit()
            wait_for(lambda: len(_stored(url)[0]) == 10)
            time.sleep(0.6)
            worker.append([rows[11]])
        worker.close()
    finally:
        database.close()
    with _ingesting(directory, url):
        wait_for(lambda: segments(directory) == [])
    assert sorted(_stored(url)[0]) == [str(row["id"]) for row in rows[:10]] + ["b00011"]


def _candidate_pack(tmp_path: Path) -> Path:
    """The default pack without the rule that sends licensed controlled goods to a documentary
    check (yellow): replaying the samples with it moves EX-0004 from yellow to green."""
    candidate_dir = tmp_path / "candidate"
    shutil.copytree(
        default_pack_dir(), candidate_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    (next(candidate_dir.rglob("controlled-licence-to-verify.yaml"))).unlink()
    return candidate_dir


def test_replay_reports_what_a_candidate_pack_changes(
    tmp_path: Path, compiled_engine: Engine
) -> None:
    url = f"sqlite:///{tmp_path / 'assay.db'}"
    log = DecisionLog(url)
    log.append(_rows(compiled_engine, list(SAMPLES)))
    candidate = Engine(load_pack(_candidate_pack(tmp_path)))
    report = replay(log.between(datetime(2000, 1, 1, tzinfo=UTC)), candidate)
    log.close()
    assert report.replayed == 4
    assert report.count("no longer flagged") == 1
    change = next(c for c in report.changes if c.kind == "no longer flagged")
    assert change.manifest_id == "EX-0004"
    # Its licence check was an indicator: the flag goes, the lane was green before and after.
    assert (change.before_channel, change.after_channel) == ("green", "green")
    assert ("yellow", "green") not in report.moves
    assert report.rule_losses["controlled-licence-to-verify"] == 1
    assert report.unchanged == 3


def test_assay_replay_includes_decisions_still_in_the_services_journal(
    tmp_path: Path, compiled_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`assay replay` waits for the service's writer to copy what it has answered: with the
    writer starting half a second after the replay, all four samples are replayed; with none
    running, it reports what the database holds and says what it left out."""
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'assay.db'}"
    monkeypatch.setenv("ASSAY_DATA_DIR", str(data))
    monkeypatch.delenv("ASSAY_DATABASE_URL", raising=False)
    monkeypatch.delenv("ASSAY_JOURNAL_DIR", raising=False)
    directory = journal_dir(data, url)
    worker = Journal(directory, url, start=False)
    worker.append(_rows(compiled_engine, list(SAMPLES)))
    worker.close()
    changes = tmp_path / "changes.jsonl"
    args = ["replay", "--since", "2000-01-01", "--rules", str(_candidate_pack(tmp_path))]
    runner = CliRunner()

    alone = runner.invoke(cli, [*args, "--wait", "0.2"])
    assert alone.exit_code == 0, alone.output
    assert re.search(r"replayed\W+0\b", alone.stdout)
    assert "still in the service's journal" in " ".join(alone.stderr.split())

    stop = threading.Event()

    def write_later() -> None:
        if not stop.wait(0.5):
            serve(directory, url, stop)

    writer = threading.Thread(target=write_later)
    writer.start()
    try:
        done = runner.invoke(cli, [*args, "--output", str(changes)])
    finally:
        stop.set()
        writer.join(timeout=60)
    assert done.exit_code == 0, done.output
    assert re.search(r"replayed\W+4\b", done.stdout)
    assert re.search(r"no longer flagged\W+1\b", done.stdout)
    assert done.stderr == ""
    (change,) = [json.loads(line) for line in changes.read_text().splitlines()]
    assert (change["kind"], change["manifest_id"]) == ("no longer flagged", "EX-0004")


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


@settings(max_examples=25, deadline=None)
@given(count=st.integers(min_value=0, max_value=700))
def test_any_number_of_decisions_is_stored_whole(compiled_engine: Engine, count: int) -> None:
    """Rows go in as statements of a few fixed sizes (256, 64, 16, 4, 1): every count is
    stored exactly, decisions and their flag rows both."""
    (template,) = _rows(compiled_engine, ["water-heavy"])
    rows = [{**template, "id": new_decision_id()} for _ in range(count)]
    with tempfile.TemporaryDirectory() as directory:
        log = DecisionLog(f"sqlite:///{directory}/assay.db")
        try:
            log.append(rows)
            with log._db.connect() as connection:
                stored = connection.execute(text("SELECT id FROM decisions ORDER BY id")).all()
                flagged = connection.execute(text("SELECT count(*) FROM decision_flags")).scalar()
        finally:
            log.close()
    assert [row.id for row in stored] == sorted(str(row["id"]) for row in rows)
    rule_ids = template["rule_ids"]
    assert isinstance(rule_ids, list) and rule_ids  # the sample is flagged
    assert flagged == count * len(rule_ids)


def test_a_new_sqlite_log_takes_less_disk_per_decision(
    tmp_path: Path, compiled_engine: Engine
) -> None:
    """A new database gets 8 KiB pages: with 4 KiB pages, a decision of 2-4 KB (a clean
    5-item manifest and its result) had a page to itself. On the synthetic corpus (four
    clean manifests in five) the decisions take 4-8 % less space than in a database made with
    4 KiB pages (the share moves with the size of results: 4.5 % once flags carried their
    role and the pack grew to 41 rules), which keeps its pages and stays usable (SQLite
    cannot change the page size of a file in WAL mode)."""
    rows = [
        decision_row(
            json.dumps(document).encode(),
            compiled_engine.screen(Manifest.model_validate(document)),
            request_id=None,
            source="cli",
        )
        for document, _ in generate(300, 5)
    ]

    def stored(path: Path) -> tuple[int, int]:
        log = DecisionLog(f"sqlite:///{path}")
        try:
            log.append(rows)
            log.checkpoint()
            assert len(list(log.between(datetime(2000, 1, 1, tzinfo=UTC)))) == len(rows)
        finally:
            log.close()
        with sqlite3.connect(path) as connection:
            size = connection.execute("PRAGMA page_size").fetchone()[0]
            used = connection.execute(
                "SELECT sum(pgsize) FROM dbstat WHERE name = 'decisions'"
            ).fetchone()[0]
        return size, used

    new_size, new_bytes = stored(tmp_path / "new.db")
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as connection:
        connection.execute("PRAGMA page_size=4096")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE made_before_the_upgrade (x)")
    old_size, old_bytes = stored(old)
    assert (new_size, old_size) == (8192, 4096)
    assert new_bytes < 0.97 * old_bytes


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


def test_the_writer_flushes_the_journal_and_new_names_to_disk(
    tmp_path: Path, compiled_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every 100 ms the writer flushes each segment's data, and the directory once a segment
    is new, so that a power cut loses at most the last ~100 ms of answered decisions."""
    url = f"sqlite:///{tmp_path / 'assay.db'}"
    directory = tmp_path / "journal"
    worker = Journal(directory, url, start=False)
    worker.append(_journal_rows(compiled_engine, "f", 1))
    log = DecisionLog(url)
    copier = Copier(directory, log)
    synced: list[str] = []

    def record(fd: int) -> None:
        synced.append(str(Path(f"/proc/self/fd/{fd}").readlink()))

    try:
        copier.once()
        monkeypatch.setattr(os, "fdatasync", record)
        monkeypatch.setattr(os, "fsync", record)
        copier.sync()
        (segment,) = segments(directory)
        assert synced == [str(segment), str(directory)]
        synced.clear()
        copier.sync()
        assert synced == [str(segment)]  # the name is on disk already
    finally:
        copier.close()
        worker.close()
        log.close()


def test_checkpoints_finish_while_decisions_keep_arriving(
    tmp_path: Path, compiled_engine: Engine
) -> None:
    """Every checkpoint copies the whole write-ahead log although another thread commits
    without pause, so the log starts again from its beginning instead of growing for as long
    as the load lasts (it grew by 20 MB a second under the service's load when checkpoints
    ran alongside commits: the next commit had always begun before the copy ended)."""
    path = tmp_path / "assay.db"
    log = DecisionLog(f"sqlite:///{path}")
    log.hand_off_syncs()  # as the writer process runs it
    template = _rows(compiled_engine, ["clean-tiles", "water-heavy"])
    stop = threading.Event()
    commits = 0

    def keep_committing() -> None:
        nonlocal commits
        while not stop.is_set():
            log.append([{**row, "id": new_decision_id()} for row in template])
            commits += 1

    committer = threading.Thread(target=keep_committing)
    committer.start()
    try:
        finished = []
        for _ in range(10):
            time.sleep(0.03)
            finished.append(log.checkpoint())
    finally:
        stop.set()
        committer.join()
    try:
        assert commits > 100  # the checkpoints really ran among commits
        assert finished == [True] * 10
        with log._db.connect() as connection:
            pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
            _, frames, _ = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        # The log holds what came after the last checkpoint, not every page ever written.
        assert frames < pages / 3
    finally:
        log.close()


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
