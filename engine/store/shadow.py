"""Shadow runs: a submitted or approved version screening live traffic beside the active one.

A reviewer starts a run on a version; every API worker then screens each manifest with it as
well, after answering with the active version. The shadow's results are stored here, never
returned. Each stored row compares the two screenings of one manifest: channels, scores,
the rules only the shadow fired (``gained``) and only the active fired (``lost``), and — when
they differ — the shadow's flags with their explanations, so a reviewer reads what would
have been said. :meth:`ShadowStore.compare` sums a run up.

One run is current at a time; starting another stops it. A run whose version leaves the
submitted/approved states (rejected back to a draft, or activated) pauses: workers do not
shadow a version that can still change, or that is already live.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, func, insert, select, update

from assay.engine.contracts import ScreeningResult
from assay.engine.store.database import ruleset_versions, shadow_results, shadow_runs, stored_utc

SHADOWABLE = frozenset({"submitted", "approved"})
_EXAMPLES = 20


@dataclass(frozen=True, slots=True)
class ShadowRun:
    id: int
    version_id: int
    version_state: str
    version_sha256: str
    started_by: str
    started_at: datetime
    stopped_by: str | None
    stopped_at: datetime | None

    @property
    def shadowing(self) -> bool:
        """Whether workers screen with it now."""
        return self.stopped_at is None and self.version_state in SHADOWABLE


def _ids(rules: set[str]) -> str | None:
    return "," + ",".join(sorted(rules)) + "," if rules else None


def _split(ids: str | None) -> list[str]:
    return [rule for rule in (ids or "").split(",") if rule]


def shadow_row(
    run_id: int, decision_id: str | None, active: ScreeningResult, shadow: ScreeningResult
) -> dict[str, Any]:
    """The stored comparison of one manifest's two screenings."""
    before = {flag.rule_id for flag in active.flags}
    after = {flag.rule_id for flag in shadow.flags}
    differ = before != after or active.channel != shadow.channel
    flags = [flag.model_dump(mode="json") for flag in shadow.flags] if differ else None
    return {
        "run_id": run_id,
        "decision_id": decision_id,
        "created_at": datetime.now(UTC),
        "manifest_id": active.manifest_id,
        "shadow_sha256": shadow.ruleset.sha256,
        "active_channel": active.channel,
        "shadow_channel": shadow.channel,
        "active_score": active.risk_score,
        "shadow_score": shadow.risk_score,
        "gained": _ids(after - before),
        "lost": _ids(before - after),
        "shadow_flags": orjson.dumps(flags).decode() if flags is not None else None,
    }


