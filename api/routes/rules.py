"""GET /v1/rules and /v1/rules/{rule_id}: the active ruleset and its rules, with sources."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from api.auth import require
from api.bodies import ApiError
from api.service import Service, service
from engine.contracts import Severity
from engine.ruleset import Rule

router = APIRouter(tags=["rules"])


class RuleSummary(BaseModel):
    id: str
    title: str
    pattern: str
    severity: Severity
    score: int
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


def _summary(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "title": rule.title,
        "pattern": rule.pattern,
        "severity": rule.severity,
        "score": rule.score,
        "scope": rule.scope,
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
        "rules": [_summary(rule) for rule in active.rules],
    }


@router.get(
    "/v1/rules/{rule_id}",
    response_model=RuleDetail,
    summary="One rule, with its source text",
    responses={404: {"description": "No rule with this id in the active ruleset."}},
    dependencies=[READERS],
)
def rule(rule_id: str, svc: Annotated[Service, Depends(service)]) -> dict[str, Any]:
    found = svc.engine.ruleset.rule(rule_id)
    if found is None:
        raise ApiError(404, f"no rule {rule_id!r} in the active ruleset")
    return {
        **_summary(found),
        "when": found.when_text,
        "explain": found.explain,
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in found.params.items()},
        "examples": len(found.examples),
        "source": found.source,
    }
