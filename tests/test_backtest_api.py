"""Back-tests and inspection outcomes through the service: a background job whose report
equals the in-process back-test, on files and on the decision log; outcomes validated field by
field, all or nothing; a job whose process died is reported failed, not left running."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from assay.api.settings import Settings
from assay.engine import Engine
from assay.engine import corpus as corpus_module
from assay.engine import jobs as jobs_module
from assay.engine.backtest import Backtest
from assay.engine.batch.readers import read_inputs
from assay.engine.inspections import Inspection
from assay.engine.jobs import run, unplaced
from assay.engine.ruleset import compile_pack
from assay.engine.store.backtests import STALE_AFTER, BacktestStore
from assay.engine.store.database import backtests
from tests.servers import LiveApi, live_api
from tests.test_backtest import CORPUS, LICENCE, OUTCOMES, TILE, _candidate_dir, corpus  # noqa: F401

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def api(tmp_path: Path, corpus: Path) -> Iterator[LiveApi]:  # noqa: F811
    (tmp_path / "data" / "corpus").mkdir(parents=True)
    shutil.copy(corpus, tmp_path / "data" / "corpus" / "past.jsonl")
    with live_api(Settings(data_dir=tmp_path / "data", reload_seconds=0.1)) as server:
        yield server


def _outcomes() -> list[dict[str, Any]]:
    return [
        {"manifest_id": m, "result": r, **({"pattern": p} if p else {})} for m, r, p in OUTCOMES
    ]


def _finished(client: httpx.Client, job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        job: dict[str, Any] = client.get(f"/v1/backtests/{job_id}").json()
        if job["state"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def _candidate_draft(alice: httpx.Client, tmp_path: Path) -> int:
    """A draft with the candidate's changes (looser tile threshold, no licence rule); its
    tile example to miss made lighter (1.1 kg/L), so the draft can be submitted."""
    draft_id: int = alice.post("/v1/rulesets/1/drafts").json()["id"]
    tile = (_candidate_dir(tmp_path) / TILE).read_text().replace("volume_m3: 19.5", "volume_m3: 30")
    assert alice.put(f"/v1/rulesets/{draft_id}/files/{TILE}", json={"source": tile}).is_success
    assert alice.delete(f"/v1/rulesets/{draft_id}/files/{LICENCE}").is_success
    return draft_id


def test_a_backtest_job_reports_what_the_cli_would(api: LiveApi, tmp_path: Path) -> None:
    with api.client("author", "alice") as alice:
        recorded = alice.post("/v1/outcomes", json=_outcomes())
        assert recorded.status_code == 200 and recorded.json() == {"recorded": len(OUTCOMES)}
        draft_id = _candidate_draft(alice, tmp_path)
        started = alice.post("/v1/backtests", json={"candidate": draft_id, "files": ["*.jsonl"]})
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        assert started.headers["location"] == f"/v1/backtests/{job_id}"
        job = _finished(alice, job_id)
        listed = alice.get("/v1/backtests").json()
    assert job["state"] == "done", job["error"]
    assert (job["candidate_id"], job["baseline_id"], job["created_by"]) == (draft_id, 1, "alice")
    assert job["records_done"] == len(CORPUS) + 1 and job["fraction_done"] == 1.0
    assert [(j["id"], j["state"], j["result"]) for j in listed] == [(job_id, "done", None)]

    report = job["result"]
    assert report["corpus"]["source"] == {"files": ["*.jsonl"]}
    assert job["request"]["corpus_paths"] == ["past.jsonl"]  # corpus-relative, as reported
    assert report["candidate"]["version_id"] == draft_id and report["baseline"]["version_id"] == 1
    # The same back-test, in process, on the same sources, corpus and outcomes.
    sources = api.service.store.sources(draft_id)
    run = Backtest(
        Engine(compile_pack(sources)),
        Engine(compile_pack(api.service.store.sources(1))),
        {o["manifest_id"]: Inspection.model_validate(o) for o in _outcomes()},
    )
    run.run(read_inputs([str(tmp_path / "data" / "corpus" / "past.jsonl")], names=["past.jsonl"]))
    expected = orjson.loads(orjson.dumps(run.report()))
    for side in ("candidate", "baseline"):
        report[side].pop("version_id")
    report["corpus"].pop("source")
    assert report == expected
    # And the figures by hand (tests/test_backtest.py has the reasoning).
    assert (report["changes"]["newly_flagged"], report["changes"]["no_longer_flagged"]) == (4, 1)
    tile = {row["rule_id"]: row for row in report["rules"]}["tile-denser-than-porcelain"]
    assert (tile["hits"], tile["baseline_hits"], tile["precision"]) == (4, 0, 0.5)


def test_a_backtest_of_the_decision_log(api: LiveApi) -> None:
    documents = [
        orjson.loads(line)
        for line in (api.service.settings.resolved_corpus_dir() / "past.jsonl")
        .read_bytes()
        .splitlines()
    ]
    before = datetime.now(UTC) - timedelta(seconds=1)
    with api.client("screening") as lane, api.client("author", "alice") as alice:
        for document in documents[:-1]:  # the ten valid manifests
            assert lane.post("/v1/screen", json=document).status_code == 200
        window = {
            "since": before.isoformat(),
            "until": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
        }
        request = {"candidate": "active", "baseline": None, "decisions": window}
        job = _finished(alice, alice.post("/v1/backtests", json=request).json()["id"])
        empty = {**request, "decisions": {"since": "2001-01-01", "until": "2001-01-02"}}
        nothing = _finished(alice, alice.post("/v1/backtests", json=empty).json()["id"])
    assert job["state"] == "done", job["error"]
    report = job["result"]
    assert report["baseline"] is None and "changes" not in report
    assert report["corpus"]["manifests"] == len(CORPUS) and report["corpus"]["invalid"] == 0
    assert report["channels"]["candidate"] == {
        "green": 4,
        "yellow": 3,
        "red": 3,
        "inspection_rate": 0.3,
        "check_rate": 0.3,
    }
    assert nothing["state"] == "done" and nothing["result"]["corpus"]["manifests"] == 0


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        ({"candidate": 1}, ["body"], "either 'decisions'"),
        (
            {"candidate": 1, "files": ["a"], "decisions": {"since": "2026-01-01"}},
            ["body"],
            "either",
        ),
        (
            {"candidate": 99, "files": ["past.jsonl"]},
            ["body", "candidate"],
            "no ruleset version 99",
        ),
        ({"candidate": 1, "baseline": 42, "files": ["past.jsonl"]}, ["body", "baseline"], "42"),
        ({"candidate": 1, "files": ["../secrets"]}, ["body", "files", 0], "without '..'"),
        ({"candidate": 1, "files": ["/etc/passwd"]}, ["body", "files", 0], "relative"),
        ({"candidate": 1, "files": ["missing.jsonl"]}, ["body", "files", 0], "missing.jsonl"),
        (
            {"candidate": 1, "decisions": {"since": "2026-02-01", "until": "2026-01-01"}},
            ["body", "decisions"],
            "until must be after since",
        ),
        ({"candidate": "newest", "files": ["past.jsonl"]}, ["body", "candidate"], ""),
    ],
)
def test_backtest_requests_are_checked_before_anything_runs(
    api: LiveApi, body: dict[str, Any], loc: list[Any], words: str
) -> None:
    with api.client("author") as alice:
        answer = alice.post("/v1/backtests", json=body)
        assert alice.get("/v1/backtests").json() == []  # no job was created
    assert answer.status_code == 422, answer.text
    errors = answer.json()["detail"]
    assert any(e["loc"][: len(loc)] == loc and words in e["msg"] for e in errors), errors


def test_outcomes_are_checked_field_by_field_and_stored_all_or_nothing(api: LiveApi) -> None:
    store = api.service.inspections
    with api.client("reviewer") as officer:
        bad = officer.post(
            "/v1/outcomes",
            json=[
                {"manifest_id": "A1", "result": "seizure"},
                {"manifest_id": "A2", "result": "lost"},
            ],
        )
        assert bad.status_code == 422
        [error] = bad.json()["detail"]
        assert error["loc"] == ["body", 1, "result"] and "'seizure'" in error["msg"]
        assert store.count() == 0  # the valid first outcome was not stored either
        single = officer.post("/v1/outcomes", json={"manifest_id": "A1", "result": "lost"})
        assert single.json()["detail"][0]["loc"] == ["body", "result"]
        extra = officer.post(
            "/v1/outcomes", json={"manifest_id": "A1", "result": "no_find", "x": 1}
        )
        assert extra.json()["detail"][0]["loc"] == ["body", "x"]
        too_many = officer.post(
            "/v1/outcomes", json=[{"manifest_id": "A", "result": "no_find"}] * 10_001
        )
        assert (
            too_many.status_code == 422 and "at most 10000" in too_many.json()["detail"][0]["msg"]
        )
        scalar = officer.post("/v1/outcomes", json="seizure")
        assert scalar.status_code == 422
        not_json = officer.post("/v1/outcomes", content=b"{", headers=JSON)
        assert not_json.status_code == 422 and not_json.json()["detail"][0]["loc"] == ["body"]
        assert officer.post(
            "/v1/outcomes", json={"manifest_id": "A1", "result": "no_find"}
        ).json() == {"recorded": 1}
        corrected = {"manifest_id": "A1", "result": "seizure", "pattern": "tile_blending"}
        assert officer.post("/v1/outcomes", json=[corrected]).json() == {"recorded": 1}
    assert store.count() == 2  # both kept; the latest one counts
    assert store.latest()["A1"].result == "seizure"


def test_a_job_whose_process_died_is_reported_failed(api: LiveApi) -> None:
    jobs = BacktestStore(api.service.db)
    job_id = jobs.create({"candidate": 1, "files": ["x"]}, 1, None, "alice")
    assert jobs.start(job_id) and not jobs.start(job_id)  # claimed once only
    jobs.progress(job_id, 500, 0.25)
    running = jobs.get(job_id)
    assert running is not None and (running.state, running.records_done) == ("running", 500)
    old = datetime.now(UTC) - STALE_AFTER - timedelta(seconds=5)
    with api.service.db.begin() as connection:
        connection.execute(backtests.update().values(heartbeat_at=old))
    with api.client("author") as alice:
        job = alice.get(f"/v1/backtests/{job_id}").json()
        missing = alice.get("/v1/backtests/999")
    assert job["state"] == "failed" and "no progress since" in job["error"]
    assert missing.status_code == 404


def test_a_failing_backtest_stores_its_error(api: LiveApi, tmp_path: Path) -> None:
    with api.client("author", "alice") as alice:
        draft_id = alice.post("/v1/rulesets/1/drafts").json()["id"]
        broken = "id: broken\ntitle: not a rule, but valid YAML (saved, as work in progress)\n"
        alice.put(f"/v1/rulesets/{draft_id}/files/extra/broken.yaml", json={"source": broken})
        job_id = alice.post(
            "/v1/backtests", json={"candidate": draft_id, "files": ["past.jsonl"]}
        ).json()["id"]
        job = _finished(alice, job_id)
    assert job["state"] == "failed"
    assert "broken.yaml" in job["error"]


def test_live_rule_figures_equal_those_computed_by_hand(api: LiveApi) -> None:
    corpus_file = api.service.settings.resolved_corpus_dir() / "past.jsonl"
    documents = [orjson.loads(line) for line in corpus_file.read_bytes().splitlines()][:-1]
    with api.client("screening") as lane, api.client("reviewer") as officer:
        for document in [*documents, documents[0]]:  # W1 screened twice: one manifest
            assert lane.post("/v1/screen", json=document).status_code == 200
        assert officer.post("/v1/outcomes", json=_outcomes()).status_code == 200
        water = officer.get("/v1/rules/water-pet-too-heavy/stats").json()
        young = officer.get("/v1/rules/young-consignor-sensitive-goods/stats?days=1").json()
        licence = officer.get("/v1/rules/controlled-licence-to-verify/stats?alarm_at=1").json()
        silent = officer.get("/v1/rules/tile-denser-than-porcelain/stats").json()
        unknown = officer.get("/v1/rules/no-such-rule/stats")
    # As in tests/test_backtest.py: W1 seizure, W2 no find, W3 not inspected; three known
    # seizures among the screened manifests (W1, S1, C1; X9 was never screened).
    assert (water["manifests"], water["hits"], water["inspected"]) == (10, 3, 2)
    assert (water["precision"], water["pattern_recall"]) == (0.5, 1.0)
    assert water["recall"] == pytest.approx(1 / 3, abs=1e-6)
    assert water["yield"] == pytest.approx(1 / 3, abs=1e-6)
    assert water["pattern"] == "bottled_water_concealment" and water["in_active_ruleset"]
    assert water["last_hit_at"] is not None and water["alarm"] is None
    assert (young["hits"], young["precision"], young["yield"]) == (5, 0.75, 0.4)
    assert young["recall"] == pytest.approx(2 / 3, abs=1e-6)
    assert licence["hits"] == 1 and "none had a find" in licence["alarm"]
    assert (silent["hits"], silent["precision"], silent["recall"]) == (0, None, 0.0)
    assert unknown.status_code == 404


# ------------------------------------------------------------- files: bounded, relative


def _no_server_path(text: str, tmp_path: Path) -> None:
    """No absolute path of the test's directory (the corpus directory is inside it)."""
    for shown in {str(tmp_path), os.path.realpath(tmp_path)}:
        assert shown not in text, text


