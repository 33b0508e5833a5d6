"""Back-test jobs: requested through the API, run by a background process, result kept.

A job goes ``queued`` → ``running`` → ``done`` (its report stored) or ``failed`` (its error
stored). While it runs, the runner writes how many records it has screened and, when the
corpus size is known, the fraction done; each write is a heartbeat. A running job whose
heartbeat is older than :data:`STALE_AFTER` has lost its process (killed, out of memory,
machine restarted): reading it marks it failed, so nobody waits on it forever.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from pydantic import BaseModel, JsonValue
from sqlalchemy import Engine, insert, select, update

from assay.engine.store.database import backtests, stored_utc

JobState = Literal["queued", "running", "done", "failed"]
STALE_AFTER = timedelta(seconds=60)


class BacktestJob(BaseModel):
    """A back-test job as stored; ``result`` is the report (see :mod:`engine.backtest`)."""

    id: int
    state: JobState
    candidate_id: int
    baseline_id: int | None
    request: JsonValue
    created_by: str
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None
    records_done: int
    fraction_done: float | None
    error: str | None
    result: JsonValue | None = None


def _job(row: Any) -> BacktestJob:
    return BacktestJob(
        id=row["id"],
        state=row["state"],
        candidate_id=row["candidate_id"],
        baseline_id=row["baseline_id"],
        request=orjson.loads(row["request"]),
        created_by=row["created_by"],
        created_at=stored_utc(row["created_at"]),
        started_at=stored_utc(row["started_at"]),
        heartbeat_at=stored_utc(row["heartbeat_at"]),
        finished_at=stored_utc(row["finished_at"]),
        records_done=row["records_done"],
        fraction_done=row["fraction_done"],
        error=row["error"],
        result=orjson.loads(row["result"]) if row["result"] else None,
    )


class BacktestStore:
    def __init__(self, db: Engine) -> None:
        self._db = db

    def create(
        self,
        request: dict[str, Any],
        candidate_id: int,
        baseline_id: int | None,
        created_by: str,
    ) -> int:
        with self._db.begin() as connection:
            result = connection.execute(
                insert(backtests).values(
                    state="queued",
                    candidate_id=candidate_id,
                    baseline_id=baseline_id,
                    request=orjson.dumps(request).decode(),
                    created_by=created_by,
                    created_at=datetime.now(UTC),
                    records_done=0,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def _set(self, job_id: int, only_if: JobState | None = None, **values: Any) -> bool:
        query = update(backtests).where(backtests.c.id == job_id)
        if only_if is not None:
            query = query.where(backtests.c.state == only_if)
        with self._db.begin() as connection:
            return bool(connection.execute(query.values(**values)).rowcount)

    def start(self, job_id: int) -> bool:
        """Claim a queued job; False when it is not queued (another runner has it)."""
        now = datetime.now(UTC)
        return self._set(job_id, "queued", state="running", started_at=now, heartbeat_at=now)

    def progress(self, job_id: int, records_done: int, fraction_done: float | None) -> None:
        self._set(
            job_id,
            "running",
            records_done=records_done,
            fraction_done=fraction_done,
            heartbeat_at=datetime.now(UTC),
        )

    def finish(self, job_id: int, result: dict[str, Any], records_done: int) -> None:
        self._set(
            job_id,
            "running",
            state="done",
            result=orjson.dumps(result).decode(),
            records_done=records_done,
            fraction_done=1.0,
            finished_at=datetime.now(UTC),
        )

    def fail(self, job_id: int, error: str) -> None:
        self._set(job_id, None, state="failed", error=error, finished_at=datetime.now(UTC))

    def _expire(self, job: BacktestJob, now: datetime) -> BacktestJob:
        beat = job.heartbeat_at or job.created_at
        if job.state != "running" or now - beat <= STALE_AFTER:
            return job
        error = (
            f"the back-test process stopped: no progress since {beat.isoformat()}"
            " (killed or out of memory); start the back-test again"
        )
        if self._set(job.id, "running", state="failed", error=error, finished_at=now):
            return job.model_copy(update={"state": "failed", "error": error, "finished_at": now})
        return job

    def get(self, job_id: int) -> BacktestJob | None:
        with self._db.connect() as connection:
            row = (
                connection.execute(select(backtests).where(backtests.c.id == job_id))
                .mappings()
                .first()
            )
        if row is None:
            return None
        return self._expire(_job(row), datetime.now(UTC))

    def list(self, limit: int = 50) -> list[BacktestJob]:
        """The latest jobs, newest first, without their reports."""
        columns = [c for c in backtests.c if c.name != "result"]
        query = select(*columns).order_by(backtests.c.id.desc()).limit(limit)
        with self._db.connect() as connection:
            rows = list(connection.execute(query).mappings())
        now = datetime.now(UTC)
        return [self._expire(_job({**row, "result": None}), now) for row in rows]
