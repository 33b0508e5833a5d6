"""Governance through the service: the role of every endpoint, draft → active, hot reload.

The role table below is the policy; the test fails if an endpoint is added without a row,
so no endpoint can ship unguarded by accident.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from assay.api.settings import Settings
from assay.engine.store.roles import ROLES, Role
from tests.conftest import EXAMPLES
from tests.servers import LiveApi, assay_serve, create_key, live_api

WATER = "bottled_water_concealment/water-pet-too-heavy.yaml"
JSON = {"Content-Type": "application/json"}
BODY = (EXAMPLES / "water-heavy.json").read_bytes()
READ: frozenset[Role] = frozenset({"author", "reviewer"})

# (method, path) -> the roles that may call it; None: open to anyone (probes and API docs).
POLICY: dict[tuple[str, str], frozenset[Role] | None] = {
    ("POST", "/v1/screen"): frozenset({"screening"}),
    ("POST", "/v1/screen/batch"): frozenset({"screening"}),
    ("GET", "/v1/rules"): frozenset({"screening", "author", "reviewer"}),
    ("GET", "/v1/rules/{rule_id}"): frozenset({"screening", "author", "reviewer"}),
    ("GET", "/v1/rules/{rule_id}/stats"): READ,
    ("GET", "/v1/decisions"): READ,
    ("GET", "/v1/decisions/{decision_id}"): READ,
    ("GET", "/v1/alerts"): frozenset({"author", "reviewer", "admin"}),
    ("GET", "/v1/rulesets"): READ,
    ("GET", "/v1/rulesets/{version_id}"): READ,
    ("GET", "/v1/rulesets/{version_id}/files/{path}"): READ,
    ("GET", "/v1/rulesets/{version_id}/validation"): READ,
    ("GET", "/v1/rulesets/{a}/diff/{b}"): READ,
    ("GET", "/v1/audit"): READ,
    ("POST", "/v1/rulesets/{version_id}/drafts"): frozenset({"author"}),
    ("PUT", "/v1/rulesets/{version_id}/files/{path}"): frozenset({"author"}),
    ("DELETE", "/v1/rulesets/{version_id}/files/{path}"): frozenset({"author"}),
    ("POST", "/v1/rulesets/{version_id}/submit"): frozenset({"author"}),
    ("POST", "/v1/rulesets/{version_id}/approve"): frozenset({"reviewer"}),
    ("POST", "/v1/rulesets/{version_id}/reject"): frozenset({"reviewer"}),
    ("POST", "/v1/rulesets/{version_id}/activate"): frozenset({"reviewer"}),
    ("POST", "/v1/rulesets/{version_id}/rollback"): frozenset({"reviewer"}),
    ("POST", "/v1/backtests"): frozenset({"author"}),
    ("GET", "/v1/backtests"): READ,
    ("GET", "/v1/backtests/{job_id}"): READ,
    ("POST", "/v1/outcomes"): READ,
    ("PUT", "/v1/shadow"): frozenset({"reviewer"}),
    ("DELETE", "/v1/shadow"): frozenset({"reviewer"}),
    ("GET", "/v1/shadow"): READ,
    ("GET", "/v1/keys"): frozenset({"admin"}),
    ("POST", "/v1/keys"): frozenset({"admin"}),
    ("DELETE", "/v1/keys/{key_id}"): frozenset({"admin"}),
    ("GET", "/metrics"): frozenset(ROLES),
    ("GET", "/healthz"): None,
    ("GET", "/readyz"): None,
}
PARAMS = {
    "rule_id": "water-pet-too-heavy",
    "decision_id": "0" * 32,
    "version_id": "1",
    "a": "1",
    "b": "1",
    "path": "pack.yaml",
    "key_id": "1",
    "job_id": "1",
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    data = tmp_path_factory.mktemp("governance")
    with live_api(Settings(data_dir=data, reload_seconds=0.1)) as server:
        yield server


def _routes(api: LiveApi) -> list[tuple[str, str]]:
    """Every operation the service serves (its OpenAPI document lists them all)."""
    paths = api.app.openapi()["paths"]
    return [(method.upper(), path) for path, operations in paths.items() for method in operations]


def test_every_endpoint_has_a_role_policy(api: LiveApi) -> None:
    assert sorted(_routes(api)) == sorted(POLICY)


@pytest.mark.parametrize(("method", "path"), sorted(POLICY))
def test_role_matrix(api: LiveApi, method: str, path: str) -> None:
    allowed = POLICY[(method, path)]
    url = re.sub(r"\{([^}]+)\}", lambda m: PARAMS[m.group(1)], path)
    api.service.keys.create("admin", "sacrificial")  # DELETE /v1/keys/1 may revoke it
    with httpx.Client(base_url=api.url, timeout=30) as client:
        anonymous = client.request(method, url, json={})
        if allowed is None:
            assert anonymous.status_code == 200
            return
        assert anonymous.status_code == 401, anonymous.text
        assert "API key" in anonymous.json()["detail"]
        wrong_key = client.request(method, url, json={}, headers={"Authorization": "Bearer nope"})
        assert wrong_key.status_code == 401
        for role in ROLES:
            answer = client.request(method, url, json={}, headers=api.auth(role, f"{role}-user"))
            if role in allowed:
                assert answer.status_code not in (401, 403), (role, answer.text)
            else:
                assert answer.status_code == 403, (role, answer.text)
                assert role in answer.json()["detail"]


def test_open_screening_on_loopback_is_off_by_default(tmp_path: Path) -> None:
    assert Settings().open_screening_on_loopback is False
    settings = Settings(data_dir=tmp_path, open_screening_on_loopback=True)
    with live_api(settings) as server, httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.post("/v1/screen", content=BODY, headers=JSON).status_code == 200
        assert anonymous.get("/v1/rulesets").status_code == 401  # only screening is opened


def _screened_sha(client: httpx.Client) -> str:
    answer = client.post("/v1/screen", content=BODY, headers=JSON)
    assert answer.status_code == 200
    sha: str = answer.json()["ruleset"]["sha256"]
    return sha


def _wait_for(client: httpx.Client, sha: str, seconds: float = 2.0) -> float:
    started = time.monotonic()
    while _screened_sha(client) != sha:
        assert time.monotonic() - started < seconds, f"{sha[:12]} not screening after {seconds} s"
        time.sleep(0.02)
    return time.monotonic() - started


def test_draft_to_active_and_back_through_the_api(api: LiveApi) -> None:
    with ExitStack() as stack:
        people: list[tuple[Role, str]] = [
            ("author", "alice"),
            ("reviewer", "bob"),
            ("reviewer", "alice"),
            ("screening", "border"),
        ]
        alice, bob, alice_reviewing, lane = (
            stack.enter_context(api.client(role, name)) for role, name in people
        )
        _draft_to_active_and_back(alice, bob, alice_reviewing, lane)


def _draft_to_active_and_back(
    alice: httpx.Client, bob: httpx.Client, alice_reviewing: httpx.Client, lane: httpx.Client
) -> None:
    [v1] = [v for v in bob.get("/v1/rulesets").json() if v["state"] == "active"]
    assert _screened_sha(lane) == v1["sha256"]

    draft = alice.post(f"/v1/rulesets/{v1['id']}/drafts")
    assert draft.status_code == 201
    draft_id = draft.json()["id"]
    assert (draft.json()["state"], draft.json()["parent_id"]) == ("draft", v1["id"])
    source = alice.get(f"/v1/rulesets/{draft_id}/files/{WATER}").json()["source"]

    broken = source.replace("item.kg_per_litre > params", "item.kg_per_litre >> params")
    report = alice.put(f"/v1/rulesets/{draft_id}/files/{WATER}", json={"source": broken}).json()
    assert report["ok"] is False
    [problem] = report["problems"]
    assert problem["file"].endswith(WATER) and problem["line"] > 1 and problem["column"] > 1
    refused = alice.post(f"/v1/rulesets/{draft_id}/submit")
    assert refused.status_code == 422
    assert refused.json()["validation"]["problems"] == report["problems"]

    fixed = source.replace("max_kg_per_litre: 1.25", "max_kg_per_litre: 1.3")
    good = alice.put(f"/v1/rulesets/{draft_id}/files/{WATER}", json={"source": fixed}).json()
    assert good["ok"] is True and good["examples"]["failed"] == []
    assert alice.post(f"/v1/rulesets/{draft_id}/submit").status_code == 200

    assert alice.post(f"/v1/rulesets/{draft_id}/approve", json={}).status_code == 403  # role
    four_eyes = alice_reviewing.post(f"/v1/rulesets/{draft_id}/approve", json={})
    assert four_eyes.status_code == 403 and "second person" in four_eyes.json()["detail"]
    early = bob.post(f"/v1/rulesets/{draft_id}/activate", json={})
    assert early.status_code == 409  # not approved yet
    approve = bob.post(f"/v1/rulesets/{draft_id}/approve", json={"comment": "lab agrees"})
    assert approve.status_code == 200
    assert bob.post(f"/v1/rulesets/{draft_id}/activate", json={}).status_code == 200

    new = bob.get(f"/v1/rulesets/{draft_id}").json()
    assert new["state"] == "active" and new["sha256"] != v1["sha256"]
    assert _wait_for(lane, new["sha256"]) < 2.0
    assert lane.get("/v1/rules/water-pet-too-heavy").json()["params"] == {"max_kg_per_litre": 1.3}

    diff = bob.get(f"/v1/rulesets/{v1['id']}/diff/{draft_id}").json()
    assert (diff["added"], diff["removed"]) == ([], [])
    [changed] = diff["changed"]
    assert changed["rule_id"] == "water-pet-too-heavy"
    assert re.search(r"^-\s+max_kg_per_litre: 1.25$", changed["diff"], re.MULTILINE)
    assert re.search(r"^\+\s+max_kg_per_litre: 1.3$", changed["diff"], re.MULTILINE)

    back = bob.post(f"/v1/rulesets/{v1['id']}/rollback", json={"reason": "lab retracted"})
    assert back.status_code == 200
    assert _wait_for(lane, v1["sha256"]) < 2.0
    trail = [(e["actor"], e["action"]) for e in bob.get("/v1/audit").json()]
    assert trail[-9:] == [
        ("alice", "create_draft"),
        ("alice", "edit"),
        ("alice", "edit"),
        ("alice", "submit"),
        ("alice", "role_refused"),  # her author key on approve
        ("alice", "refused"),  # her reviewer key on her own draft: four eyes
        ("bob", "approve"),
        ("bob", "activate"),
        ("bob", "rollback"),
    ]


def test_rejection_returns_the_draft_with_the_comment(api: LiveApi) -> None:
    with api.client("author", "dana") as dana, api.client("reviewer", "erik") as erik:
        active = next(v for v in erik.get("/v1/rulesets").json() if v["state"] == "active")
        draft_id = dana.post(f"/v1/rulesets/{active['id']}/drafts").json()["id"]
        assert dana.post(f"/v1/rulesets/{draft_id}/submit").status_code == 200
        no_reason = erik.post(f"/v1/rulesets/{draft_id}/reject", json={})
        assert no_reason.status_code == 422
        assert erik.post(f"/v1/rulesets/{draft_id}/reject", json={"reason": "why?"}).is_success
        back = dana.get(f"/v1/rulesets/{draft_id}").json()
        assert (back["state"], back["comment"]) == ("draft", "why?")
        with api.client("author", "frank") as frank:
            edit = frank.put(f"/v1/rulesets/{draft_id}/files/{WATER}", json={"source": "x"})
        assert edit.status_code == 403  # only the draft's author edits it


def _publish(
    client: httpx.Client, base_id: int, alice: dict[str, str], bob: dict[str, str]
) -> tuple[float, str]:
    """Alice changes a threshold, Bob approves and activates: (when activated, new sha256)."""
    draft = client.post(f"/v1/rulesets/{base_id}/drafts", headers=alice).json()
    path = f"/v1/rulesets/{draft['id']}/files/{WATER}"
    source = client.get(path, headers=alice).json()["source"]
    fixed = source.replace("max_kg_per_litre: 1.25", "max_kg_per_litre: 1.3")
    assert client.put(path, json={"source": fixed}, headers=alice).json()["ok"]
    version = f"/v1/rulesets/{draft['id']}"
    assert client.post(f"{version}/submit", headers=alice).is_success
    assert client.post(f"{version}/approve", json={}, headers=bob).is_success
    activated_at = time.monotonic()
    assert client.post(f"{version}/activate", json={}, headers=bob).is_success
    sha: str = client.get(version, headers=bob).json()["sha256"]
    return activated_at, sha


def test_activation_reaches_every_worker_under_load_without_a_failure(tmp_path: Path) -> None:
    screening = create_key(tmp_path, "screening", "border")
    alice = {"Authorization": f"Bearer {create_key(tmp_path, 'author', 'alice')}"}
    bob = {"Authorization": f"Bearer {create_key(tmp_path, 'reviewer', 'bob')}"}
    stop = threading.Event()
    answers: list[tuple[float, float, int, str]] = []  # (sent, received, status, sha256)
    lock = threading.Lock()

    def drive(url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        headers = {**JSON, "Authorization": f"Bearer {screening}"}
        while not stop.is_set():
            # A new connection each time, so both workers keep answering.
            connection = http.client.HTTPConnection(host, int(port), timeout=30)
            sent = time.monotonic()
            try:
                connection.request("POST", "/v1/screen", BODY, headers)
                response = connection.getresponse()
                body = response.read()
                status = response.status
            except OSError as exc:
                body, status = str(exc).encode(), 0
            finally:
                connection.close()
            match = re.search(rb'"sha256":"([0-9a-f]{64})"', body)
            with lock:
                answers.append((sent, time.monotonic(), status, match[1].decode() if match else ""))

    with assay_serve(tmp_path, "--workers", "2") as (url, _process):
        threads = [threading.Thread(target=drive, args=(url,)) for _ in range(6)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1.0)
            with httpx.Client(base_url=url, timeout=30) as client:
                [v1] = client.get("/v1/rulesets", headers=bob).json()
                activated_at, new_sha = _publish(client, v1["id"], alice, bob)
            time.sleep(3.0)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
    failures = [a for a in answers if a[2] != 200]
    assert not failures, failures[:5]
    before = [a for a in answers if a[1] < activated_at]
    settled = [a for a in answers if a[0] > activated_at + 2.0]
    assert before and settled
    assert {a[3] for a in before} == {v1["sha256"]}
    assert {a[3] for a in settled} == {new_sha}, "a worker still screens the old version"
    assert len(answers) > 500
