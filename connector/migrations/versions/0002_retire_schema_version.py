"""Retire the hand-rolled `schema_version` table: Alembic's `alembic_version` records the revision now.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "schema_version" in sa.inspect(op.get_bind()).get_table_names():
        op.drop_table("schema_version")


def downgrade() -> None:
    # What the release before Alembic expects to find: its last hand-rolled version.
    table = op.create_table("schema_version", sa.Column("version", sa.Integer(), primary_key=True))
    op.bulk_insert(table, [{"version": 2}])
