"""Driving the workbench in real headless Chromium, as an inspector would: the border post's
network (this host and no other), every console error and page error collected, screenshots
at a desktop's and a tablet's width kept in ``out/screenshots/ui/`` for a person to open."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Response,
    Route,
    sync_playwright,
)

from tests.conftest import CHROMIUM_ARGS, ROOT, chromium

SCREENSHOTS = ROOT / "out" / "screenshots" / "ui"
DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 820, "height": 1180}


@dataclass
class Session:
    """One browser, its pages' problems, and every URL they asked for."""

    browser: Browser
    base: str
    problems: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    # Pages the server answered with an error status on purpose (a refusal, a form's errors):
    # the browser logs each as "Failed to load resource"; that line is the status, not a
    # fault of the page. Any other resource that fails (a script, a style, a fetch) counts.
    error_pages: set[str] = field(default_factory=set)

    def page(self, viewport: dict[str, int] | None = None) -> Page:
        """A fresh page (its own cookies) that reports its problems here."""
        context = self.browser.new_context(viewport=viewport or DESKTOP)  # type: ignore[arg-type]
        page = context.new_page()
        page.set_default_timeout(30_000)

        def offline(route: Route) -> None:
            if route.request.url.startswith(self.base):
                route.continue_()
            else:
                self.refused.append(route.request.url)
                route.abort()

        def console(message: ConsoleMessage) -> None:
            if message.type != "error":
                return
            status_line = message.text.startswith("Failed to load resource: the server")
            if status_line and message.location.get("url") in self.error_pages:
                return
            self.problems.append(f"{page.url}: {message.text}")

        def response(answer: Response) -> None:
            if answer.request.resource_type == "document" and answer.status >= 400:
                self.error_pages.add(answer.url)

        page.route("**/*", offline)
        page.on("request", lambda request: self.requested.append(request.url))
        page.on("console", console)
        page.on("response", response)
        page.on("pageerror", lambda error: self.problems.append(f"{page.url}: {error}"))
        return page

    def sign_in(self, page: Page, key: str, then: str | None = None) -> None:
        """Sign in through the form, as a person types it."""
        page.goto(self.base + (then or "/ui"))
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()

    def assert_clean(self) -> None:
        """No console error, no script error, no request to another host."""
        assert self.problems == [], self.problems
        assert self.refused == [], self.refused
        assert all(url.startswith(self.base) for url in self.requested)


def shoot(page: Page, name: str, tablet: bool = True) -> None:
    """Screenshots of the page as it stands: ``NAME.png`` at the page's own size, and
    ``NAME-tablet.png`` at 820 x 1,180 (the viewport is put back afterwards)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    if tablet:
        before = page.viewport_size
        page.set_viewport_size(TABLET)  # type: ignore[arg-type]
        page.screenshot(path=str(SCREENSHOTS / f"{name}-tablet.png"), full_page=True)
        if before is not None:
            page.set_viewport_size(before)


@contextmanager
def browsing(base: str) -> Iterator[Session]:
    """A headless Chromium for the service at ``base``."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            yield Session(browser, base)
        finally:
            browser.close()
