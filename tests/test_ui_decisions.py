"""The workbench's Decisions pages (``/ui/decisions``, ``/ui/decisions/{id}``): the log
searched by manifest id or decision id, one decision as it was made, and recording what the
inspection found — which the rule's precision then counts."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser import browsing, shoot
from tests.servers import LiveApi
from tests.ui_support import csrf_of, sample, screen, served, signed_in

WATER_RULE = "water-pet-too-heavy"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with served(tmp_path_factory.mktemp("decisions-ui")) as live:
        yield live


def _search(page: Page, decision_id: str) -> None:
    """Search by manifest id, by decision id, and for an id nobody screened."""
    rows = page.locator("table.decisions tbody tr")
    page.get_by_label("Manifest id or decision id").fill("WH-7")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    page.get_by_label("Manifest id or decision id").fill(decision_id)
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    page.get_by_label("Manifest id or decision id").fill("NO-SUCH")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No decision has the id or manifest id NO-SUCH")).to_be_visible()


def test_an_author_finds_a_decision_records_an_outcome_and_sees_precision(
    server: LiveApi,
) -> None:
    author = server.service.keys.create("author", "Ana Author")
    with browsing(server.url) as session:
        page = session.page()
        session.sign_in(page, author, "/ui/decisions")
        expect(page.get_by_text("No decisions yet")).to_be_visible()
        shoot(page, "decisions-empty")

        screen(server, sample("clean-tiles", "CT-7"), sample("solder-bulk", "SB-7"))
        (water,) = screen(server, sample("water-heavy", "WH-7"))
        page.reload()
        rows = page.locator("table.decisions tbody tr")
        expect(rows).to_have_count(3)
        expect(rows.first).to_contain_text("WH-7")
        expect(rows.first).to_contain_text("red")
        expect(rows.first).to_contain_text(WATER_RULE)
        shoot(page, "decisions")

        _search(page, water["decision_id"])
        page.go_back()
        rows.first.get_by_role("link").click()

        expect(page.get_by_role("heading", name="Decision on WH-7")).to_be_visible()
        expect(page.locator(".lane-big")).to_contain_text("red lane")
        flag = page.locator("li.flag", has=page.get_by_role("link", name=WATER_RULE))
        expect(flag.locator(".sentence")).not_to_be_empty()
        expect(flag.locator("dl.evidence dt").first).to_be_visible()
        expect(page.locator("pre.manifest")).to_contain_text('"manifest_id": "WH-7"')
        try_link = page.get_by_role("link", name="Try this manifest")
        expect(try_link).to_have_attribute("href", f"/ui/try?decision_id={water['decision_id']}")
        expect(page.get_by_text("No outcome recorded yet.")).to_be_visible()

        # A pattern not written as rules name it is refused beside its field.
        page.get_by_label("Seizure").check()
        page.get_by_label("Concealment pattern").fill("Bottled Water!")
        page.get_by_role("button", name="Record outcome").click()
        expect(page.locator("#pattern-error")).to_contain_text("lower-case letters")
        expect(page.get_by_label("Seizure")).to_be_checked()
        page.get_by_label("Concealment pattern").fill("bottled_water_concealment")
        page.get_by_label("Notes").fill("powder in the bottles")
        page.get_by_role("button", name="Record outcome").click()
        expect(page.get_by_text("Recorded: the outcome counts")).to_be_visible()
        outcomes = page.locator("ul.outcomes li")
        expect(outcomes).to_have_count(1)
        expect(outcomes.first).to_contain_text("seizure")
        expect(outcomes.first).to_contain_text("powder in the bottles")
        shoot(page, "decision")

        flag.get_by_role("link", name=WATER_RULE).click()
        figures = page.locator("table.figures tbody tr").last
        expect(figures.locator("td").last).to_have_text("100.0 %")
        expect(figures).to_contain_text("1 seizure")
        session.assert_clean()


def test_the_outcome_form_needs_a_result_and_its_csrf_token(server: LiveApi) -> None:
    (result,) = screen(server, sample("magnets-declared", "MD-9"))
    path = f"/ui/decisions/{result['decision_id']}"
    with signed_in(server, "reviewer") as client:
        page = client.get(path)
        assert page.status_code == 200
        token = csrf_of(page.text)
        missing = client.post(f"{path}/outcome", data={"csrf": token, "result": ""})
        assert missing.status_code == 422
        assert "Choose what the inspection found" in missing.text
        forged = client.post(f"{path}/outcome", data={"csrf": "forged", "result": "no_find"})
        assert forged.status_code == 400
        done = client.post(f"{path}/outcome", data={"csrf": token, "result": "no_find"})
        assert done.status_code == 303
        assert done.headers["location"].startswith(f"{path}?recorded=1")
    recorded = server.service.inspections.for_manifest("MD-9")
    assert [r.outcome.result for r in recorded] == ["no_find"]
    assert recorded[0].recorded_by


def test_unknown_decisions_are_404_pages(server: LiveApi) -> None:
    with signed_in(server, "author") as client:
        page = client.get("/ui/decisions/0123456789abcdef")
        assert page.status_code == 404
        assert "There is no decision" in page.text
        token = csrf_of(client.get("/ui/decisions").text)
        posted = client.post(
            "/ui/decisions/0123456789abcdef/outcome", data={"csrf": token, "result": "no_find"}
        )
        assert posted.status_code == 404


@pytest.mark.parametrize("path", ["/ui/decisions", "/ui/decisions?q=WH-7", "/ui/decisions/0123"])
def test_a_screening_key_is_refused_and_no_session_goes_to_sign_in(
    server: LiveApi, path: str
) -> None:
    with signed_in(server, "screening") as client:
        refused = client.get(path)
        assert refused.status_code == 403
        assert "This page needs an author or reviewer key" in refused.text
    answer = httpx.get(server.url + path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ui?next=")
