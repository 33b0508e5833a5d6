"""The start of each correlation rule's record of shipments, for its warm-up.

Revision ID: 0006
Revises: 0005

``correlation_records``: per correlation rule that reads ``group.new_consignees``, the data
time (``since_t``, microseconds) from which ``correlation_shipped`` holds every shipment: the
earliest manifest noted for the rule, or the earliest decision the record was seeded from.
A consignee counts as new only for members filed the rule's ``warm_up`` after it. Not swept:
the start of the record stays when its oldest shipments expire. ``seeded_at``: when a worker
took the seeding of the record from the decision log (once per rule).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "correlation_records",
        sa.Column("rule_id", sa.String(64), primary_key=True),
        sa.Column("since_t", sa.BigInteger, nullable=True),
        sa.Column("seeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seeding_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("correlation_records")
