"""The workbench's Rules pages (``/ui/rules``, ``/ui/rules/{id}``): every rule of the active
version with its live figures, sorted and filtered by URL; one rule's source, examples,
figures and recent hits with their explanations; roles and unknown rules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from assay.engine.store.rulestats import rule_figures, ruleset_figures
from tests.browser import browsing, shoot
from tests.servers import LiveApi
from tests.ui_support import csrf_of, sample, screen, served, signed_in

WATER_RULE = "water-pet-too-heavy"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with served(tmp_path_factory.mktemp("rules-ui")) as live:
        yield live


def _column(page: Page, index: int) -> list[str]:
    return page.locator(f"table.rules tbody tr td:nth-child({index})").all_inner_texts()


def _sort_and_filter(page: Page) -> None:
    """Sort by clicking the headings, then filter by pattern: the sort is kept."""
    # Sort by rule id, A to Z, then Z to A, by clicking the heading.
    page.get_by_role("link", name="Rule", exact=True).click()
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"sort": ["id"], "order": ["asc"]}
    ids = [text.split("\n")[0] for text in _column(page, 1)]
    assert ids == sorted(ids)
    page.get_by_role("link", name="Rule", exact=True).click()
    ids = [text.split("\n")[0] for text in _column(page, 1)]
    assert ids == sorted(ids, reverse=True)
    page.get_by_role("link", name="Score", exact=True).click()
    scores = [int(text) for text in _column(page, 4)]
    assert scores == sorted(scores, reverse=True)

    # Filter by pattern; the sort is kept.
    page.get_by_label("Pattern").select_option("bottled_water_concealment")
    page.get_by_role("button", name="Show").click()
    query = parse_qs(urlsplit(page.url).query)
    assert query["pattern"] == ["bottled_water_concealment"]
    assert query["sort"] == ["score"]
    patterns = _column(page, 2)
    assert patterns and set(patterns) == {"bottled_water_concealment"}


def test_an_author_reads_the_rules_sorts_filters_and_opens_a_rule(server: LiveApi) -> None:
    author = server.service.keys.create("author", "Ana Author")
    with browsing(server.url) as session:
        page = session.page()
        session.sign_in(page, author)
        expect(page).to_have_url(f"{server.url}/ui/rules")
        expect(page.get_by_role("heading", name="Rules", exact=True)).to_be_visible()
        expect(page.get_by_text("No screenings in the last 30 days")).to_be_visible()
        count = len(server.service.engine.ruleset.every_rule)
        expect(page.locator("table.rules tbody tr")).to_have_count(count)
        expect(page.locator(".ruleset-head")).to_contain_text("version 1")
        expect(page.locator(".ruleset-head")).to_contain_text("yellow at score")
        shoot(page, "rules-empty")

        screen(
            server,
            sample("water-heavy", "WH-1"),
            sample("water-heavy", "WH-2"),
            sample("clean-tiles", "CT-1"),
            sample("solder-bulk", "SB-1"),
        )
        page.reload()
        expect(page.get_by_text("No screenings in the last 30 days")).to_have_count(0)
        expect(page.locator(".ruleset-head")).to_contain_text("4 manifests screened")
        # The water rules flagged two of four; the young consignor, three: it comes first
        # (by default, most hits in 30 days first).
        row = page.locator("table.rules tbody tr", has=page.get_by_role("link", name=WATER_RULE))
        expect(row.locator("td").nth(6)).to_have_text("2")
        expect(row.locator("td").nth(7)).to_have_text("50.0 %")
        assert _column(page, 7)[0] == "3"
        assert _column(page, 1)[0].startswith("young-consignor-sensitive-goods")

        _sort_and_filter(page)
        shoot(page, "rules")

        page.get_by_role("link", name=WATER_RULE).click()
        expect(page).to_have_url(f"{server.url}/ui/rules/{WATER_RULE}")
        expect(page.locator("pre.source")).to_contain_text(f"id: {WATER_RULE}")
        expect(page.get_by_role("heading", name="Examples")).to_be_visible()
        hits = page.locator("table.hits tbody tr")
        expect(hits).to_have_count(2)
        expect(hits.first).to_contain_text("WH-2")
        expect(hits.first.locator(".explanation")).not_to_be_empty()
        expect(page.get_by_role("button", name="Edit in a draft")).to_be_visible()
        shoot(page, "rule")
        hits.first.get_by_role("link").click()
        expect(page.get_by_role("heading", name="Decision on WH-2")).to_be_visible()
        session.assert_clean()


def test_the_grouped_figures_equal_each_rules_own(server: LiveApi) -> None:
    screen(server, sample("water-heavy", "WH-G"), sample("magnets-declared", "MD-G"))
    svc = server.service
    assert svc.log.caught_up()
    outcomes = svc.inspections.latest()
    until = datetime.now(UTC)
    since = until - timedelta(days=30)
    rules: dict[str, str | None] = {rule.id: rule.pattern for rule in svc.engine.ruleset.rules}
    rules["not-a-rule"] = None
    grouped = ruleset_figures(svc.db, rules, outcomes, since, until)
    assert grouped.keys() == rules.keys()
    for rule_id, pattern in rules.items():
        assert grouped[rule_id] == rule_figures(svc.db, rule_id, pattern, outcomes, since, until)
    assert grouped[WATER_RULE].figures["hits"] >= 1


def test_a_reviewer_reads_a_rule_without_the_edit_button(server: LiveApi) -> None:
    with signed_in(server, "reviewer") as client:
        page = client.get(f"/ui/rules/{WATER_RULE}")
        assert page.status_code == 200
        assert "Edit in a draft" not in page.text
        listing = client.get("/ui/rules", params={"sort": "nonsense", "order": "sideways"})
        assert listing.status_code == 200
        assert 'aria-sort="descending"' in listing.text  # the default: hits in 30 days


def test_an_authors_edit_form_carries_the_csrf_token(server: LiveApi) -> None:
    with signed_in(server, "author") as client:
        page = client.get(f"/ui/rules/{WATER_RULE}").text
        assert f'action="/ui/rules/{WATER_RULE}/edit"' in page
        assert csrf_of(page)


def test_an_unknown_rule_is_a_404_page(server: LiveApi) -> None:
    with signed_in(server, "author") as client:
        page = client.get("/ui/rules/no-such-rule")
        assert page.status_code == 404
        assert "There is no rule &#39;no-such-rule&#39; in the active ruleset" in page.text


@pytest.mark.parametrize("path", ["/ui/rules", f"/ui/rules/{WATER_RULE}"])
def test_a_screening_key_is_refused_and_no_session_goes_to_sign_in(
    server: LiveApi, path: str
) -> None:
    with signed_in(server, "screening") as client:
        refused = client.get(path)
        assert refused.status_code == 403
        assert "This page needs an author or reviewer key" in refused.text
    with signed_in(server, "author") as client:
        assert client.get(path).status_code == 200
    anonymous = server.url + path
    answer = httpx.get(anonymous, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ui?next=")
