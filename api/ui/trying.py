"""``/ui/try``: screen a manifest as a trial — pasted, read from a file, or taken from a logged
decision — and read the result as an officer would; with a draft selected, the active
version and the draft side by side.

A trial is never logged: it must not count in live figures (hits, shares, precision). It is
screened by the same call the API makes (:func:`api.routes.screening.screen_with`) and
validated by the same model, so its errors are the API's 422 ``detail``, field by field.
Drafts are compiled once per (version id, sha256) into engines the service keeps
(:class:`~api.drafts.DraftEngines`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from assay.api.bodies import validation_detail
from assay.api.routes.screening import screen_with
from assay.api.service import Service, service
from assay.api.ui import render
from assay.api.ui.session import AnyScreener, Viewer, checked_form
from assay.engine import Engine
from assay.engine.contracts import Flag, Manifest, ScreeningResult
from assay.engine.store.rulesets import GovernanceError, RuleStore, Version

router = APIRouter(include_in_schema=False)

READERS = ("author", "reviewer")  # who may read decisions and drafts, as the API says
DRAFT_STATES = ("draft", "submitted", "approved")
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
LANE_MEANING = {
    "green": "Release: no finding about the goods.",
    "yellow": "Document check: ask for and check the documents before release.",
    "red": "Physical inspection: hold the consignment and examine the goods.",
}


def _ordered(flags: list[Flag]) -> list[Flag]:
    """Findings before indicators is not what an officer needs first: the worst first."""
    return sorted(
        flags,
        key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), -f.score, f.rule_id, f.item_line or 0),
    )


def _flag_key(flag: Flag) -> tuple[str, int | None]:
    return (flag.rule_id, flag.item_line)


@dataclass(frozen=True)
class Shown:
    """One result as the page lays it out."""

    result: ScreeningResult
    flags: list[Flag]
    yellow_at: int
    red_at: int
    meaning: str
    only: frozenset[tuple[str, int | None]]  # flags not in the other column (side by side)
    items: dict[int, str]  # each goods item's description, by line

    def concerns(self, flag: Flag) -> str:
        """What the flag is about: its goods item (line and description) or the manifest."""
        if flag.item_line is None:
            return "the manifest as a whole"
        described = self.items.get(flag.item_line)
        return f"goods item {flag.item_line}" + (f" ({described})" if described else "")

    def evidence(self, flag: Flag) -> list[tuple[str, str]]:
        return [(name, render.evidence_text(value)) for name, value in flag.evidence.items()]


def _shown(
    manifest: Manifest,
    result: ScreeningResult,
    engine: Engine,
    other: ScreeningResult | None = None,
) -> Shown:
    lanes = engine.ruleset.lanes
    theirs = {_flag_key(f) for f in other.flags} if other is not None else set()
    only = (
        frozenset(_flag_key(f) for f in result.flags) - theirs if other is not None else frozenset()
    )
    return Shown(
        result,
        _ordered(result.flags),
        lanes.yellow_at,
        lanes.red_at,
        LANE_MEANING[result.channel],
        only,
        {item.line: item.description for item in manifest.items},
    )


def _drafts(svc: Service, who: Viewer) -> list[Version]:
    if who.role not in READERS:
        return []
    return [v for v in svc.store.versions() if v.state in DRAFT_STATES]


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _logged_input(svc: Service, manifest_id: str, decision_id: str) -> tuple[str, str | None]:
    """The text of a logged decision's input, and a note saying which (or why none)."""
    if decision_id:
        found = svc.log.get(decision_id)
        if found is None:
            return "", f"No decision {decision_id} is logged."
        return _pretty(found.input), (
            f"Manifest {found.manifest_id} as received in decision {found.decision_id} "
            f"({found.created_at:%Y-%m-%d %H:%M} UTC, lane {found.channel})."
        )
    newest = svc.log.for_manifest(manifest_id, 1)
    if not newest:
        return "", f"No decision about manifest {manifest_id} is logged."
    found = newest[0]
    return _pretty(found.input), (
        f"Manifest {found.manifest_id} as received in its newest decision, "
        f"{found.decision_id} ({found.created_at:%Y-%m-%d %H:%M} UTC, lane {found.channel})."
    )


def _version_or_none(store: RuleStore, draft: str) -> tuple[Version | None, str | None]:
    if not draft:
        return None, None
    if not draft.isdigit() or int(draft) > 2**53:
        return None, f"{draft!r} is not a version id: choose a draft from the list."
    try:
        return store.get(int(draft)), None
    except GovernanceError as exc:
        return None, exc.message


async def _page(
    request: Request,
    who: Viewer,
    *,
    text: str,
    draft: str,
    manifest_id: str = "",
    note: str | None = None,
    screen: bool = False,
) -> Response:
    svc = service(request)
    drafts = await run_in_threadpool(_drafts, svc, who)
    version, draft_error = (
        await run_in_threadpool(_version_or_none, svc.store, draft)
        if who.role in READERS
        else (None, None)
    )
    context: dict[str, Any] = {
        "title": "Try a manifest",
        "text": text,
        "drafts": drafts,
        "draft": version,
        "draft_error": draft_error,
        "manifest_id": manifest_id,
        "note": note,
        "can_pick": who.role in READERS,
        "errors": [],
        "active": None,
        "candidate": None,
        "engine_kind": svc.engine.kind,
    }
    status = 200
    if screen and draft_error is None:
        try:
            manifest = Manifest.model_validate_json(text)
        except ValidationError as exc:
            context["errors"] = [
                (".".join(str(part) for part in entry["loc"]) or "manifest", entry["msg"])
                for entry in validation_detail(exc, prefix=())
            ]
            status = 422
        else:
            active = await screen_with(svc.engine, manifest)
            if version is None:
                context["active"] = _shown(manifest, active, svc.engine)
            else:
                engine = await run_in_threadpool(svc.drafts.engine, svc.store, version)
                candidate = await screen_with(engine, manifest)
                context["active"] = _shown(manifest, active, svc.engine, candidate)
                context["candidate"] = _shown(manifest, candidate, engine, active)
    return render.page(request, "try.html", who, context, status)


@router.get("/ui/try")
async def page(
    request: Request,
    who: AnyScreener,
    manifest_id: Annotated[str, Query(max_length=64)] = "",
    decision_id: Annotated[str, Query(max_length=64)] = "",
    draft: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """The form; with ``manifest_id`` or ``decision_id`` (authors and reviewers, who may read
    the decision log), filled with that decision's input and screened at once."""
    manifest_id, decision_id = manifest_id.strip(), decision_id.strip()
    if not (manifest_id or decision_id):
        return await _page(request, who, text="", draft=draft)
    if who.role not in READERS:
        return await _page(
            request,
            who,
            text="",
            draft="",
            note="Logged decisions are for author and reviewer keys: paste the manifest instead.",
        )
    svc = service(request)
    text, note = await run_in_threadpool(_logged_input, svc, manifest_id, decision_id)
    return await _page(
        request, who, text=text, draft=draft, manifest_id=manifest_id, note=note, screen=bool(text)
    )


@router.post("/ui/try")
async def screen(request: Request, who: AnyScreener) -> Response:
    """Screen the pasted manifest (not logged); the page shows the result, or the errors."""
    form = await checked_form(request, who)
    text = form.get("manifest")
    draft = form.get("draft")
    return await _page(
        request,
        who,
        text=text if isinstance(text, str) else "",
        draft=draft if isinstance(draft, str) and who.role in READERS else "",
        screen=True,
    )
