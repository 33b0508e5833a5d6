"""The rule store: every lifecycle transition, the forbidden ones, four eyes, audit, diffs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from assay.engine.ruleset import default_pack_dir, read_sources
from assay.engine.store.database import open_database
from assay.engine.store.keys import KeyStore
from assay.engine.store.rulesets import GovernanceError, RuleStore
from tests.conftest import empty_postgres

WATER = "bottled_water_concealment/water-pet-too-heavy.yaml"


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = open_database(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        engine = open_database(empty_postgres())
    yield engine
    engine.dispose()


@pytest.fixture
def store(db: Engine) -> RuleStore:
    rules = RuleStore(db)
    assert rules.import_directory(default_pack_dir()) == 1
    return rules


def _edited(store: RuleStore, author: str = "alice") -> int:
    draft = store.create_draft(1, author)
    source = store.sources(draft)[WATER].replace("max_kg_per_litre: 1.25", "max_kg_per_litre: 1.3")
    assert store.write_file(draft, WATER, source, author).ok
    return draft


def test_first_start_imports_the_pack_as_version_one(store: RuleStore) -> None:
    version = store.get(1)
    assert (version.state, version.author, version.parent_id) == ("active", "system", None)
    assert version.files == tuple(sorted(read_sources(default_pack_dir())))
    assert store.import_directory(default_pack_dir()) is None  # only once
    assert [e.action for e in store.audit(1)] == ["import"]


def test_draft_to_active_with_four_eyes(store: RuleStore) -> None:
    draft = _edited(store)
    assert store.get(draft).state == "draft" and store.get(draft).parent_id == 1
    assert store.submit(draft, "alice").ok
    store.approve(draft, "bob", "threshold agreed with the lab")
    store.activate(draft, "bob")
    assert store.get(draft).state == "active"
    assert store.get(1).state == "retired"
    assert store.active_marker() == (draft, store.get(draft).sha256)
    events = [(e.actor, e.action) for e in store.audit(draft)]
    assert events == [
        ("alice", "create_draft"),
        ("alice", "edit"),
        ("alice", "submit"),
        ("bob", "approve"),
        ("bob", "activate"),
    ]
    assert store.audit(draft)[3].reason == "threshold agreed with the lab"


def test_the_author_never_approves_or_activates(store: RuleStore) -> None:
    draft = _edited(store)
    store.submit(draft, "alice")
    with pytest.raises(GovernanceError) as caught:
        store.approve(draft, "alice")
    assert caught.value.status == "forbidden" and "a second person must" in caught.value.message
    with pytest.raises(GovernanceError):
        store.reject(draft, "alice", "no")
    store.approve(draft, "bob")
    with pytest.raises(GovernanceError) as caught:
        store.activate(draft, "alice")
    assert caught.value.status == "forbidden"


def test_only_the_author_edits_and_submits(store: RuleStore) -> None:
    draft = store.create_draft(1, "alice")
    with pytest.raises(GovernanceError) as caught:
        store.write_file(draft, WATER, "x: 1\n", "mallory")
    assert caught.value.status == "forbidden"
    with pytest.raises(GovernanceError):
        store.submit(draft, "mallory")


@pytest.mark.parametrize(
    ("step", "state"),
    [
        ("submit", "active"),  # version 1 is active, not a draft
        ("approve", "draft"),
        ("activate", "submitted"),
        ("rollback", "draft"),
    ],
)
def test_transitions_from_the_wrong_state_conflict(store: RuleStore, step: str, state: str) -> None:
    target = 1
    if state in ("draft", "submitted"):
        target = _edited(store)
        if state == "submitted":
            store.submit(target, "alice")
    with pytest.raises(GovernanceError) as caught:
        if step == "submit":
            store.submit(target, "system")
        elif step == "approve":
            store.approve(target, "bob")
        elif step == "activate":
            store.activate(target, "bob")
        else:
            store.rollback(target, "bob", "because")
    assert caught.value.status == "conflict"
    assert f"is {state}" in caught.value.message


def test_rejected_drafts_go_back_with_the_comment(store: RuleStore) -> None:
    draft = _edited(store)
    store.submit(draft, "alice")
    with pytest.raises(GovernanceError) as caught:
        store.reject(draft, "bob", "   ")
    assert caught.value.status == "invalid"
    store.reject(draft, "bob", "1.3 kg/L lets 24 x 0.5 L cases of glass through; cite a source")
    version = store.get(draft)
    assert version.state == "draft" and version.comment is not None
    assert version.comment.startswith("1.3 kg/L")
    assert store.write_file(draft, WATER, store.sources(draft)[WATER], "alice").ok  # editable again
    assert store.submit(draft, "alice").ok


def test_an_invalid_draft_cannot_be_submitted(store: RuleStore) -> None:
    draft = store.create_draft(1, "alice")
    original = store.sources(draft)[WATER]
    broken = original.replace("item.kg_per_litre >", "item.kg_per_liter >")
    report = store.write_file(draft, WATER, broken, "alice")
    assert not report.ok
    problem = report.problems[0]
    assert problem["code"] == "unknown_name" and problem["file"] == WATER
    assert (problem["line"], problem["column"]) == (11, 7)
    with pytest.raises(GovernanceError) as caught:
        store.submit(draft, "alice")
    assert caught.value.status == "invalid" and caught.value.report is not None
    failing = original.replace("max_kg_per_litre: 1.25", "max_kg_per_litre: 9")
    report = store.write_file(draft, WATER, failing, "alice")
    assert not report.ok and report.examples_failed[0]["rule_id"] == "water-pet-too-heavy"
    with pytest.raises(GovernanceError):
        store.submit(draft, "alice")


def test_duplicate_ids_and_unknown_reference_lists_are_reported(store: RuleStore) -> None:
    draft = store.create_draft(1, "alice")
    source = store.sources(draft)[WATER]
    report = store.write_file(draft, "copy/water-pet-too-heavy.yaml", source, "alice")
    assert not report.ok and report.problems[0]["code"] == "duplicate_rule"
    store.write_file(draft, "copy/water-pet-too-heavy.yaml", None, "alice")
    report = store.write_file(
        draft,
        WATER,
        source.replace("(item.hs4", "(item.hs6 in ref.nowhere.list or item.hs4"),
        "alice",
    )
    assert not report.ok and "unknown name 'ref.nowhere.list'" in report.problems[0]["message"]


def test_rollback_reactivates_an_earlier_version(store: RuleStore) -> None:
    draft = _edited(store)
    store.submit(draft, "alice")
    store.approve(draft, "bob")
    store.activate(draft, "bob")
    with pytest.raises(GovernanceError):
        store.rollback(1, "bob", "")
    store.rollback(1, "carol", "false positives on glass water in the first hour")
    assert store.get(1).state == "active" and store.get(draft).state == "retired"
    assert [v.id for v in store.versions() if v.state == "active"] == [1]
    last = store.audit(1)[-1]
    assert (last.actor, last.action, last.details["replaced"]) == ("carol", "rollback", draft)


def test_diff_lists_added_removed_and_changed_rules(store: RuleStore) -> None:
    draft = _edited(store)
    sources = store.sources(draft)
    store.write_file(draft, "bottled_water_concealment/water-value-per-kg-high.yaml", None, "alice")
    new_rule = sources[WATER].replace("id: water-pet-too-heavy", "id: water-pet-too-heavy-2")
    store.write_file(
        draft, "bottled_water_concealment/water-pet-too-heavy-2.yaml", new_rule, "alice"
    )
    diff = store.diff(1, draft)
    assert [r["rule_id"] for r in diff["added"]] == ["water-pet-too-heavy-2"]
    assert [r["rule_id"] for r in diff["removed"]] == ["water-value-per-kg-high"]
    assert [r["rule_id"] for r in diff["changed"]] == ["water-pet-too-heavy"]
    assert "-  max_kg_per_litre: 1.25\n+  max_kg_per_litre: 1.3" in diff["changed"][0]["diff"]
    assert diff["other_files"] == []


def test_file_paths_stay_inside_the_pack(store: RuleStore) -> None:
    draft = store.create_draft(1, "alice")
    for path in ("../escape.yaml", "/etc/passwd.yaml", "rules/notes.txt"):
        with pytest.raises(GovernanceError):
            store.write_file(draft, path, "x: 1\n", "alice")


def test_keys_are_stored_hashed_and_revocable(db: Engine) -> None:
    keys = KeyStore(db)
    key = keys.create("reviewer", "bob")
    assert key.startswith("assay_") and len(key) > 40
    identity = keys.identify(key)
    assert identity is not None and (identity.name, identity.role) == ("bob", "reviewer")
    assert keys.identify(key + "x") is None
    with db.connect() as connection:
        stored = connection.execute(text("SELECT key_sha256 FROM api_keys")).scalar_one()
    assert key not in stored and len(stored) == 64
    [info] = keys.all()
    assert keys.revoke(info.id)
    assert keys.identify(key) is None
    with pytest.raises(ValueError, match="role must be one of"):
        keys.create("root", "eve")  # type: ignore[arg-type]


def test_two_activations_at_once_leave_one_active_version(store: RuleStore) -> None:
    drafts = []
    for author in ("alice", "carol"):
        draft = _edited(store, author)
        store.submit(draft, author)
        store.approve(draft, "bob")
        drafts.append(draft)
    barrier = threading.Barrier(2)

    def activate(version_id: int) -> str:
        barrier.wait()
        try:
            store.activate(version_id, "bob")
        except GovernanceError as exc:
            return exc.status
        return "done"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(activate, drafts))
    active = [v.id for v in store.versions() if v.state == "active"]
    assert len(active) == 1
    assert outcomes in (["done", "done"], ["conflict", "done"])
    assert store.active_marker() == (active[0], store.get(active[0]).sha256)


def test_workers_starting_together_seed_the_store_once(db: Engine) -> None:
    # `assay serve --workers N` on an empty store: every worker tries the first-start import.
    stores = [RuleStore(db) for _ in range(4)]
    barrier = threading.Barrier(len(stores))

    def seed(store: RuleStore) -> int | None:
        barrier.wait()
        return store.import_directory(default_pack_dir())

    with ThreadPoolExecutor(len(stores)) as pool:
        imported = list(pool.map(seed, stores))
    assert [i for i in imported if i is not None] == [1]
    versions = stores[0].versions()
    assert [(v.id, v.state) for v in versions] == [(1, "active")]
