"""Shadow mode: a submitted version screens live traffic beside the active one; its results
are stored and compared, never returned; only submitted or approved versions are shadowed."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from assay.api.settings import Settings
from assay.engine import Engine, Manifest
from assay.engine.ruleset import compile_pack
from tests.servers import LiveApi, live_api
from tests.test_backtest import corpus  # noqa: F401
from tests.test_backtest_api import _candidate_draft


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LiveApi]:
    with live_api(Settings(data_dir=tmp_path / "data", reload_seconds=0.1)) as server:
        yield server


def _until(check: Any, what: str, seconds: float = 15) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _answer(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    body.pop("elapsed_ms")
    return body


def test_a_shadow_version_is_compared_and_never_answers(
    api: LiveApi,
    tmp_path: Path,
    corpus: Path,  # noqa: F811
) -> None:
    documents = [orjson.loads(line) for line in corpus.read_bytes().splitlines()][:-1]
    with (
        api.client("author", "alice") as alice,
        api.client("reviewer", "bob") as bob,
        api.client("screening") as lane,
    ):
        draft_id = _candidate_draft(alice, tmp_path)
        assert bob.put("/v1/shadow", json={"version_id": draft_id}).status_code == 409  # draft
        assert bob.put("/v1/shadow", json={"version_id": 1}).status_code == 409  # active
        assert bob.put("/v1/shadow", json={"version_id": 404}).status_code == 404
        assert alice.put("/v1/shadow", json={"version_id": draft_id}).status_code == 403
        unshadowed = [_answer(lane.post("/v1/screen", json=d)) for d in documents]

        assert alice.post(f"/v1/rulesets/{draft_id}/submit").status_code == 200
        started = bob.put("/v1/shadow", json={"version_id": draft_id})
        assert started.status_code == 200, started.text
        run = started.json()
        assert (run["version_id"], run["shadowing"], run["started_by"]) == (draft_id, True, "bob")
        _until(lambda: api.service.shadow is not None, "the worker to load the shadow")

        shadowed = [_answer(lane.post("/v1/screen", json=d)) for d in documents[:8]]
        batch = lane.post("/v1/screen/batch", json=documents[8:])
        assert batch.status_code == 200 and len(batch.json()) == 2
        # The answers are the active version's, byte for byte but the timing.
        assert shadowed == unshadowed[:8]
        assert {answer["ruleset"]["sha256"] for answer in shadowed} == {
            api.service.store.get(1).sha256
        }

        def compared() -> dict[str, Any] | None:
            report: dict[str, Any] = alice.get("/v1/shadow").json()
            done = report["comparison"]["screened"] == len(documents)
            return report if done else None

        report = _until(compared, "the shadow results to be stored")
        assert report["active_version_id"] == 1 and report["run"]["id"] == run["id"]

        stopped = bob.delete("/v1/shadow")
        assert stopped.status_code == 200 and stopped.json()["shadowing"] is False
        assert bob.delete("/v1/shadow").status_code == 404
        _until(lambda: api.service.shadow is None, "the worker to stop shadowing")
        lane.post("/v1/screen", json=documents[0])
        time.sleep(0.3)
        after = alice.get("/v1/shadow", params={"run_id": run["id"]}).json()
        missing = alice.get("/v1/shadow", params={"run_id": 999})
    assert after["comparison"]["screened"] == len(documents)  # nothing after the stop
    assert missing.status_code == 404

    moves, gained, lost, differing = _differences(api, draft_id, documents)
    comparison = report["comparison"]
    # M1 loses only an indicator (the licence check): green either way.
    assert comparison["channel_moves"] == dict(moves) == {"green->yellow": 4}
    assert comparison["rules_gained"] == dict(gained)
    assert comparison["rules_lost"] == dict(lost)
    assert comparison["same_flags"] == len(documents) - len(differing)
    assert comparison["channel_agreement"] == 0.6
    assert comparison["channels"]["active"]["yellow"] == 2
    assert comparison["channels"]["shadow"]["yellow"] == 6
    examples = {e["manifest_id"]: e for e in comparison["examples"]}
    assert set(examples) == differing
    assert examples["C1"]["gained"] == ["tile-denser-than-porcelain"]
    assert "denser than tile can be" in examples["C1"]["shadow_explanations"][0]
    assert examples["M1"]["lost"] == ["controlled-licence-to-verify"]


def _differences(
    api: LiveApi, shadow_id: int, documents: list[dict[str, Any]]
) -> tuple[Counter[str], Counter[str], Counter[str], set[str]]:
    """What the active and the shadow version say of the same manifests, computed here:
    channel moves, rules gained, rules lost, and the manifests whose flags differ."""
    active = Engine(compile_pack(api.service.store.sources(1)))
    shadow = Engine(compile_pack(api.service.store.sources(shadow_id)))
    moves: Counter[str] = Counter()
    gained: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    differing = set()
    for document in documents:
        manifest = Manifest.model_validate(document)
        before, after = active.screen(manifest), shadow.screen(manifest)
        if before.channel != after.channel:
            moves[f"{before.channel}->{after.channel}"] += 1
        rules_before = {f.rule_id for f in before.flags}
        rules_after = {f.rule_id for f in after.flags}
        gained.update(rules_after - rules_before)
        lost.update(rules_before - rules_after)
        if rules_before != rules_after:
            differing.add(manifest.manifest_id)
    return moves, gained, lost, differing


def test_a_rejected_version_stops_being_shadowed(api: LiveApi, tmp_path: Path) -> None:
    with api.client("author", "alice") as alice, api.client("reviewer", "bob") as bob:
        draft_id = _candidate_draft(alice, tmp_path)
        alice.post(f"/v1/rulesets/{draft_id}/submit")
        assert bob.put("/v1/shadow", json={"version_id": draft_id}).status_code == 200
        _until(lambda: api.service.shadow is not None, "the worker to load the shadow")
        rejected = bob.post(f"/v1/rulesets/{draft_id}/reject", json={"reason": "too loose"})
        assert rejected.status_code == 200
        _until(lambda: api.service.shadow is None, "the worker to pause the shadow")
        run = alice.get("/v1/shadow").json()["run"]
    assert run["shadowing"] is False and "is draft now" in run["note"]
