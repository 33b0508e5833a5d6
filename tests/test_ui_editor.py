"""The workbench's rule editor: an author types into CodeMirror in real Chromium and sees the
rule errors at their line with their hint while typing, completes field names from the
catalogue, saves, runs the examples and submits; over HTTP, who may check and save, CSRF, and
the Rules page's "edit this rule" form."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from assay.api.settings import Settings
from tests.browser import browsing, shoot
from tests.servers import LiveApi, live_api
from tests.ui_support import session_client as signed_in

RULE = "bottled_water_concealment/water-pet-too-heavy.yaml"
LINE_11 = "  and item.kg_per_litre > params.max_kg_per_litre"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LiveApi]:
    with live_api(Settings(data_dir=tmp_path, reload_seconds=0.1)) as server:
        yield server


def test_the_check_validates_without_saving(api: LiveApi, clients: list[httpx.Client]) -> None:
    client, csrf = signed_in(api, "author", "ana", clients)
    draft = client.post("/ui/rulesets/1/drafts", data={"csrf": csrf})
    draft_id = int(draft.headers["location"].split("/")[3].split("?")[0])
    before = api.service.store.sources(draft_id)[RULE]
    broken = before.replace(LINE_11, LINE_11 + " >")
    body = {"path": RULE, "source": broken}
    refused = client.post(f"/ui/rulesets/{draft_id}/check", json=body)
    assert refused.status_code == 400  # no X-CSRF-Token header
    answer = client.post(
        f"/ui/rulesets/{draft_id}/check", json=body, headers={"X-CSRF-Token": csrf}
    )
    assert answer.status_code == 200
    [problem] = answer.json()["problems"]
    assert (problem["code"], problem["line"], problem["column"]) == ("rule_syntax", 11, 51)
    assert problem["hint"].startswith("a comparison needs a value on each side")
    assert api.service.store.sources(draft_id)[RULE] == before  # nothing saved
    clean = client.post(
        f"/ui/rulesets/{draft_id}/check",
        json={"path": RULE, "source": before},
        headers={"X-CSRF-Token": csrf},
    ).json()
    assert clean["problems"] == [] and clean["examples"]["failed"] == []
    assert clean["examples"]["passed"] > 100


def test_only_the_drafts_author_saves(api: LiveApi, clients: list[httpx.Client]) -> None:
    author, author_csrf = signed_in(api, "author", "ana", clients)
    draft_id = int(
        author.post("/ui/rulesets/1/drafts", data={"csrf": author_csrf})
        .headers["location"]
        .split("/")[3]
        .split("?")[0]
    )
    url = f"/ui/rulesets/{draft_id}/files/{RULE}"
    source = api.service.store.sources(draft_id)[RULE]
    assert author.post(url, data={"source": source}).status_code == 400  # no CSRF field

    reviewer, reviewer_csrf = signed_in(api, "reviewer", "rita", clients)
    page = reviewer.get(url)
    assert page.status_code == 200 and "Read only" in page.text and ">Save<" not in page.text
    assert reviewer.post(url, data={"source": source, "csrf": reviewer_csrf}).status_code == 403

    other, other_csrf = signed_in(api, "author", "bob", clients)
    refused = other.post(url, data={"source": source + "\n", "csrf": other_csrf})
    assert refused.status_code == 403 and "Only the author of a draft" in refused.text
    assert api.service.store.sources(draft_id)[RULE] == source

    screening, _ = signed_in(api, "screening", "sam", clients)
    assert screening.get(url).status_code == 403

    saved = author.post(url, data={"source": source + "# checked\n", "csrf": author_csrf})
    assert saved.status_code == 303 and saved.headers["location"].endswith("?saved=1")
    assert api.service.store.sources(draft_id)[RULE].endswith("# checked\n")
    assert "examples passed" in author.get(saved.headers["location"]).text


def test_edit_a_rule_opens_the_viewers_draft_on_its_file(
    api: LiveApi, clients: list[httpx.Client]
) -> None:
    client, csrf = signed_in(api, "author", "ana", clients)
    first = client.post("/ui/rules/water-pet-too-heavy/edit", data={"csrf": csrf})
    assert first.status_code == 303
    assert first.headers["location"] == f"/ui/rulesets/2/files/{RULE}"
    again = client.post("/ui/rules/tile-heavier-than-standard/edit", data={"csrf": csrf})
    assert again.headers["location"].startswith("/ui/rulesets/2/files/tile_blending/")
    unknown = client.post("/ui/rules/no-such-rule/edit", data={"csrf": csrf})
    assert unknown.status_code == 404 and "has no rule no-such-rule" in unknown.text
    reviewer, reviewer_csrf = signed_in(api, "reviewer", "rita", clients)
    assert (
        reviewer.post("/ui/rules/water-pet-too-heavy/edit", data={"csrf": reviewer_csrf})
    ).status_code == 403


def type_an_error_and_fix_it(page: Page) -> None:
    """On line 11 of the water rule: a syntax error typed, seen at its line with its hint
    (as text and as a lint marker), then removed."""
    page.locator(".CodeMirror-line").nth(10).click()
    page.keyboard.press("End")
    page.keyboard.type(" >")
    problems = page.locator("#problems")
    expect(problems).to_contain_text("line 11, column 51: unexpected '>'")
    expect(problems).to_contain_text("hint: a comparison needs a value on each side")
    expect(page.locator(".CodeMirror-lint-marker-error")).to_have_count(1)
    expect(page.locator("#check-status")).to_have_text("1 problem")
    shoot(page, "editor-error")

    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    expect(problems).to_contain_text("No problems: the draft compiles.")
    expect(page.locator(".CodeMirror-lint-marker-error")).to_have_count(0)


def complete_field_names(page: Page) -> None:
    """Names from the catalogue completed while typing in `when:`, and with Ctrl-Space."""
    problems = page.locator("#problems")
    page.keyboard.type(" or item.kg_per_pi")
    hints = page.locator(".CodeMirror-hints")
    expect(hints).to_be_visible()
    expect(hints).to_contain_text("item.kg_per_piece")
    # The list is refreshed as each letter arrives: Enter once it offers the whole name.
    expect(page.locator(".CodeMirror-hint-active")).to_contain_text("item.kg_per_piece ")
    page.keyboard.press("Enter")
    page.keyboard.type(" > 100000000")
    expect(problems).to_contain_text("No problems: the draft compiles.")
    expect(page.locator(".CodeMirror-line").nth(10)).to_contain_text(
        "or item.kg_per_piece > 100000000"
    )
    # Ctrl-Space lists the catalogue too.
    page.keyboard.type(" or manifest.transport_m")
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Space")
    expect(hints).to_contain_text("manifest.transport_mode")
    page.keyboard.press("Enter")
    page.keyboard.type(' == "POSTAL"')
    expect(problems).to_contain_text("No problems: the draft compiles.")
    expect(page.locator("#examples")).to_contain_text("examples passed")


def test_writing_a_rule_in_the_browser(api: LiveApi) -> None:
    """Draft, open a file, type a syntax error and see it at its line with its hint, fix it,
    complete a field name, save, run the examples, submit."""
    key = api.service.keys.create("author", "ana")
    with browsing(api.url) as session:
        page = session.page()
        session.sign_in(page, key, "/ui/rulesets")
        expect(page.locator("table.versions tbody tr")).to_have_count(1)
        shoot(page, "review-list-empty")
        page.get_by_role("button", name="New draft from the active version").click()
        expect(page.get_by_role("status")).to_contain_text("Draft created")
        draft_id = int(page.url.split("/")[-1].split("?")[0])
        page.get_by_role("link", name=RULE).click()
        editor = page.locator(".CodeMirror")
        expect(editor).to_be_visible()
        expect(page.locator("#check-status")).to_have_text("No problems")

        type_an_error_and_fix_it(page)
        complete_field_names(page)

        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status").first).to_contain_text(f"Saved {RULE}")
        saved = api.service.store.sources(draft_id)[RULE]
        assert 'or item.kg_per_piece > 100000000 or manifest.transport_mode == "POSTAL"' in saved

        page.get_by_role("button", name="Run examples").click()
        examples = page.locator("#examples")
        expect(examples).to_contain_text("pass")
        expect(examples).to_contain_text("examples passed")
        shoot(page, "editor-clean")

        page.get_by_role("link", name=f"Version #{draft_id}").click()
        page.get_by_role("button", name="Submit for review").click()
        expect(page.get_by_role("status")).to_contain_text("Submitted for review")
        assert api.service.store.get(draft_id).state == "submitted"
        session.assert_clean()


def test_failing_examples_are_listed_with_their_rule_and_line(api: LiveApi) -> None:
    key = api.service.keys.create("author", "ana")
    store = api.service.store
    with browsing(api.url) as session:
        page = session.page()
        session.sign_in(page, key, "/ui/rulesets")
        page.get_by_role("button", name="New draft from the active version").click()
        draft_id = int(page.url.split("/")[-1].split("?")[0])
        page.goto(f"{api.url}/ui/rulesets/{draft_id}/files/{RULE}")
        expect(page.locator("#check-status")).to_have_text("No problems")
        page.locator(".CodeMirror-line").nth(6).click()  # "  max_kg_per_litre: 1.25"
        page.keyboard.press("End")
        page.keyboard.press("Backspace")
        page.keyboard.press("Backspace")
        page.keyboard.press("Backspace")
        page.keyboard.press("Backspace")
        page.keyboard.type("9.25")
        page.get_by_role("button", name="Run examples").click()
        examples = page.locator("#examples")
        expect(examples).to_contain_text("fail")
        expect(examples).to_contain_text("4 failed")
        expect(examples).to_contain_text("water-pet-too-heavy, expected to fire, line 22, column 7")
        assert "9.25" not in store.sources(draft_id)[RULE]  # running examples saves nothing
        shoot(page, "editor-examples-failed", tablet=False)

        # A reviewer reads the same file, read only.
        reviewer = session.page()
        session.sign_in(reviewer, api.service.keys.create("reviewer", "rita"), "/ui/rulesets")
        reviewer.goto(f"{api.url}/ui/rulesets/{draft_id}/files/{RULE}")
        expect(reviewer.locator(".notice")).to_contain_text("Read only")
        expect(reviewer.locator(".CodeMirror")).to_be_visible()
        expect(reviewer.get_by_role("button", name="Save")).to_have_count(0)
        shoot(reviewer, "editor-read-only", tablet=False)
        session.assert_clean()
