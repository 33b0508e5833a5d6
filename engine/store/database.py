"""Where Assay keeps its records: one SQLAlchemy database, SQLite by default, PostgreSQL too.

``ASSAY_DATABASE_URL`` picks the database (``sqlite:///path/assay.db``,
``postgresql+psycopg://user:password@host/dbname``); without it, a SQLite file in the data
directory (``ASSAY_DATA_DIR``, default ``~/.local/share/assay``). SQLite runs in WAL mode
with ``synchronous=NORMAL``: a committed record survives a crash of the process (it is in
the write-ahead log), and readers never block the writer.

The tables below are the schema's current shape, for queries; the database gets them through
the Alembic revisions in ``migrations/`` (:mod:`engine.store.schema`). Changing a table here
needs a new revision there: ``tests/test_migrations.py`` fails while the two disagree.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, overload

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    make_url,
    text,
)

from assay.engine.store.schema import ensure as ensure_schema

metadata = MetaData()

decisions = Table(
    "decisions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("manifest_id", String(64), nullable=False),
    Column("input_sha256", String(64), nullable=False),
    Column("input", Text, nullable=False),
    Column("ruleset_name", String(64), nullable=False),
    Column("ruleset_version", String(32), nullable=False),
    Column("ruleset_sha256", String(64), nullable=False),
    # The rule store's version that screened (RulesetInfo.version_id): the pack's own
    # version above stays the same across activations. Null for a pack not from the store.
    Column("ruleset_version_id", Integer, nullable=True),
    Column("channel", String(8), nullable=False),
    Column("risk_score", Integer, nullable=False),
    Column("result", Text, nullable=False),  # the ScreeningResult as answered, JSON
    Column("elapsed_ms", Float, nullable=False),
    Column("request_id", String(128), nullable=True),
    Column("source", String(16), nullable=False),
    Index("ix_decisions_manifest_id", "manifest_id"),
    # With manifest_id: counting the manifests screened in a window reads the index alone.
    Index("ix_decisions_created_at", "created_at", "manifest_id"),
)

# One row per (decision, rule that flagged it), written with the decision: a rule's live
# figures read its own rows by index instead of every decision's result.
decision_flags = Table(
    "decision_flags",
    metadata,
    Column("decision_id", String(32), nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("manifest_id", String(64), nullable=False),
    Index("ix_decision_flags_rule", "rule_id", "created_at", "manifest_id"),
)

# How far the ingester has copied each journal segment into ``decisions`` (engine.store.journal),
# updated in the same transaction as the rows it copied.
journal_offsets = Table(
    "journal_offsets",
    metadata,
    Column("segment", String(128), primary_key=True),
    Column("position", BigInteger, nullable=False),
)


ruleset_versions = Table(
    "ruleset_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("parent_id", Integer, nullable=True),
    Column("state", String(16), nullable=False),  # draft|submitted|approved|active|retired
    Column("author", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("name", String(64), nullable=False),
    Column("version", String(32), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("sources", Text, nullable=False),  # JSON: {relative path: text}
    Column("comment", Text, nullable=True),  # the reviewer's last word
    Index("ix_ruleset_versions_state", "state"),
    # At most one active version, whatever two reviewers do at the same moment.
    Index(
        "uq_ruleset_versions_one_active",
        "state",
        unique=True,
        postgresql_where=text("state = 'active'"),
        sqlite_where=text("state = 'active'"),
    ),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("version_id", Integer, nullable=True),
    Column("reason", Text, nullable=True),
    Column("details", Text, nullable=True),  # JSON
    Index("ix_audit_version_id", "version_id"),
)

inspections = Table(
    "inspections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("manifest_id", String(64), nullable=False),
    Column("result", String(16), nullable=False),  # seizure|irregularity|no_find
    Column("pattern", String(64), nullable=True),
    Column("notes", Text, nullable=True),
    Column("recorded_by", String(64), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Index("ix_inspections_manifest_id", "manifest_id"),
)

backtests = Table(
    "backtests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("state", String(16), nullable=False),  # queued|running|done|failed
    Column("candidate_id", Integer, nullable=False),
    Column("baseline_id", Integer, nullable=True),
    Column("request", Text, nullable=False),  # JSON: the request as accepted
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("heartbeat_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("records_done", Integer, nullable=False, default=0),
    Column("fraction_done", Float, nullable=True),
    Column("error", Text, nullable=True),
    Column("result", Text, nullable=True),  # JSON: the report
)

shadow_runs = Table(
    "shadow_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_id", Integer, nullable=False),
    Column("started_by", String(64), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("stopped_by", String(64), nullable=True),
    Column("stopped_at", DateTime(timezone=True), nullable=True),  # NULL: the current run
)

shadow_results = Table(
    "shadow_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False),
    Column("decision_id", String(32), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("manifest_id", String(64), nullable=False),
    Column("shadow_sha256", String(64), nullable=False),
    Column("active_channel", String(8), nullable=False),
    Column("shadow_channel", String(8), nullable=False),
    Column("active_score", Integer, nullable=False),
    Column("shadow_score", Integer, nullable=False),
    Column("gained", Text, nullable=True),  # ",a,b,": rules only the shadow version fired
    Column("lost", Text, nullable=True),  # rules only the active version fired
    Column("shadow_flags", Text, nullable=True),  # JSON, kept only when the two differ
    Index("ix_shadow_results_run_id", "run_id", "id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_sha256", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("name", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

# The workbench's signed-in sessions (api/ui/session.py): the session id is kept as a digest,
# as keys are; a session ends at its expiry, at sign-out, or when its key is revoked.
ui_sessions = Table(
    "ui_sessions",
    metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("key_id", Integer, nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Index("ix_ui_sessions_expires_at", "expires_at"),
)

# Secrets the service makes once and every worker shares: the workbench's cookie-signing key.
service_secrets = Table(
    "service_secrets",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("secret", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


# Correlation state (engine.store.correlation): the members of each correlation rule's groups
# by data time (t: filed_at in microseconds since the epoch), kept for window + baseline; the
# consignees each entity shipped to (last t), kept for the rule's history; and the alerts.
correlation_members = Table(
    "correlation_members",
    metadata,
    Column("rule_id", String(64), nullable=False),
    Column("entity_key", Text, nullable=False),
    Column("t", BigInteger, nullable=False),
    Column("manifest_id", String(64), nullable=False),
    Column("mass_kg", Float, nullable=False),
    Column("consignor", Text, nullable=False),
    Column("consignee", Text, nullable=False),
    Column("new_consignee", Boolean, nullable=False),
    # A manifest screened again (a retry) joins once.
    Index("uq_correlation_members", "rule_id", "entity_key", "manifest_id", unique=True),
    Index("ix_correlation_members_window", "rule_id", "entity_key", "t"),
    Index("ix_correlation_members_expiry", "rule_id", "t"),
)

correlation_shipped = Table(
    "correlation_shipped",
    metadata,
    Column("rule_id", String(64), primary_key=True),
    Column("entity_key", Text, primary_key=True),
    Column("consignee", Text, primary_key=True),
    Column("last_t", BigInteger, nullable=False),
    Index("ix_correlation_shipped_expiry", "rule_id", "last_t"),
)

# Per rule reading group.new_consignees, where its record of shipments starts (since_t, data
# time; never swept) and when a worker took its seeding from the decision log (seeded_at).
correlation_records = Table(
    "correlation_records",
    metadata,
    Column("rule_id", String(64), primary_key=True),
    Column("since_t", BigInteger, nullable=True),
    Column("seeded_at", DateTime(timezone=True), nullable=True),  # seeded from the log: done
    # The seeding worker's last sign of life (NULL: nobody seeds now); a stale one is taken over.
    Column("seeding_at", DateTime(timezone=True), nullable=True),
)

alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", String(32), primary_key=True),  # deterministic: engine.correlation.alerts
    Column("rule_id", String(64), nullable=False),
    Column("pattern", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("entity_key", Text, nullable=False),
    Column("entity", Text, nullable=False),
    Column("trigger_manifest_id", String(64), nullable=False),
    Column("manifest_ids", Text, nullable=False),  # JSON list, in filed_at order
    Column("first_filed_at", DateTime(timezone=True), nullable=False),
    Column("last_filed_at", DateTime(timezone=True), nullable=False),
    Column("measures", Text, nullable=False),  # JSON
    Column("explanation", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # The decision of the manifest that completed the pattern (null outside the API).
    Column("decision_id", String(32), nullable=True),
    # An alert a late-arriving manifest undid (its group no longer alerts: a member in a
    # baseline window, say): when, and which manifest. Null while it stands.
    Column("withdrawn_at", DateTime(timezone=True), nullable=True),
    Column("withdrawn_by", String(64), nullable=True),
    Index("ix_alerts_last_filed_at", "last_filed_at", "alert_id"),
    Index("ix_alerts_rule", "rule_id", "last_filed_at"),
    Index("ix_alerts_entity", "entity_key", "last_filed_at"),
)


def default_data_dir() -> Path:
    configured = os.environ.get("ASSAY_DATA_DIR")
    return Path(configured) if configured else Path.home() / ".local" / "share" / "assay"


@overload
def stored_utc(value: datetime) -> datetime: ...
@overload
def stored_utc(value: None) -> None: ...
def stored_utc(value: datetime | None) -> datetime | None:
    """A timestamp as read back: SQLite keeps them naive, and they were written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def utc_text(value: datetime) -> str:
    """A timestamp as SQLite keeps it (SQLAlchemy's DATETIME text): naive UTC, always with
    microseconds; :func:`from_utc_text` reads it back."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def from_utc_text(value: str) -> datetime:
    """The aware time of a :func:`utc_text` (or of any ISO time; naive means UTC)."""
    return stored_utc(datetime.fromisoformat(value))


def default_database_url(data_dir: Path | None = None) -> str:
    configured = os.environ.get("ASSAY_DATABASE_URL")
    if configured:
        return configured
    directory = data_dir if data_dir is not None else default_data_dir()
    return f"sqlite:///{directory / 'assay.db'}"


_PAGE_SIZE = 8192
_CONNECT_TIMEOUT_SECONDS = 10


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    # A new database gets 8 KiB pages (set before WAL mode writes its first page; an existing
    # file keeps its own). A decision row of 2-4 KB (a clean 5-item manifest and its result)
    # had a 4 KiB page to itself; three of 2.6 KB fit in 8 KiB (4.1 -> 2.8 KB a decision).
    # Over the synthetic corpus's mix the file is ~8 % smaller (3.5 -> 3.2 KB a decision;
    # 16 KiB: 3.1). Rows of 4-8 KB (five flags and more) fit one a page, where 4 KiB pages
    # put most of one on an overflow page: those take more room, but are a small minority.
    cursor.execute(f"PRAGMA page_size={_PAGE_SIZE}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Checkpoint (and fsync) every ~40 MB of log instead of every 4 MB: commits stay cheap.
    cursor.execute(f"PRAGMA wal_autocheckpoint={40 * 1024 * 1024 // _PAGE_SIZE}")
    # The log is rewritten from its start after each complete checkpoint; a burst that grew
    # it past this is cut back then, rather than kept on disk for good.
    cursor.execute("PRAGMA journal_size_limit=67108864")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def connect(url: str) -> Engine:
    """An engine on ``url``, its schema as it is (:func:`open_database` upgrades it); SQLite
    directories are created. Nothing connects yet: a database that cannot be reached fails
    on first use."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        path = engine.url.database
        if path and path != ":memory:":
            folder = Path(path).parent
            with contextlib.suppress(OSError):  # said when connecting, below
                folder.mkdir(parents=True, exist_ok=True)

            def make_folder(*_: Any) -> None:
                # Again at each connection: a folder that could not be made at first (a
                # volume not yet mounted) is, once it can be; else the reason is raised.
                folder.mkdir(parents=True, exist_ok=True)

            event.listen(engine, "do_connect", make_folder)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    arguments: dict[str, Any] = {}
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        # libpq waits for a host that drops packets as long as the kernel does (minutes):
        # a service starting, or a writer retrying, is told within seconds instead.
        arguments["connect_timeout"] = _CONNECT_TIMEOUT_SECONDS
    return create_engine(parsed, pool_pre_ping=True, connect_args=arguments)


def open_database(url: str) -> Engine:
    """An engine on ``url`` with its schema at this release's newest revision
    (:func:`engine.store.schema.ensure`: upgraded under a lock when it is behind)."""
    engine = connect(url)
    try:
        ensure_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
