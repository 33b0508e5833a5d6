"""The workbench's sessions, and the secret that signs their cookies.

Revision ID: 0003
Revises: 0002

``ui_sessions``: one row per sign-in to the web workbench (``/ui``), its id kept as a
SHA-256 digest; ``ended_at`` is set at sign-out. ``service_secrets``: secrets made once and
shared by every worker and host on this database (the cookie-signing key).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ui_sessions",
        sa.Column("id_sha256", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.Integer, nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_ui_sessions_expires_at", "ui_sessions", ["expires_at"])
    op.create_table(
        "service_secrets",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("service_secrets")
    op.drop_index("ix_ui_sessions_expires_at", "ui_sessions")
    op.drop_table("ui_sessions")
