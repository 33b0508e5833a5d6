"""The workbench end to end, as two people use it in one browser each: an author changes a
rule and takes it to review; a reviewer, who also writes rules, may not approve their own
draft but approves the author's and puts it in force; the border's next screening names
the new version. Every step is a click or a keystroke in real Chromium."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from assay.api.settings import Settings
from assay.engine.store.keys import Identity
from tests.browser import browsing, shoot
from tests.servers import LiveApi, live_api

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"
RULE_ID = "water-pet-too-heavy"
RULE_FILE = "bottled_water_concealment/water-pet-too-heavy.yaml"


def pet_water(manifest_id: str, gross_kg: float) -> dict[str, Any]:
    """An honest Spanish exporter's PET-bottled water: 12,000 litres weighing ``gross_kg``."""
    document: dict[str, Any] = json.loads((EXAMPLES / "clean-tiles.json").read_text())
    document["manifest_id"] = manifest_id
    document["items"] = [
        {
            "line": 1,
            "hs_code": "220190",
            "description": "DRINKING WATER 500ML PET X 24",
            "origin_country": "ES",
            "quantity": 12000,
            "quantity_unit": "l",
            "packages": 1000,
            "package_type": "CT",
            "gross_mass_kg": gross_kg,
            "volume_m3": 22,
            "value": 3600,
            "currency": "USD",
        }
    ]
    return document


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LiveApi]:
    with live_api(Settings(data_dir=tmp_path, reload_seconds=0.2)) as server:
        yield server


def author_changes_the_rule(page: Page, base: str) -> int:
    """From the Rules page to a saved draft: open the rule, edit it in a draft, type a syntax
    error and read it at its line, fix it, lower the threshold, save, run the examples."""
    page.get_by_role("link", name=RULE_ID).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bottled water heavier")
    page.get_by_role("button", name="Edit in a draft").click()
    expect(page.locator(".CodeMirror")).to_be_visible()
    assert RULE_FILE in page.url
    draft_id = int(page.url.split("/ui/rulesets/")[1].split("/")[0])
    expect(page.locator("#check-status")).to_have_text("No problems")

    page.locator(".CodeMirror-line").nth(10).click()  # "and item.kg_per_litre > params..."
    page.keyboard.press("End")
    page.keyboard.type(" >")
    problems = page.locator("#problems")
    expect(problems).to_contain_text("line 11, column 51: unexpected '>'")
    expect(problems).to_contain_text("hint: a comparison needs a value on each side")
    expect(page.locator(".CodeMirror-lint-marker-error")).to_have_count(1)
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    expect(problems).to_contain_text("No problems: the draft compiles.")

    page.locator(".CodeMirror-line").nth(6).click()  # "  max_kg_per_litre: 1.25"
    page.keyboard.press("End")
    for _ in range(4):
        page.keyboard.press("Backspace")
    page.keyboard.type("1.15")
    expect(problems).to_contain_text("No problems: the draft compiles.")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Saved {RULE_FILE}")
    page.get_by_role("button", name="Run examples").click()
    expect(page.locator("#examples")).to_contain_text("examples passed")
    shoot(page, "flow-editor", tablet=False)
    return draft_id


def author_tries_a_manifest(page: Page, base: str, draft_id: int) -> None:
    """Water at 1.2 kg a litre: green in force, flagged by the draft."""
    page.get_by_role("navigation", name="Workbench").get_by_role("link", name="Try").click()
    page.get_by_label("Manifest (JSON)").fill(json.dumps(pet_water("TRY-1", 14400), indent=2))
    page.get_by_label("Compare with a draft").select_option(str(draft_id))
    page.get_by_role("button", name="Screen the manifest").click()
    page.wait_for_load_state()
    active = page.get_by_role("region", name="Active version")
    draft = page.get_by_role("region", name=f"Draft version {draft_id}")
    expect(active.locator(".big-lane")).to_have_text("GREEN")
    expect(draft.locator("li.flag.only")).to_contain_text("heavier than water in PET bottles")
    expect(draft.locator(".only-tag").first).to_have_text("only in draft")
    shoot(page, "flow-try", tablet=False)


