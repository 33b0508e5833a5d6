"""Back-tests requested through the API, run in a background process.

``POST /v1/backtests`` stores a :class:`BacktestRequest` as a queued job
(:mod:`engine.store.backtests`) and starts ``python -m engine.jobs JOB_ID`` (:func:`launch`).
The job screens its corpus — a window of the decision log, or manifest files in the
service's corpus directory (``ASSAY_CORPUS_DIR``; the job stores the files' names relative
to it, found by :func:`engine.corpus.resolve`, and reports them by those names) — with the
candidate and the baseline version, on the evaluator the service screens with (stored with
the job as ``engine``, named by the report), scores it against the inspection outcomes on
record (the seizures among them are the repeat-offender rules' history when the versions'
correlation rules run over the corpus in filed_at order: :mod:`engine.correlation.backtest`),
and stores the report. It runs in its own process, at a lower CPU priority, so a
back-test over a million manifests neither holds an API worker nor slows the screening the
border is waiting for.

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
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from assay.engine.backtest import Backtest
from assay.engine.batch.readers import InputError, Meter, read_inputs
from assay.engine.batch.records import Record
from assay.engine.corpus import (
    MAX_DEPTH,
    MAX_FILES,
    MAX_PATTERN_LENGTH,
    MAX_PATTERNS,
    CorpusError,
    locate,
    refusal,
)
from assay.engine.engine import Engine
from assay.engine.errors import AssayError
from assay.engine.evaluators.base import EngineKind
from assay.engine.performance import DEFAULT_ALARM_AT
from assay.engine.store.backtests import BacktestStore
from assay.engine.store.database import open_database
from assay.engine.store.decisions import DecisionLog
from assay.engine.store.inspections import InspectionStore
from assay.engine.store.rulesets import RuleStore

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


def _relative(pattern: str) -> str:
    reason = refusal(pattern)
    if reason is not None:
        raise ValueError(reason)
    return pattern


# The limits on patterns (how many, how long, one '**') are checked where they are resolved
# (engine.corpus), with errors naming the pattern's position; they are in the schema for
# clients, and a job stored by older code, under older limits, still validates.
CorpusFile = Annotated[
    str,
    Field(min_length=1, json_schema_extra={"maxLength": MAX_PATTERN_LENGTH}),
    AfterValidator(_relative),
]
CorpusFiles = Annotated[
    list[CorpusFile], Field(min_length=1, json_schema_extra={"maxItems": MAX_PATTERNS})
]
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
    files: CorpusFiles | None = Field(
        default=None,
        description=(
            "Corpus: manifest files in the service's corpus directory, as glob patterns"
            f" relative to it: at most {MAX_PATTERNS} patterns of at most"
            f" {MAX_PATTERN_LENGTH} characters, one '**' each, {MAX_DEPTH} folders deep at"
            f" most; at most {MAX_FILES:,} files, each screened once."
        ),
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


def _corpus_files(listed: Any, corpus_dir: Path | None) -> tuple[list[str], list[str]]:
    """The files a job on files reads, and the names its report gives them.

    The service stores corpus-relative names (``corpus_paths``), found by
    :func:`engine.corpus.resolve`; each is checked again here, as the directory may have
    changed since. Older code stored absolute paths, checked when stored: they are read
    as they are, and named relative to the corpus directory (or by their file name alone
    when they are not in it), so that no report shows a server path.
    """
    paths: list[str] = []
    names: list[str] = []
    base = os.path.realpath(corpus_dir) if corpus_dir is not None else None
    for entry in listed if isinstance(listed, list) else []:
        stored = str(entry)
        if PurePosixPath(stored).is_absolute():
            inside = base is not None and os.path.commonpath([base, stored]) == base
            paths.append(stored)
            names.append(os.path.relpath(stored, base) if inside else PurePosixPath(stored).name)
            continue
        if corpus_dir is None:
            raise InputError(
                "the job reads files of the corpus directory, and ASSAY_CORPUS_DIR is not set"
            )
        try:
            paths.append(locate(corpus_dir, stored))
        except CorpusError as exc:
            raise InputError(str(exc)) from None
        names.append(stored)
    return paths, names


def unplaced(message: str, corpus_dir: Path | None) -> str:
    """An error as stored and shown, without the corpus directory's path: a library's
    message may carry a path it was given (files inside are named relative to it)."""
    if corpus_dir is None:
        return message
    roots = {str(corpus_dir), os.path.realpath(corpus_dir)} - {"", "/", "."}
    for root in sorted(roots, key=len, reverse=True):
        message = message.replace(root + os.sep, "").replace(root, "the corpus directory")
    return message


def run(url: str, job_id: int, corpus_dir: Path | None = None) -> bool:
    """Run queued job ``job_id`` to its end, reading files (if it names some) in
    ``corpus_dir``; False when it was not queued."""
    db = open_database(url)
    jobs = BacktestStore(db)
    try:
        if not jobs.start(job_id):
            return False
        try:
            _run(url, db, jobs, job_id, corpus_dir)
        except (AssayError, InputError) as exc:  # the version's or the corpus's fault: said
            log.warning("back-test %s failed: %s", job_id, exc)
            jobs.fail(job_id, unplaced(str(exc), corpus_dir))
        except Exception:  # Assay's fault: in the log, and never its classes or paths
            log.exception("back-test %s failed", job_id)
            jobs.fail(job_id, "internal error; the service's log has the details")
        return True
    finally:
        db.dispose()


def _run(url: str, db: Any, jobs: BacktestStore, job_id: int, corpus_dir: Path | None) -> None:
    job = jobs.get(job_id)
    assert job is not None and isinstance(job.request, dict)
    stored = dict(job.request)
    listed = stored.pop("corpus_paths", None)
    kind = _engine_kind(stored.pop("engine", "compiled"))
    request = BacktestRequest.model_validate(stored)
    paths, names = _corpus_files(listed, corpus_dir) if request.files is not None else ([], [])
    store = RuleStore(db)

    def engine(version_id: int) -> Engine:
        return Engine(store.compile(version_id), kind=kind, version_id=version_id)

    candidate = engine(job.candidate_id)
    try:
        baseline = engine(job.baseline_id) if job.baseline_id is not None else None
    except BaseException:
        candidate.close()
        raise
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
            try:
                for record in read_inputs(paths, meter=meter, names=names):
                    backtest.add_record(record)
                    beat(backtest.records, meter.done / meter.total if meter.total else None)
            except OSError as exc:  # named as the report names the file, not by its path
                shown = dict(zip(paths, names, strict=True)).get(str(exc.filename), "a file")
                raise InputError(f"{shown} cannot be read: {exc.strerror or exc}") from None
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
    report["engine"] = kind
    report["candidate"]["version_id"] = job.candidate_id
    if report["baseline"] is not None:
        report["baseline"]["version_id"] = job.baseline_id
    jobs.finish(job_id, report, backtest.records)


def _engine_kind(stored: object) -> EngineKind:
    """The evaluator a job screens with: the service's when it was started (jobs stored by
    older releases, which name none, used the compiled one)."""
    if stored == "compiled":
        return "compiled"
    if stored == "rete":
        return "rete"
    raise InputError(f"the job names an unknown evaluator {stored!r}")


def launch(job_id: int, url: str, corpus_dir: Path | None = None) -> subprocess.Popen[bytes]:
    """Start the runner for ``job_id`` in its own process; reaped by a waiting thread.
    ``corpus_dir`` is where the files a job names are (passed as ``ASSAY_CORPUS_DIR``)."""
    env = {**os.environ, "ASSAY_DATABASE_URL": url}
    if corpus_dir is not None:
        env["ASSAY_CORPUS_DIR"] = str(corpus_dir.absolute())
    process = subprocess.Popen(
        [sys.executable, "-m", "assay.engine.jobs", str(job_id)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C on the server does not cut a back-test short
    )
    threading.Thread(target=process.wait, name=f"backtest-{job_id}", daemon=True).start()
    return process


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s assay.jobs %(message)s")
    if len(argv) != 1 or not argv[0].isdigit():
        print(
            "usage: python -m engine.jobs JOB_ID  (with ASSAY_DATABASE_URL set, and"
            " ASSAY_CORPUS_DIR for a job on files)",
            file=sys.stderr,
        )
        return 2
    url = os.environ.get("ASSAY_DATABASE_URL")
    if not url:
        print("ASSAY_DATABASE_URL is not set", file=sys.stderr)
        return 2
    corpus = os.environ.get("ASSAY_CORPUS_DIR")
    with contextlib.suppress(OSError):
        os.nice(5)  # screening at the border comes first
    return 0 if run(url, int(argv[0]), Path(corpus) if corpus else None) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
