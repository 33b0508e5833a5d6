"""`assay serve` whose database cannot be reached at start: it starts and screens with the
last active version it loaded (kept on disk), journals every decision, says so in /readyz
(the database's words to admins only), and catches up when the database is back."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
from sqlalchemy import create_engine, make_url, text

from assay.engine.store.database import open_database
from assay.engine.store.keys import KeyStore
from assay.engine.store.offline import KeptKey, OfflineCopy, offline_dir
from assay.engine.store.rulesets import RuleStore
from tests.conftest import EXAMPLES, empty_postgres, wait_for
from tests.gate import Gate
from tests.servers import assay_serve, free_port

BODY = (EXAMPLES / "water-heavy.json").read_bytes()
JSON = {"Content-Type": "application/json"}


def _activate_a_second_version(url: str) -> int:
    """Version 2 of the pack (its version label changed), through four eyes, made active."""
    db = open_database(url)
    store = RuleStore(db)
    draft = store.create_draft(1, "author")
    pack = store.sources(1)["pack.yaml"]
    changed = "\n".join(
        'version: "2-while-away"' if line.startswith("version:") else line
        for line in pack.splitlines()
    )
    assert changed != pack
    store.write_file(draft, "pack.yaml", changed + "\n", "author")
    assert store.submit(draft, "author").ok
    store.approve(draft, "reviewer")
    store.activate(draft, "reviewer", "a new version while the service is down")
    db.dispose()
    return draft


def _screen_while_away(
    served: str, screening: dict[str, str], admin: dict[str, str], port: int
) -> list[str]:
    """What a service started without its database says and does: the decisions it answers."""
    ready = httpx.get(f"{served}/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["database"] == "cannot be reached"
    assert body["ruleset"]["version_id"] == 1
    assert "the last active version loaded from it" in body["ruleset"]["problem"]
    assert body["decision_log"].endswith("KiB waiting for the database")
    # Anyone may read /readyz: not the database's words, host or port.
    assert "refused" not in ready.text.lower() and str(port) not in ready.text
    assert "details" not in body

    answered = []
    for _ in range(5):
        response = httpx.post(f"{served}/v1/screen", content=BODY, headers=screening)
        assert response.status_code == 200, response.text
        answered.append(response.headers["X-Decision-ID"])

    details = httpx.get(f"{served}/readyz", headers=admin).json()["details"]
    assert "refused" in (details["database"] or "").lower()
    assert "refused" in (details["decision_log"] or "").lower()
    # Reading the store needs the database: a clear 503, not a 500.
    listed = httpx.get(f"{served}/v1/keys", headers=admin)
    assert listed.status_code == 503 and "cannot be reached" in listed.text
    return answered


def test_serve_without_its_database_screens_and_catches_up_when_it_is_back(
    tmp_path: Path,
) -> None:
    direct = empty_postgres()
    target = make_url(direct)
    gate = Gate(target.host or "127.0.0.1", target.port or 5432)
    url = target.set(host="127.0.0.1", port=gate.port).render_as_string(hide_password=False)
    gate.open()
    try:
        # With the database: the store is seeded, keys made; the service keeps its copies.
        db = open_database(url)
        keys = KeyStore(db)
        screening = {"Authorization": f"Bearer {keys.create('screening', 'border')}", **JSON}
        admin = {"Authorization": f"Bearer {keys.create('admin', 'operator')}"}
        db.dispose()
        with assay_serve(tmp_path, "--database-url", url) as (served, _process):
            ready = httpx.get(f"{served}/readyz").json()
            assert ready["database"] == "reachable" and ready["ruleset"]["version_id"] == 1
            assert httpx.post(f"{served}/v1/screen", content=BODY, headers=screening).is_success
        second = _activate_a_second_version(url)  # the service has not seen it

        gate.shut()
        log = tmp_path / "serve.log"
        with assay_serve(tmp_path, "--database-url", url, log=log) as (served, _process):
            answered = _screen_while_away(served, screening, admin, gate.port)

            gate.open()
            check = create_engine(direct)

            def stored() -> set[str]:
                with check.connect() as connection:
                    return {row[0] for row in connection.execute(text("SELECT id FROM decisions"))}

            wait_for(lambda: set(answered) <= stored(), seconds=60)

            def now_active() -> bool:
                found = httpx.get(f"{served}/readyz").json()
                return found["database"] == "reachable" and (
                    found["ruleset"]["version_id"] == second
                    and "problem" not in found["ruleset"]
                    and found["ruleset"]["version"] == "2-while-away"
                )

            wait_for(now_active, seconds=60)
            check.dispose()
        said = log.read_text()
        assert "cannot be reached" in said and "Traceback" not in said
        kept = OfflineCopy(offline_dir(tmp_path, url)).ruleset()
        assert kept is not None and kept.version_id == second  # for the next start without it
    finally:
        gate.shut()


def test_serve_without_a_copy_screens_with_the_shipped_pack_and_says_so(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://assay:assay@127.0.0.1:{free_port()}/assay"  # nothing listens
    key = "assay_" + "k" * 43
    # A key in force as the service kept it on an earlier day (the database is gone now).
    OfflineCopy(offline_dir(tmp_path, url)).keep_keys(
        [KeptKey(hashlib.sha256(key.encode()).hexdigest(), 7, "border", "screening")]
    )
    log = tmp_path / "serve.log"
    with assay_serve(tmp_path, env={"ASSAY_DATABASE_URL": url}, log=log) as (served, _process):
        body = httpx.get(f"{served}/readyz").json()
        assert body["ruleset"]["version_id"] is None
        assert "screening with the shipped rule pack" in body["ruleset"]["problem"]
        answer = httpx.post(
            f"{served}/v1/screen", content=BODY, headers={"Authorization": f"Bearer {key}", **JSON}
        )
        assert answer.status_code == 200 and answer.json()["channel"] == "red"
        unknown = httpx.post(
            f"{served}/v1/screen",
            content=BODY,
            headers={"Authorization": f"Bearer assay_{'u' * 43}", **JSON},
        )
        assert unknown.status_code == 401
    said = log.read_text()
    assert said.startswith("warning: the database postgresql+psycopg://assay:***@")
    assert "Traceback" not in said


def test_serve_with_a_sqlite_file_it_cannot_create_starts_and_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database's folder should be\n")
    url = f"sqlite:///{blocker / 'assay.db'}"
    log = tmp_path / "serve.log"
    with assay_serve(tmp_path, "--database-url", url, log=log) as (served, _process):
        body = httpx.get(f"{served}/readyz").json()
        assert body["database"] == "cannot be reached"
        assert "screening with the shipped rule pack" in body["ruleset"]["problem"]
        assert str(tmp_path) not in httpx.get(f"{served}/readyz").text
    assert "Traceback" not in log.read_text()
