"""Decisions name the governance version that produced them.

Revision ID: 0002
Revises: 0001

``decisions.ruleset_version_id``: the rule store's version number of the ruleset that screened
the manifest (null for a pack not from the store, and for decisions logged before this
revision). The pack's own ``ruleset_version`` string does not change between activations, so
without it an auditor cannot tell version 1 from version 2 in a decision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("decisions")}
    if "ruleset_version_id" in columns:  # made by a development build's create_all
        return
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("ruleset_version_id", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("ruleset_version_id")