def author_backtests_the_draft(page: Page, draft_id: int) -> None:
    """A back-test on the corpus file, followed to its charts."""
    page.get_by_role("navigation", name="Workbench").get_by_role("link", name="Back-tests").click()
    page.get_by_label("Candidate version").select_option(str(draft_id))
    page.get_by_label("Manifest files in the service's corpus directory").check()
    page.get_by_label("Files (glob patterns").fill("water.jsonl")
    page.get_by_role("button", name="Start the back-test").click()
    page.get_by_role("heading", name="Charts").wait_for(timeout=120_000)
    newly = page.locator("table#newly-flagged tbody tr td:first-child").all_inner_texts()
    assert newly == ["W-120"]  # 1.20 kg/l: flagged by the draft alone; 1.08 stays green
    expect(page.get_by_role("img", name="Hits per rule")).to_be_visible()
    shoot(page, "flow-backtest", tablet=False)


def test_an_author_and_a_reviewer_take_a_rule_change_from_draft_to_the_border(
    api: LiveApi,
) -> None:
    svc = api.service
    corpus = svc.settings.resolved_corpus_dir()
    corpus.mkdir(parents=True, exist_ok=True)
    lines = [pet_water("W-108", 12960), pet_water("W-120", 14400)]
    (corpus / "water.jsonl").write_text("".join(json.dumps(doc) + "\n" for doc in lines))
    author_key = svc.keys.create("author", "Ana Author")
    # Rui writes rules and reviews them: his own draft waits for review.
    svc.keys.create("author", "Rui Reviewer")
    rui = Identity("Rui Reviewer", "author")
    own = svc.store.create_draft(svc.store.version_id("active"), rui)
    source = svc.store.sources(own)[RULE_FILE].replace("1.25", "1.20")
    svc.store.write_file(own, RULE_FILE, source, rui)
    svc.store.submit(own, rui)
    reviewer_key = svc.keys.create("reviewer", "Rui Reviewer")

    with browsing(api.url) as browser:
        ana = browser.page()
        browser.sign_in(ana, author_key)
        assert ana.url == api.url + "/ui/rules"
        draft_id = author_changes_the_rule(ana, api.url)
        author_tries_a_manifest(ana, api.url, draft_id)
        author_backtests_the_draft(ana, draft_id)
        ana.get_by_role("navigation", name="Workbench").get_by_role("link", name="Review").click()
        ana.get_by_role("link", name=f"#{draft_id}", exact=True).click()
        ana.get_by_role("button", name="Submit for review").click()
        expect(ana.get_by_role("status")).to_contain_text("Submitted for review")

        rui_page = browser.page()
        browser.sign_in(rui_page, reviewer_key, "/ui/rulesets")
        rui_page.get_by_role("link", name=f"#{own}", exact=True).click()
        rui_page.get_by_role("button", name="Approve").click()
        expect(rui_page.locator("#refusal")).to_contain_text(
            "Four-eyes rule: you wrote this version, so another reviewer must approve it"
        )
        rui_page.goto(f"{api.url}/ui/rulesets")
        rui_page.get_by_role("link", name=f"#{draft_id}", exact=True).click()
        expect(rui_page.locator(".d-del").first).to_contain_text("max_kg_per_litre: 1.25")
        expect(rui_page.locator(".d-add").first).to_contain_text("max_kg_per_litre: 1.15")
        expect(rui_page.get_by_text("newly flagged").first).to_be_visible()  # its back-test
        shoot(rui_page, "flow-review", tablet=False)
        rui_page.get_by_label("Comment (optional)").fill("PET water above 1.15 kg/l: agreed.")
        rui_page.get_by_role("button", name="Approve").click()
        expect(rui_page.get_by_role("status")).to_contain_text("Approved")
        rui_page.get_by_role("button", name="Activate").click()
        expect(rui_page.get_by_role("status")).to_contain_text(f"Version {draft_id} is now")
        audit = rui_page.locator("table.audit").inner_text()
        assert "approve" in audit and "activate" in audit
    browser.assert_clean()

    # The border's next screening is made with the new version, and says so.
    with api.client("screening") as border:
        for _ in range(100):
            answer = border.post("/v1/screen", json=pet_water("BORDER-1", 14400)).json()
            if answer["ruleset"]["version_id"] == draft_id:
                break
            border.get("/healthz")  # the workers follow the store every 0.2 s
        assert answer["ruleset"]["version_id"] == draft_id
        assert RULE_ID in [flag["rule_id"] for flag in answer["flags"]]
