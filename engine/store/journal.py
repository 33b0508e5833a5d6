"""The decision journal: where a service worker puts each decision before it answers.

Every worker appends its decisions to segment files of its own (``*.jrnl`` in the journal
directory), one ``write`` per request, and answers as soon as the write returns: the bytes
are then in the kernel's page cache, so a crash of the worker, of the ingester or of the
whole service loses nothing that was answered. The ingester (:mod:`engine.store.writer`), one
process per journal directory, copies complete frames into the database in large
transactions, with each segment's ingested offset in the same transaction (nothing is
stored twice), and deletes segments that are closed and fully copied. It flushes the
segments to disk (``fdatasync``) every 100 ms, as it does SQLite's write-ahead log: a power
cut can lose the last ~100 ms of answered decisions, as before.

Why not commit before answering: a commit per request, or a round trip to a writer process
per request, cost a worker 170-260 µs of CPU per decision (measured with two workers at peak:
the commit's own work when commits are small, and the event loop sleeping and waking around
each report), 38-46 % of the service's throughput. A ``write`` costs a few microseconds, and
an ingester committing every ~25 ms batches a hundred decisions per transaction.

Readers see everything answered: :meth:`engine.store.decisions.DecisionLog.get` and
``for_manifest`` add the decisions still in the journal (:func:`pending`); reads over a time
window (a rule's live figures, a back-test of the log, ``assay replay``) first wait for the
ingester to catch up (``DecisionLog.caught_up``).

Several hosts may share one PostgreSQL database, each with its journal and ingester: offsets
are stored under the journal's own random key (:func:`journal_key`).

A frame is an 8-byte header (little-endian length and CRC-32 of the payload) and the payload:
decision rows (:func:`engine.store.decisions.decision_row`), each as its small fields in JSON
and its input and result raw (:func:`encode_rows`). A segment's
owner holds an exclusive ``flock`` on it while it may still write; a segment nobody holds is
finished, and bytes after its last complete frame are a write the crash cut short (that
request was never answered).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from assay.engine.processes import stop
from assay.engine.store.database import decisions, from_utc_text, utc_text

_HEADER = struct.Struct("<II")
SUFFIX = ".jrnl"
LOCK = "ingest.lock"
STATUS = "status.json"
# The environment variable the decision writer reads its database's URL from.
URL_VARIABLE = "ASSAY_DATABASE_URL"
# A worker starts a new segment past this size; the ingester deletes finished ones.
SEGMENT_BYTES = 64 * 1024 * 1024
# How often a worker reads the ingester's status; how old a status may be before the worker
# starts an ingester of its own (if none holds the lock).
_WATCH_SECONDS = 0.5
_STALE_SECONDS = 3.0


class DecisionLogError(RuntimeError):
    """The log could not keep a record; the screening it belongs to must not be answered."""


def journal_dir(data_dir: Path, url: str) -> Path:
    """The journal of the decision log at ``url``: one directory per database, so that an
    ingester never copies one database's decisions into another."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return data_dir / "journal" / digest


def journal_key(directory: Path) -> str:
    """The journal's name among the database's offsets: random, made once and kept in the
    directory, so that the journals of several hosts sharing one database never mix theirs."""
    path = directory / "journal-id"
    with contextlib.suppress(FileNotFoundError):
        return path.read_text().strip()
    directory.mkdir(parents=True, exist_ok=True)
    fresh = directory / f"journal-id.{os.getpid()}.{secrets.token_hex(4)}"
    fresh.write_text(secrets.token_hex(8))
    try:
        os.link(fresh, path)  # complete before it appears; the first of two racers wins
    except FileExistsError:
        pass
    finally:
        fresh.unlink()
    return path.read_text().strip()


def encode(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True, slots=True)
class Read:
    """What :func:`read_frames` found: complete frames and where they end."""

    payloads: list[memoryview]  # views of one buffer read at once: no copy per frame
    end: int  # offset just after the last complete frame
    rest: int  # bytes after ``end``: a frame being written, or (in a finished segment) cut short


