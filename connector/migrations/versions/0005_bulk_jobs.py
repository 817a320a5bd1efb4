"""Open bulk write jobs: a large Salesforce run's one Bulk API 2.0 ingest job per object, kept until settled.

A run records its batches before the job that carries their field updates has run, so the job's id is
stored first: a run that dies leaves it for the next run to settle (`connector.tables.BulkJobRow`).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "bulk_jobs" in sa.inspect(op.get_bind()).get_table_names():
        return  # a store made before Alembic by a build that created every table of the models at once
    op.create_table(
        "bulk_jobs",
        sa.Column("job", sa.String(100), primary_key=True),
        sa.Column("crm_job_id", sa.String(40), primary_key=True),
        sa.Column("object", sa.String(20), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bulk_jobs")
