"""The store's schema version: Alembic revisions (``engine/store/migrations``) under a lock.

Every place that opens the store (:func:`engine.store.database.open_database`) brings its
schema to the newest revision this release knows (:func:`ensure`): one query when it is
there already. Upgrading takes a lock, so that two workers (or a worker and ``assay db
upgrade``) starting at once do not race: PostgreSQL's ``pg_advisory_xact_lock``, held by the
transaction that migrates (PostgreSQL's DDL is transactional: a failed upgrade leaves
nothing half done), and for SQLite an exclusive ``flock`` on ``DATABASE.migrate-lock``.

A database made before Assay had migrations (its tables, no ``alembic_version``) is adopted
by the baseline revision, which creates only what is missing, and upgraded from there. A
database at a revision this release does not know (a newer release upgraded it) is refused
with :class:`SchemaError`, never touched.

Alembic is configured here, in code: no ``alembic.ini`` is needed at run time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"
# The newest revision in MIGRATIONS: what ensure() compares with before it loads Alembic
# (0.3 s of imports in every process that opens the store). A new revision changes it;
# tests/test_migrations.py fails while it names another.
HEAD = "0006"
# pg_advisory_xact_lock's key: "assay_db" as a big-endian integer.
_POSTGRES_LOCK = int.from_bytes(b"assay_db", "big")
# Tables every release of Assay made: their presence without alembic_version marks a
# database made before migrations.
_ALWAYS_MADE = ("decisions", "ruleset_versions")


class SchemaError(RuntimeError):
    """The database's schema cannot be brought to this release's: the message says why and
    what to do, in one line."""


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands against this release's revisions."""

    revision: str | None  # in alembic_version; None: no revision recorded
    head: str  # the newest revision this release knows
    made_before_migrations: bool  # Assay's tables without alembic_version
    known: bool  # whether this release knows ``revision`` (True when there is none)

    @property
    def current(self) -> bool:
        return self.revision == self.head

    def describe(self) -> str:
        if self.current:
            return f"at revision {self.head}, the newest this release knows"
        if not self.known:
            return (
                f"at revision {self.revision}, which this release does not know (a newer "
                f"release of Assay upgraded it; this one knows up to {self.head}): run that "
                "release"
            )
        if self.made_before_migrations:
            return (
                "made before schema migrations (no alembic_version table): `assay db upgrade` "
                f"adopts it at the baseline ({BASELINE}) and upgrades it to {self.head}"
            )
        if self.revision is None:
            return f"empty: `assay db upgrade` (or `assay serve`) creates the schema ({self.head})"
        return f"at revision {self.revision}; `assay db upgrade` brings it to {self.head}"

    def refusal(self) -> SchemaError | None:
        """The error to raise rather than upgrade, if any."""
        return None if self.known else SchemaError(f"the database is {self.describe()}")


@dataclass(frozen=True)
class Upgraded:
    """What :func:`upgrade` did: the state it found, and the revision it left."""

    before: SchemaState
    revision: str

    def describe(self) -> str:
        if self.before.current:
            return f"already at revision {self.revision}, the newest this release knows"
        if self.before.made_before_migrations:
            return (
                f"adopted a database made before schema migrations at the baseline "
                f"({BASELINE}) and upgraded it to {self.revision}"
            )
        start = self.before.revision or "empty"
        return f"upgraded from {start} to {self.revision}"


def _scripts(scripts: Path) -> ScriptDirectory:
    from alembic.config import Config  # noqa: PLC0415 - see HEAD
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(scripts))
    return ScriptDirectory.from_config(config)


def _head(directory: ScriptDirectory) -> str:
    heads = directory.get_heads()
    if len(heads) != 1:
        raise SchemaError(
            f"the schema revisions in {directory.dir} have {len(heads)} heads "
            f"({', '.join(sorted(heads))}): a revision's down_revision must be the one before"
        )
    return heads[0]


def _state(connection: Connection, directory: ScriptDirectory) -> SchemaState:
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415 - see HEAD

    head = _head(directory)
    revision = MigrationContext.configure(connection).get_current_revision()
    tables = set(inspect(connection).get_table_names())
    made_before = revision is None and any(name in tables for name in _ALWAYS_MADE)
    known = revision is None or revision in {r.revision for r in directory.walk_revisions()}
    return SchemaState(revision, head, made_before, known)


def state(engine: Engine, scripts: Path = MIGRATIONS) -> SchemaState:
    """Where ``engine``'s schema stands; changes nothing."""
    directory = _scripts(scripts)
    with engine.connect() as connection:
        return _state(connection, directory)


def ensure(engine: Engine, scripts: Path = MIGRATIONS) -> SchemaState:
    """Bring ``engine``'s schema to the newest revision if it is not there (one query when
    it is); the state it found. :class:`SchemaError` for a database this release does not
    know; a database that cannot be reached raises the driver's error."""
    if scripts == MIGRATIONS and _recorded(engine) == HEAD:
        return SchemaState(HEAD, HEAD, made_before_migrations=False, known=True)
    found = state(engine, scripts)
    if found.current:
        return found
    refused = found.refusal()
    if refused is not None:
        raise refused
    return upgrade(engine, scripts).before


def _recorded(engine: Engine) -> str | None:
    """The revision in ``alembic_version``, read without Alembic; None if there is none."""
    try:
        with engine.connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError as exc:
        if exc.connection_invalidated or _unreachable(exc):
            raise
        return None  # no such table: Alembic's reading says what the database holds
    return str(found[0][0]) if len(found) == 1 else None


def _unreachable(exc: DBAPIError) -> bool:
    from sqlalchemy.exc import OperationalError  # noqa: PLC0415

    # SQLite says "no such table" as an OperationalError too; a connection failure is not that.
    return isinstance(exc, OperationalError) and "no such table" not in str(exc.orig)


def upgrade(engine: Engine, scripts: Path = MIGRATIONS) -> Upgraded:
    """Apply every revision the database lacks, under the migration lock (the state is read
    again once the lock is held: another process may have upgraded meanwhile)."""
    from alembic import command  # noqa: PLC0415 - see HEAD
    from alembic.config import Config  # noqa: PLC0415

    directory = _scripts(scripts)
    config = Config()
    config.set_main_option("script_location", str(scripts))
    with _file_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRES_LOCK})
        before = _state(connection, directory)
        refused = before.refusal()
        if refused is not None:
            raise refused
        if not before.current:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    return Upgraded(before, before.head)


@contextlib.contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """SQLite: an exclusive ``flock`` beside the database file for the upgrade's length
    (nothing for an in-memory database or another database)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{database}.migrate-lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
