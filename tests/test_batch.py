"""Batch screening: every format, nothing lost, input order, workers, Dask, resume, memory."""

from __future__ import annotations

import csv
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psutil
import pyarrow.parquet as pq
import pytest
from distributed import LocalCluster
from playwright.sync_api import sync_playwright
from typer.testing import CliRunner

from assay.cli.main import app
from assay.engine.batch.columns import COLUMNS, ITEM_COLUMNS, MANIFEST_COLUMNS, write_flat
from assay.engine.batch.readers import read_inputs
from assay.engine.batch.workers import InProcess, Processes
from assay.engine.ruleset import default_pack_dir, read_sources
from assay.engine.store.decisions import DecisionLog
from tests.conftest import (
    CHROMIUM_ARGS,
    ROOT,
    assert_one_record_per_input,
    chromium,
    placeless,
    screened_results,
    synthetic_docs,
    write_jsonl,
    write_mixed,
)

runner = CliRunner()
ASSAY = str(Path(sys.executable).with_name("assay"))


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _screen(*args: str) -> Any:
    return runner.invoke(app, ["screen", *args])


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return synthetic_docs(300)


@pytest.fixture(scope="module")
def reference(
    docs: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> list[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("reference")
    source = write_jsonl(folder / "in.jsonl", docs)
    assert _screen(str(source), "-o", str(folder / "out.jsonl"), "--workers", "1").exit_code == 0
    return screened_results(folder / "out.jsonl")


def test_every_input_format_gives_the_samescreened_results(
    docs: list[dict[str, Any]], reference: list[dict[str, Any]], tmp_path: Path
) -> None:
    inputs = {
        "jsonl": write_jsonl(tmp_path / "a.jsonl", docs),
        "json array": tmp_path / "b.json",
        "gzipped jsonl": tmp_path / "c.jsonl.gz",
        "gzip without the name": tmp_path / "d.jsonl",
        "csv": tmp_path / "e.csv",
        "parquet": tmp_path / "f.parquet",
    }
    inputs["json array"].write_text(json.dumps(docs, indent=2))
    inputs["gzipped jsonl"].write_bytes(gzip.compress(inputs["jsonl"].read_bytes()))
    inputs["gzip without the name"].write_bytes(gzip.compress(inputs["jsonl"].read_bytes()))
    write_flat(inputs["csv"], docs, "csv")
    write_flat(inputs["parquet"], docs, "parquet")
    for name, path in inputs.items():
        out = tmp_path / f"{path.name}.out.jsonl"
        result = _screen(str(path), "-o", str(out), "--workers", "1")
        assert result.exit_code == 0, (name, result.output)
        got = screened_results(out)
        assert placeless(got) == placeless(reference), name
        assert [r["position"] for r in got] == list(range(1, len(docs) + 1)), name
        assert {r["file"] for r in got} == {str(path)}, name


def test_stdin_sniffs_arrays_and_lines(
    docs: list[dict[str, Any]], reference: list[dict[str, Any]], tmp_path: Path
) -> None:
    for text in (json.dumps(docs[:20]), "".join(json.dumps(d) + "\n" for d in docs[:20])):
        result = runner.invoke(app, ["screen", "-", "-o", str(tmp_path / "o.jsonl")], input=text)
        assert result.exit_code == 0
        got = screened_results(tmp_path / "o.jsonl")
        assert placeless(got) == placeless(reference[:20])
        assert [(r["position"], r["file"], r["line"]) for r in got[:2]] == [
            (1, "-", 1),
            (2, "-", 2),
        ]


def test_several_inputs_and_globs_are_one_run(
    docs: list[dict[str, Any]], reference: list[dict[str, Any]], tmp_path: Path
) -> None:
    write_jsonl(tmp_path / "part-1.jsonl", docs[:100])
    write_jsonl(tmp_path / "part-2.jsonl", docs[100:250])
    write_jsonl(tmp_path / "part-3.jsonl", docs[250:])
    out = tmp_path / "all.jsonl"
    assert _screen(str(tmp_path / "part-*.jsonl"), "-o", str(out)).exit_code == 0
    got = screened_results(out)
    assert placeless(got) == placeless(reference)
    assert [r["position"] for r in got] == list(range(1, 301))  # counted across the files
    assert [(Path(r["file"]).name, r["line"]) for r in got[99:101]] == [
        ("part-1.jsonl", 100),
        ("part-2.jsonl", 1),
    ]
    assert _screen(str(tmp_path / "nothing-*.jsonl")).exit_code == 2


def test_nothing_lost_errors_carry_their_place(docs: list[dict[str, Any]], tmp_path: Path) -> None:
    lines = [json.dumps(d) for d in docs[:5]]
    lines.insert(2, "{not json")
    bad = dict(docs[0], manifest_id="BAD-7", destination_country="ZZ")
    lines.insert(4, json.dumps(bad))
    lines.insert(1, "")  # blank lines are not records
    source = tmp_path / "mixed.jsonl"
    source.write_text("\n".join(lines) + "\n")
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    result = _screen(str(source), "-o", str(out), "--errors", str(errors))
    assert result.exit_code == 1
    assert "7 records read = 5 screened + 2 errors" in result.stderr
    first, second = screened_results(errors)
    assert first["error"]["file"] == str(source) and first["error"]["line"] == 4
    assert first["error"]["position"] == 3 and "not valid JSON" in first["error"]["reason"]
    assert second["error"]["manifest_id"] == "BAD-7" and second["error"]["line"] == 6
    assert second["error"]["errors"][0]["field"] == "destination_country"
    # The output still lines up with the input: the errors file is a copy.
    got = screened_results(out)
    assert [r.get("manifest_id") for r in got] == [
        docs[0]["manifest_id"],
        docs[1]["manifest_id"],
        None,
        docs[2]["manifest_id"],
        None,
        docs[3]["manifest_id"],
        docs[4]["manifest_id"],
    ]
    assert got[2] == first and got[4] == second
    assert [(r["position"], r["line"]) for r in got if "error" not in r] == [
        (1, 1),
        (2, 3),
        (4, 5),
        (6, 7),
        (7, 8),
    ]


@pytest.mark.parametrize(
    ("suffix", "workers", "gzipped"),
    [
        ("jsonl", "1", False),
        ("csv", "1", False),
        ("parquet", "1", False),
        ("jsonl", "2", True),  # helpers, the records streamed through the main process
        ("parquet", "2", False),  # the same: a Parquet output is never partitioned
    ],
    ids=["jsonl", "csv", "parquet", "helpers-gzip-jsonl", "helpers-parquet"],
)
def test_errors_file_is_a_copy_and_the_output_keeps_every_record(
    docs: list[dict[str, Any]], tmp_path: Path, suffix: str, workers: str, gzipped: bool
) -> None:
    source = tmp_path / "in.jsonl"
    bad = write_mixed(source, docs, bad_every=37)
    if gzipped:
        source = source.with_name("in.jsonl.gz")
        source.write_bytes(gzip.compress((tmp_path / "in.jsonl").read_bytes()))
    out, errors = tmp_path / f"out.{suffix}", tmp_path / "errors.jsonl"
    result = _screen(str(source), "-o", str(out), "--errors", str(errors), "--workers", workers)
    assert result.exit_code == 1, result.output
    assert f"{len(docs)} records read = {len(docs) - len(bad)} screened" in result.stderr
    assert_one_record_per_input(out, len(docs), errors, bad)


def test_csv_problems(docs: list[dict[str, Any]], tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    write_flat(source, docs[:3], "csv")
    rows = _csv_rows(source)
    header = list(rows[0])
    with (tmp_path / "extra.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, [*header, "colour"])
        writer.writeheader()
        writer.writerows(rows)
    result = _screen(str(tmp_path / "extra.csv"))
    assert result.exit_code == 2 and "unknown column(s) colour" in result.stderr
    multi = next(i for i, d in enumerate(docs) if len(d["items"]) > 1)
    write_flat(source, [docs[multi]], "csv")
    rows = _csv_rows(source)
    rows[1]["transport_mode"] = "air" if rows[0]["transport_mode"] != "air" else "sea"
    with source.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows)
    result = _screen(str(source))
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["line"] == 2 and error["manifest_id"] == docs[multi]["manifest_id"]
    assert "line 3: column transport_mode" in error["reason"]


def test_flat_layout_columns_come_from_the_contract() -> None:
    assert COLUMNS == MANIFEST_COLUMNS + ITEM_COLUMNS
    assert "consignor.established_on" in MANIFEST_COLUMNS and "gross_mass_kg" in ITEM_COLUMNS
    readme = (ROOT / "README.md").read_text()
    for column in COLUMNS:
        assert f"`{column}`" in readme, column


def test_csv_and_parquet_outputs_one_row_per_flag(
    reference: list[dict[str, Any]], docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", docs)
    expected_rows = sum(max(1, len(r["flags"])) for r in reference)
    assert _screen(str(source), "-o", str(tmp_path / "o.csv")).exit_code == 0
    rows = _csv_rows(tmp_path / "o.csv")
    assert len(rows) == expected_rows
    flagged = next(r for r in reference if r["flags"])
    mine = [row for row in rows if row["manifest_id"] == flagged["manifest_id"]]
    assert [row["rule_id"] for row in mine] == [f["rule_id"] for f in flagged["flags"]]
    # An analyst filtering the rows can tell findings from indicators (README, risk lanes).
    assert [row["role"] for row in mine] == [f["role"] for f in flagged["flags"]]
    assert _screen(str(source), "-o", str(tmp_path / "o.parquet")).exit_code == 0
    table = pq.read_table(tmp_path / "o.parquet")
    assert table.num_rows == expected_rows
    assert table.column("manifest_id").to_pylist()[0] == reference[0]["manifest_id"]
    roles = [r for r in table.column("role").to_pylist() if r is not None]
    assert roles and set(roles) <= {"finding", "indicator"}


def test_two_workers_equal_one(
    docs: list[dict[str, Any]], reference: list[dict[str, Any]], tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", docs)
    out = tmp_path / "w2.jsonl"
    assert _screen(str(source), "-o", str(out), "--workers", "2").exit_code == 0
    assert placeless(screened_results(out)) == placeless(reference)


def test_the_main_process_and_a_helper_share_the_chunks_in_order(
    docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", docs * 4)
    records = list(read_inputs([str(source)]))
    chunks = [records[i : i + 8] for i in range(0, len(records), 8)]
    sources = read_sources(default_pack_dir())
    today = datetime.now(UTC).date()
    alone = InProcess(sources, "compiled", today)
    expected = [o for chunk in alone.run(iter(chunks)) for o in chunk]
    alone.close()
    shared = Processes(2, sources, "compiled", today)
    try:
        shared.wait_ready()
        got = [o for chunk in shared.run(iter(chunks)) for o in chunk]
    finally:
        shared.close()
    assert shared.screened_here > 0 and shared.screened_by_helpers > 0  # both did some
    assert [o.position for o in got] == [r.position for r in records]
    assert [orjson.loads(o.json)["flags"] for o in got] == [
        orjson.loads(o.json)["flags"] for o in expected
    ]


def test_dask_cluster_equals_local(docs: list[dict[str, Any]], tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    bad = write_mixed(source, docs, bad_every=41)
    local, local_errors = tmp_path / "local.jsonl", tmp_path / "local.errors.jsonl"
    assert (
        _screen(str(source), "-o", str(local), "--errors", str(local_errors), "--workers", "1")
    ).exit_code == 1
    out, errors = tmp_path / "dask.jsonl", tmp_path / "dask.errors.jsonl"
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        command = [ASSAY, "screen", str(source), "-o", str(out), "--errors", str(errors)]
        done = subprocess.run(
            [*command, "--dask", cluster.scheduler_address],
            capture_output=True,
            text=True,
            check=False,
        )
    assert done.returncode == 1, done.stderr  # some records are errors
    assert screened_results(out) == screened_results(local)
    assert errors.read_bytes() == local_errors.read_bytes()
    assert_one_record_per_input(out, len(docs), errors, bad)


def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    docs = synthetic_docs(6_000, seed=11)
    source, whole, out, checkpoint = _uninterrupted(tmp_path, docs, "jsonl")
    _kill_when(source, out, lambda: checkpoint.exists() and out.stat().st_size > 200_000)
    partial = len(out.read_bytes().splitlines())
    assert 0 < partial < len(docs)
    errors = _errors_of(out)
    result = _screen(str(source), "-o", str(out), "--errors", str(errors), "--resume")
    assert result.exit_code == 1, result.output  # the input has bad records
    assert screened_results(out) == screened_results(whole)
    assert errors.read_bytes() == _errors_of(whole).read_bytes()
    assert_one_record_per_input(out, len(docs), errors, list(range(500, 6_001, 500)))
    assert not checkpoint.exists()


def test_parquet_output_resumes_after_sigkill(tmp_path: Path) -> None:
    """Killed with segments done and one open, resumed: the joined file equals an
    uninterrupted run's, row for row, and no segment is left behind."""
    source, whole, out, checkpoint = _uninterrupted(
        tmp_path, synthetic_docs(6_000, seed=12), "parquet"
    )

    def segments() -> list[Path]:
        return sorted(tmp_path.glob("out.parquet.assay-segment-*"))

    _kill_when(source, out, lambda: checkpoint.exists() and len(segments()) >= 3)
    assert not out.exists() and segments()  # interrupted before the join
    errors = _errors_of(out)
    result = _screen(str(source), "-o", str(out), "--errors", str(errors), "--resume")
    assert result.exit_code == 1, result.output  # the input has bad records
    assert not checkpoint.exists() and segments() == []
    resumed, expected = pq.read_table(out).to_pylist(), pq.read_table(whole).to_pylist()
    assert len(expected) > 1_000 and resumed == expected
    assert errors.read_bytes() == _errors_of(whole).read_bytes()
    assert_one_record_per_input(out, 6_000, errors, list(range(500, 6_001, 500)))


def _errors_of(out: Path) -> Path:
    return out.with_name(f"{out.stem}.errors.jsonl")


def _uninterrupted(
    tmp_path: Path, docs: list[dict[str, Any]], suffix: str
) -> tuple[Path, Path, Path, Path]:
    """The input (with a bad record every 500), an uninterrupted run's output (its
    ``--errors`` file: :func:`_errors_of`), and where the run to interrupt writes its output
    and checkpoint."""
    source = tmp_path / "in.jsonl"
    write_mixed(source, docs, bad_every=500)
    whole = tmp_path / f"whole.{suffix}"
    errors = str(_errors_of(whole))
    assert (
        _screen(str(source), "-o", str(whole), "--errors", errors, "--workers", "1").exit_code == 1
    )
    out = tmp_path / f"out.{suffix}"
    return source, whole, out, Path(f"{out}.assay-resume")


def _kill_when(source: Path, out: Path, ready: Callable[[], bool]) -> None:
    """Run ``assay screen SOURCE -o OUT --errors ...`` with a checkpoint after every chunk;
    SIGKILL it once ``ready()``."""
    errors = str(_errors_of(out))
    process = subprocess.Popen(
        [ASSAY, "screen", str(source), "-o", str(out), "--errors", errors, "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ASSAY_CHECKPOINT_SECONDS": "0"},
    )
    deadline = time.monotonic() + 60
    while not ready():
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()


def _peak_rss(command: list[str]) -> int:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watched = psutil.Process(process.pid)
    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.NoSuchProcess:
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch)
    thread.start()
    assert process.wait() == 0
    stop.set()
    thread.join()
    return peak


def test_memory_does_not_grow_with_the_input(tmp_path: Path) -> None:
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    for path, n in ((small, 5_000), (large, 50_000)):
        assert (
            runner.invoke(
                app, ["fixtures", "generate", "-n", str(n), "--seed", "2", "-o", str(path)]
            ).exit_code
            == 0
        )
    command = [ASSAY, "screen", "--workers", "1", "-o", os.devnull]
    small_peak = _peak_rss([*command, str(small)])
    large_peak = _peak_rss([*command, str(large)])
    assert large_peak <= 1.5 * small_peak, (small_peak, large_peak)


def test_report_is_self_contained(docs: list[dict[str, Any]], tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", docs)
    report = tmp_path / "report.html"
    assert _screen(str(source), "-o", os.devnull, "--report", str(report)).exit_code == 0
    text = report.read_text()
    assert "http://" not in text and "https://" not in text and "<script" not in text
    for chart in ("chart-channels", "chart-rules", "chart-patterns", "chart-scores"):
        assert f'id="{chart}"' in text
    assert text.count("<tr>") > 10


def test_report_renders_in_a_browser(docs: list[dict[str, Any]], tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", docs)
    report = tmp_path / "report.html"
    assert _screen(str(source), "-o", os.devnull, "--report", str(report)).exit_code == 0
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.goto(report.as_uri())
        bars = page.locator("svg.chart rect.bar").count()
        visible = page.locator("#chart-channels").bounding_box()
        rows = page.locator("#riskiest tbody tr").count()
        title = page.title()
        browser.close()
    assert requests == [report.as_uri()]  # nothing fetched from anywhere else
    assert bars >= 3 + 10  # lanes, histogram columns and more
    assert visible is not None and visible["width"] > 100 and visible["height"] > 20
    assert rows >= 10
    assert title.startswith("Assay screening report")


def test_reader_positions_count_across_files(tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    first = write_jsonl(tmp_path / "1.jsonl", docs[:3])
    second = tmp_path / "2.json"
    second.write_text(json.dumps(docs[3:5]))
    records = list(read_inputs([str(first), str(second)]))
    assert [(r.position, Path(r.file or "").name, r.line) for r in records] == [
        (1, "1.jsonl", 1),
        (2, "1.jsonl", 2),
        (3, "1.jsonl", 3),
        (4, "2.json", 1),
        (5, "2.json", 2),
    ]


def test_log_records_every_screened_manifest(docs: list[dict[str, Any]], tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", docs[:40])
    url = f"sqlite:///{tmp_path / 'log.db'}"
    for workers in ("1", "2"):
        result = _screen(
            str(source), "-o", os.devnull, "--log", "--database-url", url, "--workers", workers
        )
        assert result.exit_code == 0, result.output
    log = DecisionLog(url)
    try:
        logged = list(log.between(datetime(2000, 1, 1, tzinfo=UTC)))
    finally:
        log.close()
    assert len(logged) == 80
    assert {d.source for d in logged} == {"cli"}
    assert logged[0].input == docs[0] and logged[40].input == docs[0]