def read_frames(fd: int, offset: int, limit: int = 8 * 1024 * 1024) -> Read:
    """Complete, intact frames of the segment open on ``fd`` from ``offset``, reading at
    most about ``limit`` bytes (a frame larger than that is read whole)."""
    size = os.fstat(fd).st_size
    data = os.pread(fd, max(0, min(size, offset + max(limit, _HEADER.size)) - offset), offset)
    view = memoryview(data)
    payloads: list[memoryview] = []
    at = 0
    while len(data) - at >= _HEADER.size:
        length, crc = _HEADER.unpack_from(data, at)
        end = at + _HEADER.size + length
        if end > len(data):
            if offset + end <= size and not payloads:  # one frame larger than ``limit``
                data = os.pread(fd, end, offset)
                view = memoryview(data)
                continue
            break
        payload = view[at + _HEADER.size : end]
        if zlib.crc32(payload) != crc:
            break  # a write still in progress, or one a crash cut short
        payloads.append(payload)
        at = end
    return Read(payloads, offset + at, size - offset - at)


# A frame's payload: a version byte, then one record per decision row. A record is three
# lengths (``_RECORD``) and three parts: the row's other fields as a JSON list in ``FIELDS``
# order, the input and the result (JSON texts, as received and as answered), raw. The
# ingester does not parse the two large parts, and the worker does not escape them: JSON
# inside a JSON string cost the ingester ~6 µs a decision to decode (measured, 2 KB inputs).
_VERSION = b"\x03"
_RECORD = struct.Struct("<III")
_RAW = ("input", "result")
FIELDS = (*(c.name for c in decisions.columns if c.name not in _RAW), "rule_ids")
_CREATED_AT = FIELDS.index("created_at")
# Frames of older versions are still read: a journal left by an older release is copied
# after an upgrade. Version 1, a JSON list of row objects; version 2, records as now, but
# without the fields added since (each given its default).
_VERSION_1 = b"["
_VERSION_2 = b"\x02"
_ADDED_SINCE_2 = {"ruleset_version_id": None}
_FIELDS_2 = tuple(name for name in FIELDS if name not in _ADDED_SINCE_2)
if _FIELDS_2.index("created_at") != _CREATED_AT:  # _decode_records reads it in both
    raise ImportError("a decision column was added before created_at")


def encode_rows(rows: Sequence[dict[str, Any]]) -> bytes:
    """A frame's payload for decision rows (:func:`engine.store.decisions.decision_row`)."""
    parts = [_VERSION]
    for row in rows:
        fields = orjson.dumps([row[name] for name in FIELDS])
        given = row["input"].encode()
        answered = row["result"].encode()
        parts += (_RECORD.pack(len(fields), len(given), len(answered)), fields, given, answered)
    return b"".join(parts)


Record = tuple[list[Any], str, str]
"""A decision row as the journal holds it: its :data:`FIELDS` in order (``created_at`` as the
database's UTC text), its input and its result. The ingester stores records as they are
(:meth:`engine.store.decisions.DecisionLog.append_records`)."""


def record(row: dict[str, Any]) -> Record:
    """A decision row (:func:`engine.store.decisions.decision_row`) as a record."""
    return [row[name] for name in FIELDS], row["input"], row["result"]


def decode_records(payload: bytes | memoryview) -> list[Record]:
    """The decision rows of a frame, as records; ValueError if it holds anything else."""
    if payload[:1] == _VERSION_1:
        return [record(row) for row in _decode_version_1(payload)]
    if payload[:1] == _VERSION_2:
        return [
            (_fields_of_version_2(fields), given, answered)
            for fields, given, answered in _decode_records(payload, len(_FIELDS_2))
        ]
    if payload[:1] != _VERSION:
        raise ValueError(f"a frame of an unknown version ({bytes(payload[:1])!r})")
    return _decode_records(payload, len(FIELDS))


def _fields_of_version_2(fields: list[Any]) -> list[Any]:
    row = {**_ADDED_SINCE_2, **dict(zip(_FIELDS_2, fields, strict=True))}
    return [row[name] for name in FIELDS]


def _decode_records(payload: bytes | memoryview, width: int) -> list[Record]:
    """The records after a frame's version byte, each with ``width`` fields."""
    records: list[Record] = []
    view = memoryview(payload)
    at, size = 1, len(view)
    while at < size:
        if size - at < _RECORD.size:
            raise ValueError("a frame ends inside a record's header")
        lengths = _RECORD.unpack_from(view, at)
        fields_at = at + _RECORD.size
        input_at = fields_at + lengths[0]
        result_at = input_at + lengths[1]
        at = result_at + lengths[2]
        if at > size:
            raise ValueError("a record runs past the end of its frame")
        fields = orjson.loads(view[fields_at:input_at])
        if not isinstance(fields, list) or len(fields) != width:
            raise ValueError(f"a record's fields are not a list of {width}")
        fields[_CREATED_AT] = _utc_text(fields[_CREATED_AT])
        given = str(view[input_at:result_at], "utf-8", "replace")
        records.append((fields, given, str(view[result_at:at], "utf-8", "replace")))
    return records


