"""Baseline: the schema Assay made with ``metadata.create_all`` before it had migrations.

Revision ID: 0001
Revises: (none)

Frozen: a later change to the tables is a new revision, never an edit here. Each table and
index is created only if missing, so that a database made by an earlier release (tables,
no ``alembic_version``) is adopted by this revision as it stands, gaining whatever that
release did not yet make (engine.store.schema).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _tables() -> list[tuple[str, list[sa.Column[Any]], list[sa.Index]]]:
    """(name, columns, indexes) of every table, in today's definitions."""
    return [
        (
            "decisions",
            [
                sa.Column("id", sa.String(32), primary_key=True),
                sa.Column("created_at", _timestamp(), nullable=False),
                sa.Column("manifest_id", sa.String(64), nullable=False),
                sa.Column("input_sha256", sa.String(64), nullable=False),
                sa.Column("input", sa.Text, nullable=False),
                sa.Column("ruleset_name", sa.String(64), nullable=False),
                sa.Column("ruleset_version", sa.String(32), nullable=False),
                sa.Column("ruleset_sha256", sa.String(64), nullable=False),
                sa.Column("channel", sa.String(8), nullable=False),
                sa.Column("risk_score", sa.Integer, nullable=False),
                sa.Column("result", sa.Text, nullable=False),
                sa.Column("elapsed_ms", sa.Float, nullable=False),
                sa.Column("request_id", sa.String(128), nullable=True),
                sa.Column("source", sa.String(16), nullable=False),
            ],
            [
                sa.Index("ix_decisions_manifest_id", "manifest_id"),
                sa.Index("ix_decisions_created_at", "created_at", "manifest_id"),
            ],
        ),
        (
            "decision_flags",
            [
                sa.Column("decision_id", sa.String(32), nullable=False),
                sa.Column("rule_id", sa.String(64), nullable=False),
                sa.Column("created_at", _timestamp(), nullable=False),
                sa.Column("manifest_id", sa.String(64), nullable=False),
            ],
            [sa.Index("ix_decision_flags_rule", "rule_id", "created_at", "manifest_id")],
        ),
        (
            "journal_offsets",
            [
                sa.Column("segment", sa.String(128), primary_key=True),
                sa.Column("position", sa.BigInteger, nullable=False),
            ],
            [],
        ),
        (
            "ruleset_versions",
            [
                sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("parent_id", sa.Integer, nullable=True),
                sa.Column("state", sa.String(16), nullable=False),
                sa.Column("author", sa.String(64), nullable=False),
                sa.Column("created_at", _timestamp(), nullable=False),
                sa.Column("updated_at", _timestamp(), nullable=False),
                sa.Column("name", sa.String(64), nullable=False),
                sa.Column("version", sa.String(32), nullable=False),
                sa.Column("sha256", sa.String(64), nullable=False),
                sa.Column("sources", sa.Text, nullable=False),
                sa.Column("comment", sa.Text, nullable=True),
            ],
            [
                sa.Index("ix_ruleset_versions_state", "state"),
                sa.Index(
                    "uq_ruleset_versions_one_active",
                    "state",
                    unique=True,
                    postgresql_where=sa.text("state = 'active'"),
                    sqlite_where=sa.text("state = 'active'"),
                ),
            ],
        ),
        (
            "audit",
            [
                sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("at", _timestamp(), nullable=False),
                sa.Column("actor", sa.String(64), nullable=False),
                sa.Column("action", sa.String(32), nullable=False),
                sa.Column("version_id", sa.Integer, nullable=True),
                sa.Column("reason", sa.Text, nullable=True),
                sa.Column("details", sa.Text, nullable=True),
            ],
            [sa.Index("ix_audit_version_id", "version_id")],
        ),
        (
            "inspections",
            [
                sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("manifest_id", sa.String(64), nullable=False),
                sa.Column("result", sa.String(16), nullable=False),
                sa.Column("pattern", sa.String(64), nullable=True),
                sa.Column("notes", sa.Text, nullable=True),
                sa.Column("recorded_by", sa.String(64), nullable=False),
                sa.Column("recorded_at", _timestamp(), nullable=False),
            ],
            [sa.Index("ix_inspections_manifest_id", "manifest_id")],
        ),
        (
            "backtests",
            [
                sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("state", sa.String(16), nullable=False),
                sa.Column("candidate_id", sa.Integer, nullable=False),
                sa.Column("baseline_id", sa.Integer, nullable=True),
                sa.Column("request", sa.Text, nullable=False),
                sa.Column("created_by", sa.String(64), nullable=False),
                sa.Column("created_at", _timestamp(), nullable=False),
                sa.Column("started_at", _timestamp(), nullable=True),
                sa.Column("heartbeat_at", _timestamp(), nullable=True),
                sa.Column("finished_at", _timestamp(), nullable=True),
                sa.Column("records_done", sa.Integer, nullable=False),
                sa.Column("fraction_done", sa.Float, nullable=True),
                sa.Column("error", sa.Text, nullable=True),
                sa.Column("result", sa.Text, nullable=True),
            ],
            [],
        ),
        (
            "shadow_runs",
            [
                sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("version_id", sa.Integer, nullable=False),
                sa.Column("started_by", sa.String(64), nullable=False),
                sa.Column("started_at", _timestamp(), nullable=False),
                sa.Column("stopped_by", sa.String(64), nullable=True),
                sa.Column("stopped_at", _timestamp(), nullable=True),
            ],
            [],
        ),
        (
            "shadow_results",
            [
                sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("run_id", sa.Integer, nullable=False),
                sa.Column("decision_id", sa.String(32), nullable=True),
                sa.Column("created_at", _timestamp(), nullable=False),
                sa.Column("manifest_id", sa.String(64), nullable=False),
                sa.Column("shadow_sha256", sa.String(64), nullable=False),
                sa.Column("active_channel", sa.String(8), nullable=False),
                sa.Column("shadow_channel", sa.String(8), nullable=False),
                sa.Column("active_score", sa.Integer, nullable=False),
                sa.Column("shadow_score", sa.Integer, nullable=False),
                sa.Column("gained", sa.Text, nullable=True),
                sa.Column("lost", sa.Text, nullable=True),
                sa.Column("shadow_flags", sa.Text, nullable=True),
            ],
            [sa.Index("ix_shadow_results_run_id", "run_id", "id")],
        ),
        (
            "api_keys",
            [
                sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("key_sha256", sa.String(64), nullable=False, unique=True),
                sa.Column("role", sa.String(16), nullable=False),
                sa.Column("name", sa.String(64), nullable=False),
                sa.Column("created_at", _timestamp(), nullable=False),
                sa.Column("revoked_at", _timestamp(), nullable=True),
            ],
            [],
        ),
    ]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for name, columns, indexes in _tables():
        if not inspector.has_table(name):
            op.create_table(name, *columns)
            present: set[str | None] = set()
        else:
            present = {index["name"] for index in inspector.get_indexes(name)}
        for index in indexes:
            if index.name not in present:
                op.create_index(
                    str(index.name),
                    name,
                    [str(expression) for expression in index.expressions],
                    unique=index.unique,
                    **index.dialect_kwargs,
                )


def downgrade() -> None:
    for name, _columns, _indexes in reversed(_tables()):
        op.drop_table(name)
