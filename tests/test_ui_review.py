"""The workbench's Review pages (``/ui/rulesets``): versions, a draft's diff against the active
version with its back-test figures, the acts of review under the four-eyes rule, and the
audit trail; in real Chromium as a reviewer and an author use them, and over HTTP for roles,
CSRF and refusals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from assay.api.settings import Settings
from assay.engine.store.keys import Identity
from tests.browser import browsing, shoot
from tests.servers import LiveApi, live_api
from tests.ui_support import session_client as signed_in

RULE = "bottled_water_concealment/water-pet-too-heavy.yaml"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LiveApi]:
    with live_api(Settings(data_dir=tmp_path, reload_seconds=0.1)) as server:
        yield server


def draft_with_change(api: LiveApi, author: str, threshold: str = "1.30") -> int:
    """A submitted draft by ``author`` whose water rule's threshold is ``threshold``."""
    store = api.service.store
    who = Identity(author, "author")
    draft = store.create_draft(store.version_id("active"), who)
    source = store.sources(draft)[RULE].replace(
        "max_kg_per_litre: 1.25", f"max_kg_per_litre: {threshold}"
    )
    store.write_file(draft, RULE, source, who)
    store.submit(draft, who)
    return draft


def test_versions_page_lists_every_version_with_the_active_one_marked(
    api: LiveApi, clients: list[httpx.Client]
) -> None:
    client, _ = signed_in(api, "reviewer", "rita", clients)
    page = client.get("/ui/rulesets")
    assert page.status_code == 200
    assert "in force" in page.text and "#1" in page.text
    assert "New draft from the active version" not in page.text  # reviewers do not write


def test_an_author_makes_a_draft_with_a_form_and_lands_on_it(
    api: LiveApi, clients: list[httpx.Client]
) -> None:
    client, csrf = signed_in(api, "author", "ana", clients)
    refused = client.post("/ui/rulesets/1/drafts", data={})
    assert refused.status_code == 400 and "expired" in refused.text
    done = client.post("/ui/rulesets/1/drafts", data={"csrf": csrf})
    assert done.status_code == 303
    assert done.headers["location"] == "/ui/rulesets/2?done=draft"
    page = client.get(done.headers["location"]).text
    assert "Draft created" in page and "Submit for review" in page


def test_a_screening_key_cannot_open_review(api: LiveApi, clients: list[httpx.Client]) -> None:
    client, _ = signed_in(api, "screening", "sam", clients)
    assert client.get("/ui/rulesets").status_code == 403
    assert client.get("/ui/rulesets/1").status_code == 403


def test_the_diff_shows_each_changed_rule_line_by_line(
    api: LiveApi, clients: list[httpx.Client]
) -> None:
    draft = draft_with_change(api, "ana")
    client, _ = signed_in(api, "reviewer", "rita", clients)
    page = client.get(f"/ui/rulesets/{draft}").text
    assert "water-pet-too-heavy" in page
    assert re.search(r'd-del">.*max_kg_per_litre: 1.25', page)
    assert re.search(r'd-add">.*max_kg_per_litre: 1.30', page)
    assert "No back-test of this version yet" in page
    assert f"/ui/backtests?candidate={draft}" in page


def test_the_latest_back_test_of_the_version_stands_beside_its_diff(
    api: LiveApi, clients: list[httpx.Client]
) -> None:
    draft = draft_with_change(api, "ana")
    jobs = api.service.backtests
    for hits in (3, 7):  # the newest finished one counts
        job = jobs.create({"corpus": "x.jsonl"}, draft, 1, "ana")
        jobs.start(job)
        report = {
            "rules": [{"rule_id": "water-pet-too-heavy", "hits": hits, "baseline_hits": 5}],
            "changes": {"newly_flagged": hits - 1, "no_longer_flagged": 4},
        }
        jobs.finish(job, report, 100)
    client, _ = signed_in(api, "reviewer", "rita", clients)
    page = client.get(f"/ui/rulesets/{draft}").text
    assert "No back-test of this version yet" not in page
    assert "<strong>6</strong> manifests newly flagged, <strong>4</strong> no longer" in page
    figures = re.search(r'aria-label="Back-test of water-pet-too-heavy">(.*?)</aside>', page, re.S)
    assert figures is not None
    assert re.search(r"this version</dt><dd[^>]*>7<", figures[1])
    assert re.search(r"baseline</dt><dd[^>]*>5<", figures[1])


