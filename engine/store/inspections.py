"""Recorded inspection outcomes. Every record is kept (who recorded what, when); a manifest's
outcome is the latest recorded for it, so a corrected outcome replaces an earlier one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, func, insert, select

from assay.engine.inspections import Inspection
from assay.engine.store.database import inspections, stored_utc


@dataclass(frozen=True, slots=True)
class RecordedInspection:
    """An outcome as recorded: what was found, who recorded it and when."""

    outcome: Inspection
    recorded_by: str
    recorded_at: datetime


class InspectionStore:
    def __init__(self, db: Engine) -> None:
        self._db = db

    def record(self, outcomes: Iterable[Inspection], recorded_by: str) -> int:
        """Store ``outcomes`` in one transaction; how many."""
        now = datetime.now(UTC)
        rows = [
            {**outcome.model_dump(), "recorded_by": recorded_by, "recorded_at": now}
            for outcome in outcomes
        ]
        if rows:
            with self._db.begin() as connection:
                connection.execute(insert(inspections), rows)
        return len(rows)

    def latest(self) -> dict[str, Inspection]:
        """The current outcome of every inspected manifest."""
        newest = (
            select(func.max(inspections.c.id).label("id"))
            .group_by(inspections.c.manifest_id)
            .subquery()
        )
        query = select(
            inspections.c.manifest_id,
            inspections.c.result,
            inspections.c.pattern,
            inspections.c.notes,
        ).join(newest, newest.c.id == inspections.c.id)
        with self._db.connect() as connection:
            return {
                row.manifest_id: Inspection.model_construct(
                    manifest_id=row.manifest_id,
                    result=row.result,
                    pattern=row.pattern,
                    notes=row.notes,
                )
                for row in connection.execute(query)
            }

    def for_manifest(self, manifest_id: str) -> list[RecordedInspection]:
        """Every outcome recorded for ``manifest_id``, newest first (the first is the one
        figures count)."""
        query = (
            select(inspections)
            .where(inspections.c.manifest_id == manifest_id)
            .order_by(inspections.c.id.desc())
        )
        with self._db.connect() as connection:
            return [
                RecordedInspection(
                    outcome=Inspection.model_construct(
                        manifest_id=row.manifest_id,
                        result=row.result,
                        pattern=row.pattern,
                        notes=row.notes,
                    ),
                    recorded_by=row.recorded_by,
                    recorded_at=stored_utc(row.recorded_at),
                )
                for row in connection.execute(query)
            ]

    def count(self) -> int:
        with self._db.connect() as connection:
            return int(
                connection.execute(select(func.count()).select_from(inspections)).scalar_one()
            )
