"""The inspectors' workbench: server-rendered pages at ``/ui`` over the governance API's own
service functions (rules, drafts, four-eyes review, back-tests, decisions, outcomes).

One module a page (:mod:`.signin`, :mod:`.rules`, :mod:`.editor`, :mod:`.trying`,
:mod:`.backtests`, :mod:`.review`, :mod:`.decisions`, :mod:`.alerts`); sessions and CSRF
in :mod:`.session`; templates in ``templates/``; scripts, styles and the vendored parts
(``static/VENDORED.md``) in ``static/``, served from the package: nothing is loaded from
another host.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from assay.api.docs import CachedStatic
from assay.api.ui import (
    alerts,
    backtests,
    decisions,
    editor,
    render,
    review,
    rules,
    signin,
    trying,
)
from assay.api.ui.session import RefusedError, SignInNeededError, current

PREFIX = "/ui"
# Scripts and styles from the service only (no inline script, no eval); forms post to it only.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


def is_ui_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/") or path == "/favicon.ico"


def mount(app: FastAPI) -> None:
    """Add the workbench's pages, its assets and its error pages to ``app``."""
    for module in (signin, rules, editor, trying, backtests, review, decisions, alerts):
        app.include_router(module.router)
    static = render.package_dir("static")
    app.mount(render.ASSETS, CachedStatic(static), name="ui-assets")
    icon = static / "favicon.svg"

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(icon, media_type="image/svg+xml")

    @app.exception_handler(SignInNeededError)
    async def sign_in_needed(request: Request, exc: SignInNeededError) -> Response:
        return render.to_sign_in(request, exc.reason)

    @app.exception_handler(RefusedError)
    async def refused(request: Request, exc: RefusedError) -> Response:
        try:
            who = await current(request)
        except SQLAlchemyError:
            who = None
        return render.refusal(request, who, exc.message, exc.status)
