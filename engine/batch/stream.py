"""A run over one stream of records: inputs -> chunks -> backend -> outputs, in input order,
resumable. (A partitioned run, :mod:`engine.batch.parallel`, is one of these per partition.)

``--resume`` rests on a checkpoint beside the output (``OUT.assay-resume``), rewritten after
every few chunks once the outputs are on disk: how many input records are done, how many
bytes of each output hold them, and the summary so far. Resuming truncates each output to its
recorded length and skips that many records, so the final output equals an uninterrupted
run's, whatever was half-written when the process was killed.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from assay.engine.batch.outcomes import Outcome, Summary
from assay.engine.batch.partitions import Partition, read_partition
from assay.engine.batch.readers import Format, Meter, read_inputs
from assay.engine.batch.records import Record
from assay.engine.batch.workers import Backend, Chunk, Dask, InProcess, Processes
from assay.engine.batch.writers import (
    CsvSink,
    ErrorSink,
    JsonLinesSink,
    OutputFormat,
    ParquetSink,
    Sink,
)
from assay.engine.contracts import ScreeningResult
from assay.engine.evaluators.base import EngineKind
from assay.engine.ruleset import RuleSet, sources_sha256

if TYPE_CHECKING:  # the database layer loads only for --log runs (0.4 s of imports)
    from assay.engine.store.decisions import DecisionLog

CHUNK = 256
# Seconds between checkpoints (ASSAY_CHECKPOINT_SECONDS; 0 checkpoints after every chunk).
CHECKPOINT_EVERY = float(os.environ.get("ASSAY_CHECKPOINT_SECONDS", "2"))


@dataclass(frozen=True)
class Job:
    inputs: Sequence[str]
    output: str  # "-" for stdout
    output_format: OutputFormat
    sources: Mapping[str, str]
    engine: EngineKind = "compiled"
    input_format: Format | None = None
    errors: str | None = None
    workers: int = 1
    dask: str | None = None
    resume: bool = False
    today: date | None = None
    chunk: int = CHUNK
    keep_inputs: bool = False  # return each record's input with its outcome (for --log)
    ruleset: RuleSet | None = None  # the compiled pack, when the caller has it (saves a compile)
    partition: Partition | None = None  # only these byte ranges of the inputs
    header: bool = True  # a CSV output starts with its header (not so a later partition's part)


class JobError(ValueError):
    """A job that cannot run as asked (a usage error)."""


def _fingerprint(job: Job) -> str:
    digest = hashlib.sha256()
    for path in job.inputs:
        if path == "-":
            digest.update(b"-\0")
            continue
        stat = Path(path).stat()
        digest.update(f"{Path(path).resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    digest.update(f"{sources_sha256(job.sources)}\0{job.engine}\0{job.output_format}".encode())
    digest.update(f"{job.errors}\0{job.today}".encode())
    if job.partition is not None:
        digest.update(orjson.dumps(job.partition.to_json()))
    return digest.hexdigest()


@dataclass(frozen=True)
class _State:
    output_bytes: int
    error_bytes: int
    summary: Summary  # summary.records: how many input records the outputs already hold


class Checkpoint:
    """``OUT.assay-resume``: a run's progress, rewritten atomically, for this run only."""

    def __init__(self, job: Job) -> None:
        self.path = Path(f"{job.output}.assay-resume")
        self.fingerprint = _fingerprint(job)

    def read(self) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        state: dict[str, Any] = orjson.loads(self.path.read_bytes())
        if state.get("fingerprint") != self.fingerprint:
            raise JobError(
                f"{self.path} belongs to another run (different inputs, rules, engine or "
                "output format); remove it, or run without --resume"
            )
        return state

    def write(self, state: dict[str, Any]) -> None:
        temporary = self.path.with_suffix(".tmp")
        with temporary.open("wb") as handle:
            handle.write(orjson.dumps({**state, "fingerprint": self.fingerprint}))
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def load(self) -> _State | None:
        """The state of an interrupted stream run (not a partitioned one's)."""
        state = self.read()
        if state is None or "output_bytes" not in state:
            return None
        return _State(
            int(state["output_bytes"]),
            int(state["error_bytes"]),
            Summary.from_json(state["summary"]),
        )

    def save(self, output_bytes: int, error_bytes: int, summary: Summary) -> None:
        self.write(
            {"output_bytes": output_bytes, "error_bytes": error_bytes, "summary": summary.to_json()}
        )