def decode_rows(payload: bytes | memoryview) -> list[dict[str, Any]]:
    """The decision rows of a frame, ``created_at`` as the database's UTC text
    (:func:`engine.store.database.utc_text`); ValueError if it holds anything else."""
    return [
        dict(zip(FIELDS, fields, strict=True), input=given, result=answered)
        for fields, given, answered in decode_records(payload)
    ]


def _decode_version_1(payload: bytes | memoryview) -> list[dict[str, Any]]:
    rows = orjson.loads(payload)
    if not isinstance(rows, list):
        raise ValueError("a frame holds a list of decision rows")
    for row in rows:
        if isinstance(row, dict):
            for name, default in _ADDED_SINCE_2.items():
                row.setdefault(name, default)
        if not isinstance(row, dict) or not row.keys() >= _ROW_KEYS:
            missing = sorted(_ROW_KEYS - row.keys()) if isinstance(row, dict) else "all"
            raise ValueError(f"a decision row lacks {missing}")
        row["created_at"] = _utc_text(row["created_at"])
    return rows


_ROW_KEYS = frozenset((*FIELDS, *_RAW))


def _utc_text(written: Any) -> str:
    """orjson's ISO time, as the worker wrote it, in the database's UTC text."""
    if not isinstance(written, str):
        raise TypeError(f"created_at is a {type(written).__name__}, not a time")
    if len(written) == 32 and written.endswith("+00:00"):  # always, from decision_row
        return f"{written[:10]} {written[11:26]}"
    return utc_text(datetime.fromisoformat(written))


def is_held(fd: int) -> bool:
    """Whether a writer still holds the segment open on ``fd`` (takes a shared lock if not)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    return False


def segments(directory: Path) -> list[Path]:
    """The journal's segments, oldest first (names start with the creation time)."""
    try:
        return sorted(directory.glob(f"*{SUFFIX}"))
    except OSError:
        return []


def pending(directory: Path, offsets: dict[str, int]) -> Iterator[dict[str, Any]]:
    """Decision rows in the journal past the ingested ``offsets``: answered, not yet in the
    database."""
    for path in segments(directory):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # finished and ingested meanwhile
            continue
        try:
            offset = offsets.get(path.name, 0)
            while True:
                found = read_frames(fd, offset)
                for payload in found.payloads:
                    try:
                        rows = decode_rows(payload)
                    except (ValueError, KeyError, TypeError):
                        continue  # not decision rows: the ingester skips it too, and logs it
                    for row in rows:
                        row["created_at"] = from_utc_text(row["created_at"])
                        yield row
                if found.end == offset:
                    break
                offset = found.end
        finally:
            os.close(fd)