def _refused(api: LiveApi, tmp_path: Path, files: list[str]) -> list[dict[str, Any]]:
    with api.client("author") as alice:
        answer = alice.post("/v1/backtests", json={"candidate": 1, "files": files})
        assert alice.get("/v1/backtests").json() == []  # no job was created
    assert answer.status_code == 422, answer.text
    _no_server_path(answer.text, tmp_path)
    errors: list[dict[str, Any]] = answer.json()["detail"]
    return errors


def _corpus_dir(api: LiveApi) -> Path:
    return api.service.settings.resolved_corpus_dir()


def test_overlapping_patterns_screen_each_file_once(api: LiveApi, tmp_path: Path) -> None:
    (_corpus_dir(api) / "notes").mkdir()
    (_corpus_dir(api) / "notes" / "readme.txt").write_text("not matched\n")
    files = ["past.jsonl", "*.jsonl", "**/*.jsonl", "p*", "./past.jsonl", "**/past.*"]
    with api.client("author", "alice") as alice:
        started = alice.post("/v1/backtests", json={"candidate": 1, "files": files})
        assert started.status_code == 202, started.text
        job = _finished(alice, started.json()["id"])
    assert job["state"] == "done", job["error"]
    assert job["request"]["corpus_paths"] == ["past.jsonl"]
    screened = job["result"]["corpus"]
    # Six patterns, one file of eleven records: eleven records screened, not sixty-six.
    assert job["records_done"] == screened["records"] == len(CORPUS) + 1
    assert (screened["manifests"], screened["invalid"]) == (len(CORPUS), 1)
    [error] = screened["errors"]
    assert error.startswith("past.jsonl:11: ")  # the file by its corpus-relative name
    assert screened["source"] == {"files": files}
    _no_server_path(orjson.dumps(job).decode(), tmp_path)


