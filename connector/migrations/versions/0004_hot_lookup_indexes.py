"""Indexes shaped like the store's hot lookups: a batch's deals by account, and the latest task per record.

Without (job, account_id) SQLite picks the deals primary key's `job` prefix and scans every deal of the job
for each chunk of accounts: the one non-linear term of a full sync (issue 17).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_INDEXES = {"ix_deals_job_account": ("deals", ["job", "account_id"]),
            "ix_outbox_job_kind_record": ("outbox", ["job", "kind", "record_id"])}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for name, (table, columns) in _INDEXES.items():
        # A store opened by a development build between releases may already have them.
        if name not in {ix["name"] for ix in inspector.get_indexes(table)}:
            op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _) in _INDEXES.items():
        op.drop_index(name, table_name=table)
