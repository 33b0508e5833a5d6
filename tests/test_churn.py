"""The service stays correct under governance churn: a rete worker follows any number of
activations, says when it cannot load one, shadows and back-tests with the evaluator it
screens with, answers other requests while a screening waits for durable_rules, and every
result and decision names the governance version that produced it."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine as Database
from sqlalchemy import select

from assay.api.routes import backtests as backtest_routes
from assay.api.settings import Settings
from assay.engine import Manifest, ScreeningResult
from assay.engine.evaluators.base import EngineKind
from assay.engine.evaluators.rete import ReteEvaluator
from assay.engine.features import View
from assay.engine.jobs import run as run_job
from assay.engine.ruleset import default_pack_dir
from assay.engine.store.database import decisions, open_database
from assay.engine.store.rulesets import RuleStore
from tests.conftest import ROOT, wait_for
from tests.servers import LiveApi, live_api
from tests.test_backtest import corpus  # noqa: F401
from tests.test_backtest_api import _candidate_draft, _finished

WATER = "bottled_water_concealment/water-pet-too-heavy.yaml"
HEAVY = json.loads((ROOT / "fixtures" / "samples" / "water-heavy.json").read_text())
# Needs more than durable_rules' 4,096 automaton states: the compiled evaluator runs it, the
# rete evaluator refuses it (docs/durable_rules.md).
TOO_BIG_FOR_RETE = '(item.description matches "BB{2}A" or item.hs4 == "2201"'


def _store(settings: Settings) -> tuple[Database, RuleStore]:
    db = open_database(settings.resolved_database_url())
    store = RuleStore(db)
    store.import_directory(default_pack_dir())  # version 1, active
    return db, store


def _activate_edit(store: RuleStore, old: str, new: str) -> int:
    """A draft of the active version with ``old`` replaced by ``new`` in the water rule,
    through review to active; the pack's own version string stays what it was."""
    active = store.active()
    assert active is not None
    draft = store.create_draft(active.id, "alice")
    source = store.sources(draft)[WATER]
    assert old in source
    assert store.write_file(draft, WATER, source.replace(old, new), "alice").ok
    store.submit(draft, "alice")
    store.approve(draft, "bob")
    store.activate(draft, "bob")
    return draft


def _threshold(answer: dict[str, Any]) -> float:
    """The water rule's threshold the answer was screened with (its flag's evidence)."""
    [flag] = [f for f in answer["flags"] if f["rule_id"] == "water-pet-too-heavy"]
    found: float = flag["evidence"]["params.max_kg_per_litre"]
    return found


