"""Schema migrations (engine.store.schema): databases made by earlier releases are adopted and
keep every row, new revisions reach existing databases, and two workers never race."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from assay.engine.store.database import connect, metadata, open_database
from assay.engine.store.schema import HEAD, MIGRATIONS, SchemaError, state, upgrade
from tests.conftest import empty_postgres

LEGACY = Path(__file__).with_name("legacy")
ASSAY = str(Path(sys.executable).with_name("assay"))
T0 = "2026-10-01 08:00:00.000000"

# One row in every table of the schema made before migrations, as earlier releases wrote them.
ROWS: dict[str, dict[str, Any]] = {
    "decisions": {
        "id": "0192a0b0c0d0e0f0a1b2c3d4e5f60718",
        "created_at": T0,
        "manifest_id": "EX-1",
        "input_sha256": "a" * 64,
        "input": '{"manifest_id": "EX-1"}',
        "ruleset_name": "default",
        "ruleset_version": "1",
        "ruleset_sha256": "b" * 64,
        "channel": "red",
        "risk_score": 70,
        "result": '{"flags": []}',
        "elapsed_ms": 1.5,
        "request_id": "req-1",
        "source": "api",
    },
    "decision_flags": {
        "decision_id": "0192a0b0c0d0e0f0a1b2c3d4e5f60718",
        "rule_id": "water-heavy",
        "created_at": T0,
        "manifest_id": "EX-1",
    },
    "journal_offsets": {"segment": "abc/000-1-ff.jrnl", "position": 4096},
    "ruleset_versions": {
        "id": 1,
        "parent_id": None,
        "state": "active",
        "author": "system",
        "created_at": T0,
        "updated_at": T0,
        "name": "default",
        "version": "1",
        "sha256": "b" * 64,
        "sources": '{"pack.yaml": "name: default"}',
        "comment": None,
    },
    "audit": {
        "id": 1,
        "at": T0,
        "actor": "system",
        "action": "import",
        "version_id": 1,
        "reason": "imported",
        "details": "{}",
    },
    "inspections": {
        "id": 1,
        "manifest_id": "EX-1",
        "result": "seizure",
        "pattern": "water",
        "notes": None,
        "recorded_by": "officer",
        "recorded_at": T0,
    },
    "backtests": {
        "id": 1,
        "state": "done",
        "candidate_id": 1,
        "baseline_id": None,
        "request": "{}",
        "created_by": "analyst",
        "created_at": T0,
        "started_at": T0,
        "heartbeat_at": T0,
        "finished_at": T0,
        "records_done": 10,
        "fraction_done": 1.0,
        "error": None,
        "result": "{}",
    },
    "shadow_runs": {
        "id": 1,
        "version_id": 1,
        "started_by": "reviewer",
        "started_at": T0,
        "stopped_by": None,
        "stopped_at": None,
    },
    "shadow_results": {
        "id": 1,
        "run_id": 1,
        "decision_id": "0192a0b0c0d0e0f0a1b2c3d4e5f60718",
        "created_at": T0,
        "manifest_id": "EX-1",
        "shadow_sha256": "c" * 64,
        "active_channel": "red",
        "shadow_channel": "yellow",
        "active_score": 70,
        "shadow_score": 40,
        "gained": None,
        "lost": ",water-heavy,",
        "shadow_flags": "[]",
    },
    "api_keys": {
        "id": 1,
        "key_sha256": "d" * 64,
        "role": "admin",
        "name": "operator",
        "created_at": T0,
        "revoked_at": None,
    },
}

NEXT_REVISION = '''"""A test revision after today's newest: a nullable column on decisions."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "9000"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("note", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("note")
'''


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'assay.db'}"
    else:
        url = empty_postgres()
        yield url
        empty_postgres()  # the next test that opens it gets today's schema, not a test's


def _legacy(url: str) -> Engine:
    """A database as Assay made it before migrations (tests/legacy/*.sql), a row in each
    table."""
    engine = connect(url)
    lines = (LEGACY / f"{engine.dialect.name}.sql").read_text().splitlines()
    script = "\n".join(line for line in lines if not line.startswith("--"))
    with engine.begin() as connection:
        for statement in script.split(";\n"):
            if statement.strip():
                connection.exec_driver_sql(statement)
        for table, row in ROWS.items():
            names = ", ".join(row)
            marks = ", ".join(f":{name}" for name in row)
            connection.execute(text(f"INSERT INTO {table} ({names}) VALUES ({marks})"), row)
    return engine


def _contents(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as connection:
        return {
            table: [tuple(r) for r in connection.execute(text(f"SELECT * FROM {table}"))]
            for table in ROWS
        }


def _differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_a_database_made_before_migrations_is_adopted_and_keeps_every_row(
    database_url: str,
) -> None:
    engine = _legacy(database_url)
    before = _contents(engine)
    assert all(len(rows) == 1 for rows in before.values())
    found = state(engine)
    assert found.made_before_migrations and found.revision is None and not found.current

    done = upgrade(engine)

    assert done.before.made_before_migrations
    assert "adopted" in done.describe()
    assert state(engine).current
    # Every row kept; revision 0002's decisions.ruleset_version_id is null in the old ones.
    after = _contents(engine)
    assert after == {**before, "decisions": [(*row, None) for row in before["decisions"]]}
    assert _differences(engine) == []  # the same schema as a database made by the revisions
    engine.dispose()


def test_assay_db_adopts_a_database_made_before_migrations(database_url: str) -> None:
    _legacy(database_url).dispose()
    command = [ASSAY, "db", "current", "--database-url", database_url]
    current = subprocess.run(command, capture_output=True, text=True, check=False)
    assert current.returncode == 1
    assert "made before schema migrations" in current.stdout

    upgraded = subprocess.run(
        [ASSAY, "db", "upgrade", "--database-url", database_url],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "adopted" in upgraded.stdout and "0001" in upgraded.stdout

    current = subprocess.run(command, capture_output=True, text=True, check=False)
    assert current.returncode == 0
    assert f"at revision {HEAD}, the newest this release knows" in current.stdout


def test_a_new_revision_reaches_an_existing_database(database_url: str, tmp_path: Path) -> None:
    engine = open_database(database_url)  # at today's newest revision
    with engine.begin() as connection:
        for table, row in ROWS.items():
            names = ", ".join(row)
            marks = ", ".join(f":{name}" for name in row)
            connection.execute(text(f"INSERT INTO {table} ({names}) VALUES ({marks})"), row)
    before = _contents(engine)
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "9000_note.py").write_text(NEXT_REVISION.format(head=HEAD))
    assert not state(engine, scripts).current

    done = upgrade(engine, scripts)

    assert done.describe() == f"upgraded from {HEAD} to 9000"
    assert state(engine, scripts).revision == "9000"
    columns = {c["name"]: c for c in inspect(engine).get_columns("decisions")}
    assert columns["note"]["nullable"]
    after = _contents(engine)
    assert {t: [r[:-1] if t == "decisions" else r for r in rows] for t, rows in after.items()} == (
        before
    )
    assert after["decisions"][0][-1] is None
    # The indexes the baseline made are still there after the table was altered.
    assert {i["name"] for i in inspect(engine).get_indexes("decisions")} == {
        "ix_decisions_manifest_id",
        "ix_decisions_created_at",
    }
    engine.dispose()


def test_the_tables_and_the_revisions_agree(database_url: str) -> None:
    """A change to engine/store/database.py's tables without a revision fails here."""
    engine = open_database(database_url)
    assert state(engine).current
    assert _differences(engine) == []
    engine.dispose()


def test_workers_upgrading_at_once_do_not_race(database_url: str) -> None:
    engines = [connect(database_url) for _ in range(4)]
    start = threading.Barrier(len(engines))
    failures: list[BaseException] = []

    def one(engine: Engine) -> None:
        start.wait()
        try:
            upgrade(engine)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=one, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with engines[0].connect() as connection:
        assert list(connection.execute(text("SELECT version_num FROM alembic_version"))) == [
            (HEAD,)
        ]
    assert _differences(engines[0]) == []
    for engine in engines:
        engine.dispose()


def test_a_database_upgraded_by_a_newer_release_is_refused_untouched(database_url: str) -> None:
    engine = open_database(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(SchemaError, match="revision 0099, which this release does not know"):
        open_database(database_url)

    done = subprocess.run(
        [ASSAY, "db", "upgrade", "--database-url", database_url],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "which this release does not know" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    check = create_engine(database_url)
    with check.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).all() == [
            ("0099",)
        ]
    check.dispose()


def test_head_names_the_newest_revision(tmp_path: Path) -> None:
    """engine.store.schema.HEAD is what every opening of the store compares with before it
    loads Alembic: a new revision must change it."""
    engine = connect(f"sqlite:///{tmp_path / 'assay.db'}")
    assert state(engine).head == HEAD
    engine.dispose()