def test_four_eyes_refusal_is_explained_and_recorded(
    api: LiveApi, clients: list[httpx.Client]
) -> None:
    draft = draft_with_change(api, "Ana")
    client, csrf = signed_in(api, "reviewer", "ana ", clients)  # the same person, another key
    refused = client.post(f"/ui/rulesets/{draft}/approve", data={"csrf": csrf})
    assert refused.status_code == 403
    assert "Four-eyes rule: you wrote this version" in refused.text
    assert api.service.store.get(draft).state == "submitted"
    assert any(e.action == "refused" for e in api.service.store.audit(draft))


def test_reject_needs_a_reason_and_unknown_versions_are_404(
    api: LiveApi, clients: list[httpx.Client]
) -> None:
    draft = draft_with_change(api, "ana")
    client, csrf = signed_in(api, "reviewer", "rita", clients)
    empty = client.post(f"/ui/rulesets/{draft}/reject", data={"csrf": csrf, "reason": "  "})
    assert empty.status_code == 422 and "needs a comment" in empty.text
    assert client.get("/ui/rulesets/999").status_code == 404
    author, author_csrf = signed_in(api, "author", "bob", clients)
    assert (
        author.post(f"/ui/rulesets/{draft}/approve", data={"csrf": author_csrf}).status_code == 403
    )


def test_review_in_the_browser(api: LiveApi) -> None:
    """A reviewer who also writes rules is refused approval of their own draft, approves
    another's and activates it, rejects a third with a reason, and rolls back."""
    own = draft_with_change(api, "Rita", "1.28")
    other = draft_with_change(api, "ana", "1.30")
    third = draft_with_change(api, "ana", "1.35")
    api.service.keys.create("author", "Rita")
    reviewer_key = api.service.keys.create("reviewer", "Rita")
    with browsing(api.url) as session:
        page = session.page()
        session.sign_in(page, reviewer_key, "/ui/rulesets")
        expect(page.get_by_role("heading", name="Review")).to_be_visible()
        shoot(page, "review-list")

        page.get_by_role("link", name=f"#{own}", exact=True).click()
        expect(page.locator(".d-add").first).to_contain_text("max_kg_per_litre: 1.28")
        shoot(page, "review-version-diff")
        page.get_by_role("button", name="Approve").click()
        expect(page.locator("#refusal")).to_contain_text(
            "Four-eyes rule: you wrote this version, so another reviewer must approve it"
        )
        shoot(page, "review-four-eyes")

        page.goto(f"{api.url}/ui/rulesets/{other}")
        page.get_by_label("Comment (optional)").fill("Threshold checked against the PET data.")
        page.get_by_role("button", name="Approve").click()
        expect(page.get_by_role("status")).to_contain_text("Approved")
        page.get_by_role("button", name="Activate").click()
        expect(page.get_by_role("status")).to_contain_text(f"Version {other} is now the active")
        assert api.service.store.active_marker() is not None
        assert api.service.store.version_id("active") == other

        page.goto(f"{api.url}/ui/rulesets/{third}")
        page.get_by_label("Reason for sending it back (required)").fill("1.35 misses PET water.")
        page.get_by_role("button", name="Reject").click()
        expect(page.get_by_role("status")).to_contain_text("Sent back to its author")
        expect(page.locator("table.audit")).to_contain_text("1.35 misses PET water.")

        page.goto(f"{api.url}/ui/rulesets/1")
        page.get_by_label("Reason for rolling back to this version (required)").fill(
            "Back to the imported pack while we review."
        )
        page.get_by_role("button", name="Roll back to this version").click()
        expect(page.get_by_role("status")).to_contain_text("Version 1 is now the active")
        expect(page.locator("table.audit")).to_contain_text("rollback")
        page.goto(f"{api.url}/ui/rulesets")
        shoot(page, "review-list-full")
        session.assert_clean()
    assert api.service.store.version_id("active") == 1
