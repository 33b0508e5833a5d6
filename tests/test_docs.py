"""/docs works at a border post with no internet: Swagger UI and its styles come from the
service itself, the page's policy allows nothing else, and a browser renders the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Route, sync_playwright

from assay.api.settings import Settings
from tests.conftest import CHROMIUM_ARGS, ROOT, chromium
from tests.servers import LiveApi, live_api

# Kept after the run for a person to look at (.gitignore'd).
SCREENSHOTS = ROOT / "out" / "screenshots"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with live_api(Settings(data_dir=tmp_path_factory.mktemp("docs"))) as server:
        yield server


def test_the_docs_page_renders_offline_in_a_browser(api: LiveApi, tmp_path: Path) -> None:
    requested: list[str] = []
    refused: list[str] = []
    problems: list[str] = []

    def offline(route: Route) -> None:  # the border post's network: this host and no other
        if route.request.url.startswith(api.url):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", offline)
        page.on("request", lambda request: requested.append(request.url))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(api.url + "/docs")
        screen = page.locator(".opblock-summary", has_text="/v1/screen").first
        screen.wait_for(timeout=30_000)
        operations = page.locator(".opblock").count()
        title = page.locator(".info .title").inner_text()
        screen.click()  # the officer opens POST /v1/screen and finds its example and Try it out
        page.get_by_role("button", name="Try it out").first.wait_for(timeout=10_000)
        example = page.locator(".opblock-body").first.inner_text()
        page.screenshot(path=str(SCREENSHOTS / "docs.png"), full_page=False)
        browser.close()
    assert refused == [] and problems == []  # no CDN, no CSP violation, no script error
    assert all(url.startswith(api.url) for url in requested)
    assert title.startswith("Assay")
    assert operations >= 15
    assert "manifest_id" in example
    assert (SCREENSHOTS / "docs.png").stat().st_size > 10_000


def test_the_docs_policy_allows_the_service_alone(api: LiveApi) -> None:
    page = httpx.get(api.url + "/docs")
    policy = page.headers["content-security-policy"]
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert "http" not in policy  # no CDN or font host named
    assert "frame-ancestors 'none'" in policy


def test_the_vendored_assets_are_served_with_their_licence(api: LiveApi) -> None:
    base = api.url + "/docs/assets/vendor/swagger-ui/"
    script = httpx.get(base + "swagger-ui-bundle.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert script.headers["cache-control"] == "public, max-age=86400"
    assert "Apache License" in httpx.get(base + "LICENSE").text
    for escape in ("..%2fdocs.py", "%2e%2e/docs.py", "vendor/..%2f..%2fdocs.py"):
        assert httpx.get(f"{api.url}/docs/assets/{escape}").status_code == 404
    assert httpx.get(api.url + "/docs/assets/vendor/README.md").status_code == 200
    assert httpx.get(api.url + "/redoc").status_code == 404  # one docs page, the offline one
