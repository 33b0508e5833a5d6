"""Back-tests of correlation rules: a candidate that adds one is measured (alerts, manifests
involved, precision against outcomes, alerts newly raised) before it goes live, the same
whatever the corpus files' order; the CLI prints it."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assay.api.settings import Settings
from assay.cli.main import app as cli
from assay.engine import Engine
from assay.engine.backtest import Backtest
from assay.engine.batch.readers import read_inputs
from assay.engine.contracts import Manifest
from assay.engine.inspections import Inspection
from assay.engine.replay import replay
from assay.engine.rulefile import build_example_manifest
from assay.engine.ruleset import compile_pack, default_pack_dir, read_sources
from assay.engine.store.database import open_database
from assay.engine.store.decisions import DecisionLog, decision_row
from assay.engine.store.inspections import InspectionStore
from tests.conftest import wait_for
from tests.servers import live_api

PACK = compile_pack(read_sources(default_pack_dir()), origin="")
T0 = datetime(2026, 3, 1, tzinfo=UTC)
# A consignor seized on 1 March files three times again: the first of those inspections
# finds more, the second nothing, the third is not inspected. Another consignor files once.
FILINGS = [
    ("SEIZED", 0, "GANZHOU A"),
    ("AGAIN1", 10, "GANZHOU A"),
    ("AGAIN2", 20, "GANZHOU A"),
    ("AGAIN3", 30, "GANZHOU A"),
    ("OTHER", 15, "VALENCIA B"),
]
OUTCOMES = {
    "SEIZED": "seizure",
    "AGAIN1": "seizure",
    "AGAIN2": "no_find",
    "OTHER": "irregularity",
}


def _manifest(manifest_id: str, days: int, consignor: str) -> Manifest:
    data = build_example_manifest(
        PACK.example_base,
        {
            "manifest": {
                "manifest_id": manifest_id,
                "filed_at": (T0 + timedelta(days=days)).isoformat(),
                "consignor": {"name": consignor, "country": "CN"},
                # each to its own consignee: the consignee's twin rule stays quiet here
                "consignee": {"name": f"BUYER OF {manifest_id}", "country": "US"},
            }
        },
    )
    return Manifest.model_validate(data)


def _write(path: Path, order: list[int]) -> Path:
    lines = [_manifest(*FILINGS[i]).model_dump_json() + "\n" for i in order]
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _outcomes() -> dict[str, Inspection]:
    return {m: Inspection(manifest_id=m, result=r) for m, r in OUTCOMES.items()}  # type: ignore[arg-type]


@pytest.fixture
def baseline_dir(tmp_path: Path) -> Path:
    """The default pack without its repeat-offender rules: what is live before them."""
    target = tmp_path / "baseline"
    shutil.copytree(default_pack_dir(), target, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("repeat-offender.yaml", "repeat-offender-consignee.yaml"):
        (target / "correlation" / name).unlink()
    return target


def _report(corpus: Path, baseline_dir: Path) -> dict[str, Any]:
    run = Backtest(Engine(PACK), Engine(compile_pack(read_sources(baseline_dir))), _outcomes())
    run.run(read_inputs([str(corpus)]))
    return run.report()


def _rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["rule_id"]: row for row in report["correlation"]["rules"]}


def test_a_candidate_adding_a_correlation_rule_reports_its_alerts_and_precision(
    tmp_path: Path, baseline_dir: Path
) -> None:
    report = _report(_write(tmp_path / "corpus.jsonl", [0, 1, 2, 3, 4]), baseline_dir)
    section = report["correlation"]
    assert section["stream"] == {"manifests": 5, "without_filed_at": 0, "seizures": 2}
    offender = _rows(report)["repeat-offender"]
    assert offender["in_candidate"] and not offender["in_baseline"]
    assert (offender["alerts"], offender["manifests"], offender["entities"]) == (3, 3, 1)
    # AGAIN1 (seizure) confirmed, AGAIN2 (no find) inspected only, AGAIN3 not inspected.
    assert (offender["inspected"], offender["confirmed"], offender["precision"]) == (2, 1, 0.5)
    assert (offender["baseline_alerts"], offender["newly_raised"]) == (0, 3)
    assert offender["no_longer_raised"] == 0 and offender["baseline_precision"] is None
    kept = _rows(report)["split-shipment-small-parcels"]
    assert kept["in_baseline"] and (kept["alerts"], kept["baseline_alerts"]) == (0, 0)
    changes = section["changes"]
    assert (changes["newly_raised"], changes["no_longer_raised"]) == (3, 0)
    listed = changes["listed"]["newly_raised"]
    assert [a["trigger_manifest_id"] for a in listed] == ["AGAIN1", "AGAIN2", "AGAIN3"]
    assert listed[1]["measures"] == {"history.seizures": 2.0}  # SEIZED and AGAIN1
    assert "GANZHOU A" in listed[0]["explanation"]
    # The per-manifest report keeps its shape: the correlation section is a new key.
    assert {"candidate", "corpus", "outcomes", "rules", "patterns", "changes"} <= set(report)


def test_without_a_baseline_the_section_has_no_changes(tmp_path: Path) -> None:
    run = Backtest(Engine(PACK), None, _outcomes())
    run.run(read_inputs([str(_write(tmp_path / "c.jsonl", [0, 1, 2, 3, 4]))]))
    section = run.report()["correlation"]
    assert "changes" not in section
    assert "baseline_alerts" not in _rows({"correlation": section})["repeat-offender"]


def test_without_correlation_rules_the_report_has_no_correlation_section(
    tmp_path: Path, baseline_dir: Path
) -> None:
    shutil.rmtree(baseline_dir / "correlation")
    bare = Engine(compile_pack(read_sources(baseline_dir)))
    run = Backtest(bare, bare, _outcomes())
    run.run(read_inputs([str(_write(tmp_path / "c.jsonl", [0, 1]))]))
    assert "correlation" not in run.report()


def test_the_same_corpus_in_another_file_order_gives_the_same_report(
    tmp_path: Path, baseline_dir: Path
) -> None:
    forward = _report(_write(tmp_path / "a.jsonl", [0, 1, 2, 3, 4]), baseline_dir)
    backward = _report(_write(tmp_path / "b.jsonl", [4, 3, 2, 1, 0]), baseline_dir)
    shuffled = _report(_write(tmp_path / "c.jsonl", [2, 4, 0, 3, 1]), baseline_dir)
    assert json.dumps(forward, sort_keys=False) == json.dumps(backward, sort_keys=False)
    assert json.dumps(forward, sort_keys=False) == json.dumps(shuffled, sort_keys=False)


def test_cli_backtest_prints_the_correlation_figures(tmp_path: Path, baseline_dir: Path) -> None:
    corpus = _write(tmp_path / "corpus.jsonl", [3, 1, 0, 4, 2])
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text(
        "manifest_id,result,pattern,notes\n" + "".join(f"{m},{r},,\n" for m, r in OUTCOMES.items()),
        encoding="utf-8",
    )
    output = tmp_path / "report.json"
    done = CliRunner().invoke(
        cli,
        [
            "backtest",
            "--candidate",
            str(default_pack_dir()),
            "--baseline",
            str(baseline_dir),
            "--corpus",
            str(corpus),
            "--outcomes",
            str(outcomes),
            "-o",
            str(output),
        ],
    )
    assert done.exit_code == 0, done.output
    said = " ".join(done.stdout.split())
    assert "Alerts against the baseline: 3 newly raised, 0 no longer raised" in said
    assert "1 / 2" in said and "50.0%" in said  # repeat-offender: confirmed / inspected
    written = json.loads(output.read_text())
    assert written["correlation"] == json.loads(
        json.dumps(
            _report(_write(tmp_path / "again.jsonl", [0, 1, 2, 3, 4]), baseline_dir)["correlation"]
        )
    )


def test_an_api_backtest_scores_correlation_rules_against_the_outcomes_on_record(
    tmp_path: Path,
) -> None:
    """POST /v1/backtests: the job's seizure stream is the outcomes recorded in the store."""
    corpus_dir = tmp_path / "data" / "corpus"
    corpus_dir.mkdir(parents=True)
    _write(corpus_dir / "past.jsonl", [4, 3, 2, 1, 0])
    with (
        live_api(Settings(data_dir=tmp_path / "data", reload_seconds=0.1)) as api,
        api.client("author", "alice") as alice,
    ):
        recorded = alice.post(
            "/v1/outcomes",
            json=[{"manifest_id": m, "result": r} for m, r in OUTCOMES.items()],
        )
        assert recorded.status_code == 200, recorded.text
        started = alice.post(
            "/v1/backtests",
            json={"candidate": "active", "baseline": None, "files": ["past.jsonl"]},
        )
        assert started.status_code == 202, started.text
        url = f"/v1/backtests/{started.json()['id']}"
        wait_for(lambda: alice.get(url).json()["state"] in ("done", "failed"), 120)
        job = alice.get(url).json()
    assert job["state"] == "done", job["error"]
    section = job["result"]["correlation"]
    assert section["stream"]["seizures"] == 2
    offender = _rows(job["result"])["repeat-offender"]
    assert (offender["alerts"], offender["confirmed"], offender["precision"]) == (3, 1, 0.5)


