"""The service under governance churn: every result and decision names the governance
version that produced it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine as Database
from sqlalchemy import select

from assay.api.settings import Settings
from assay.engine.evaluators.base import EngineKind
from assay.engine.ruleset import default_pack_dir
from assay.engine.store.database import decisions, open_database
from assay.engine.store.rulesets import RuleStore
from tests.conftest import ROOT, wait_for
from tests.servers import live_api

WATER = "bottled_water_concealment/water-pet-too-heavy.yaml"
HEAVY = json.loads((ROOT / "fixtures" / "samples" / "water-heavy.json").read_text())


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
