"""Alerts a late-arriving manifest undid: when, and by which manifest.

Revision ID: 0005
Revises: 0004

The service takes manifests as they come. A manifest filed before members already judged
joins their groups late; where the group then no longer alerts (a member in a baseline
window lowers a ratio), the alert is withdrawn, not deleted: the completing manifest's
answer carried its flag, and an analyst must be able to see that it was raised and why it
no longer stands.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as table:
        table.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("withdrawn_by", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as table:
        table.drop_column("withdrawn_by")
        table.drop_column("withdrawn_at")