def test_replay_raises_the_candidates_correlation_alerts_with_the_seizures_on_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'assay.db'}"
    engine = Engine(PACK)
    log = DecisionLog(url)
    try:
        rows = []
        for filing in FILINGS:
            manifest = _manifest(*filing)
            body = manifest.model_dump_json().encode()
            rows.append(
                decision_row(body, engine.screen(manifest), request_id=filing[0], source="cli")
            )
        log.append(rows)
        report = replay(log.between(datetime(2000, 1, 1, tzinfo=UTC)), engine, {"SEIZED"})
    finally:
        log.close()
    assert report.replayed == 5 and report.unchanged == 5
    assert [a.trigger_manifest_id for a in report.alerts] == ["AGAIN1", "AGAIN2", "AGAIN3"]
    assert report.alerts_by_rule() == {"repeat-offender": 3}

    db = open_database(url)
    try:
        InspectionStore(db).record(_outcomes().values(), "test")
    finally:
        db.dispose()
    monkeypatch.setenv("ASSAY_DATA_DIR", str(tmp_path))
    done = CliRunner().invoke(
        cli, ["replay", "--since", "2000-01-01", "--database-url", url, "--wait", "0"]
    )
    assert done.exit_code == 0, done.output
    said = " ".join(done.stdout.split())
    assert re.search(r"correlation alerts: repeat-offender\W+3\b", said), said
    assert re.search(r"correlation alerts: split-shipment-small-parcels\W+0\b", said)


def test_a_baseline_with_the_same_correlation_rules_raises_the_same_alerts(
    tmp_path: Path,
) -> None:
    """A change to manifest rules alone: the correlation figures are the candidate's on both
    sides (the pass runs once), nothing newly or no longer raised."""
    corpus = _write(tmp_path / "c.jsonl", [0, 1, 2, 3, 4])
    run = Backtest(Engine(PACK), Engine(PACK), _outcomes())
    run.run(read_inputs([str(corpus)]))
    section = run.report()["correlation"]
    offender = _rows({"correlation": section})["repeat-offender"]
    assert (offender["alerts"], offender["baseline_alerts"], offender["newly_raised"]) == (3, 3, 0)
    assert offender["baseline_precision"] == offender["precision"] == 0.5
    assert (section["changes"]["newly_raised"], section["changes"]["no_longer_raised"]) == (0, 0)
