"""Four eyes means two people: a second key under a look-alike name is the same person, and
the audit trail shows who did what with which key, refusals and key changes included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.api.settings import Settings
from assay.engine.store.database import default_database_url, open_database
from assay.engine.store.people import name_problem, person_of
from assay.engine.store.rulesets import RuleStore
from tests.servers import create_key, live_api

WATER = "bottled_water_concealment/water-pet-too-heavy.yaml"
_INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u202e", "\x00"]


def _full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


names = st.text(
    alphabet=st.characters(categories=["Lu", "Ll", "Nd"], max_codepoint=0x24F),
    min_size=1,
    max_size=20,
).map(lambda name: unicodedata.normalize("NFKC", name))


@given(
    name=names,
    invisible=st.lists(st.sampled_from(_INVISIBLE), max_size=3),
    at=st.integers(min_value=0, max_value=20),
    spaces=st.sampled_from(["", " ", "  ", "\t", "\u00a0", "\u3000"]),
)
def test_look_alike_spellings_of_a_name_are_one_person(
    name: str, invisible: list[str], at: int, spaces: str
) -> None:
    person = person_of(name)
    hidden = name[:at] + "".join(invisible) + name[at:]
    for variant in (
        name.upper(),
        name.lower(),
        name.swapcase(),
        spaces + name + spaces,
        hidden,
        _full_width(name),
    ):
        assert person_of(variant) == person, (name, variant)
    assert person_of(person) == person


def test_different_names_stay_different_people() -> None:
    assert person_of("alice") != person_of("alice2")
    assert person_of("Anna Maria") == person_of("anna   maria") != person_of("annamaria")


@pytest.mark.parametrize(
    "name",
    [
        "eve\nadmin",
        "eve\r\n",
        "\tbob",
        "<b>bob</b>",
        "bob & alice",
        'say "hi"',
        "x\u2028y",
        "",
        "  ",
    ],
)
def test_holder_names_with_control_characters_or_markup_are_refused(name: str) -> None:
    assert name_problem(name) is not None


def _people(server_url: str, keys: dict[str, str]) -> dict[str, httpx.Client]:
    return {
        who: httpx.Client(base_url=server_url, timeout=30, headers={"Authorization": f"Bearer {k}"})
        for who, k in keys.items()
    }


def test_a_second_key_under_a_look_alike_name_cannot_approve_or_activate(tmp_path: Path) -> None:
    """The author's own reviewer keys named ``Author1``, ``"author1 "`` and
    ``"author1\\u200b"`` approved and activated their draft; the audit showed three actors."""
    with live_api(Settings(data_dir=tmp_path)) as api:
        store = api.service.keys
        keys = {
            "author": store.create("author", "author1"),
            "Author1": store.create("reviewer", "Author1"),
            "author1 ": store.create("reviewer", "author1 "),
            "author1\u200b": store.create("reviewer", "author1\u200b"),
            "ｂob": store.create("reviewer", "ｂob"),  # full-width b: bob, another person
        }
        clients = _people(api.url, keys)
        author = clients["author"]
        draft = author.post("/v1/rulesets/1/drafts").json()["id"]
        source = author.get(f"/v1/rulesets/1/files/{WATER}").json()["source"]
        edited = source.replace("max_kg_per_litre: 1.25", "max_kg_per_litre: 1.3")
        assert author.put(f"/v1/rulesets/{draft}/files/{WATER}", json={"source": edited}).json()[
            "ok"
        ]
        assert author.post(f"/v1/rulesets/{draft}/submit").status_code == 200
        for look_alike in ("Author1", "author1 ", "author1\u200b"):
            refused = clients[look_alike].post(f"/v1/rulesets/{draft}/approve", json={})
            assert refused.status_code == 403, look_alike
            assert "author1 wrote version" in refused.json()["detail"]
        assert clients["ｂob"].post(f"/v1/rulesets/{draft}/approve", json={}).status_code == 200
        for look_alike in ("Author1", "author1 ", "author1\u200b"):
            refused = clients[look_alike].post(f"/v1/rulesets/{draft}/activate", json={})
            assert refused.status_code == 403, look_alike
        assert author.get(f"/v1/rulesets/{draft}").json()["state"] == "approved"
        assert clients["ｂob"].post(f"/v1/rulesets/{draft}/activate", json={}).status_code == 200
        trail = api.service.store.audit(draft)
        for client in clients.values():
            client.close()
    key_ids = {info.name: info.id for info in api.service.keys.all()}
    acts = [(e.actor, e.action, e.details.get("key_id")) for e in trail]
    assert acts[:3] == [
        ("author1", "create_draft", key_ids["author1"]),
        ("author1", "edit", key_ids["author1"]),
        ("author1", "submit", key_ids["author1"]),
    ]
    refusals = [(actor, key_id) for actor, action, key_id in acts if action == "refused"]
    assert refusals == [
        ("author1", key_ids[name]) for name in ["Author1", "author1 ", "author1\u200b"] * 2
    ]
    bob = [(action, key_id) for actor, action, key_id in acts if actor == "bob"]
    assert bob == [("approve", key_ids["ｂob"]), ("activate", key_ids["ｂob"])]


def test_key_changes_and_refused_roles_are_in_the_audit_trail(tmp_path: Path) -> None:
    with live_api(Settings(data_dir=tmp_path)) as api:
        admin_key = api.service.keys.create("admin", "Root Admin")
        admin = httpx.Client(
            base_url=api.url, timeout=30, headers={"Authorization": f"Bearer {admin_key}"}
        )
        for bad in ("eve\nadmin", "<img src=x onerror=alert(1)>", "x\u2028y"):
            answer = admin.post("/v1/keys", json={"role": "reviewer", "name": bad})
            assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == [
                "body",
                "name",
            ]
        created = admin.post("/v1/keys", json={"role": "screening", "name": "Gate 7"})
        assert created.status_code == 201
        key = created.json()["key"]
        gate = httpx.Client(
            base_url=api.url, timeout=30, headers={"Authorization": f"Bearer {key}"}
        )
        for _ in range(3):  # refused three times: recorded once a minute per endpoint
            assert gate.get("/v1/keys").status_code == 403
        assert gate.get("/v1/audit").status_code == 403
        [gate_key] = [k for k in api.service.keys.all() if k.name == "Gate 7"]
        assert admin.delete(f"/v1/keys/{gate_key.id}").status_code == 204
        gate.close()
        admin.close()
        trail = api.service.store.audit()
    admin_id = next(k.id for k in api.service.keys.all() if k.name == "Root Admin")
    events = [(e.actor, e.action, e.details) for e in trail]
    assert events[0][:2] == ("system", "import")
    assert events[1][:2] == ("system", "create_key")  # the admin key, made by the service itself
    assert events[2] == (
        "root admin",
        "create_key",
        {
            "key_id": admin_id,
            "created_key": gate_key.id,
            "role": "screening",
            "holder": "Gate 7",
            "person": "gate 7",
        },
    )
    refused = [e for e in trail if e.action == "role_refused"]
    needs = ["GET /v1/keys, which needs admin", "GET /v1/audit, which needs author or reviewer"]
    assert [(e.actor, e.details["key_id"], e.reason) for e in refused] == [
        ("gate 7", gate_key.id, f"screening key called {what}") for what in needs
    ]
    assert events[-1] == (
        "root admin",
        "revoke_key",
        {"key_id": admin_id, "revoked_key": gate_key.id},
    )


def test_the_command_line_refuses_a_bad_holder_name_and_records_its_keys(tmp_path: Path) -> None:
    env = {**os.environ, "ASSAY_DATA_DIR": str(tmp_path)}
    env.pop("ASSAY_DATABASE_URL", None)
    assay = str(Path(sys.executable).with_name("assay"))
    bad = subprocess.run(
        [assay, "keys", "create", "--role", "reviewer", "--name", "eve\nadmin"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "control characters" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert create_key(tmp_path, "reviewer", "Carol").startswith("assay_")
    db = open_database(default_database_url(tmp_path))
    [event] = RuleStore(db).audit()
    db.dispose()
    assert event.action == "create_key" and event.actor.endswith("(command line)")
    assert event.details["holder"] == "Carol" and event.details["person"] == "carol"


def test_keys_list_names_every_holder_whole_when_piped(tmp_path: Path) -> None:
    env = {**os.environ, "ASSAY_DATA_DIR": str(tmp_path), "COLUMNS": "40"}
    env.pop("ASSAY_DATABASE_URL", None)
    holder = "Border Post Nuevo Laredo, lane 4 (night shift)"
    create_key(tmp_path, "screening", holder)
    assay = str(Path(sys.executable).with_name("assay"))

    def listed(*extra: str) -> str:
        done = subprocess.run(
            [assay, "keys", "list", *extra], env=env, capture_output=True, text=True, check=True
        )
        return done.stdout

    header, row = listed().splitlines()
    assert header == "id\tname\trole\tcreated\trevoked"
    assert row.split("\t")[1:3] == [holder, "screening"] and row.endswith("\t")
    [key] = json.loads(listed("--format", "json"))
    assert (key["id"], key["name"], key["revoked"]) == (1, holder, None)
    assert "assay_" not in listed() + listed("--format", "json")  # the keys are not stored