def test_a_rete_worker_follows_seventy_activations(tmp_path: Path) -> None:
    """A rete worker stopped following the store at its 65th ruleset (and said it was
    ready). 70 activations (version 1, then 2, then back and forth by rollback), each
    followed by the worker's refresh loop: every one takes effect (the next answers have the
    version's threshold, and name the version), and the worker's durable_rules host
    processes stay bounded."""
    settings = Settings(data_dir=tmp_path, engine="rete", reload_seconds=0.05)
    db, store = _store(settings)
    stricter = _activate_edit(store, "max_kg_per_litre: 1.25", "max_kg_per_litre: 1.3")
    thresholds = {1: 1.25, stricter: 1.3}
    with live_api(settings) as api, api.client() as lane:
        engine = api.service.engine

        def screened() -> dict[str, Any]:
            answer = lane.post("/v1/screen", json=HEAVY)
            assert answer.status_code == 200, answer.text
            found: dict[str, Any] = answer.json()
            return found

        for n in range(70):
            version = 1 if n % 2 == 0 else stricter
            store.rollback(version, "bob", f"churn {n}")

            def follows(version: int = version) -> bool:
                return _threshold(screened()) == thresholds[version]

            wait_for(follows)
            answer = screened()
            assert answer["ruleset"]["version_id"] == version
            ready = httpx.get(f"{api.url}/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["ruleset"]["version_id"] == version
        host = engine.rete_host
        assert host is not None
        stats = host.stats()
    db.dispose()
    assert stats.created >= 71  # the version loaded at start, then one per activation
    assert len(stats.processes) <= 2
    assert all(compiled <= settings.rete_max_versions for _, compiled, _ in stats.processes)


def test_readyz_says_503_and_names_the_version_a_worker_cannot_load(tmp_path: Path) -> None:
    """A version the rete evaluator refuses (the compiled one runs it) is activated: the
    worker goes on screening with the version it has, and its /readyz answers 503, naming
    the version it cannot load, until one it can load is active again."""
    settings = Settings(data_dir=tmp_path, engine="rete", reload_seconds=0.05)
    db, store = _store(settings)
    with live_api(settings) as api, api.client() as lane:
        assert httpx.get(f"{api.url}/readyz").status_code == 200
        refused = _activate_edit(store, '(item.hs4 == "2201"', TOO_BIG_FOR_RETE)

        def says_not_ready() -> bool:
            return httpx.get(f"{api.url}/readyz").status_code == 503

        wait_for(says_not_ready, 60)  # the refused version compiles first: slow on a busy CI
        ready = httpx.get(f"{api.url}/readyz").json()
        assert ready["status"] == "not ready" and ready["decision_log"] == "writable"
        assert ready["ruleset"]["version_id"] == 1
        assert ready["ruleset"]["active_version_id"] == refused
        assert f"active version {refused} does not load" in ready["ruleset"]["problem"]
        assert "automaton" not in json.dumps(ready)  # the compiler's words: admins only
        admin = lane.get("/readyz", headers=api.auth("admin")).json()
        assert "automaton" in admin["details"]["ruleset"]
        answer = lane.post("/v1/screen", json=HEAVY)  # still screening, and says with what
        assert answer.status_code == 200 and answer.json()["ruleset"]["version_id"] == 1
        store.rollback(1, "bob", "version 2 does not load on the rete workers")
        wait_for(lambda: httpx.get(f"{api.url}/readyz").status_code == 200)
        assert httpx.get(f"{api.url}/readyz").json()["ruleset"]["version_id"] == 1
    db.dispose()


def test_healthz_is_answered_while_a_rete_screening_waits_for_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rete screening waits for durable_rules behind the host's lock; it used to wait on
    the event loop, and every other request of the worker waited with it."""
    settings = Settings(data_dir=tmp_path, engine="rete")
    with live_api(settings) as api, api.client() as lane:
        engine = api.service.engine
        host = engine.rete_host
        assert host is not None
        started = threading.Event()
        original = engine.screen_joining

        def screen(manifest: Manifest, **kw: Any) -> tuple[ScreeningResult, Any]:
            started.set()
            return original(manifest, **kw)

        monkeypatch.setattr(engine, "screen_joining", screen)
        answers: list[httpx.Response] = []
        waiting = threading.Thread(
            target=lambda: answers.append(lane.post("/v1/screen", json=HEAVY))
        )
        try:
            with host.lock:  # as a long screening holds it
                waiting.start()
                assert started.wait(timeout=30)  # the screening has begun, and waits
                health = httpx.get(f"{api.url}/healthz", timeout=10)  # (it hung: a timeout)
                assert health.status_code == 200 and not answers
        finally:
            waiting.join()  # the lock is free: the screening ends
    assert answers[0].status_code == 200 and answers[0].json()["flags"]


def _spy_on_rete(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The sha256 of every ruleset the rete evaluator screens with, from now on."""
    seen: set[str] = set()
    evaluate: Callable[[ReteEvaluator, View, list[View]], Any] = ReteEvaluator.evaluate

    def spy(self: ReteEvaluator, manifest: View, items: list[View]) -> Any:
        seen.add(self.ruleset.sha256)
        return evaluate(self, manifest, items)

    monkeypatch.setattr(ReteEvaluator, "evaluate", spy)
    return seen


@pytest.fixture
def rete_api(tmp_path: Path, corpus: Path) -> Iterator[LiveApi]:  # noqa: F811
    (tmp_path / "data" / "corpus").mkdir(parents=True)
    shutil.copy(corpus, tmp_path / "data" / "corpus" / "past.jsonl")
    settings = Settings(data_dir=tmp_path / "data", engine="rete", reload_seconds=0.05)
    with live_api(settings) as server:
        yield server


def test_shadow_screening_uses_the_rete_evaluator_under_rete(
    rete_api: LiveApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shadow version was always screened with the compiled evaluator: a comparison of
    evaluators as much as of versions."""
    seen = _spy_on_rete(monkeypatch)
    with (
        rete_api.client("author", "alice") as alice,
        rete_api.client("reviewer", "bob") as bob,
        rete_api.client("screening") as lane,
    ):
        draft_id = _candidate_draft(alice, tmp_path)
        assert alice.post(f"/v1/rulesets/{draft_id}/submit").status_code == 200
        assert bob.put("/v1/shadow", json={"version_id": draft_id}).status_code == 200
        wait_for(lambda: rete_api.service.shadow is not None)
        shadow = rete_api.service.shadow
        assert shadow is not None and shadow.engine.kind == "rete"
        assert shadow.engine.version_id == draft_id
        assert lane.post("/v1/screen", json=HEAVY).status_code == 200

        def compared() -> bool:
            report = alice.get("/v1/shadow").json()
            return bool(report["comparison"]["screened"] == 1)

        wait_for(compared)
    assert rete_api.service.store.get(draft_id).sha256 in seen


def test_backtests_use_the_rete_evaluator_under_rete(
    rete_api: LiveApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Back-test jobs always screened with the compiled evaluator. The job is run here, in
    this process, where the evaluator can be watched (the service starts a process)."""
    url = rete_api.service.settings.resolved_database_url()
    corpus_dir = rete_api.service.settings.resolved_corpus_dir()
    monkeypatch.setattr(
        backtest_routes, "launch", lambda job_id, *_: run_job(url, job_id, corpus_dir)
    )
    seen = _spy_on_rete(monkeypatch)
    with rete_api.client("author", "alice") as alice:
        draft_id = _candidate_draft(alice, tmp_path)
        started = alice.post("/v1/backtests", json={"candidate": draft_id, "files": ["*.jsonl"]})
        assert started.status_code == 202, started.text
        job = _finished(alice, started.json()["id"])
    assert job["state"] == "done", job["error"]
    assert job["request"]["engine"] == "rete" and job["result"]["engine"] == "rete"
    store = rete_api.service.store
    assert {store.get(draft_id).sha256, store.get(1).sha256} <= seen


@pytest.mark.parametrize("engine", ["compiled", "rete"])
def test_results_and_decisions_name_the_governance_version(
    tmp_path: Path, engine: EngineKind
) -> None:
    """Two activations with the same pack version string (pack.yaml's, unchanged by an
    edit): an answer and its logged decision said only that, so an auditor could not tell
    them apart."""
    settings = Settings(data_dir=tmp_path, engine=engine, reload_seconds=0.05)
    db, store = _store(settings)
    with (
        live_api(settings) as api,
        api.client() as lane,
        api.client("reviewer", "carol") as auditor,
    ):
        first = lane.post("/v1/screen", json=HEAVY)
        second_id = _activate_edit(store, "max_kg_per_litre: 1.25", "max_kg_per_litre: 1.3")
        wait_for(lambda: api.service.loaded.version_id == second_id)
        second = lane.post("/v1/screen", json=HEAVY)
        answers = [first.json()["ruleset"], second.json()["ruleset"]]
        assert answers[0]["version"] == answers[1]["version"]  # the pack's own: no help
        assert [a["version_id"] for a in answers] == [1, second_id]
        api.service.log.caught_up()
        logged = [
            auditor.get(f"/v1/decisions/{answer.headers['X-Decision-ID']}").json()["ruleset"]
            for answer in (first, second)
        ]
        assert logged == answers
    with db.connect() as connection:
        stored = connection.execute(
            select(decisions.c.ruleset_version_id).order_by(decisions.c.created_at)
        ).scalars()
        assert list(stored) == [1, second_id]
    db.dispose()
