"""GET /docs: the API's Swagger UI page, served with its scripts from the package.

Nothing is fetched from a CDN, so the page works at a border post without internet access,
and its Content-Security-Policy allows scripts, styles and requests from the service alone:
the page starts Swagger UI from a file (``static/docs.js``), not an inline script. The
Swagger UI files are vendored from npm with their licence (``static/vendor/README.md``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

PAGE = "/docs"
ASSETS = "/docs/assets"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
# The vendored files change only with the package: a browser may keep them for a day.
_CACHE = (b"cache-control", b"public, max-age=86400")


def is_docs_path(path: str) -> bool:
    return path == PAGE or path.startswith(ASSETS + "/")


def _static_dir() -> Path:
    return Path(str(resources.files("assay.api").joinpath("static")))


class CachedStatic:
    """The package's static files, with a cache lifetime (the guard adds no-store otherwise)."""

    def __init__(self, directory: Path) -> None:
        # An editable install links each file into place: follow the links, which StaticFiles
        # still confines to paths under ``directory``.
        self.files = StaticFiles(directory=directory, follow_symlink=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def cached(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (200, 304):
                message = {**message, "headers": [*message.get("headers", ()), _CACHE]}
            await send(message)

        await self.files(scope, receive, cached)


def mount(app: FastAPI) -> None:
    """Add the page and its assets to ``app`` (created with ``docs_url=None``)."""
    static = _static_dir()
    page = static / "docs.html"

    @app.get(PAGE, include_in_schema=False)
    async def docs_page() -> FileResponse:
        return FileResponse(page, media_type="text/html; charset=utf-8")

    app.mount(ASSETS, CachedStatic(static), name="docs-assets")