class ShadowStore:
    def __init__(self, db: Engine) -> None:
        self._db = db

    def _runs(self) -> Any:
        return select(
            shadow_runs,
            ruleset_versions.c.state.label("version_state"),
            ruleset_versions.c.sha256.label("version_sha256"),
        ).join(ruleset_versions, ruleset_versions.c.id == shadow_runs.c.version_id)

    @staticmethod
    def _run(row: Any) -> ShadowRun:
        return ShadowRun(
            id=row["id"],
            version_id=row["version_id"],
            version_state=row["version_state"],
            version_sha256=row["version_sha256"],
            started_by=row["started_by"],
            started_at=stored_utc(row["started_at"]),
            stopped_by=row["stopped_by"],
            stopped_at=stored_utc(row["stopped_at"]),
        )

    def start(self, version_id: int, actor: str) -> int:
        """A new current run on ``version_id`` (the caller checked its state); the run it
        replaces is stopped."""
        now = datetime.now(UTC)
        with self._db.begin() as connection:
            connection.execute(
                update(shadow_runs)
                .where(shadow_runs.c.stopped_at.is_(None))
                .values(stopped_at=now, stopped_by=actor)
            )
            result = connection.execute(
                insert(shadow_runs).values(version_id=version_id, started_by=actor, started_at=now)
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def stop(self, actor: str) -> ShadowRun | None:
        """Stop the current run; it, or None when there was none."""
        current = self.current()
        if current is None:
            return None
        now = datetime.now(UTC)
        with self._db.begin() as connection:
            connection.execute(
                update(shadow_runs)
                .where(shadow_runs.c.id == current.id, shadow_runs.c.stopped_at.is_(None))
                .values(stopped_at=now, stopped_by=actor)
            )
        return replace(current, stopped_at=now, stopped_by=actor)

    def current(self) -> ShadowRun | None:
        query = self._runs().where(shadow_runs.c.stopped_at.is_(None))
        query = query.order_by(shadow_runs.c.id.desc()).limit(1)
        with self._db.connect() as connection:
            row = connection.execute(query).mappings().first()
        return self._run(row) if row is not None else None

    def get(self, run_id: int) -> ShadowRun | None:
        with self._db.connect() as connection:
            row = connection.execute(self._runs().where(shadow_runs.c.id == run_id)).mappings()
            found = row.first()
        return self._run(found) if found is not None else None

    def latest(self) -> ShadowRun | None:
        query = self._runs().order_by(shadow_runs.c.id.desc()).limit(1)
        with self._db.connect() as connection:
            row = connection.execute(query).mappings().first()
        return self._run(row) if row is not None else None

    def record(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            with self._db.begin() as connection:
                connection.execute(insert(shadow_results), list(rows))

    def compare(self, run_id: int, examples: int = _EXAMPLES) -> dict[str, Any]:
        """How the shadow version's screenings in run ``run_id`` differ from the active's."""
        results = shadow_results.c
        in_run = results.run_id == run_id
        differs = results.gained.is_not(None) | results.lost.is_not(None)
        with self._db.connect() as connection:
            lanes = connection.execute(
                select(results.active_channel, results.shadow_channel, func.count())
                .where(in_run)
                .group_by(results.active_channel, results.shadow_channel)
            ).all()
            changed = connection.execute(
                select(results.gained, results.lost).where(in_run & differs)
            ).all()
            recent = connection.execute(
                select(shadow_results)
                .where(in_run & (differs | (results.active_channel != results.shadow_channel)))
                .order_by(results.id.desc())
                .limit(examples)
            ).mappings()
            listed = [
                {
                    "manifest_id": row["manifest_id"],
                    "decision_id": row["decision_id"],
                    "at": stored_utc(row["created_at"]),
                    "active_channel": row["active_channel"],
                    "shadow_channel": row["shadow_channel"],
                    "gained": _split(row["gained"]),
                    "lost": _split(row["lost"]),
                    "shadow_explanations": [
                        flag["explanation"] for flag in orjson.loads(row["shadow_flags"] or "[]")
                    ],
                }
                for row in recent
            ]
        screened = sum(count for _, _, count in lanes)
        active: Counter[str] = Counter()
        shadow: Counter[str] = Counter()
        moves: Counter[str] = Counter()
        for before, after, count in lanes:
            active[before] += count
            shadow[after] += count
            if before != after:
                moves[f"{before}->{after}"] += count
        gained: Counter[str] = Counter()
        lost: Counter[str] = Counter()
        for plus, minus in changed:
            gained.update(_split(plus))
            lost.update(_split(minus))
        same_channel = screened - sum(moves.values())

        def rate(count: int) -> float | None:
            return round(count / screened, 6) if screened else None

        def mix(counts: Counter[str]) -> dict[str, Any]:
            return {
                **{lane: counts[lane] for lane in ("green", "yellow", "red")},
                "inspection_rate": rate(counts["red"]),
            }

        return {
            "screened": screened,
            "same_channel": same_channel,
            "channel_agreement": rate(same_channel),
            "same_flags": screened - len(changed),
            "flag_agreement": rate(screened - len(changed)),
            "channels": {"active": mix(active), "shadow": mix(shadow)},
            "channel_moves": dict(sorted(moves.items())),
            "rules_gained": dict(gained.most_common()),
            "rules_lost": dict(lost.most_common()),
            "examples": listed,
        }
