"""The run that recorded each assessment, so the planner orders assessments and tasks by run, not by clock.

Whether a closed task was made for the escalation a run sees again (by a run that died before recording
its assessment) was decided by comparing the assessment's time with the task's. Times are whole seconds
and come from each host's clock: two runs that start within a second, or replicas whose clocks disagree,
opened the same escalation twice. Rows stored before this revision have no run and keep the old rule.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "run_id" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("assessments")}:
        return  # a store created from the models by a development build between releases
    with op.batch_alter_table("assessments") as table:
        table.add_column(sa.Column("run_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assessments") as table:
        table.drop_column("run_id")
