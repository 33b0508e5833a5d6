"""Signing in to the workbench: a key in a form, a signed session cookie the page scripts
cannot read, CSRF on every form, roles as the API enforces them, and a sign-out that ends the
session for good (a copy of the cookie is refused too)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect
from starlette.requests import Request

from assay.api.settings import Settings
from assay.api.ui.session import cookie_value, set_cookie
from tests.browser import browsing, shoot
from tests.servers import LiveApi, live_api
from tests.ui_support import sign_in


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with live_api(Settings(data_dir=tmp_path_factory.mktemp("ui-session"))) as server:
        yield server


def _field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found is not None, f"no {name} field"
    return found.group(1)


@contextmanager
def signed_in(api: LiveApi, key: str) -> Iterator[httpx.Client]:
    """A client that signed in through the form with ``key`` (not following redirects)."""
    with httpx.Client(base_url=api.url, timeout=30) as client:
        sign_in(client, key)
        yield client


def csrf_of(client: httpx.Client, path: str = "/ui/try") -> str:
    return _field(client.get(path).text, "csrf")


def test_pages_send_the_signed_out_to_the_sign_in_form_and_back(api: LiveApi) -> None:
    with httpx.Client(base_url=api.url) as client:
        answer = client.get("/ui/rules?pattern=tile_blending")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui?next=%2Fui%2Frules%3Fpattern%3Dtile_blending"
        form = client.get(answer.headers["location"])
        assert form.status_code == 200
        assert '<label for="key">API key</label>' in form.text
        assert 'name="key" type="password"' in form.text
        key = api.service.keys.create("author", "Ana Author")
        fields = {"token": _field(form.text, "token"), "next": _field(form.text, "next")}
        signed = client.post("/ui/signin", data={"key": key, **fields})
        assert signed.status_code == 303
        assert signed.headers["location"] == "/ui/rules?pattern=tile_blending"


def test_the_session_cookie_is_signed_http_only_and_strict(api: LiveApi) -> None:
    key = api.service.keys.create("author", "Ana Author")
    with signed_in(api, key) as client:
        cookie = client.cookies.jar
        (session,) = [c for c in cookie if c.name == "assay_ui"]
        assert session.path == "/ui"
        assert key not in (session.value or "")  # the key itself is never kept
        assert session.has_nonstandard_attr("HttpOnly")
        raw = client.get("/ui")  # already signed in: straight to the landing page
        assert raw.status_code == 303 and raw.headers["location"] == "/ui/rules"
    with httpx.Client(base_url=api.url) as client:
        form = client.get("/ui")
        answer = client.post(
            "/ui/signin", data={"key": key, "token": _field(form.text, "token"), "next": ""}
        )
        header = answer.headers["set-cookie"]
        assert "HttpOnly" in header and "SameSite=Strict" in header and "Max-Age=28" in header
        assert "Secure" not in header  # plain HTTP here; over TLS the cookie is Secure
        value = header.split(";")[0].split("=", 1)[1]
        forged = value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")
        client.cookies.set("assay_ui", forged, path="/ui")
        assert client.get("/ui/try").status_code == 303  # a tampered signature is no session


def test_a_wrong_key_is_refused_in_the_form_without_a_session(api: LiveApi) -> None:
    with httpx.Client(base_url=api.url) as client:
        form = client.get("/ui")
        token = _field(form.text, "token")
        wrong = client.post("/ui/signin", data={"key": "assay_nope", "token": token})
        assert wrong.status_code == 401
        assert "This key is unknown or has been revoked." in wrong.text
        assert "assay_ui" not in wrong.headers.get("set-cookie", "")
        empty = client.post("/ui/signin", data={"key": " ", "token": token})
        assert empty.status_code == 422 and "Enter your API key." in empty.text
        stale = client.post("/ui/signin", data={"key": "x", "token": "1.abc"})
        assert stale.status_code == 400 and "expired" in stale.text
        admin = api.service.keys.create("admin", "Ada Admin")
        refused = client.post("/ui/signin", data={"key": admin, "token": token})
        assert refused.status_code == 403
        assert "admin key cannot use the workbench" in refused.text


def test_sign_out_ends_the_session_even_for_a_copy_of_the_cookie(api: LiveApi) -> None:
    key = api.service.keys.create("reviewer", "Rui Reviewer")
    with signed_in(api, key) as client, httpx.Client(base_url=api.url) as copy:
        copy.cookies = client.cookies
        assert copy.get("/ui/rulesets").status_code == 200
        out = client.post("/ui/signout", data={"csrf": csrf_of(client)})
        assert out.status_code == 303 and out.headers["location"] == "/ui?reason=signed-out"
        assert "Max-Age=0" in out.headers["set-cookie"]
        assert copy.get("/ui/rulesets").status_code == 303  # refused: back to sign-in
        notice = httpx.get(api.url + "/ui?reason=signed-out")
        assert "You have signed out." in notice.text


def test_revoking_the_key_ends_its_sessions(api: LiveApi) -> None:
    key = api.service.keys.create("author", "Ana Author")
    with signed_in(api, key) as client:
        assert client.get("/ui/rules").status_code == 200
        identity = api.service.keys.identify(key)
        assert identity is not None and identity.key_id is not None
        api.service.keys.revoke(identity.key_id)
        api.service.sessions._cache.clear()  # this worker's few-second cache, as if it aged
        assert client.get("/ui/rules").status_code == 303


def test_forms_without_the_sessions_csrf_token_or_from_another_site_are_refused(
    api: LiveApi,
) -> None:
    key = api.service.keys.create("author", "Ana Author")
    with signed_in(api, key) as client:
        token = csrf_of(client)
        missing = client.post("/ui/signout", data={})
        assert missing.status_code == 400 and "did not come from the workbench" in missing.text
        wrong = client.post("/ui/signout", data={"csrf": token[:-2] + "xx"})
        assert wrong.status_code == 400
        elsewhere = client.post(
            "/ui/signout", data={"csrf": token}, headers={"Origin": "https://evil.example"}
        )
        assert elsewhere.status_code == 400 and "another site" in elsewhere.text
        assert client.get("/ui/rules").status_code == 200  # still signed in
    with httpx.Client(base_url=api.url) as client:  # the sign-in form is guarded too
        form = client.get("/ui")
        crossed = client.post(
            "/ui/signin",
            data={"key": key, "token": _field(form.text, "token")},
            headers={"Origin": "https://evil.example"},
        )
        assert crossed.status_code == 400
        assert "assay_ui" not in crossed.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("screening", {"/ui/try"}),
        (
            "author",
            {
                "/ui/try",
                "/ui/rules",
                "/ui/backtests",
                "/ui/rulesets",
                "/ui/decisions",
                "/ui/alerts",
            },
        ),
        (
            "reviewer",
            {
                "/ui/try",
                "/ui/rules",
                "/ui/backtests",
                "/ui/rulesets",
                "/ui/decisions",
                "/ui/alerts",
            },
        ),
    ],
)
def test_every_page_enforces_the_apis_roles(api: LiveApi, role: str, allowed: set[str]) -> None:
    pages = ["/ui/try", "/ui/rules", "/ui/backtests", "/ui/rulesets", "/ui/decisions", "/ui/alerts"]
    key = api.service.keys.create(role, f"{role} person")  # type: ignore[arg-type]
    with signed_in(api, key) as client:
        landing = client.get("/ui").headers["location"]
        assert landing == ("/ui/try" if role == "screening" else "/ui/rules")
        for path in pages:
            answer = client.get(path)
            if path in allowed:
                assert answer.status_code == 200, (role, path)
                nav = answer.text.split("<nav", 1)[1].split("</nav>", 1)[0]
                shown = set(re.findall(r'href="(/ui/[a-z]+)"', nav))
                assert shown == allowed  # the navigation offers only what the role may open
            else:
                assert answer.status_code == 403, (role, path)
                article = "an" if role == "author" else "a"
                assert f"you signed in with {article} {role} key" in answer.text


def test_redirects_after_sign_in_stay_in_the_workbench(api: LiveApi) -> None:
    key = api.service.keys.create("author", "Ana Author")
    for target in ("https://evil.example/", "//evil.example/ui", "/v1/keys", "/ui\\@evil"):
        with httpx.Client(base_url=api.url) as client:
            form = client.get("/ui", params={"next": target})
            answer = client.post(
                "/ui/signin",
                data={"key": key, "token": _field(form.text, "token"), "next": target},
            )
            assert answer.headers["location"] == "/ui/rules", target


def test_workbench_pages_carry_a_strict_policy_and_escape_names(api: LiveApi) -> None:
    key = api.service.keys.create("author", "Ana O'Neil")  # markup characters are refused
    with signed_in(api, key) as client:
        page = client.get("/ui/try")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy and "form-action 'self'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "Ana O&#39;Neil" in page.text
    assert "<script>" not in re.sub(r'<script type="module" src="[^"]+"></script>', "", page.text)


def test_signing_in_and_out_in_a_browser(api: LiveApi) -> None:
    key = api.service.keys.create("author", "Ana Author")
    with browsing(api.url) as browser:
        page = browser.page()
        page.goto(api.url + "/ui")
        shoot(page, "signin")
        page.get_by_label("API key").fill("assay_wrong")
        page.keyboard.press("Enter")
        page.get_by_role("alert").wait_for()
        assert "unknown or has been revoked" in page.get_by_role("alert").inner_text()
        assert page.get_by_label("API key").get_attribute("aria-invalid") == "true"
        shoot(page, "signin-refused", tablet=False)
        browser.sign_in(page, key, "/ui/decisions")
        assert page.url == api.url + "/ui/decisions"
        assert page.get_by_text("Signed in as").is_visible()
        assert page.evaluate("document.cookie") == ""  # HttpOnly: no script can read it
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(api.url + "/ui?reason=signed-out")
        assert page.get_by_text("You have signed out.").is_visible()
        page.go_back()  # the back button shows no signed-in page
        page.reload()
        assert page.get_by_label("API key").is_visible()
    browser.assert_clean()


def test_the_workbench_is_used_with_the_keyboard_alone(api: LiveApi) -> None:
    key = api.service.keys.create("author", "Ana Author")

    def focused(page: Page) -> str:
        return str(page.evaluate("document.activeElement.textContent.trim()"))

    with browsing(api.url) as browser:
        page = browser.page()
        page.goto(api.url + "/ui")
        expect(page.get_by_label("API key")).to_be_focused()  # from the start (autofocus)
        page.keyboard.type(key)
        page.keyboard.press("Enter")
        page.wait_for_url(api.url + "/ui/rules")
        page.keyboard.press("Tab")
        assert focused(page) == "Skip to content"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
        page.goto(api.url + "/ui/rules")
        stops = []
        for _ in range(5):
            page.keyboard.press("Tab")
            stops.append(focused(page))
        assert stops[2:5] == ["Rules", "Try", "Back-tests"]
        page.keyboard.press("Enter")  # on "Back-tests"
        page.wait_for_url(api.url + "/ui/backtests")
    browser.assert_clean()


def test_a_session_ends_at_its_expiry(api: LiveApi) -> None:
    key = api.service.keys.create("author", "Ana Author")
    identity = api.service.keys.identify(key)
    assert identity is not None
    # Five seconds: time enough for the first page on a loaded machine (one second was not).
    session_id, session = api.service.sessions.begin(identity, timedelta(seconds=5))
    secret = api.service.sessions.signing_secret()
    with httpx.Client(base_url=api.url) as client:
        client.cookies.set("assay_ui", cookie_value(secret, session_id, session.expires_at))
        assert client.get("/ui/try").status_code == 200
        left = (session.expires_at - datetime.now(UTC)).total_seconds()
        time.sleep(max(left, 0) + 0.2)  # the shift is over
        assert client.get("/ui/try").status_code == 303


def test_the_cookie_is_secure_over_tls() -> None:
    scope = {
        "type": "http",
        "scheme": "https",
        "path": "/ui/signin",
        "headers": [(b"host", b"assay.example")],
        "server": ("assay.example", 443),
        "query_string": b"",
    }
    headers: dict[str, str] = {}
    set_cookie(Request(scope), headers, "value", datetime.now(UTC) + timedelta(hours=1))
    assert headers["set-cookie"].endswith("HttpOnly; SameSite=Strict; Secure")
