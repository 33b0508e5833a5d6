"""The decision writer: the process that copies the journal into the database (the ingester).

Service workers write each decision to the journal (:mod:`engine.store.journal`) and answer;
this process, one per journal directory (it holds ``ingest.lock``), copies every complete
frame into the decision log every ~25 ms, in one transaction per pass with the segments'
new offsets, and deletes segments that are finished and copied. It flushes the journal to
disk every 100 ms; for SQLite it also does every checkpoint and log flush
(:class:`Checkpointer`), so that no commit waits for a sync.

``assay serve`` starts it before its workers (:class:`Ingester`, stopped with ``assay serve``,
even by SIGKILL); a worker that finds none running starts one (the journal watches the
ingester's ``status.json``). Stopping it (SIGTERM) copies what is finished first. If the
database refuses or cannot be reached, at start or later, the journal keeps growing and the
status says why (password hidden); the writer connects again every second, bringing the
schema to the newest revision first, and the workers refuse to answer (503) once the journal
holds more than their backlog limit.

Run by hand: ``ASSAY_DATABASE_URL=... python -m assay.engine.store.writer JOURNAL_DIR``. The
URL comes through the environment, never the command line, where ``ps`` shows it to anyone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assay.engine.processes import die_with_parent, stop
from assay.engine.store.decisions import DecisionLog
from assay.engine.store.journal import (
    LOCK,
    URL_VARIABLE,
    DecisionLogError,
    Record,
    Status,
    decode_records,
    ingester_running,
    is_held,
    journal_key,
    read_frames,
    segments,
    start_ingester,
)
from assay.engine.store.redact import SecretFilter, database_problem, shown_url
from assay.engine.store.schema import SchemaError

log = logging.getLogger("assay.writer")

# How often the ingester looks for new frames; how long it waits after a failed commit.
_TICK = 0.025
_RETRY = 1.0
# How often it flushes the journal (and, SQLite, its log) to disk, and checkpoints SQLite.
_TRICKLE_SECONDS = 0.1
_CHECKPOINT_SECONDS = 1.0
_STATUS_SECONDS = 0.2


class Ingester:
    """``assay serve``'s ingester process, started before the workers."""

    def __init__(self, directory: Path, url: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._process = start_ingester(directory, url)
        deadline = time.monotonic() + 60
        while not ingester_running(directory):
            if self._process.poll() is not None:
                raise DecisionLogError(
                    f"the decision writer exited at start (code {self._process.returncode})"
                )
            if time.monotonic() > deadline:
                self.close()
                raise DecisionLogError("the decision writer did not start within 60 s")
            time.sleep(0.02)

    def close(self) -> None:
        """Stop it (SIGTERM: it copies what is finished, checkpoints and exits)."""
        stop(self._process)


class Checkpointer:
    """SQLite: copies the write-ahead log into the database every second (PASSIVE: writers
    go on) and ``fdatasync``s the log every 100 ms, on a thread and a connection of its own.

    The writing connection syncs nothing (:meth:`DecisionLog.hand_off_syncs`): a checkpoint's
    or a log restart's fsync took 30-100 ms on the benchmark machine and, inside a commit,
    held every request waiting for it. Flushing the log often keeps each flush small; it only
    makes commits durable sooner. A power cut can lose the last ~100 ms of answered
    decisions, not corrupt the file; a process crash loses none.
    """

    def __init__(self, log: DecisionLog) -> None:
        self.log = log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="assay-wal", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(_TRICKLE_SECONDS):
            self.log.sync_wal()
            if time.monotonic() - last >= _CHECKPOINT_SECONDS:
                last = time.monotonic()
                self.log.checkpoint()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.log.sync_wal()
        self.log.checkpoint()  # with syncs: the writer, which has none, closes without one


class Copier:
    """One pass at a time: what arrived in the journal, into the database."""

    def __init__(self, directory: Path, log: DecisionLog) -> None:
        self.directory = directory
        self.log = log
        self._fds: dict[str, int] = {}
        self.key = journal_key(directory)
        self._offsets = log.journal_offsets(self.key)
        present = {path.name for path in segments(directory)}
        # Offsets of segments deleted just before a crash: dropped with the next commit.
        self._forget = sorted(set(self._offsets) - present)
        self.error: str | None = None
        self.backlog = 0
        self._unsynced_names = False

    def once(self) -> bool:
        """Copy what has arrived; True if more is waiting (a pass reads ~8 MiB a segment)."""
        records: list[Record] = []
        advanced: dict[str, int] = {}
        finished: list[str] = []
        more = False
        backlog = 0
        for path in segments(self.directory):
            name = path.name
            fd = self._fds.get(name)
            if fd is None:
                try:
                    fd = self._fds[name] = os.open(path, os.O_RDONLY)
                except FileNotFoundError:
                    continue
                self._unsynced_names = True
            held = is_held(fd)  # checked before reading: a segment let go is complete
            offset = self._offsets.get(name, 0)
            found = read_frames(fd, offset)
            for payload in found.payloads:
                try:
                    records += decode_records(payload)
                except (ValueError, KeyError, TypeError) as exc:  # intact but not rows: a bug
                    log.error("skipped a malformed journal frame in %s: %s", name, exc)
            if found.end != offset:
                advanced[name] = found.end
            backlog += found.rest
            if found.rest and found.end != offset:
                more = True  # stopped at the read limit
            elif not held:
                if found.rest:
                    log.warning("%s ends with %d bytes of a cut-short write", name, found.rest)
                finished.append(name)
        try:
            self.log.append_records(records, advanced, self._forget, self.key)
        except DecisionLogError as exc:
            self.error = str(exc)
            self.backlog = backlog + sum(advanced[n] - self._offsets.get(n, 0) for n in advanced)
            return False
        self.error = None
        self.backlog = backlog
        self._offsets.update(advanced)
        self._forget = []
        for name in finished:
            with contextlib.suppress(FileNotFoundError):
                (self.directory / name).unlink()
            os.close(self._fds.pop(name))
            self._offsets.pop(name, None)
            self._forget.append(name)
        return more

    def sync(self) -> None:
        """Flush the journal's segments to disk, and the directory when segments are new (a
        file's data on disk is of no use if its name is not)."""
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.fdatasync(fd)
        if self._unsynced_names:
            self._unsynced_names = False
            with contextlib.suppress(OSError):
                directory = os.open(self.directory, os.O_RDONLY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


class _Stop:
    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, signum: int, frame: Any) -> None:
        self.event.set()


def serve(directory: Path, url: str, stop: threading.Event) -> None:
    """Copy the journal at ``directory`` into the log at ``url`` until ``stop`` is set, then
    copy what is left and return. Returns at once if another process ingests ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    lock = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _take(lock):
            return
        _ingest(directory, url, stop)
    finally:
        os.close(lock)


def _take(lock: int) -> bool:
    """The ingest lock, unless another ingester holds it. Workers probe the lock by taking
    it for an instant (:func:`engine.store.journal.ingester_running`): a few tries over 100 ms
    tell a probe from an ingester."""
    for _ in range(5):
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            time.sleep(0.02)
        else:
            return True
    return False


def _connect(directory: Path, url: str, stop: threading.Event) -> tuple[DecisionLog, Copier] | None:
    """The decision log, its schema upgraded, and a copier reading its offsets: tried every
    second until the database answers (the status says why not meanwhile), or None when
    ``stop`` is set first."""
    said: str | None = None
    while not stop.is_set():
        decisions: DecisionLog | None = None
        try:
            decisions = DecisionLog(url)
            return decisions, Copier(directory, decisions)
        except SchemaError as exc:
            problem = str(exc)
        except Exception as exc:  # unreachable, refusing, a folder it cannot create...
            problem = f"cannot reach the database: {database_problem(exc, url)}"
        if decisions is not None:
            decisions.close()
        if problem != said:
            log.error("%s: %s; retrying every %.0f s", shown_url(url), problem, _RETRY)
            said = problem
        backlog = 0
        for path in segments(directory):
            with contextlib.suppress(OSError):
                backlog += path.stat().st_size
        with contextlib.suppress(OSError):
            Status(os.getpid(), time.time(), problem, backlog).write(directory)
        stop.wait(_RETRY)
    return None


def _ingest(directory: Path, url: str, stop: threading.Event) -> None:
    connected = _connect(directory, url, stop)
    if connected is None:
        return
    decisions, copier = connected
    checkpointer = None
    if decisions.is_sqlite:
        decisions.hand_off_syncs()
        checkpointer = Checkpointer(decisions)
    synced = reported = 0.0
    try:
        while not stop.is_set():
            more = copier.once()
            now = time.monotonic()
            if now - synced >= _TRICKLE_SECONDS:
                copier.sync()
                synced = now
            if now - reported >= _STATUS_SECONDS:
                _report(directory, copier)
                reported = now
            if not more:
                stop.wait(_RETRY if copier.error is not None else _TICK)
        for _ in range(100):  # the rest, before exiting (bounded: a failing database)
            if not copier.once() and (copier.error is not None or copier.backlog == 0):
                break
        copier.sync()
        _report(directory, copier)
    finally:
        copier.close()
        if checkpointer is not None:
            checkpointer.close()
        decisions.close()


def _report(directory: Path, copier: Copier) -> None:
    with contextlib.suppress(OSError):
        Status(os.getpid(), time.time(), copier.error, copier.backlog).write(directory)


def main(argv: Sequence[str]) -> int:
    """``JOURNAL_DIR [--with-parent]``, the database's URL in ``ASSAY_DATABASE_URL``."""
    url = os.environ.get(URL_VARIABLE)
    if not argv or argv[0].startswith("-") or not url:
        print(
            f"usage: {URL_VARIABLE}=URL python -m assay.engine.store.writer JOURNAL_DIR"
            " [--with-parent]",
            file=sys.stderr,
        )
        return 2
    directory, *options = argv
    stopping = _Stop()
    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    if "--with-parent" in options and not die_with_parent(signal.SIGTERM, os.getppid()):
        return 0  # the service that started it is gone already
    logging.basicConfig(level=logging.WARNING, format="assay writer: %(message)s")
    SecretFilter.install(url)
    serve(Path(directory), url, stopping.event)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
