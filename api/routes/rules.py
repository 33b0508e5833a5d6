"""GET /v1/rules, /v1/rules/{rule_id} and /v1/rules/{rule_id}/stats: the active ruleset, its
rules with their sources, and each rule's figures on live traffic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from assay.api.auth import require
from assay.api.bodies import ApiError
from assay.api.service import Service, service
from assay.engine.contracts import Role, Severity
from assay.engine.correlation.language import CorrelationRule
from assay.engine.performance import DEFAULT_ALARM_AT
from assay.engine.ruleset import Rule
from assay.engine.store.rulestats import RuleFigures, rule_figures, ruleset_figures

router = APIRouter(tags=["rules"])


class RuleSummary(BaseModel):
    id: str
    title: str
    pattern: str
    severity: Severity
    score: int
    role: Role
    scope: str
    file: str
    references: list[str]


class RuleDetail(RuleSummary):
    when: str
    explain: str
    params: dict[str, Any]
    examples: int
    source: str


class Lanes(BaseModel):
    yellow_at: int
    red_at: int
    red_severities: list[Severity]


class RulesetDescription(BaseModel):
    name: str
    version: str
    sha256: str
    description: str
    lanes: Lanes
    rules: list[RuleSummary]


def _summary(rule: Rule | CorrelationRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "title": rule.title,
        "pattern": rule.pattern,
        "severity": rule.severity,
        "score": rule.score,
        "role": rule.role,
        "scope": rule.scope if isinstance(rule, Rule) else f"correlation: {rule.grouping}",
        "file": rule.file,
        "references": list(rule.references),
    }


READERS = Depends(require("screening", "author", "reviewer"))


@router.get(
    "/v1/rules",
    response_model=RulesetDescription,
    summary="The active ruleset",
    dependencies=[READERS],
)
def ruleset(svc: Annotated[Service, Depends(service)]) -> dict[str, Any]:
    active = svc.engine.ruleset
    return {
        "name": active.name,
        "version": active.version,
        "sha256": active.sha256,
        "description": active.description,
        "lanes": {
            "yellow_at": active.lanes.yellow_at,
            "red_at": active.lanes.red_at,
            "red_severities": sorted(active.lanes.red_severities),
        },
        "rules": [_summary(rule) for rule in active.every_rule],
    }


@router.get(
    "/v1/rules/{rule_id}",
    response_model=RuleDetail,
    summary="One rule, with its source text",
    responses={404: {"description": "No rule with this id in the active ruleset."}},
    dependencies=[READERS],
)
def rule(rule_id: str, svc: Annotated[Service, Depends(service)]) -> dict[str, Any]:
    active = svc.engine.ruleset
    found = active.any_rule(rule_id)
    if found is None:
        raise ApiError(404, f"no rule {rule_id!r} in the active ruleset")
    if isinstance(found, Rule):
        when, source = found.when_text, found.source
    else:  # a correlation rule: who joins, and when the group alerts
        when = f"each: {found.each_text.strip()}\nalert_when: {found.alert_text.strip()}"
        source = active.sources[found.file]
    return {
        **_summary(found),
        "when": when,
        "explain": found.explain,
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in found.params.items()},
        "examples": len(found.examples),
        "source": source,
    }


class RuleStats(BaseModel):
    """A rule's figures on live traffic (see `engine/performance.py` for each figure)."""

    rule_id: str
    pattern: str | None = Field(description="The rule's pattern in the active ruleset.")
    in_active_ruleset: bool
    since: datetime
    until: datetime
    manifests: int = Field(description="Manifests screened in the window.")
    last_hit_at: datetime | None
    hits: int
    share: float | None
    inspected: int
    seizures: int
    irregularities: int
    no_finds: int
    precision: float | None = Field(description="Finds / inspected hits.")
    recall: float | None = Field(description="Known seizures flagged / known seizures.")
    yield_: float | None = Field(alias="yield", description="Seizures / hits.")
    pattern_recall: float | None
    alarm: str | None = Field(description="Set when inspected alarm_at times with no find.")


def _stats(rule_id: str, pattern: str | None, in_active: bool, live: RuleFigures) -> RuleStats:
    return RuleStats.model_validate(
        {
            "rule_id": rule_id,
            "pattern": pattern,
            "in_active_ruleset": in_active,
            "since": live.since,
            "until": live.until,
            "manifests": live.manifests,
            "last_hit_at": live.last_hit_at,
            **live.figures,
            "pattern_recall": live.pattern_recall,
        }
    )


def live_stats(
    svc: Service, rule_id: str, days: int = 90, alarm_at: int = DEFAULT_ALARM_AT
) -> RuleStats | None:
    """``rule_id``'s figures over the decisions of the last ``days`` days and the outcomes on
    record; None when it is not in the active ruleset and had no hits (nothing to show).
    Blocking: the API's route and the workbench's pages call it in a thread."""
    found = svc.engine.ruleset.any_rule(rule_id)
    svc.log.caught_up()  # every decision answered before this request
    until = datetime.now(UTC)
    since = until - timedelta(days=days)
    outcomes = svc.inspections.latest()
    pattern = found.pattern if found else None
    live = rule_figures(svc.db, rule_id, pattern, outcomes, since, until, alarm_at)
    if found is None and live.figures["hits"] == 0:
        return None
    return _stats(rule_id, pattern, found is not None, live)


def ruleset_stats(
    svc: Service, days: int = 90, alarm_at: int = DEFAULT_ALARM_AT
) -> dict[str, RuleStats]:
    """:func:`live_stats` of every rule of the active ruleset, by rule id, from one grouped
    read of the log (:func:`~engine.store.rulestats.ruleset_figures`)."""
    rules = {rule.id: rule.pattern for rule in svc.engine.ruleset.every_rule}
    svc.log.caught_up()
    until = datetime.now(UTC)
    since = until - timedelta(days=days)
    outcomes = svc.inspections.latest()
    live = ruleset_figures(svc.db, rules, outcomes, since, until, alarm_at)
    return {rule_id: _stats(rule_id, rules[rule_id], True, live[rule_id]) for rule_id in rules}


@router.get(
    "/v1/rules/{rule_id}/stats",
    response_model=RuleStats,
    response_model_by_alias=True,
    summary="A rule's live figures: hits, precision, recall, yield",
    responses={404: {"description": "Not in the active ruleset, and no hits in the window."}},
    dependencies=[Depends(require("author", "reviewer"))],
)
async def stats(
    rule_id: Annotated[str, PathParam(max_length=64)],
    svc: Annotated[Service, Depends(service)],
    days: Annotated[int, Query(ge=1, le=3660, description="The window: the last N days.")] = 90,
    alarm_at: Annotated[int, Query(ge=1, le=1_000_000)] = DEFAULT_ALARM_AT,
) -> RuleStats:
    """Over the decisions logged in the last `days` days and the inspection outcomes on
    record: the manifests the rule flagged, how many were inspected and what was found, its
    precision, its recall of known seizures, its yield, and the no-find alarm."""
    found = await run_in_threadpool(live_stats, svc, rule_id, days, alarm_at)
    if found is None:
        raise ApiError(
            404, f"no rule {rule_id!r} in the active ruleset, and no hits in the last {days} days"
        )
    return found
