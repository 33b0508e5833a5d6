"""Pages from templates: the workbench's Jinja2 environment, and the answers every page shares
(sign-in redirect, refusal, database away).

Templates autoescape everything: text from a manifest, a rule file or a key's holder name is
shown as text, never as markup (no ``|safe`` on such data anywhere). Every page gets the
viewer (for the navigation and the CSRF token) and the asset URLs, which carry the release's
version so that a browser's cached copy is replaced when Assay is upgraded.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from assay.api.ui.session import LANDING, Viewer

ASSETS = "/ui/static"
VERSION = "0.1.0"

# The navigation: (path, label, roles that may open it).
NAVIGATION: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("/ui/rules", "Rules", frozenset({"author", "reviewer"})),
    ("/ui/try", "Try", frozenset({"screening", "author", "reviewer"})),
    ("/ui/backtests", "Back-tests", frozenset({"author", "reviewer"})),
    ("/ui/rulesets", "Review", frozenset({"author", "reviewer"})),
    ("/ui/decisions", "Decisions", frozenset({"author", "reviewer"})),
    ("/ui/alerts", "Alerts", frozenset({"author", "reviewer"})),
)


def package_dir(name: str) -> Path:
    return Path(str(resources.files("assay.api.ui").joinpath(name)))


def _asset(path: str) -> str:
    return f"{ASSETS}/{path}?v={VERSION}"


templates = Jinja2Templates(directory=package_dir("templates"))
templates.env.globals["asset"] = _asset
templates.env.globals["navigation"] = NAVIGATION
templates.env.globals["landing"] = LANDING
templates.env.globals["version"] = VERSION


def page(
    request: Request,
    template: str,
    who: Viewer | None,
    context: Mapping[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """``template`` rendered for ``who`` (None: signed out)."""
    values = {"who": who, "path": request.url.path, **(context or {})}
    return templates.TemplateResponse(request, template, values, status_code=status)


def to_sign_in(request: Request, reason: str | None = None) -> Response:
    """303 to the sign-in form, which brings the viewer back here afterwards (GET pages)."""
    target = "/ui"
    if request.method == "GET" and request.url.path != "/ui":
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += f"?next={quote(back, safe='')}"
    if reason:
        target += ("&" if "?" in target else "?") + f"reason={quote(reason, safe='')}"
    return RedirectResponse(target, 303)


def local_target(value: str | None, fallback: str) -> str:
    """A redirect target from a form or query: a path of the workbench, or ``fallback``
    (never another site: ``//host`` or ``https://host`` are refused)."""
    if value and value.startswith("/ui") and not value.startswith("//") and "\\" not in value:
        return value
    return fallback


def refusal(request: Request, who: Viewer | None, message: str, status: int) -> HTMLResponse:
    return page(request, "error.html", who, {"message": message, "status": status}, status)


def _readable(value: Any) -> Any:
    """Numbers as an officer reads them: 1.7468354430379747 as 1.747, 27600.0 as 27600."""
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        return round(value, 3) if abs(value) >= 0.01 else float(f"{value:.3g}")
    if isinstance(value, list | tuple):
        return [_readable(v) for v in value]
    if isinstance(value, dict):
        return {k: _readable(v) for k, v in value.items()}
    return value


def evidence_text(value: Any) -> str:
    """An evidence value on a page: text as it is; numbers rounded for reading and lists as
    JSON (the exact values stay in the decision log and the API's answers)."""
    if isinstance(value, str):
        return value
    return orjson.dumps(_readable(value)).decode()
