"""Partitioned runs: the planner and reader against the whole-file reader, and ``--workers 2``
runs that read and write their own partitions against one process, including after SIGKILL."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from assay.cli.main import app
from assay.engine.batch import partitions as partitions_module
from assay.engine.batch.parallel import PartitionedRun
from assay.engine.batch.partitions import Partition, plan, read_partition, splittable
from assay.engine.batch.readers import read_inputs
from assay.engine.batch.stream import Job
from assay.engine.ruleset import default_pack_dir, read_sources
from tests.conftest import (
    assert_one_record_per_input,
    screened_results,
    synthetic_docs,
    write_jsonl,
    write_mixed,
)

runner = CliRunner()
ASSAY = str(Path(sys.executable).with_name("assay"))

_LINES = st.one_of(
    st.just(b'{"a": 1}'),
    st.binary(min_size=1, max_size=40).map(lambda b: b"{" + b.replace(b"\n", b"")),
    st.sampled_from([b"", b" ", b"\t \r", b"\x0b", b" {}", b"not json"]),
)
_FILES = st.lists(
    st.tuples(st.lists(_LINES, max_size=30), st.booleans()),  # lines, ends with a newline
    min_size=1,
    max_size=3,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(files=_FILES, parts=st.integers(1, 12), smallest=st.integers(1, 200))
def test_partitions_read_exactly_what_the_whole_run_reads(
    tmp_path: Path, files: list[tuple[list[bytes], bool]], parts: int, smallest: int
) -> None:
    paths = []
    for number, (lines, newline_at_end) in enumerate(files):
        path = tmp_path / f"in-{number}.jsonl"
        body = b"\n".join(lines) + (b"\n" if newline_at_end and lines else b"")
        path.write_bytes(body)
        paths.append(str(path))
    expected = [(r.position, r.file, r.line, r.raw) for r in read_inputs(paths, "jsonl")]
    partitions = plan(paths, parts, smallest)
    got = [(r.position, r.file, r.line, r.raw) for p in partitions for r in read_partition(p)]
    assert got == expected
    # Every byte in exactly one partition, in order, and the plan survives its checkpoint.
    covered = [(s.path, s.start, s.end) for p in partitions for s in p.segments]
    for name in paths:
        ranges = [(a, b) for f, a, b in covered if f == name]
        ends = [0] + [b for _, b in ranges]
        assert [a for a, _ in ranges] == ends[:-1]
        assert ends[-1] == Path(name).stat().st_size
    assert [Partition.from_json(p.to_json()) for p in partitions] == partitions
    assert [p.index for p in partitions] == list(range(len(partitions)))


def test_only_plain_json_lines_files_are_split(tmp_path: Path) -> None:
    lines = tmp_path / "a.jsonl"
    lines.write_text('{"a": 1}\n')
    unnamed = tmp_path / "a.txt"
    unnamed.write_text('{"a": 1}\n{"a": 2}\n')
    array = tmp_path / "a.json"
    array.write_text('[{"a": 1}]')
    packed = tmp_path / "a.jsonl.gz"
    packed.write_bytes(gzip.compress(b'{"a": 1}\n'))
    assert splittable([str(lines), str(unnamed)], None)
    assert not splittable([str(lines), str(array)], None)
    assert not splittable([str(packed)], None)
    assert not splittable(["-"], None)
    pipe = tmp_path / "pipe.jsonl"
    os.mkfifo(pipe)
    assert not splittable([str(pipe)], None)  # not opened: that would consume its data


@pytest.fixture
def mixed_input(tmp_path: Path) -> Path:
    """Manifests with bad lines, blank lines and a second file: what positions must survive."""
    docs = synthetic_docs(900, seed=21)
    lines = [json.dumps(d) for d in docs]
    lines[17] = "{not json"
    lines[400] = json.dumps({**docs[400], "items": "none"})
    lines.insert(250, "")
    lines.insert(600, "   ")
    (tmp_path / "in-1.jsonl").write_text("\n".join(lines[:500]) + "\n")
    (tmp_path / "in-2.jsonl").write_text("\n".join(lines[500:]))  # no final newline
    return tmp_path


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_two_workers_on_partitions_write_what_one_process_writes(
    mixed_input: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(partitions_module, "MIN_PARTITION", 40_000)  # ~30 partitions
    inputs = str(mixed_input / "in-*.jsonl")
    outputs = {}
    for workers in ("1", "2"):
        out = mixed_input / f"w{workers}.{fmt}"
        errors = mixed_input / f"w{workers}.errors.jsonl"
        result = runner.invoke(
            app, ["screen", inputs, "-o", str(out), "--errors", str(errors), "--workers", workers]
        )
        assert result.exit_code == 1, result.output  # two error records
        assert "900 records read = 898 screened + 2 errors" in result.output
        outputs[workers] = (out, errors)
    (one, one_errors), (two, two_errors) = outputs["1"], outputs["2"]
    if fmt == "jsonl":
        assert screened_results(two) == screened_results(one)
    else:
        assert two.read_bytes() == one.read_bytes()  # no timings in the CSV layout
        assert two.read_text().count("position,file,line") == 1  # one header
    assert two_errors.read_bytes() == one_errors.read_bytes()
    assert_one_record_per_input(two, 900, two_errors, [18, 401])
    assert sorted(p.name for p in mixed_input.iterdir() if "assay-" in p.name) == []


def test_the_main_process_and_a_helper_share_the_partitions(
    mixed_input: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(partitions_module, "MIN_PARTITION", 40_000)
    paths = sorted(str(p) for p in mixed_input.glob("in-*.jsonl"))
    alone = mixed_input / "alone.jsonl"
    assert runner.invoke(app, ["screen", *paths, "-o", str(alone), "--workers", "1"]).exit_code == 1
    shared = mixed_input / "shared.jsonl"
    job = Job(
        inputs=paths,
        output=str(shared),
        output_format="jsonl",
        sources=read_sources(default_pack_dir()),
        workers=2,
        today=date.today(),
    )
    run = PartitionedRun(job, None, None)
    run.wait_ready()
    run.screen()
    run.join()
    assert len(run.plan) > 10
    assert run.screened_here > 0 and run.screened_by_helpers > 0  # both did some
    assert run.screened_here + run.screened_by_helpers == len(run.plan)
    assert screened_results(shared) == screened_results(alone)
    assert run.summary.records == 900 and run.summary.errors == 2


def test_partitioned_run_resumes_after_sigkill(tmp_path: Path) -> None:
    docs = synthetic_docs(7_000, seed=13)  # ~11 MB: a dozen partitions of 1 MiB
    source = tmp_path / "in.jsonl"
    bad = write_mixed(source, docs, bad_every=250)
    whole, whole_errors = tmp_path / "whole.jsonl", tmp_path / "whole.errors.jsonl"
    command = ["screen", str(source), "-o", str(whole), "--errors", str(whole_errors)]
    assert runner.invoke(app, [*command, "--workers", "1"]).exit_code == 1
    out, errors = tmp_path / "out.jsonl", tmp_path / "out.errors.jsonl"
    checkpoint = Path(f"{out}.assay-resume")
    process = subprocess.Popen(
        [ASSAY, "screen", str(source), "-o", str(out), "--errors", str(errors), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ASSAY_CHECKPOINT_SECONDS": "0"},
    )
    watched = psutil.Process(process.pid)
    deadline = time.monotonic() + 60

    def parts_done() -> int:
        if not checkpoint.exists():
            return 0
        try:
            return len(json.loads(checkpoint.read_bytes())["done"])
        except ValueError:  # replaced while being read
            return 0

    while parts_done() < 3:
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    helpers = watched.children()
    assert helpers, "a partitioned run with two workers has a helper process"
    process.send_signal(signal.SIGKILL)
    process.wait()
    _, alive = psutil.wait_procs(helpers, timeout=10)
    assert not alive, "helpers outlive a killed run"
    assert not out.exists()  # the output is only joined at the end
    resume = ["screen", str(source), "-o", str(out), "--errors", str(errors), "--resume"]
    result = runner.invoke(app, [*resume, "--workers", "2"])
    assert result.exit_code == 1, result.output  # the input has bad records
    assert screened_results(out) == screened_results(whole)
    assert errors.read_bytes() == whole_errors.read_bytes()
    assert_one_record_per_input(out, len(docs), errors, bad)
    assert not checkpoint.exists()
    assert [p.name for p in tmp_path.iterdir() if "assay-part" in p.name] == []


def test_a_run_that_outpaces_its_helper_still_ends(tmp_path: Path) -> None:
    """Two partitions: the main process screens both before the helper has started, and the
    run must still end (the helper's unread job once kept the process alive at exit)."""
    source = write_jsonl(tmp_path / "in.jsonl", synthetic_docs(1_700, seed=5))
    assert 2 * 1024 * 1024 < source.stat().st_size < 3 * 1024 * 1024  # two partitions
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.jsonl"
        done = subprocess.run(
            [ASSAY, "screen", str(source), "-o", str(out), "--workers", workers],
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(screened_results(out))
    assert outputs[0] == outputs[1]
