"""The decision log: every screening, appended, so it can be audited and replayed.

Writes use *group commit*. Callers hand a record to :meth:`DecisionLog.submit` and get a
future; one writer thread takes every record waiting, inserts them in one transaction, commits
once, and resolves their futures. The API answers a request only after its future resolves,
so a crash loses at most the records of requests not yet answered, while many concurrent
requests share one commit instead of paying one each.
"""

from __future__ import annotations

import hashlib
import queue
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, JsonValue
from sqlalchemy import Engine, insert, select, text

from engine.contracts import Flag, RulesetInfo, ScreeningResult
from engine.store.database import decisions, open_database

Source = Literal["api", "cli"]
_BATCH_MAX = 1_000


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


@dataclass(frozen=True, slots=True)
class PendingRecord:
    """A row on its way to the log, with the future its caller waits on."""

    row: dict[str, Any]
    done: Future[None]


def decision_row(
    raw_input: bytes,
    result: ScreeningResult,
    *,
    request_id: str | None,
    source: Source,
    decision_id: str | None = None,
) -> dict[str, Any]:
    """The row for one screening. ``raw_input`` is the manifest's JSON as received."""
    return {
        "id": decision_id or new_decision_id(),
        "created_at": datetime.now(UTC),
        "manifest_id": result.manifest_id,
        "input_sha256": hashlib.sha256(raw_input).hexdigest(),
        "input": raw_input.decode("utf-8", errors="replace"),
        "ruleset_name": result.ruleset.name,
        "ruleset_version": result.ruleset.version,
        "ruleset_sha256": result.ruleset.sha256,
        "channel": result.channel,
        "risk_score": result.risk_score,
        "flags": orjson.dumps([flag.model_dump(mode="json") for flag in result.flags]).decode(),
        "elapsed_ms": result.elapsed_ms,
        "request_id": request_id,
        "source": source,
    }


class DecisionLogError(RuntimeError):
    """The log could not store a record; the screening it belongs to must not be answered."""


class DecisionLog:
    """Appends decisions with group commit, and reads them back."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._db: Engine = open_database(url)
        self._queue: queue.SimpleQueue[PendingRecord | None] = queue.SimpleQueue()
        self._writer = threading.Thread(
            target=self._write_loop, name="assay-decision-log", daemon=True
        )
        self._closed = False
        self.last_error: str | None = None
        self._writer.start()

    # ------------------------------------------------------------------------ writing

    def submit(self, row: dict[str, Any]) -> Future[None]:
        """Queue ``row``; the future resolves once it is committed (or fails)."""
        done: Future[None] = Future()
        if self._closed:
            done.set_exception(DecisionLogError("the decision log is closed"))
            return done
        self._queue.put(PendingRecord(row, done))
        return done

    def append(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store ``rows`` now, in one transaction (the CLI's path)."""
        futures = [self.submit(row) for row in rows]
        for future in futures:
            future.result()

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < _BATCH_MAX:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[PendingRecord]) -> None:
        try:
            with self._db.begin() as connection:
                connection.execute(insert(decisions), [pending.row for pending in batch])
        except Exception as exc:  # every waiting request must hear about it
            self.last_error = f"{type(exc).__name__}: {exc}"
            failure = DecisionLogError(f"could not store {len(batch)} decision(s): {exc}")
            for pending in batch:
                pending.done.set_exception(failure)
            return
        self.last_error = None
        for pending in batch:
            pending.done.set_result(None)

    def close(self) -> None:
        """Write what is queued, then stop the writer."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._writer.join()
        self._db.dispose()

    # ------------------------------------------------------------------------ reading

    def writable(self) -> bool:
        """The writer is running and the database answers."""
        if self._closed or not self._writer.is_alive():
            return False
        try:
            with self._db.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False
        return True

    def get(self, decision_id: str) -> Decision | None:
        with self._db.connect() as connection:
            row = (
                connection.execute(select(decisions).where(decisions.c.id == decision_id))
                .mappings()
                .first()
            )
        return _decision(row) if row is not None else None

    def for_manifest(self, manifest_id: str, limit: int = 100) -> list[Decision]:
        """Decisions about ``manifest_id``, newest first."""
        query = (
            select(decisions)
            .where(decisions.c.manifest_id == manifest_id)
            .order_by(decisions.c.id.desc())
            .limit(limit)
        )
        with self._db.connect() as connection:
            return [_decision(row) for row in connection.execute(query).mappings()]

    def between(
        self, since: datetime, until: datetime | None = None, chunk: int = 1_000
    ) -> Iterator[Decision]:
        """Decisions filed from ``since`` (inclusive) to ``until`` (exclusive), oldest first."""
        last_id = ""
        while True:
            query = select(decisions).where(
                decisions.c.created_at >= since, decisions.c.id > last_id
            )
            if until is not None:
                query = query.where(decisions.c.created_at < until)
            query = query.order_by(decisions.c.id).limit(chunk)
            with self._db.connect() as connection:
                rows = list(connection.execute(query).mappings())
            for row in rows:
                yield _decision(row)
            if len(rows) < chunk:
                return
            last_id = rows[-1]["id"]


def _decision(row: Any) -> Decision:
    created = row["created_at"]
    if created.tzinfo is None:  # SQLite stores naive timestamps; they were written in UTC
        created = created.replace(tzinfo=UTC)
    return Decision(
        decision_id=row["id"],
        created_at=created,
        manifest_id=row["manifest_id"],
        input_sha256=row["input_sha256"],
        input=orjson.loads(row["input"]),
        ruleset=RulesetInfo(
            name=row["ruleset_name"], version=row["ruleset_version"], sha256=row["ruleset_sha256"]
        ),
        channel=row["channel"],
        risk_score=row["risk_score"],
        flags=orjson.loads(row["flags"]),
        elapsed_ms=row["elapsed_ms"],
        request_id=row["request_id"],
        source=row["source"],
    )
