"""The decision log: every screening, appended, so it can be audited and replayed.

:meth:`DecisionLog.append` stores rows in one transaction (the CLI calls it directly). The
service's workers write each decision to the journal (:mod:`engine.store.journal`) before
answering, and an ingester process (:mod:`engine.store.writer`) copies the journal into the
database in large transactions: a crash loses at most the records of requests not yet
answered. Reading one decision, or a manifest's, includes those still in the journal.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, JsonValue
from sqlalchemy import Engine, and_, func, or_, select, text

from assay.engine.contracts import Flag, RulesetInfo, ScreeningResult
from assay.engine.store.database import (
    connect,
    decision_flags,
    decisions,
    from_utc_text,
    journal_offsets,
    open_database,
    stored_utc,
    utc_text,
)
from assay.engine.store.journal import (
    FIELDS,
    DecisionLogError,
    Record,
    journal_key,
    pending,
    record,
    segments,
)
from assay.engine.store.redact import database_problem

__all__ = ["Decision", "DecisionLog", "DecisionLogError", "decision_row", "new_decision_id"]

Source = Literal["api", "cli"]


class Decision(BaseModel):
    """One logged screening."""

    model_config = ConfigDict(frozen=True)

    decision_id: str
    created_at: datetime
    manifest_id: str
    input_sha256: str = Field(description="SHA-256 of the input exactly as received.")
    input: JsonValue = Field(description="The manifest as received.")
    ruleset: RulesetInfo
    channel: str
    risk_score: int
    flags: list[Flag]
    elapsed_ms: float
    request_id: str | None
    source: Source


def new_decision_id() -> str:
    """32 hex characters: milliseconds since the epoch, then 80 random bits (sorts by time)."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def decision_row(
    raw_input: bytes,
    result: ScreeningResult,
    *,
    request_id: str | None,
    source: Source,
    decision_id: str | None = None,
    result_json: bytes | None = None,
) -> dict[str, Any]:
    """The row for one screening. ``raw_input`` is the manifest's JSON as received;
    ``result_json``, the answer's bytes when the caller already has them."""
    if result_json is None:
        result_json = result.__pydantic_serializer__.to_json(result)
    return {
        "id": decision_id or new_decision_id(),
        "created_at": datetime.now(UTC),
        "manifest_id": result.manifest_id,
        "input_sha256": hashlib.sha256(raw_input).hexdigest(),
        "input": raw_input.decode("utf-8", errors="replace"),
        "ruleset_name": result.ruleset.name,
        "ruleset_version": result.ruleset.version,
        "ruleset_sha256": result.ruleset.sha256,
        "ruleset_version_id": result.ruleset.version_id,
        "channel": result.channel,
        "risk_score": result.risk_score,
        "result": result_json.decode(),
        "elapsed_ms": result.elapsed_ms,
        "request_id": request_id,
        "source": source,
        # Not a column: each becomes a row of decision_flags.
        "rule_ids": sorted({flag.rule_id for flag in result.flags}),
    }


_COLUMNS = tuple(column.name for column in decisions.columns)
# Where a record's parts go among the columns: its fields are the columns in order without
# input and result, then the rule ids (engine.store.journal.FIELDS).
_CREATED_AT = FIELDS.index("created_at")
_MANIFEST_ID = FIELDS.index("manifest_id")
_INPUT = _COLUMNS.index("input")
_RESULT_FIELD = _COLUMNS.index("result") - 1
_RULE_IDS = FIELDS.index("rule_ids")
if FIELDS[:_RULE_IDS] != tuple(c for c in _COLUMNS if c not in ("input", "result")) or not (
    _INPUT <= _RESULT_FIELD
):
    raise ImportError("journal records do not follow the decision columns")
# Rows per INSERT statement, largest first (any count is a sum of these): at 15 parameters
# a row, far below SQLite's (32,766) and PostgreSQL's (65,535) limits.
_SIZES = (256, 64, 16, 4, 1)


