"""Back-tests requested through the API, run in a background process.

``POST /v1/backtests`` stores a :class:`BacktestRequest` as a queued job
(:mod:`engine.store.backtests`) and starts ``python -m engine.jobs JOB_ID`` (:func:`launch`).
The job screens its corpus — a window of the decision log, or manifest files in the
service's corpus directory — with the candidate and the baseline version, scores it against
the inspection outcomes on record, and stores the report. It runs in its own process, at a
lower CPU priority, so a back-test over a million manifests neither holds an API worker nor
slows the screening the border is waiting for.

Decisions are re-screened as of the day they were logged (a consignor's age, a declaration's
date), so a back-test of last month says what the candidate would have said last month.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from engine.backtest import Backtest
from engine.batch.readers import Meter, read_inputs
from engine.batch.records import Record
from engine.engine import Engine
from engine.performance import DEFAULT_ALARM_AT
from engine.store.backtests import BacktestStore
from engine.store.database import open_database
from engine.store.decisions import DecisionLog
from engine.store.inspections import InspectionStore
from engine.store.rulesets import RuleStore

log = logging.getLogger("assay.jobs")
_BEAT_SECONDS = 1.0


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class DecisionWindow(BaseModel):
    """Manifests screened from ``since`` (inclusive) to ``until`` (exclusive; default now).
    Times without a zone are UTC."""

    model_config = ConfigDict(extra="forbid")

    since: Annotated[datetime, AfterValidator(_as_utc)]
    until: Annotated[datetime | None, AfterValidator(lambda v: v and _as_utc(v))] = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.until is not None and self.until <= self.since:
            raise ValueError("until must be after since")
        return self


def _relative(path: str) -> str:
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or "\\" in path:
        raise ValueError(
            "name a file inside the service's corpus directory (ASSAY_CORPUS_DIR),"
            " relative to it, without '..'"
        )
    return path


CorpusFile = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_relative)]
VersionRef = Annotated[int, Field(ge=1, le=2**53)] | Literal["active"]


class BacktestRequest(BaseModel):
    """What to back-test, on what, against what."""

    model_config = ConfigDict(extra="forbid")

    candidate: VersionRef = Field(description="The version to test: its id, or 'active'.")
    baseline: VersionRef | None = Field(
        default="active", description="Compare with this version (default: the active one)."
    )
    decisions: DecisionWindow | None = Field(
        default=None, description="Corpus: the manifests screened in this window of the log."
    )
    files: list[CorpusFile] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Corpus: manifest files (globs) in the service's corpus directory.",
    )
    use_outcomes: bool = Field(
        default=True, description="Score against the inspection outcomes on record."
    )
    alarm_at: int = Field(
        default=DEFAULT_ALARM_AT, ge=1, le=1_000_000, description="The no-find alarm's count."
    )

    @model_validator(mode="after")
    def _one_corpus(self) -> Self:
        if (self.decisions is None) == (self.files is None):
            raise ValueError("give the corpus as either 'decisions' (a window) or 'files'")
        return self


class _Heartbeat:
    """Progress written at most once a second (each write is the job's heartbeat)."""

    def __init__(self, jobs: BacktestStore, job_id: int) -> None:
        self._jobs, self._id = jobs, job_id
        self._last = 0.0

    def __call__(self, done: int, fraction: float | None) -> None:
        now = time.monotonic()
        if now - self._last >= _BEAT_SECONDS:
            self._last = now
            self._jobs.progress(self._id, done, fraction)


def _decision_records(
    url: str, window: DecisionWindow
) -> tuple[Iterator[tuple[Record, date]], int]:
    decisions = DecisionLog(url)
    total = decisions.count_between(window.since, window.until)

    def records() -> Iterator[tuple[Record, date]]:
        try:
            logged = decisions.inputs_between(window.since, window.until)
            for position, (decision_id, at, text) in enumerate(logged, start=1):
                record = Record(position, file=f"decision {decision_id}", raw=text.encode())
                yield record, at.date()
        finally:
            decisions.close()

    return records(), total


def run(url: str, job_id: int) -> bool:
    """Run queued job ``job_id`` to its end; False when it was not queued."""
    db = open_database(url)
    jobs = BacktestStore(db)
    try:
        if not jobs.start(job_id):
            return False
        try:
            _run(url, db, jobs, job_id)
        except Exception as exc:
            log.exception("back-test %s failed", job_id)
            jobs.fail(job_id, f"{type(exc).__name__}: {exc}")
        return True
    finally:
        db.dispose()


def _run(url: str, db: Any, jobs: BacktestStore, job_id: int) -> None:
    job = jobs.get(job_id)
    assert job is not None and isinstance(job.request, dict)
    stored = dict(job.request)
    listed = stored.pop("corpus_paths", None)
    paths = [str(path) for path in listed] if isinstance(listed, list) else []
    request = BacktestRequest.model_validate(stored)
    store = RuleStore(db)

    def engine(version_id: int) -> Engine:
        return Engine(store.compile(version_id), kind="compiled")

    candidate = engine(job.candidate_id)
    baseline = engine(job.baseline_id) if job.baseline_id is not None else None
    outcomes = InspectionStore(db).latest() if request.use_outcomes else {}
    backtest = Backtest(candidate, baseline, outcomes, alarm_at=request.alarm_at)
    beat = _Heartbeat(jobs, job_id)
    try:
        if request.decisions is not None:
            logged, total = _decision_records(url, request.decisions)
            for record, day in logged:
                backtest.add_record(record, today=day)
                beat(backtest.records, backtest.records / total if total else None)
        else:
            meter = Meter()
            for record in read_inputs(paths, meter=meter):
                backtest.add_record(record)
                beat(backtest.records, meter.done / meter.total if meter.total else None)
        report = backtest.report()
    finally:
        candidate.close()
        if baseline is not None:
            baseline.close()
    report["corpus"]["source"] = (
        {"decisions": request.decisions.model_dump(mode="json")}
        if request.decisions is not None
        else {"files": request.files}
    )
    report["candidate"]["version_id"] = job.candidate_id
    if report["baseline"] is not None:
        report["baseline"]["version_id"] = job.baseline_id
    jobs.finish(job_id, report, backtest.records)


def launch(job_id: int, url: str) -> subprocess.Popen[bytes]:
    """Start the runner for ``job_id`` in its own process; reaped by a waiting thread."""
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.jobs", str(job_id)],
        env={**os.environ, "ASSAY_DATABASE_URL": url},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C on the server does not cut a back-test short
    )
    threading.Thread(target=process.wait, name=f"backtest-{job_id}", daemon=True).start()
    return process


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s assay.jobs %(message)s")
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m engine.jobs JOB_ID  (with ASSAY_DATABASE_URL set)", file=sys.stderr)
        return 2
    url = os.environ.get("ASSAY_DATABASE_URL")
    if not url:
        print("ASSAY_DATABASE_URL is not set", file=sys.stderr)
        return 2
    with contextlib.suppress(OSError):
        os.nice(5)  # screening at the border comes first
    return 0 if run(url, int(argv[0])) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
