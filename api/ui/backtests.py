"""``/ui/backtests``: the back-tests, starting one (authors), following one while it runs and
reading its report as charts and lists.

A back-test is started by the function the API's ``POST /v1/backtests`` calls
(:func:`api.routes.backtests.begin`), from the same :class:`BacktestRequest`, so its checks
and errors are the API's, shown next to the field they name. Jobs are shown as the API shows
them (:func:`api.routes.backtests.shown`: files named relative to the corpus directory).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from assay.api.bodies import ApiError, RecordId, json_response
from assay.api.routes.backtests import begin, shown
from assay.api.service import Service, service
from assay.api.ui import render
from assay.api.ui.charts import Chart, bar_chart, percent
from assay.api.ui.session import Author, AuthorOrReviewer, RefusedError, Viewer, checked_form
from assay.engine.jobs import BacktestRequest
from assay.engine.store.backtests import BacktestJob
from assay.engine.store.rulesets import Version

router = APIRouter(include_in_schema=False)

CANDIDATE_STATES = ("draft", "submitted", "approved")
LANES = (("green", "green (release)"), ("yellow", "yellow (documents)"), ("red", "red (inspect)"))


def _versions(svc: Service) -> list[Version]:
    """Every version, drafts and those waiting for review first (the usual candidates)."""
    versions = svc.store.versions()
    return sorted(versions, key=lambda v: (v.state not in CANDIDATE_STATES, -v.id))


def _form_page(
    request: Request,
    who: Viewer,
    jobs: list[BacktestJob],
    versions: list[Version],
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    context = {
        "title": "Back-tests",
        "jobs": jobs,
        "versions": versions,
        "values": values,
        "errors": errors,
    }
    return render.page(request, "backtests.html", who, context, status)


def _listing(svc: Service) -> tuple[list[BacktestJob], list[Version]]:
    return [shown(svc, job) for job in svc.backtests.list(50)], _versions(svc)


@router.get("/ui/backtests")
async def page(
    request: Request,
    who: AuthorOrReviewer,
    candidate: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    svc = service(request)
    jobs, versions = await run_in_threadpool(_listing, svc)
    values = {"candidate": candidate, "baseline": "active", "corpus": "files", "outcomes": "on"}
    return _form_page(request, who, jobs, versions, values, {})


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _version_ref(value: str) -> int | str | None:
    if value in ("", "none"):
        return None
    return int(value) if value.isdigit() else value


def _request_of(values: dict[str, str]) -> dict[str, Any]:
    """The API's request body from the form's fields."""
    body: dict[str, Any] = {
        "candidate": _version_ref(values["candidate"]) or "",
        "baseline": _version_ref(values["baseline"]),
        "use_outcomes": values["outcomes"] == "on",
    }
    if values["corpus"] == "decisions":
        window: dict[str, Any] = {"since": values["since"] or None}
        if values["until"]:
            window["until"] = values["until"]
        body["decisions"] = window
    else:
        patterns = values["files"].replace(",", " ").split()
        body["files"] = patterns or None
    return body


def _field_of(loc: list[Any] | tuple[Any, ...]) -> str:
    """Which of the form's fields an error's ``loc`` names (without the API's ``body``)."""
    parts = [str(part) for part in loc if part != "body"]
    if not parts:
        return "corpus"
    if parts[0] == "decisions":
        # The window's own check (until after since) names no field of it: 'until'.
        return parts[1] if len(parts) > 1 and parts[1] in ("since", "until") else "until"
    return parts[0] if parts[0] in ("candidate", "baseline", "files") else "corpus"


def _message(error: dict[str, Any]) -> str:
    text = str(error["msg"])
    return text.removeprefix("Value error, ")


def _missing(values: dict[str, str]) -> dict[str, str]:
    """What the form lacks, said in its own words (the request's checks come next)."""
    errors = {}
    if not values["candidate"]:
        errors["candidate"] = "Choose the version to test."
    if values["corpus"] == "decisions" and not values["since"]:
        errors["since"] = "Give the start of the window (From)."
    if values["corpus"] != "decisions" and not values["files"]:
        errors["files"] = "Give one or more file patterns, e.g. 2026-11/*.jsonl."
    return errors


@router.post("/ui/backtests")
async def start(request: Request, who: Author) -> Response:
    """Start a back-test (authors only, as in the API); 303 to its page."""
    form = await checked_form(request, who)
    svc = service(request)
    names = ("candidate", "baseline", "corpus", "files", "since", "until")
    values = {name: _text(form, name) for name in names}
    values["outcomes"] = "on" if _text(form, "outcomes") == "on" else ""
    errors = _missing(values)
    job_id: int | None = None
    if not errors:
        try:
            body = BacktestRequest.model_validate(_request_of(values))
        except ValidationError as exc:
            for found in exc.errors(include_url=False):
                errors.setdefault(_field_of(found["loc"]), _message(dict(found)))
        else:
            try:
                job_id = await run_in_threadpool(begin, svc, body, who.identity.person)
            except ApiError as exc:
                for error in exc.errors or [{"loc": [], "msg": exc.detail}]:
                    errors.setdefault(_field_of(error["loc"]), _message(error))
    if job_id is not None:
        return RedirectResponse(f"/ui/backtests/{job_id}", 303)
    jobs, versions = await run_in_threadpool(_listing, svc)
    return _form_page(request, who, jobs, versions, values, errors, 422)


def _job(svc: Service, job_id: int) -> BacktestJob | None:
    found = svc.backtests.get(job_id)
    return shown(svc, found) if found is not None else None


@router.get("/ui/backtests/{job_id}/progress")
async def progress(job_id: RecordId, request: Request, who: AuthorOrReviewer) -> Response:
    """The job's state and progress, for the page's script (polled once a second)."""
    found = await run_in_threadpool(_job, service(request), job_id)
    if found is None:
        return json_response({"detail": f"no back-test {job_id}"}, 404)
    return json_response(
        {
            "state": found.state,
            "records_done": found.records_done,
            "fraction_done": found.fraction_done,
        }
    )


def _charts(report: dict[str, Any]) -> list[Chart]:
    """The report's figures as charts (each with its table)."""
    baseline = report.get("baseline") is not None
    rules = report.get("rules", [])
    charts: list[Chart] = []
    hit = [r for r in rules if r.get("hits") or (baseline and r.get("baseline_hits"))]
    series = ("baseline", "candidate") if baseline else ("candidate",)
    charts.append(
        bar_chart(
            "hits",
            "Hits per rule",
            series,
            [
                (r["rule_id"], (r["baseline_hits"], r["hits"]) if baseline else (r["hits"],))
                for r in hit
            ],
        )
    )
    channels = report.get("channels", {})
    after = channels.get("candidate", {})
    before = channels.get("baseline")
    lane_series = ("baseline", "candidate") if before else ("candidate",)

    def both(name: str) -> tuple[float | None, ...]:
        if before:
            return (before.get(name), after.get(name))
        return (after.get(name),)

    charts.append(
        bar_chart(
            "lanes",
            "Lanes before and after" if before else "Lanes",
            lane_series,
            [(label, both(lane)) for lane, label in LANES],
        )
    )
    scored = [r for r in rules if r.get("inspected")]
    if scored:
        charts.append(
            bar_chart(
                "precision",
                "Precision and recall per rule (inspection outcomes)",
                ("precision", "recall"),
                [(r["rule_id"], (r.get("precision"), r.get("recall"))) for r in scored],
                percent,
                top=1.0,
            )
        )
    charts.append(
        bar_chart(
            "rate",
            "Inspection rate before and after" if before else "Inspection rate",
            lane_series,
            [
                ("physical inspection (red)", both("inspection_rate")),
                ("document check (yellow)", both("check_rate")),
            ],
            percent,
        )
    )
    return charts


@router.get("/ui/backtests/{job_id}")
async def job_page(job_id: RecordId, request: Request, who: AuthorOrReviewer) -> Response:
    found = await run_in_threadpool(_job, service(request), job_id)
    if found is None:
        raise RefusedError(f"There is no back-test {job_id}.", 404)
    report = found.result if isinstance(found.result, dict) else None
    request_body = found.request if isinstance(found.request, dict) else {}
    context: dict[str, Any] = {
        "title": f"Back-test {job_id}",
        "job": found,
        "report": report,
        "charts": _charts(report) if report is not None else [],
        "from_log": "decisions" in request_body and request_body["decisions"] is not None,
        "files": request_body.get("files") or [],
        "window": request_body.get("decisions"),
    }
    return render.page(request, "backtest.html", who, context)