class DecisionLog:
    """Appends decisions and reads them back. The schema is brought to the newest revision
    first (:func:`~engine.store.database.open_database`) unless ``upgrade`` is False: the
    service's workers, whose ``assay serve`` did it, or which start while the database cannot
    be reached."""

    def __init__(self, url: str, journal: Path | None = None, *, upgrade: bool = True) -> None:
        self.url = url
        self.journal = journal  # read with the database: decisions not yet ingested
        self._journal_key: str | None = None  # read from the journal on first use
        self._db: Engine = open_database(url) if upgrade else connect(url)
        self._closed = False
        self.last_error: str | None = None
        self._mark = "?" if self._db.dialect.paramstyle == "qmark" else "%s"
        self._statements: dict[tuple[str, int, str], str] = {}  # see _insert
        self._insert_decisions = f"INSERT INTO decisions ({', '.join(_COLUMNS)}) VALUES "
        self._insert_flags = (
            "INSERT INTO decision_flags (decision_id, rule_id, created_at, manifest_id) VALUES "
        )
        # SQLite keeps timestamps as text in SQLAlchemy's format (naive UTC); others take them.
        self._stamp = _sqlite_time if self.is_sqlite else _datetime
        # One connection writes, under a lock: a thread lock within the process and, for
        # SQLite, an OS file lock across worker processes. SQLite's own busy handler sleeps
        # 1, 2, 5 ... 100 ms between retries; a waiter on the file lock wakes the moment the
        # other process commits.
        self._write_lock = threading.Lock()
        self._writer: Any = None
        self._syncs_elsewhere = False  # see hand_off_syncs
        self._file_lock: int | None = None
        self._file_lock_path: str | None = None
        if self.is_sqlite:
            database = self._db.url.database
            if database and database != ":memory:":
                self._file_lock_path = f"{database}.write-lock"
                # Opened now, or at the first write if its folder cannot be made yet (a
                # service's reader starting while the database cannot be reached).
                with contextlib.suppress(OSError):
                    self._file_lock = os.open(self._file_lock_path, os.O_RDWR | os.O_CREAT, 0o644)

    # ------------------------------------------------------------------------ writing

    def append(
        self,
        rows: Sequence[dict[str, Any]],
        offsets: dict[str, int] | None = None,
        forget: Sequence[str] = (),
        journal: str = "",
    ) -> None:
        """Store ``rows`` (:func:`decision_row`) in one transaction; raises
        :class:`DecisionLogError` if it cannot (see :meth:`append_records`)."""
        self.append_records([record(row) for row in rows], offsets or {}, forget, journal)

    def append_records(
        self,
        records: Sequence[Record],
        offsets: dict[str, int],
        forget: Sequence[str],
        journal: str,
    ) -> None:
        """Store decisions as the journal holds them (:func:`decode_records`; ``created_at``
        a datetime or the database's UTC text) in one transaction; raises
        :class:`DecisionLogError` if it cannot.

        The ingester passes the offsets in its ``journal`` (:func:`journal_key`) that its
        records reach, by segment (stored in the same transaction: a crash never stores a
        row twice), and the segments it deleted (``forget``).

        Each record's parts go straight into the statements' parameters (a dict a row cost
        the ingester ~4 µs a decision), on one kept connection, in multi-row ``INSERT``
        statements (:meth:`_insert`): SQLAlchemy's per-row processing and per-call checkout
        cost several times the database's own work here, and ``executemany`` steps (and, in
        the writer process, releases the GIL) once per row.
        """
        if self._closed:
            raise DecisionLogError("the decision log is closed")
        if not records and not offsets and not forget:
            return
        stamp = self._stamp
        values: list[Any] = []
        flagged: list[Any] = []
        for fields, given, answered in records:
            at = fields[_CREATED_AT] = stamp(fields[_CREATED_AT])
            values += fields[:_INPUT]
            values.append(given)
            values += fields[_INPUT:_RESULT_FIELD]
            values.append(answered)
            values += fields[_RESULT_FIELD:_RULE_IDS]
            for rule_id in fields[_RULE_IDS]:
                flagged += (fields[0], rule_id, at, fields[_MANIFEST_ID])
        with self._writing():
            try:
                if self._writer is None:
                    self._writer = self._open_writer()
                cursor = self._writer.cursor()
                try:
                    self._insert(cursor, self._insert_decisions, len(_COLUMNS), values)
                    self._insert(cursor, self._insert_flags, 4, flagged)
                    self._track(cursor, journal, offsets, forget)
                    self._writer.commit()
                finally:
                    cursor.close()
            except Exception as exc:
                self.last_error = problem = database_problem(exc, self.url)
                self._discard_writer()
                failed = f"could not store {len(records)} decision(s): {problem}"
                raise DecisionLogError(failed) from exc
        self.last_error = None

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """The right to write: this process's lock and, for SQLite, the file lock that the
        other processes writing to the same file take."""
        with self._write_lock:
            if self._file_lock is None and self._file_lock_path is not None and not self._closed:
                self._file_lock = os.open(self._file_lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            if self._file_lock is not None:
                fcntl.flock(self._file_lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if self._file_lock is not None:
                    fcntl.flock(self._file_lock, fcntl.LOCK_UN)

    def _insert(
        self, cursor: Any, head: str, width: int, values: list[Any], tail: str = ""
    ) -> None:
        """``head`` + one ``(?, ...)`` group per row + ``tail``, in statements of
        :data:`_SIZES` rows, largest first: a handful of distinct statements, which the
        driver prepares once and keeps, where a statement sized to each pass was parsed anew
        every pass (~4,000 instructions a row, callgrind)."""
        rows, start = len(values) // width, 0
        for size in _SIZES:
            if rows < size:
                continue
            key = (head, size, tail)  # a head always has the same width
            statement = self._statements.get(key)
            if statement is None:
                group = "(" + ", ".join([self._mark] * width) + ")"
                statement = self._statements[key] = head + ", ".join([group] * size) + tail
            while rows >= size:
                cursor.execute(statement, values[start : start + size * width])
                start += size * width
                rows -= size

    def _track(
        self, cursor: Any, journal: str, offsets: dict[str, int], forget: Sequence[str]
    ) -> None:
        mark = self._mark
        if forget:
            cursor.execute(
                f"DELETE FROM journal_offsets WHERE segment IN ({', '.join([mark] * len(forget))})",
                [f"{journal}/{name}" for name in forget],
            )
        if offsets:
            self._insert(
                cursor,
                "INSERT INTO journal_offsets (segment, position) VALUES ",
                2,
                [value for name, at in offsets.items() for value in (f"{journal}/{name}", at)],
                " ON CONFLICT (segment) DO UPDATE SET position = excluded.position",
            )

    def caught_up(self, timeout: float = 2.0) -> bool:
        """Wait until every decision journaled before this call is in the database, so that a
        read over a time window (a rule's live figures) sees every decision answered before
        it; False if the writer has not caught up within ``timeout`` seconds."""
        if self.journal is None:
            return True
        targets: dict[str, int] = {}
        for path in segments(self.journal):
            with contextlib.suppress(FileNotFoundError):
                targets[path.name] = path.stat().st_size
        deadline = time.monotonic() + timeout
        while True:
            offsets = self.journal_offsets()
            present = {path.name for path in segments(self.journal)}
            if all(
                offsets.get(name, 0) >= size or name not in present
                for name, size in targets.items()
            ):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)

    def journal_offsets(self, journal: str | None = None) -> dict[str, int]:
        """How far each segment of ``journal`` (default: this log's) has been copied into the
        database, by segment name."""
        if journal is None:
            if self.journal is None:
                return {}
            if self._journal_key is None:
                self._journal_key = journal_key(self.journal)
            journal = self._journal_key
        prefix = f"{journal}/"
        query = select(journal_offsets.c.segment, journal_offsets.c.position).where(
            journal_offsets.c.segment.startswith(prefix, autoescape=True)
        )
        with self._db.connect() as connection:
            return {
                segment.removeprefix(prefix): int(position)
                for segment, position in connection.execute(query)
            }

    def _open_writer(self) -> Any:
        writer = self._db.raw_connection()
        if self._syncs_elsewhere:
            cursor = writer.cursor()
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.close()
        return writer

    def hand_off_syncs(self) -> None:
        """SQLite: the writing connection stops calling ``fsync``; a checkpointing thread
        (:class:`engine.store.writer.Checkpointer`) does every checkpoint, and their syncs,
        on a connection of its own, and flushes the write-ahead log every 100 ms.

        With ``synchronous=NORMAL`` commits never sync, but the first commit after each
        complete checkpoint restarts the log and syncs its header: 30-40 ms on this disk,
        every few seconds (traced), held by every request waiting for that commit, and
        once the main cause of the service's p99. Without it a power cut can lose the last
        100 ms or so of commits (it could already lose the unsynced ones) but not corrupt
        the file: a checkpoint syncs the database before it marks the log copied, and only
        then may a writer restart the log; frames written after a restart whose header was
        not yet synced are ignored on recovery. A process crash loses nothing answered either way.
        """
        if not self.is_sqlite:
            return
        with self._write_lock:
            self._syncs_elsewhere = True
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    def _discard_writer(self) -> None:
        """Drop the writing connection after a failure; the next append opens a fresh one."""
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.rollback()
                writer.close()
            except Exception:  # the connection is being thrown away anyway
                pass

    @property
    def is_sqlite(self) -> bool:
        return self._db.dialect.name == "sqlite"

    def checkpoint(self) -> bool:
        """Copy SQLite's write-ahead log into the database, with no commit in between, so
        that the next commit starts the log again from its beginning; True if it copied the
        whole log (a reader still on an old snapshot can hold part of it back).

        The log starts again from its beginning only when a commit begins after a
        checkpoint has copied all of it. With checkpoints running alongside commits, the next
        commit had always begun before the copy ended, so the log never restarted: under the
        service's load it grew by 20 MB a second for as long as the load lasted (two workers,
        4,800 decisions/s). Holding commits off while copying costs no request anything: a
        request waits for the journal, not for this database.
        """
        if not self.is_sqlite or self._closed:
            return True
        try:
            with self._writing(), self._db.connect() as connection:
                busy, frames, copied = connection.exec_driver_sql(
                    "PRAGMA wal_checkpoint(PASSIVE)"
                ).one()
        except Exception as exc:  # a failed checkpoint is retried next time
            self.last_error = f"checkpoint: {database_problem(exc, self.url)}"
            return False
        return not busy and frames == copied

    def sync_wal(self) -> None:
        """Flush SQLite's write-ahead log to disk (``fdatasync``), outside any commit."""
        database = self._db.url.database
        if not self.is_sqlite or self._closed or not database or database == ":memory:":
            return
        try:
            fd = os.open(f"{database}-wal", os.O_RDONLY)
        except OSError:  # no log file yet
            return
        try:
            os.fdatasync(fd)
        except OSError as exc:
            self.last_error = f"sync: {type(exc).__name__}: {exc}"
        finally:
            os.close(fd)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with self._write_lock:
                if self._writer is not None:
                    self._writer.close()
                    self._writer = None
            if self._file_lock is not None:
                os.close(self._file_lock)
                self._file_lock = None
            self._db.dispose()

    # ------------------------------------------------------------------------ reading

    def writable(self) -> bool:
        """The log is open and the database answers."""
        if self._closed:
            return False
        try:
            with self._db.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:
            self.last_error = database_problem(exc, self.url)
            return False
        return True

    def get(self, decision_id: str) -> Decision | None:
        """One decision, from the database or, not yet ingested, the journal."""
        query = select(decisions).where(decisions.c.id == decision_id)
        found = self._select(query)
        if not found and self.journal is not None:
            # Ingested between the two reads: the offsets read next are past it, so the
            # journal does not show it, but the database does by then; read it again.
            offsets = self.journal_offsets()
            found = [row for row in pending(self.journal, offsets) if row["id"] == decision_id]
            found = found or self._select(query)
        return _decision(found[0]) if found else None

    def for_manifest(self, manifest_id: str, limit: int = 100) -> list[Decision]:
        """Decisions about ``manifest_id``, newest first, the journal's included."""
        query = (
            select(decisions)
            .where(decisions.c.manifest_id == manifest_id)
            .order_by(decisions.c.created_at.desc(), decisions.c.id.desc())
            .limit(limit)
        )
        rows = list(self._select(query))
        if self.journal is not None:
            offsets = self.journal_offsets()
            journaled = pending(self.journal, offsets)
            waiting = [row for row in journaled if row["manifest_id"] == manifest_id]
            if waiting:  # some may have been ingested since the first read: read again
                rows = [*self._select(query), *waiting]
        unique = {row["id"]: row for row in rows}
        ordered = sorted(
            unique.values(),
            key=lambda row: (stored_utc(row["created_at"]), row["id"]),
            reverse=True,
        )
        return [_decision(row) for row in ordered[:limit]]

    def latest(self, limit: int = 50) -> list[Decision]:
        """The newest ``limit`` decisions in the database, newest first (by the index on
        ``created_at``): the workbench's list before anyone searches."""
        query = (
            select(decisions)
            .order_by(decisions.c.created_at.desc(), decisions.c.id.desc())
            .limit(limit)
        )
        return [_decision(row) for row in self._select(query)]

    def flagged_by(self, rule_id: str, limit: int = 20) -> list[Decision]:
        """The newest ``limit`` decisions in the database that ``rule_id`` flagged, newest
        first: read through ``decision_flags``' index on (rule id, time), so a rule's recent
        hits cost the same on a log of any size."""
        flags = decision_flags.c
        newest = (
            select(flags.decision_id, flags.created_at)
            .where(flags.rule_id == rule_id)
            .order_by(flags.created_at.desc(), flags.decision_id.desc())
            .limit(limit)
            .subquery()
        )
        query = (
            select(decisions)
            .join(newest, newest.c.decision_id == decisions.c.id)
            .order_by(newest.c.created_at.desc(), decisions.c.id.desc())
        )
        return [_decision(row) for row in self._select(query)]

    def _select(self, query: Any) -> list[Any]:
        with self._db.connect() as connection:
            return list(connection.execute(query).mappings())

    def count_between(self, since: datetime, until: datetime | None = None) -> int:
        """How many decisions :meth:`between` would give."""
        query = select(func.count()).select_from(decisions).where(decisions.c.created_at >= since)
        if until is not None:
            query = query.where(decisions.c.created_at < until)
        with self._db.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def between(
        self, since: datetime, until: datetime | None = None, chunk: int = 1_000
    ) -> Iterator[Decision]:
        """Decisions logged from ``since`` (inclusive) to ``until`` (exclusive), oldest first,
        read in chunks (keyset pagination on time, then id)."""
        for row in self._rows_between(list(decisions.columns), since, until, chunk):
            yield _decision(row)

    def inputs_between(
        self, since: datetime, until: datetime | None = None, chunk: int = 1_000
    ) -> Iterator[tuple[str, datetime, str]]:
        """(decision id, logged at, input as received) of the same decisions as
        :meth:`between`, without reading or parsing the results: for re-screening."""
        columns = [decisions.c.id, decisions.c.created_at, decisions.c.input]
        for row in self._rows_between(columns, since, until, chunk):
            yield row["id"], stored_utc(row["created_at"]), row["input"]

    def _rows_between(
        self, columns: list[Any], since: datetime, until: datetime | None, chunk: int
    ) -> Iterator[Any]:
        after: tuple[datetime, str] | None = None
        while True:
            query = select(*columns).where(decisions.c.created_at >= since)
            if until is not None:
                query = query.where(decisions.c.created_at < until)
            if after is not None:
                query = query.where(
                    or_(
                        decisions.c.created_at > after[0],
                        and_(decisions.c.created_at == after[0], decisions.c.id > after[1]),
                    )
                )
            query = query.order_by(decisions.c.created_at, decisions.c.id).limit(chunk)
            with self._db.connect() as connection:
                rows = list(connection.execute(query).mappings())
            yield from rows
            if len(rows) < chunk:
                return
            after = (rows[-1]["created_at"], rows[-1]["id"])


# A row's ``created_at`` is a datetime (decision_row) or, read from the journal, the
# database's UTC text (engine.store.database.utc_text); each database takes its own.
def _sqlite_time(value: datetime | str) -> str:
    return value if isinstance(value, str) else utc_text(value)


def _datetime(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else from_utc_text(value)


def _decision(row: Any) -> Decision:
    return Decision(
        decision_id=row["id"],
        created_at=stored_utc(row["created_at"]),
        manifest_id=row["manifest_id"],
        input_sha256=row["input_sha256"],
        input=orjson.loads(row["input"]),
        ruleset=RulesetInfo(
            name=row["ruleset_name"],
            version=row["ruleset_version"],
            sha256=row["ruleset_sha256"],
            version_id=row["ruleset_version_id"],
        ),
        channel=row["channel"],
        risk_score=row["risk_score"],
        flags=orjson.loads(row["result"])["flags"],
        elapsed_ms=row["elapsed_ms"],
        request_id=row["request_id"],
        source=row["source"],
    )
