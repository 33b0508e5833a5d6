"""A rule's live figures: its hits in a window of the decision log, scored against the
inspection outcomes on record — the figures of :mod:`engine.performance`, on real traffic.

A manifest screened several times in the window (an amended declaration) counts once; it is a
hit if any of its screenings flagged it with the rule. Outcomes are the latest recorded per
manifest. Recall counts the known seizures among the manifests screened in the window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from assay.engine.inspections import Inspection
from assay.engine.performance import DEFAULT_ALARM_AT, figures, ratio
from assay.engine.store.database import decision_flags, decisions, stored_utc

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class RuleFigures:
    rule_id: str
    since: datetime
    until: datetime
    manifests: int
    last_hit_at: datetime | None
    figures: dict[str, Any]
    pattern_recall: float | None


def _window(since: datetime, until: datetime) -> Any:
    return (decisions.c.created_at >= since) & (decisions.c.created_at < until)


def _screened_among(
    connection: Any, ids: Iterable[str], since: datetime, until: datetime
) -> set[str]:
    """Those of ``ids`` screened in the window."""
    wanted, found = sorted(ids), set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        query = (
            select(decisions.c.manifest_id)
            .where(_window(since, until) & decisions.c.manifest_id.in_(chunk))
            .distinct()
        )
        found.update(connection.execute(query).scalars())
    return found


def rule_figures(
    db: Engine,
    rule_id: str,
    pattern: str | None,
    outcomes: dict[str, Inspection],
    since: datetime,
    until: datetime,
    alarm_at: int = DEFAULT_ALARM_AT,
) -> RuleFigures:
    """``rule_id``'s figures over decisions logged from ``since`` to ``until``."""
    flags = decision_flags.c
    hit = (flags.rule_id == rule_id) & (flags.created_at >= since) & (flags.created_at < until)
    with db.connect() as connection:
        manifests = connection.execute(
            select(func.count(func.distinct(decisions.c.manifest_id))).where(_window(since, until))
        ).scalar_one()
        hits = set(connection.execute(select(flags.manifest_id).where(hit).distinct()).scalars())
        last = connection.execute(select(func.max(flags.created_at)).where(hit)).scalar_one()
        seizures = {m for m, o in outcomes.items() if o.result == "seizure"}
        known = _screened_among(connection, seizures, since, until)
    own = {m for m in known if outcomes[m].pattern == pattern} if pattern else set()
    scored = figures(hits, int(manifests), outcomes, known, alarm_at)
    return RuleFigures(
        rule_id=rule_id,
        since=since,
        until=until,
        manifests=int(manifests),
        last_hit_at=stored_utc(last),
        figures=scored.to_json(),
        pattern_recall=ratio(len(own & hits), len(own)),
    )


def ruleset_figures(
    db: Engine,
    rules: Mapping[str, str | None],
    outcomes: dict[str, Inspection],
    since: datetime,
    until: datetime,
    alarm_at: int = DEFAULT_ALARM_AT,
) -> dict[str, RuleFigures]:
    """The figures of every rule of ``rules`` (rule id → pattern) over the same window, as
    :func:`rule_figures` gives them one by one, from one grouped read of the flags: a page
    listing a whole pack does not query the log once a rule."""
    flags = decision_flags.c
    hit = (flags.created_at >= since) & (flags.created_at < until) & flags.rule_id.in_(rules)
    hits: dict[str, set[str]] = {rule_id: set() for rule_id in rules}
    last: dict[str, Any] = {}
    with db.connect() as connection:
        manifests = connection.execute(
            select(func.count(func.distinct(decisions.c.manifest_id))).where(_window(since, until))
        ).scalar_one()
        pairs = select(flags.rule_id, flags.manifest_id).where(hit).distinct()
        for rule_id, manifest_id in connection.execute(pairs):
            hits[rule_id].add(manifest_id)
        latest = (
            select(flags.rule_id, func.max(flags.created_at)).where(hit).group_by(flags.rule_id)
        )
        last.update((rule_id, at) for rule_id, at in connection.execute(latest))
        seizures = {m for m, o in outcomes.items() if o.result == "seizure"}
        known = _screened_among(connection, seizures, since, until)
    found: dict[str, RuleFigures] = {}
    for rule_id, pattern in rules.items():
        own = {m for m in known if outcomes[m].pattern == pattern} if pattern else set()
        scored = figures(hits[rule_id], int(manifests), outcomes, known, alarm_at)
        found[rule_id] = RuleFigures(
            rule_id=rule_id,
            since=since,
            until=until,
            manifests=int(manifests),
            last_hit_at=stored_utc(last.get(rule_id)),
            figures=scored.to_json(),
            pattern_recall=ratio(len(own & hits[rule_id]), len(own)),
        )
    return found