def test_the_attack_is_refused_before_anything_runs(api: LiveApi, tmp_path: Path) -> None:
    """Many '**' patterns over a tree deeper than the walk goes."""
    deep = _corpus_dir(api).joinpath(*(f"d{level}" for level in range(12)))
    deep.mkdir(parents=True)
    shutil.copy(_corpus_dir(api) / "past.jsonl", deep / "deep.jsonl")
    [error] = _refused(api, tmp_path, ["**/*.jsonl"] * 20)
    assert error["loc"] == ["body", "files", 0]
    assert "more than 8 directory levels" in error["msg"]
    [error] = _refused(api, tmp_path, ["**/**/**/**/*.jsonl"] * 100)
    assert error["loc"] == ["body", "files", 20] and "at most 20 patterns" in error["msg"]
    [error] = _refused(api, tmp_path, ["past.jsonl", "**/**/**/**/*.jsonl"])
    assert error["loc"] == ["body", "files", 1] and "at most one '**'" in error["msg"]


@pytest.mark.parametrize(
    ("files", "position", "words"),
    [
        (["past.jsonl"] * 21, 20, "at most 20 patterns"),
        (["past.jsonl", "p" * 201], 1, "at most 200 characters"),
        (["past.jsonl", "*/**/x/**"], 1, "at most one '**'"),
        (["d/" * 9 + "x.jsonl"], 0, "at most 8 directory levels"),
        (["past.jsonl", "../secrets"], 1, "without '..'"),
        (["past.jsonl", "a/../../secrets"], 1, "without '..'"),
        (["/etc/passwd"], 0, "relative"),
        (["past.jsonl", "a\\past.jsonl"], 1, "backslash"),
        (["past.jsonl", "*.csv"], 1, "no file in the corpus directory matches '*.csv'"),
        (["missing.jsonl"], 0, "no file 'missing.jsonl' in the corpus directory"),
        (["past.jsonl", "link.jsonl"], 1, "'link.jsonl' leads out of the corpus directory"),
        (["*.jsonl"], 0, "'link.jsonl' is a link to a file outside the corpus directory"),
        (["past.jsonl", "folder"], 1, "'folder' is a folder"),
    ],
)
def test_each_refused_pattern_is_named_by_its_position(
    api: LiveApi, tmp_path: Path, files: list[str], position: int, words: str
) -> None:
    (tmp_path / "secret.jsonl").write_text('{"manifest_id": "S"}\n')
    (_corpus_dir(api) / "link.jsonl").symlink_to(tmp_path / "secret.jsonl")
    (_corpus_dir(api) / "folder").mkdir()
    errors = _refused(api, tmp_path, files)
    assert any(e["loc"] == ["body", "files", position] and words in e["msg"] for e in errors), (
        errors
    )


