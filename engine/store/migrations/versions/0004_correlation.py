"""Correlation state: group members, consignees shipped to, and alerts.

Revision ID: 0004
Revises: 0003

``correlation_members``: one row per (correlation rule, entity, manifest that joined its
group), by data time (``t``, filed_at in microseconds), dropped once older than the rule's
window + baseline. ``correlation_shipped``: per (rule, entity, consignee) the last time the
entity shipped to it, dropped once older than the rule's history. ``alerts``: one row per
alert, its id deterministic, with the decision of the manifest that completed it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "correlation_members",
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("entity_key", sa.Text, nullable=False),
        sa.Column("t", sa.BigInteger, nullable=False),
        sa.Column("manifest_id", sa.String(64), nullable=False),
        sa.Column("mass_kg", sa.Float, nullable=False),
        sa.Column("consignor", sa.Text, nullable=False),
        sa.Column("consignee", sa.Text, nullable=False),
        sa.Column("new_consignee", sa.Boolean, nullable=False),
    )
    op.create_index(
        "uq_correlation_members",
        "correlation_members",
        ["rule_id", "entity_key", "manifest_id"],
        unique=True,
    )
    op.create_index(
        "ix_correlation_members_window", "correlation_members", ["rule_id", "entity_key", "t"]
    )
    op.create_index("ix_correlation_members_expiry", "correlation_members", ["rule_id", "t"])
    op.create_table(
        "correlation_shipped",
        sa.Column("rule_id", sa.String(64), primary_key=True),
        sa.Column("entity_key", sa.Text, primary_key=True),
        sa.Column("consignee", sa.Text, primary_key=True),
        sa.Column("last_t", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_correlation_shipped_expiry", "correlation_shipped", ["rule_id", "last_t"])
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(32), primary_key=True),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("pattern", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("entity_key", sa.Text, nullable=False),
        sa.Column("entity", sa.Text, nullable=False),
        sa.Column("trigger_manifest_id", sa.String(64), nullable=False),
        sa.Column("manifest_ids", sa.Text, nullable=False),
        sa.Column("first_filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("measures", sa.Text, nullable=False),
        sa.Column("explanation", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision_id", sa.String(32), nullable=True),
    )
    op.create_index("ix_alerts_last_filed_at", "alerts", ["last_filed_at", "alert_id"])
    op.create_index("ix_alerts_rule", "alerts", ["rule_id", "last_filed_at"])
    op.create_index("ix_alerts_entity", "alerts", ["entity_key", "last_filed_at"])


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("correlation_shipped")
    op.drop_table("correlation_members")
