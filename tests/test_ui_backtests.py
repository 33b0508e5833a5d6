"""The workbench's Back-test pages in real Chromium: an author starts a back-test of a draft
on a corpus file, follows its progress bar, reads its charts (each an SVG image with the
table of its numbers) and the manifests newly and no longer flagged, and follows one to Try.
Fast httpx checks: the form's errors next to their field, roles, CSRF, a failed job."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

from assay.api.settings import Settings
from assay.engine.inspections import Inspection
from tests.browser import Session, browsing, shoot
from tests.conftest import EXAMPLES, wait_for
from tests.servers import LiveApi, live_api
from tests.ui_support import sign_in

TILE = "tile_blending/tile-denser-than-porcelain.yaml"
LICENCE = "controlled_material/controlled-licence-to-verify.yaml"
# The corpus: W heavy water (red), S bulk solder (yellow), M licensed magnets (yellow; the
# draft drops its rule), C clean tiles (green; the draft's looser tile rule flags them).
CORPUS = {"W1": "water-heavy", "S1": "solder-bulk", "M1": "magnets-declared"}
CORPUS |= {f"C{n}": "clean-tiles" for n in range(1, 5)}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LiveApi]:
    with live_api(Settings(data_dir=tmp_path / "data", reload_seconds=0.1)) as server:
        yield server


@pytest.fixture
def browser(api: LiveApi) -> Iterator[Session]:
    with browsing(api.url) as session:
        yield session


def write_corpus(api: LiveApi, name: str = "past.jsonl") -> None:
    directory = api.service.settings.resolved_corpus_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / name).open("w") as handle:
        for manifest_id, sample in CORPUS.items():
            document = json.loads((EXAMPLES / f"{sample}.json").read_text())
            handle.write(json.dumps({**document, "manifest_id": manifest_id}) + "\n")


def candidate_draft(api: LiveApi) -> int:
    """A draft whose tile rule flags lighter tiles and without the licence rule."""
    store = api.service.store
    identity = api.service.keys.identify(api.service.keys.create("author", "Dora Drafter"))
    assert identity is not None
    active = store.active()
    assert active is not None
    draft_id = store.create_draft(active.id, identity)
    tile = store.sources(draft_id)[TILE]
    store.write_file(
        draft_id, TILE, tile.replace("max_kg_per_litre: 2.6", "max_kg_per_litre: 1.5"), identity
    )
    store.write_file(draft_id, LICENCE, None, identity)
    return draft_id


def signed_in(api: LiveApi, role: str) -> tuple[httpx.Client, str]:
    key = api.service.keys.create(role, f"{role} person")  # type: ignore[arg-type]
    client = httpx.Client(base_url=api.url, follow_redirects=False, timeout=60)
    return client, sign_in(client, key)


def assert_charts(page: Page) -> None:
    """The four charts, each an image with a label, and the numbers in their tables."""
    charts = page.locator("svg[role=img]")
    assert charts.count() == 4
    labels = [charts.nth(i).get_attribute("aria-label") or "" for i in range(4)]
    assert labels[0].startswith("Hits per rule.")
    assert labels[1].startswith("Lanes before and after.")
    assert labels[2].startswith("Precision and recall per rule")
    assert labels[3].startswith("Inspection rate before and after.")
    hits = page.locator("#chart-hits-table")
    tile_row = hits.get_by_role("row", name=re.compile("tile-denser-than-porcelain"))
    assert tile_row.locator("td").all_inner_texts() == ["0", "4"]  # baseline, candidate
    lanes = page.locator("#chart-lanes-table")
    green = lanes.get_by_role("row", name=re.compile("green"))
    # Baseline, candidate: the four tiles leave green, the magnets (licence rule gone) join it.
    assert green.locator("td").all_inner_texts() == ["5", "1"]
    precision = page.locator("#chart-precision-table")
    assert precision.get_by_role("row", name=re.compile("tile-denser")).locator(
        "td"
    ).all_inner_texts() == ["100.0%", "50.0%"]


def test_an_author_runs_a_backtest_and_reads_its_charts(api: LiveApi, browser: Session) -> None:
    draft_id = candidate_draft(api)
    write_corpus(api)
    api.service.inspections.record(
        [
            Inspection(manifest_id="W1", result="seizure", pattern="bottled_water_concealment"),
            Inspection(manifest_id="S1", result="no_find"),
            Inspection(manifest_id="C1", result="seizure", pattern="tile_blending"),
        ],
        "inspector",
    )
    page = browser.page()
    browser.sign_in(page, api.service.keys.create("author", "Alice Author"), "/ui/backtests")
    assert page.get_by_text("No back-tests yet.").is_visible()
    shoot(page, "backtests-empty")

    page.get_by_label("Candidate version").select_option(str(draft_id))
    assert page.get_by_label("Baseline").input_value() == "active"
    page.get_by_label("Manifest files in the service's corpus directory").check()
    page.get_by_label("Files (glob patterns").fill("past.jsonl")
    page.get_by_role("button", name="Start the back-test").click()
    page.wait_for_load_state()
    assert re.search(r"/ui/backtests/\d+$", page.url)
    if page.locator("progress").count():  # caught while it runs: the bar and its words
        assert "records screened" in page.get_by_role("status").inner_text()

    # The page follows the job and reloads into its report.
    page.get_by_role("heading", name="Charts").wait_for(timeout=120_000)
    assert page.locator("#job-state").inner_text() == "done"
    assert_charts(page)

    newly = page.locator("table#newly-flagged")
    assert sorted(newly.locator("tbody tr td:first-child").all_inner_texts()) == [
        "C1",
        "C2",
        "C3",
        "C4",
    ]
    assert page.locator("table#no-longer-flagged tbody tr td:first-child").all_inner_texts() == [
        "M1"
    ]
    assert "came from the corpus files past.jsonl" in page.inner_text("main")
    shoot(page, "backtest-done")

    # C1 was screened at the border: its link opens Try on it, with the candidate beside.
    document = json.loads((EXAMPLES / "clean-tiles.json").read_text())
    with api.client("screening") as screening:
        assert screening.post("/v1/screen", json={**document, "manifest_id": "C1"}).is_success
    newly.get_by_role("link", name="C1").click()
    page.wait_for_load_state()
    assert f"/ui/try?manifest_id=C1&draft={draft_id}" in page.url
    assert page.get_by_role("region", name="Active version").locator(".big-lane").inner_text() == (
        "GREEN"
    )
    draft = page.get_by_role("region", name=f"Draft version {draft_id}")
    assert draft.get_by_text("only in draft").count() >= 1

    page.goto(api.url + "/ui/backtests")
    assert page.get_by_role("link", name=re.compile(r"#\d+")).count() == 1
    assert page.get_by_role("cell", name="done").is_visible()
    shoot(page, "backtests-list")
    browser.assert_clean()


def test_the_progress_bar_follows_a_running_job(api: LiveApi, browser: Session) -> None:
    # A job stored but not launched: its progress is written here, as its runner writes it.
    jobs = api.service.backtests
    request = {"candidate": 1, "baseline": "active", "files": ["past.jsonl"]}
    job_id = jobs.create(request, 1, 1, "alice")
    page = browser.page()
    browser.sign_in(page, api.service.keys.create("reviewer", "Rita Reviewer"))
    page.goto(f"{api.url}/ui/backtests/{job_id}")
    assert page.locator("#job-state").inner_text() == "queued"
    assert page.get_by_role("link", name="Refresh").is_visible()
    assert jobs.start(job_id)
    jobs.progress(job_id, 1200, 0.4)
    page.get_by_text("1,200 records screened · 40% done").wait_for()
    assert page.locator("#job-state").inner_text() == "running"
    assert page.get_by_role("heading", name="Running").is_visible()
    assert page.locator("progress").evaluate("bar => bar.value") == pytest.approx(0.4)
    shoot(page, "backtest-running")
    jobs.fail(job_id, "past.jsonl cannot be read: Permission denied")
    page.get_by_role("heading", name="The back-test failed").wait_for()
    assert "past.jsonl cannot be read: Permission denied" in page.get_by_role("alert").inner_text()
    assert page.get_by_role("link", name="Start it again").count() == 0  # a reviewer's view
    browser.assert_clean()


def test_form_errors_are_shown_next_to_their_field(api: LiveApi) -> None:
    write_corpus(api)
    client, csrf = signed_in(api, "author")
    with contextlib.closing(client):
        form = {"csrf": csrf, "candidate": "1", "baseline": "active", "corpus": "files"}
        nothing = client.post("/ui/backtests", data={**form, "files": "nothing-*.jsonl"})
        assert nothing.status_code == 422
        assert re.search(r'id="files-error">[^<]*nothing-\*\.jsonl', nothing.text)
        assert 'value="nothing-*.jsonl"' in nothing.text  # the field keeps what was typed
        outside = client.post("/ui/backtests", data={**form, "files": "../etc/passwd"})
        assert outside.status_code == 422 and 'id="files-error"' in outside.text
        unknown = client.post(
            "/ui/backtests", data={**form, "candidate": "4242", "files": "past.jsonl"}
        )
        assert unknown.status_code == 422 and re.search(
            r'id="candidate-error">[^<]*4242', unknown.text
        )
        window = client.post(
            "/ui/backtests",
            data={
                **form,
                "corpus": "decisions",
                "since": "2026-11-02T00:00",
                "until": "2026-11-01T00:00",
            },
        )
        assert window.status_code == 422
        assert re.search(r'id="until-error">[^<]*until must be after since', window.text)
        empty = client.post("/ui/backtests", data={**form, "corpus": "decisions"})
        assert empty.status_code == 422 and 'id="since-error"' in empty.text
        assert api.service.backtests.list() == []

        started = client.post(
            "/ui/backtests",
            data={**form, "corpus": "decisions", "since": "2026-01-01T00:00", "outcomes": "on"},
        )
        assert started.status_code == 303
        job_id = int(started.headers["location"].rsplit("/", 1)[1])
        job = api.service.backtests.get(job_id)
        assert job is not None and job.created_by == "author person"
        assert isinstance(job.request, dict) and job.request["use_outcomes"] is True
        assert job.request["decisions"] == {"since": "2026-01-01T00:00:00Z", "until": None}
        wait_for(
            lambda: (
                (found := api.service.backtests.get(job_id)) is not None
                and found.state in ("done", "failed")
            ),
            120,
        )
        report = client.get(f"/ui/backtests/{job_id}")
        assert report.status_code == 200 and "0 records" in report.text


def test_only_authors_start_backtests_and_every_form_needs_its_token(api: LiveApi) -> None:
    write_corpus(api)
    reviewer, csrf = signed_in(api, "reviewer")
    with contextlib.closing(reviewer):
        page = reviewer.get("/ui/backtests")
        assert "Start a back-test" not in page.text
        refused = reviewer.post(
            "/ui/backtests",
            data={"csrf": csrf, "candidate": "1", "corpus": "files", "files": "past.jsonl"},
        )
        assert refused.status_code == 403
        assert reviewer.get("/ui/backtests/999").status_code == 404
        assert reviewer.get("/ui/backtests/999/progress").status_code == 404
    author, _ = signed_in(api, "author")
    with contextlib.closing(author):
        forged = author.post(
            "/ui/backtests", data={"candidate": "1", "corpus": "files", "files": "past.jsonl"}
        )
        assert forged.status_code == 400
        prefilled = author.get("/ui/backtests?candidate=1")
        assert re.search(r'<option value="1" selected>', prefilled.text)
    assert api.service.backtests.list() == []


def test_the_report_shows_the_correlation_rules_figures(api: LiveApi) -> None:
    """A back-test whose candidate adds the repeat-offender rules: the page's table gives each
    correlation rule's alerts against the baseline's and its precision."""
    from assay.engine import Engine  # noqa: PLC0415 - only this test screens
    from assay.engine.backtest import Backtest  # noqa: PLC0415
    from assay.engine.ruleset import compile_pack, default_pack_dir, read_sources  # noqa: PLC0415
    from tests.test_backtest_correlation import FILINGS, _manifest, _outcomes  # noqa: PLC0415

    sources = read_sources(default_pack_dir())
    before = {k: v for k, v in sources.items() if not k.startswith("correlation/repeat-")}
    run = Backtest(Engine(compile_pack(sources)), Engine(compile_pack(before)), _outcomes())
    for filing in FILINGS:
        run.add(_manifest(*filing))
    jobs = api.service.backtests
    job_id = jobs.create({"candidate": 1, "baseline": "active", "files": ["past.jsonl"]}, 1, 1, "a")
    assert jobs.start(job_id)
    jobs.finish(job_id, json.loads(json.dumps({**run.report(), "engine": "compiled"})), 5)
    client, _csrf = signed_in(api, "reviewer")
    with contextlib.closing(client):
        page = client.get(f"/ui/backtests/{job_id}")
    assert page.status_code == 200
    assert 'id="correlation-head">Correlation rules</h2>' in page.text
    assert "with 2 seizures on record" in page.text
    table = page.text[page.text.index('id="correlation"') :]
    row = re.search(r"repeat-offender</td>(.*?)</tr>", table, re.S)
    assert row is not None
    cells = re.findall(r"<td>([^<]*)</td>", row.group(1))
    # alerts, baseline alerts, newly raised, no longer raised, manifests, inspected,
    # confirmed, precision
    assert cells == ["3", "0", "3", "0", "3", "2", "1", "50.0%"]