def test_the_walk_and_the_files_are_bounded(
    api: LiveApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        shutil.copy(_corpus_dir(api) / "past.jsonl", _corpus_dir(api) / f"more{n}.jsonl")
    monkeypatch.setattr(corpus_module, "MAX_FILES", 3)
    [error] = _refused(api, tmp_path, ["past.jsonl", "more*.jsonl"])
    assert error["loc"] == ["body", "files", 1] and "more than 3 files" in error["msg"]
    monkeypatch.setattr(corpus_module, "MAX_ENTRIES", 3)
    [error] = _refused(api, tmp_path, ["past.jsonl", "*.jsonl"])
    assert error["loc"] == ["body", "files", 1] and "more than 3 entries" in error["msg"]


def test_a_failing_job_names_its_file_relative(api: LiveApi, tmp_path: Path) -> None:
    (_corpus_dir(api) / "bad.csv").write_text("colour,taste\nred,sweet\n")
    with api.client("author", "alice") as alice:
        started = alice.post("/v1/backtests", json={"candidate": 1, "files": ["*.csv"]})
        job = _finished(alice, started.json()["id"])
    assert job["state"] == "failed"
    assert job["error"].startswith("bad.csv: unknown column(s)"), job["error"]
    _no_server_path(orjson.dumps(job).decode(), tmp_path)


def _run_stored(api: LiveApi, request: dict[str, Any], corpus_dir: Path | None) -> Any:
    """A job stored as ``request`` (bypassing the route), run here to its end."""
    store = BacktestStore(api.service.db)
    job_id = store.create(request, 1, None, "alice")
    assert run(api.service.settings.resolved_database_url(), job_id, corpus_dir)
    return store.get(job_id)


@pytest.mark.parametrize("knows_the_corpus_dir", [True, False])
def test_a_job_stored_by_older_code_with_absolute_paths_still_runs(
    api: LiveApi, tmp_path: Path, knows_the_corpus_dir: bool
) -> None:
    path = (_corpus_dir(api) / "past.jsonl").resolve()
    request = {"candidate": 1, "baseline": None, "files": ["*"], "corpus_paths": [str(path)]}
    job = _run_stored(api, request, _corpus_dir(api) if knows_the_corpus_dir else None)
    assert job.state == "done", job.error
    screened = job.result["corpus"]
    assert screened["records"] == len(CORPUS) + 1
    assert screened["errors"][0].startswith("past.jsonl:11: ")
    _no_server_path(orjson.dumps(job.result).decode(), tmp_path)
    assert str(path) in orjson.dumps(job.request).decode()  # as stored by the older release
    with api.client("author", "alice") as alice:  # but never shown
        _no_server_path(alice.get(f"/v1/backtests/{job.id}").text, tmp_path)
        _no_server_path(alice.get("/v1/backtests").text, tmp_path)


def test_a_job_checks_its_files_again_when_it_runs(api: LiveApi, tmp_path: Path) -> None:
    """The corpus directory may change between the request and the run."""
    (tmp_path / "secret.jsonl").write_text('{"manifest_id": "S"}\n')
    (_corpus_dir(api) / "swapped.jsonl").symlink_to(tmp_path / "secret.jsonl")
    request = {"candidate": 1, "baseline": None, "files": ["*"]}
    gone = _run_stored(api, {**request, "corpus_paths": ["gone.jsonl"]}, _corpus_dir(api))
    out = _run_stored(api, {**request, "corpus_paths": ["swapped.jsonl"]}, _corpus_dir(api))
    unset = _run_stored(api, {**request, "corpus_paths": ["past.jsonl"]}, None)
    assert gone.state == "failed" and "no file 'gone.jsonl' in the corpus directory" in gone.error
    assert out.state == "failed" and "'swapped.jsonl' leads out" in out.error
    assert unset.state == "failed" and "ASSAY_CORPUS_DIR is not set" in unset.error
    for job in (gone, out, unset):
        _no_server_path(job.error, tmp_path)


def test_an_older_job_whose_file_is_gone_fails_naming_it_relative(
    api: LiveApi, tmp_path: Path
) -> None:
    path = _corpus_dir(api).resolve() / "gone.jsonl"
    request = {"candidate": 1, "baseline": None, "files": ["*"], "corpus_paths": [str(path)]}
    job = _run_stored(api, request, _corpus_dir(api))
    assert job.state == "failed"
    assert job.error == "gone.jsonl cannot be read: No such file or directory"


def test_a_library_message_carrying_a_corpus_path_is_stored_without_it(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    message = f"ArrowInvalid: could not open '{root}/2026/a.parquet' under {root}"
    assert unplaced(message, root) == (
        "ArrowInvalid: could not open '2026/a.parquet' under the corpus directory"
    )


def test_an_unexpected_failure_is_stored_without_classes_or_paths(
    api: LiveApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault of Assay's own is in the log; the job says only that it failed."""

    def broken(*args: object) -> None:
        raise RuntimeError(f"cannot map {tmp_path}/engine/internals.py")

    monkeypatch.setattr(jobs_module, "_run", broken)
    request = {"candidate": 1, "baseline": None, "files": ["*"], "corpus_paths": ["past.jsonl"]}
    job = _run_stored(api, request, _corpus_dir(api))
    assert job.state == "failed"
    assert job.error == "internal error; the service's log has the details"