@dataclass(frozen=True, slots=True)
class Status:
    """What the ingester last said about itself (``status.json``)."""

    pid: int
    at: float  # time.time() of the report
    error: str | None  # why the last commit failed, if it did
    backlog: int  # journal bytes not yet in the database

    @classmethod
    def read(cls, directory: Path) -> Status | None:
        try:
            data = orjson.loads((directory / STATUS).read_bytes())
            return cls(int(data["pid"]), float(data["at"]), data["error"], int(data["backlog"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, directory: Path) -> None:
        fresh = directory / f"{STATUS}.{self.pid}"
        fresh.write_bytes(
            orjson.dumps(
                {"pid": self.pid, "at": self.at, "error": self.error, "backlog": self.backlog}
            )
        )
        fresh.replace(directory / STATUS)


def ingester_running(directory: Path) -> bool:
    """Whether a process holds the journal's ingest lock."""
    try:
        fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock taken here
    return False


def start_ingester(directory: Path, url: str) -> subprocess.Popen[bytes]:
    """Start ``python -m engine.store.writer DIR``, which stops when the calling thread's
    process dies; it exits at once if another process ingests ``directory``. The URL goes in
    its environment (:data:`URL_VARIABLE`): a command line is anyone's to read (``ps``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "assay.engine.store.writer", str(directory), "--with-parent"],
        stdin=subprocess.DEVNULL,
        env={**os.environ, URL_VARIABLE: url},
    )


@dataclass(frozen=True)
class Health:
    """The decision log's state: ``state`` says which part is unavailable, in words anyone
    may read; ``detail`` is the database's own error or a server path, for the log and for
    administrators only."""

    accepting: bool
    state: str
    detail: str | None


class Journal:
    """A worker's side: append decision rows before answering.

    :meth:`append` raises :class:`DecisionLogError` when the decision cannot be kept — the
    write failed (disk full), or the ingester is so far behind (the database refusing or
    unreachable) that the journal holds more than ``backlog_limit`` bytes — and the request
    must then not be answered. With ``start`` (the default), a journal nobody ingests gets an
    ingester started by this worker; ``assay serve`` starts one before its workers.
    """

    def __init__(
        self,
        directory: Path,
        url: str,
        *,
        backlog_limit: int = 256 * 1024 * 1024,
        segment_bytes: int = SEGMENT_BYTES,
        start: bool = True,
    ) -> None:
        self.directory = directory
        self.url = url
        self.backlog_limit = backlog_limit
        self.segment_bytes = segment_bytes
        self._start = start
        directory.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = None
        self._size = 0
        self._watched = 0.0
        self._refusal: str | None = None
        self._ingester: subprocess.Popen[bytes] | None = None
        self.watch()

    def append(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        now = time.monotonic()
        if now - self._watched >= _WATCH_SECONDS:
            self.watch(now)
        if self._refusal is not None:
            raise DecisionLogError(self._refusal)
        data = encode(encode_rows(rows))
        try:
            if self._fd is None or self._size >= self.segment_bytes:
                self._open_segment()
            assert self._fd is not None
            written = os.write(self._fd, data)
            while written < len(data):  # a regular file writes short only when it fails next
                written += os.write(self._fd, data[written:])
        except OSError as exc:
            # What was written of this frame ends the segment: the ingester drops it as
            # cut short, and the next decision starts a new segment.
            self._close_segment()
            raise DecisionLogError(f"cannot write the decision journal: {exc}") from exc
        self._size += len(data)

    def _open_segment(self) -> None:
        self._close_segment()
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}"
        # Locked under a name the ingester does not look at, then renamed: it never sees an
        # unlocked new segment and takes it for a finished, empty one.
        creating = self.directory / f"{name}.new"
        fd = os.open(creating, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            creating.rename(self.directory / f"{name}{SUFFIX}")
        except OSError:
            os.close(fd)
            raise
        self._fd, self._size = fd, 0

    def _close_segment(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # releases the lock: the segment is finished
            self._fd = None

    def watch(self, now: float | None = None) -> None:
        """Read the ingester's status; refuse while its backlog is over the limit; start an
        ingester when none is running. :meth:`append` calls it every half second, and the
        service on a timer, so that a quiet worker notices too; both on the event loop's
        thread (an ingester stops when the thread that started it ends)."""
        self._watched = time.monotonic() if now is None else now
        status = Status.read(self.directory)
        self._refusal = self._refusal_for(status)
        stale = status is None or time.time() - status.at > _STALE_SECONDS
        if self._start and stale and not ingester_running(self.directory):
            if self._ingester is not None and self._ingester.poll() is None:
                return  # ours is starting
            self._ingester = start_ingester(self.directory, self.url)

    def _refusal_for(self, status: Status | None) -> str | None:
        """Why decisions are refused, in words a client may read: never the database's own
        error text (it can name hosts, users and tables), which goes to the log."""
        if status is None or status.backlog <= self.backlog_limit:
            return None
        reason = "; the database is not accepting them" if status.error else ""
        return (
            f"the decision log is {status.backlog // 1024 // 1024} MiB behind "
            f"(limit {self.backlog_limit // 1024 // 1024} MiB){reason}"
        )

    def health(self) -> Health:
        """Whether decisions are accepted now, and the decision log's state (reads the status
        afresh; safe from any thread)."""
        status = Status.read(self.directory)
        error = status.error if status is not None else None
        refusal = self._refusal_for(status)
        if refusal is not None:
            return Health(False, f"refusing: {refusal}", error)
        if not os.access(self.directory, os.W_OK):
            return Health(
                False, "unavailable: the journal is not writable", f"{self.directory}: not writable"
            )
        if status is None:
            return Health(True, "writable", None)
        age = time.time() - status.at
        if age > _STALE_SECONDS:
            return Health(True, f"writable; the database copy last reported {age:.0f} s ago", None)
        if error is not None:
            waiting = status.backlog // 1024
            return Health(True, f"writable; {waiting} KiB waiting for the database", error)
        return Health(True, "writable", None)

    def close(self, wait: float = 30.0) -> None:
        """Finish this worker's segment; stop the ingester it started, which first copies
        every finished segment into the database."""
        self._close_segment()
        if self._ingester is not None:
            stop(self._ingester, wait)
            self._ingester = None