def _open_output(path: str, keep: int | None) -> IO[bytes]:
    if path == "-":
        return sys.stdout.buffer
    handle = Path(path).open("r+b" if keep is not None else "wb")  # noqa: SIM115
    if keep is not None:
        handle.truncate(keep)
        handle.seek(keep)
    return handle


def _chunks(records: Iterator[Record], size: int) -> Iterator[Chunk]:
    while True:
        chunk = list(itertools.islice(records, size))
        if not chunk:
            return
        yield chunk


def _backend(job: Job, today: date) -> Backend:
    if job.dask:
        return Dask(job.dask, job.sources, job.engine, today, sources_sha256(job.sources))
    if job.workers > 1:
        return Processes(job.workers, job.sources, job.engine, today, job.keep_inputs, job.ruleset)
    return InProcess(job.sources, job.engine, today, job.keep_inputs, job.ruleset)


def _decision_rows(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    from assay.engine.store.decisions import decision_row  # noqa: PLC0415 - only --log runs

    rows = []
    for outcome in outcomes:
        if outcome.error or outcome.input is None:
            continue
        result = ScreeningResult.model_validate_json(outcome.json)
        rows.append(
            decision_row(
                outcome.input, result, request_id=None, source="cli", result_json=outcome.json
            )
        )
    return rows


def _open_sinks(job: Job, state: _State | None) -> tuple[Sink, Sink | None, list[Sink]]:
    """The main output (every outcome) and, with ``--errors``, the error records' copy."""
    main: Sink
    if job.output_format == "parquet":
        if job.output == "-":
            raise JobError("Parquet output needs a file, not stdout")
        kept = state.output_bytes if state else None  # for Parquet: complete segments
        main = ParquetSink(Path(job.output), keep=kept)
    else:
        handle = _open_output(job.output, state.output_bytes if state else None)
        if job.output_format == "csv":
            header = state is None and job.header
            main = CsvSink(handle, header=header)
        else:
            main = JsonLinesSink(handle)
    errors: Sink | None = None
    if job.errors is not None:
        try:
            errors = ErrorSink(_open_output(job.errors, state.error_bytes if state else None))
        except BaseException:
            main.abandon()  # not left open: its handle, or a Parquet segment's writer
            raise
    return main, errors, [main] if errors is None else [main, errors]


Observer = Callable[[Sequence[Outcome], Summary, Meter], None]


def run_stream(
    job: Job,
    observe: Observer | None = None,
    log: DecisionLog | None = None,
    backend: Backend | None = None,
) -> Summary:
    """Run ``job`` as one stream of records (screened by ``backend``, or one made for the
    job and closed at the end); every input record gives one output record."""
    today = job.today or date.today()
    job = Job(**{**job.__dict__, "today": today})
    checkpoint = Checkpoint(job) if job.output != "-" else None
    state = checkpoint.load() if checkpoint is not None and job.resume else None
    if checkpoint is not None and state is None:
        checkpoint.remove()
    summary = state.summary if state is not None else Summary()
    meter = Meter()
    if job.partition is not None:
        meter.total = job.partition.size
        records = read_partition(job.partition, meter)
    else:
        records = read_inputs(job.inputs, job.input_format, meter)
    for _ in itertools.islice(records, summary.records):  # already in the outputs
        pass

    main, errors, sinks = _open_sinks(job, state)
    owned = backend is None
    backend = backend if backend is not None else _backend(job, today)
    started = time.perf_counter() - summary.seconds
    last_checkpoint = time.monotonic()
    finished = False
    try:
        for outcomes in backend.run(_chunks(records, job.chunk)):
            if log is not None:  # logged before it is written: no output without its decision
                log.append(_decision_rows(outcomes))
            for sink in sinks:
                sink.write(outcomes)
            summary.add(outcomes)
            summary.seconds = time.perf_counter() - started
            if observe is not None:
                observe(outcomes, summary, meter)
            if checkpoint is not None and time.monotonic() - last_checkpoint >= CHECKPOINT_EVERY:
                output_bytes = main.sync()
                error_bytes = errors.sync() if errors is not None else 0
                checkpoint.save(output_bytes, error_bytes, summary)
                last_checkpoint = time.monotonic()
        finished = True
    finally:
        if owned:
            backend.close()
        for sink in sinks:
            if finished:
                sink.close()
            else:  # failed: keep what --resume continues from
                sink.abandon()
    if checkpoint is not None:
        checkpoint.remove()
    summary.seconds = time.perf_counter() - started
    return summary
