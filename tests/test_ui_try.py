"""The workbench's Try page in real Chromium: an officer pastes a manifest, reads a file into
it, or picks a logged decision, and reads lane, score and flags with their explanations;
invalid manifests are answered field by field; a draft is screened beside the active
version. A trial is never logged. Fast httpx checks cover roles and CSRF."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assay.api.settings import Settings
from tests.browser import Session, browsing, shoot
from tests.conftest import EXAMPLES
from tests.servers import LiveApi, live_api
from tests.ui_support import sign_in

TILE = "tile_blending/tile-denser-than-porcelain.yaml"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    data = tmp_path_factory.mktemp("try") / "data"
    with live_api(Settings(data_dir=data, reload_seconds=0.1)) as server:
        yield server


@pytest.fixture(scope="module")
def browser(api: LiveApi) -> Iterator[Session]:
    with browsing(api.url) as session:
        yield session


def sample(name: str) -> str:
    return (EXAMPLES / f"{name}.json").read_text()


def signed_in(api: LiveApi, role: str, name: str) -> tuple[httpx.Client, str]:
    """An httpx client signed in to the workbench through its form, and its CSRF token."""
    key = api.service.keys.create(role, name)  # type: ignore[arg-type]
    client = httpx.Client(base_url=api.url, follow_redirects=True, timeout=60)
    return client, sign_in(client, key)


def tile_draft(api: LiveApi, author: str) -> int:
    """A draft of the active version whose tile rule flags lighter tiles (1.5 kg/L)."""
    store = api.service.store
    identity = api.service.keys.identify(api.service.keys.create("author", author))
    assert identity is not None
    active = store.active()
    assert active is not None
    draft_id = store.create_draft(active.id, identity)
    source = store.sources(draft_id)[TILE]
    looser = source.replace("max_kg_per_litre: 2.6", "max_kg_per_litre: 1.5")
    assert looser != source
    store.write_file(draft_id, TILE, looser, identity)
    return draft_id


def test_an_author_pastes_a_manifest_and_reads_lane_score_and_flags(
    api: LiveApi, browser: Session
) -> None:
    page = browser.page()
    browser.sign_in(page, api.service.keys.create("author", "Alice Author"), "/ui/try")
    assert page.get_by_role("heading", name="Try a manifest").is_visible()
    assert page.get_by_text("is not logged").is_visible()
    shoot(page, "try-empty")

    page.get_by_label("Manifest (JSON)").fill(sample("water-heavy"))
    page.get_by_role("button", name="Screen the manifest").click()
    page.wait_for_load_state()

    result = page.get_by_role("region", name="Result")
    assert result.locator(".big-lane").inner_text() == "RED"
    assert "Physical inspection" in result.inner_text()
    assert re.search(
        r"Risk score\s+\d+\s+of 100 · yellow from \d+, red from \d+", result.inner_text()
    )
    flags = result.locator("li.flag")
    assert flags.count() >= 2
    first = flags.first
    assert first.locator(".explanation").inner_text().strip().endswith(".")
    assert first.locator(".role-tag").inner_text() in ("finding", "indicator")
    assert "About goods item 1 (DRINKING WATER 550ML PET X 24)" in result.inner_text()
    first.get_by_text("Evidence").click()
    assert first.locator("dl.facts dt").count() >= 1
    # Worst first: severities never rise down the list.
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    severities = [order[s.lower()] for s in result.locator("li.flag .severity").all_inner_texts()]
    assert severities == sorted(severities)
    assert "version_id 1" in result.inner_text()
    # The textarea keeps what was screened, and nothing was logged.
    assert "EX-0002" in page.get_by_label("Manifest (JSON)").input_value()
    assert api.service.log.for_manifest("EX-0002") == []
    shoot(page, "try-result")
    browser.assert_clean()


def test_an_invalid_manifest_is_answered_field_by_field(api: LiveApi, browser: Session) -> None:
    page = browser.page()
    browser.sign_in(page, api.service.keys.create("author", "Alice Author"), "/ui/try")
    broken = sample("water-heavy").replace('"gross_mass_kg": 27600.0', '"gross_mass_kg": 0')
    broken = broken.replace('"country_of_export": "TH"', '"country_of_export": "QQ"')
    page.get_by_label("Manifest (JSON)").fill(broken)
    page.get_by_role("button", name="Screen the manifest").click()
    page.wait_for_load_state()
    errors = page.get_by_role("alert")
    assert "items.0.gross_mass_kg: Input should be greater than 0" in errors.inner_text()
    assert "country_of_export: 'QQ' is not an ISO 3166-1 alpha-2 country code" in (
        errors.inner_text()
    )
    assert page.get_by_label("Manifest (JSON)").input_value() == broken
    assert page.get_by_label("Manifest (JSON)").get_attribute("aria-invalid") == "true"
    assert page.locator(".big-lane").count() == 0
    shoot(page, "try-errors")
    browser.assert_clean()


def test_a_chosen_file_is_read_into_the_text_box(api: LiveApi, browser: Session) -> None:
    page = browser.page()
    browser.sign_in(page, api.service.keys.create("author", "Alice Author"), "/ui/try")
    page.get_by_label("Or read a file").set_input_files(str(EXAMPLES / "solder-bulk.json"))
    page.get_by_text("Read solder-bulk.json into the text box").wait_for()
    assert json.loads(page.get_by_label("Manifest (JSON)").input_value()) == json.loads(
        sample("solder-bulk")
    )
    page.get_by_role("button", name="Screen the manifest").click()
    page.wait_for_load_state()
    assert page.locator(".big-lane").inner_text() == "YELLOW"
    assert "Document check" in page.get_by_role("region", name="Result").inner_text()
    browser.assert_clean()


def test_a_logged_decision_is_picked_by_manifest_id(api: LiveApi, browser: Session) -> None:
    document = {**json.loads(sample("magnets-declared")), "manifest_id": "PICK-1"}
    with api.client("screening") as screening:
        answer = screening.post("/v1/screen", json=document)
    assert answer.status_code == 200
    page = browser.page()
    browser.sign_in(page, api.service.keys.create("reviewer", "Rita Reviewer"), "/ui/try")
    page.get_by_label("Pick a logged decision by manifest id").fill("PICK-1")
    page.get_by_role("button", name="Load the logged manifest").click()
    page.wait_for_load_state()
    assert answer.headers["X-Decision-ID"] in page.locator("#picked").inner_text()
    assert json.loads(page.get_by_label("Manifest (JSON)").input_value()) == document
    assert page.locator(".big-lane").inner_text() == answer.json()["channel"].upper()
    # Screening it again here logged nothing more.
    assert len(api.service.log.for_manifest("PICK-1")) == 1

    page.goto(f"{api.url}/ui/try?manifest_id=NEVER-SEEN")
    assert "No decision about manifest NEVER-SEEN is logged." in page.inner_text("main")
    browser.assert_clean()


def test_a_draft_is_screened_beside_the_active_version(api: LiveApi, browser: Session) -> None:
    draft_id = tile_draft(api, "Dora Drafter")
    page = browser.page()
    browser.sign_in(page, api.service.keys.create("author", "Alice Author"), "/ui/try")
    page.get_by_label("Manifest (JSON)").fill(sample("clean-tiles"))
    page.get_by_label("Compare with a draft").select_option(str(draft_id))
    page.get_by_role("button", name="Screen the manifest").click()
    page.wait_for_load_state()
    active = page.get_by_role("region", name="Active version")
    draft = page.get_by_role("region", name=f"Draft version {draft_id}")
    assert active.locator(".big-lane").inner_text() == "GREEN"
    assert draft.locator(".only-tag", has_text="only in draft").count() >= 1
    assert "tile" in draft.locator("li.flag.only").first.inner_text().lower()
    assert f"version_id {draft_id}" in draft.inner_text()
    assert page.get_by_label("Compare with a draft").input_value() == str(draft_id)
    shoot(page, "try-side-by-side")
    browser.assert_clean()


def test_a_screening_key_sees_only_try(api: LiveApi, browser: Session) -> None:
    page = browser.page()
    browser.sign_in(page, api.service.keys.create("screening", "Gate 4"))
    assert page.url.endswith("/ui/try")
    navigation = page.get_by_role("navigation", name="Workbench")
    assert navigation.get_by_role("link").all_inner_texts() == ["Try"]
    assert page.get_by_label("Compare with a draft").count() == 0
    assert page.get_by_label("Pick a logged decision by manifest id").count() == 0
    page.get_by_label("Manifest (JSON)").fill(sample("clean-tiles"))
    page.get_by_role("button", name="Screen the manifest").click()
    page.wait_for_load_state()
    assert page.locator(".big-lane").inner_text() == "GREEN"
    for path in ("/ui/backtests", "/ui/rules", "/ui/decisions", "/ui/rulesets"):
        answer = page.goto(api.url + path)
        assert answer is not None and answer.status == 403
        assert "needs an author or reviewer key" in page.inner_text("main")
    browser.assert_clean()


def test_a_trial_needs_the_form_token_and_answers_422_when_invalid(api: LiveApi) -> None:
    client, csrf = signed_in(api, "author", "Alice Author")
    with contextlib.closing(client):
        forged = client.post("/ui/try", data={"manifest": sample("water-heavy")})
        assert forged.status_code == 400
        invalid = client.post("/ui/try", data={"csrf": csrf, "manifest": "{not json"})
        assert invalid.status_code == 422
        assert "Invalid JSON" in invalid.text
        valid = client.post("/ui/try", data={"csrf": csrf, "manifest": sample("water-heavy")})
        assert valid.status_code == 200 and "lane-red" in valid.text
        unknown = client.get("/ui/try?draft=999999")
        assert "999999" in unknown.text and 'id="draft-error"' in unknown.text


def test_a_screening_key_cannot_read_logged_decisions_or_drafts(api: LiveApi) -> None:
    with api.client("screening") as screening:
        document = {**json.loads(sample("water-heavy")), "manifest_id": "SECRET-1"}
        assert screening.post("/v1/screen", json=document).status_code == 200
    draft_id = tile_draft(api, "Dora Drafter")
    client, csrf = signed_in(api, "screening", "Gate 5")
    with contextlib.closing(client):
        picked = client.get("/ui/try?manifest_id=SECRET-1")
        assert "Logged decisions are for author and reviewer keys" in picked.text
        assert "SECRET-1" not in picked.text
        tried = client.post(
            "/ui/try", data={"csrf": csrf, "manifest": sample("clean-tiles"), "draft": draft_id}
        )
        assert tried.status_code == 200
        assert "only in draft" not in tried.text and "Draft version" not in tried.text


def test_the_page_escapes_what_a_manifest_says(api: LiveApi, tmp_path: Path) -> None:
    client, csrf = signed_in(api, "author", "Alice Author")
    document = json.loads(sample("water-heavy"))
    document["items"][0]["description"] = "<script>alert(1)</script> WATER"
    with contextlib.closing(client):
        page = client.post("/ui/try", data={"csrf": csrf, "manifest": json.dumps(document)})
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_a_decision_is_picked_by_its_id(api: LiveApi) -> None:
    document = {**json.loads(sample("solder-bulk")), "manifest_id": "BY-ID-1"}
    with api.client("screening") as screening:
        decision_id = screening.post("/v1/screen", json=document).headers["X-Decision-ID"]
    client, _ = signed_in(api, "reviewer", "Rita Reviewer")
    with contextlib.closing(client):
        page = client.get(f"/ui/try?decision_id={decision_id}")
        assert page.status_code == 200
        assert f"decision {decision_id}" in page.text and "lane-yellow" in page.text
        assert "&#34;manifest_id&#34;: &#34;BY-ID-1&#34;" in page.text  # in the text box
        missing = client.get("/ui/try?decision_id=0000")
        assert "No decision 0000 is logged." in missing.text
