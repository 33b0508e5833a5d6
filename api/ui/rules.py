"""``/ui/rules``: every rule of the active version with its live figures, and one rule's page
(its source, references, examples, figures and recent hits).

The figures are the API's own (:func:`api.routes.rules.ruleset_stats` and
:func:`~api.routes.rules.live_stats`, over the decision log and the inspection outcomes on
record): the page and ``GET /v1/rules/{id}/stats`` cannot disagree. Sorting and filtering
are GET query parameters, so a sorted, filtered list has its own URL and needs no script.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from assay.api.routes.rules import RuleStats, live_stats, ruleset_stats
from assay.api.service import Service, service
from assay.api.ui import render
from assay.api.ui.session import AuthorOrReviewer, RefusedError
from assay.engine.correlation.language import CorrelationRule
from assay.engine.ruleset import Rule
from assay.engine.store.decisions import Decision

router = APIRouter(include_in_schema=False)

WINDOWS = (7, 30)  # days: the list's two hit counts; share, precision and alarm over the longer
RECENT_HITS = 20
_SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


@dataclass(frozen=True)
class RuleRow:
    """One line of the rules list: the rule, and its figures over the last 7 and 30 days."""

    rule: Rule | CorrelationRule
    week: RuleStats
    month: RuleStats


# Each sortable column: its label and the value it sorts by (None sorts last either way).
COLUMNS: dict[str, tuple[str, Callable[[RuleRow], Any]]] = {
    "id": ("Rule", lambda row: row.rule.id),
    "pattern": ("Pattern", lambda row: row.rule.pattern),
    "severity": ("Severity", lambda row: _SEVERITY_RANK[row.rule.severity]),
    "score": ("Score", lambda row: row.rule.score),
    "role": ("Role", lambda row: row.rule.role),
    "hits_7d": ("Hits 7 d", lambda row: row.week.hits),
    "hits_30d": ("Hits 30 d", lambda row: row.month.hits),
    "share": ("Share flagged", lambda row: row.month.share),
    "precision": ("Precision", lambda row: row.month.precision),
    "alarm": ("Alarm", lambda row: 1 if row.month.alarm else 0),
}
DEFAULT_SORT = ("hits_30d", "desc")


def sorted_rows(rows: list[RuleRow], sort: str, order: str) -> list[RuleRow]:
    """``rows`` by ``sort`` (a key of :data:`COLUMNS`), ties by rule id; unknown values (no
    traffic, nothing inspected) last whichever the order."""
    key = COLUMNS[sort][1]
    by_id = sorted(rows, key=lambda row: row.rule.id)
    known = [row for row in by_id if key(row) is not None]
    unknown = [row for row in by_id if key(row) is None]
    known.sort(key=key, reverse=order == "desc")
    return known + unknown


def _sort_of(sort: str | None, order: str | None) -> tuple[str, str]:
    """The sort asked for, or the default for a value this page does not know."""
    if sort not in COLUMNS:
        return DEFAULT_SORT
    return sort, order if order in ("asc", "desc") else "asc"


_TEXT_COLUMNS = frozenset({"id", "pattern", "role"})


def sort_links(sort: str, order: str, pattern: str | None) -> dict[str, str]:
    """Each column heading's link: the same column in the other order, or a new column in
    its natural order (names A to Z, figures largest first); the filter is kept."""
    links = {}
    for key in COLUMNS:
        if key == sort:
            direction = "asc" if order == "desc" else "desc"
        else:
            direction = "asc" if key in _TEXT_COLUMNS else "desc"
        query = {"sort": key, "order": direction, **({"pattern": pattern} if pattern else {})}
        links[key] = f"/ui/rules?{urlencode(query)}"
    return links


def _ruleset_head(svc: Service) -> dict[str, Any]:
    active = svc.engine.ruleset
    return {
        "name": active.name,
        "version": active.version,
        "version_id": svc.loaded.version_id,
        "lanes": active.lanes,
        "red_severities": sorted(active.lanes.red_severities, key=_SEVERITY_RANK.__getitem__),
    }


def _rows(svc: Service) -> list[RuleRow]:
    week = ruleset_stats(svc, WINDOWS[0])
    month = ruleset_stats(svc, WINDOWS[1])
    return [RuleRow(rule, week[rule.id], month[rule.id]) for rule in svc.engine.ruleset.every_rule]


Text = Annotated[str | None, Query(max_length=64)]


@router.get("/ui/rules")
async def rules_page(
    request: Request,
    who: AuthorOrReviewer,
    sort: Text = None,
    order: Text = None,
    pattern: Text = None,
) -> Response:
    svc = service(request)
    rows = await run_in_threadpool(_rows, svc)
    patterns = sorted({row.rule.pattern for row in rows})
    chosen = pattern if pattern else None
    shown = [row for row in rows if chosen is None or row.rule.pattern == chosen]
    sort_by, direction = _sort_of(sort, order)
    context = {
        "ruleset": _ruleset_head(svc),
        "rows": sorted_rows(shown, sort_by, direction),
        "total": len(rows),
        "patterns": patterns,
        "pattern": chosen,
        "sort": sort_by,
        "order": direction,
        "columns": COLUMNS,
        "links": sort_links(sort_by, direction, chosen),
        "manifests": rows[0].month.manifests if rows else 0,
        "windows": WINDOWS,
    }
    return render.page(request, "rules.html", who, context)


def references(rule: Rule | CorrelationRule) -> list[tuple[str, bool]]:
    """Each reference, and whether it is a web address to link (anything else is text)."""
    return [(ref, ref.startswith(("https://", "http://"))) for ref in rule.references]


def hit_lines(decision: Decision, rule_id: str) -> list[tuple[int | None, str]]:
    """(item line, explanation) of each of ``rule_id``'s flags in ``decision``."""
    return [(f.item_line, f.explanation) for f in decision.flags if f.rule_id == rule_id]


def _rule_figures(svc: Service, rule_id: str) -> tuple[list[RuleStats | None], list[Decision]]:
    figures = [live_stats(svc, rule_id, days) for days in WINDOWS]
    return figures, svc.log.flagged_by(rule_id, RECENT_HITS)


@router.get("/ui/rules/{rule_id}")
async def rule_page(request: Request, rule_id: str, who: AuthorOrReviewer) -> Response:
    svc = service(request)
    rule = svc.engine.ruleset.any_rule(rule_id)
    if rule is None:
        raise RefusedError(
            f"There is no rule {rule_id!r} in the active ruleset: the Rules page lists every "
            "rule it holds.",
            404,
        )
    figures, recent = await run_in_threadpool(_rule_figures, svc, rule_id)
    if isinstance(rule, CorrelationRule):  # its source is its file; its scope, a group
        source, scope = svc.engine.ruleset.sources[rule.file], f"correlation: {rule.grouping}"
    else:
        source, scope = rule.source, rule.scope
    context = {
        "rule": rule,
        "correlation": isinstance(rule, CorrelationRule),
        "source": source,
        "scope": scope,
        "ruleset": _ruleset_head(svc),
        "references": references(rule),
        "windows": list(zip(WINDOWS, figures, strict=True)),
        "hits": [(decision, hit_lines(decision, rule_id)) for decision in recent],
    }
    return render.page(request, "rule.html", who, context)
