"""Baseline: the schema of the last release before Alembic (hand-rolled schema version 2).

Creates only the tables that are missing, so a store made by that release (which created new tables with
`create_all` without bumping its version) is adopted as it is and gains whatever it lacked.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, create in _TABLES.items():
        if name not in existing:
            create()


def downgrade() -> None:
    for name in reversed(list(_TABLES)):
        op.drop_table(name)


def _assessment_history() -> None:
    op.create_table(
        "assessment_history",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(100), nullable=False),
        sa.Column("object", sa.String(20), nullable=False),
        sa.Column("record_id", sa.String(40), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("tier", sa.String(10), nullable=False),
        sa.Column("previous_tier", sa.String(10), nullable=True),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_assessment_history_record_id", "assessment_history", ["record_id"])
    op.create_index("ix_assessment_history_run_id", "assessment_history", ["run_id"])


def _assessments() -> None:
    op.create_table(
        "assessments",
        sa.Column("job", sa.String(100), primary_key=True),
        sa.Column("object", sa.String(20), primary_key=True),
        sa.Column("record_id", sa.String(40), primary_key=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("tier", sa.String(10), nullable=False),
        sa.Column("pd", sa.Float(), nullable=False),
        sa.Column("model_version", sa.String(80), nullable=False),
        sa.Column("inputs_hash", sa.String(64), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("override_until", sa.Date(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_assessments_as_of", "assessments", ["as_of"])


def _audit() -> None:
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("object", sa.String(20), nullable=False),
        sa.Column("record_id", sa.String(40), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("job", sa.String(100), nullable=True),
        sa.Column("key", sa.String(200), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=True),
        sa.Column("hash", sa.String(64), nullable=True),
    )
    op.create_index("ix_audit_job", "audit", ["job"])
    op.create_index("ix_audit_record_id", "audit", ["record_id"])
    op.create_index("ix_audit_run_id", "audit", ["run_id"])


def _audit_pending() -> None:
    op.create_table(
        "audit_pending",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("job", sa.String(100), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("object", sa.String(20), nullable=False),
        sa.Column("record_id", sa.String(40), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_audit_pending_job", "audit_pending", ["job"])


def _cursors() -> None:
    op.create_table(
        "cursors",
        sa.Column("job", sa.String(100), primary_key=True),
        sa.Column("object", sa.String(20), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def _deals() -> None:
    op.create_table(
        "deals",
        sa.Column("job", sa.String(100), primary_key=True),
        sa.Column("record_id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(40), nullable=True),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("current", sa.JSON(), nullable=False),
        sa.Column("modstamp", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_deals_account_id", "deals", ["account_id"])


def _locks() -> None:
    op.create_table(
        "locks",
        sa.Column("job", sa.String(100), primary_key=True),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def _outbox() -> None:
    op.create_table(
        "outbox",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("job", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("object", sa.String(20), nullable=False),
        sa.Column("record_id", sa.String(40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("crm_id", sa.String(40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_outbox_job", "outbox", ["job"])
    op.create_index("ix_outbox_record_id", "outbox", ["record_id"])


def _record_issues() -> None:
    op.create_table(
        "record_issues",
        sa.Column("job", sa.String(100), primary_key=True),
        sa.Column("object", sa.String(20), primary_key=True),
        sa.Column("record_id", sa.String(40), primary_key=True),
        sa.Column("stage", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_id", sa.Integer(), nullable=False),
    )


def _rescore() -> None:
    op.create_table(
        "rescore",
        sa.Column("job", sa.String(100), primary_key=True),
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    )


def _runs() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(100), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("api_calls", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_runs_job", "runs", ["job"])


def _source_keys() -> None:
    op.create_table(
        "source_keys",
        sa.Column("job", sa.String(100), primary_key=True),
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("row_hash", sa.String(64), nullable=True),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("account_id", sa.String(40), nullable=True),
    )
    op.create_index("ix_source_keys_account_id", "source_keys", ["account_id"])


def _source_state() -> None:
    op.create_table(
        "source_state",
        sa.Column("job", sa.String(100), primary_key=True),
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("watermark", sa.JSON(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
    )


def _watchlist() -> None:
    op.create_table(
        "watchlist",
        sa.Column("job", sa.String(100), primary_key=True),
        sa.Column("record_id", sa.String(40), primary_key=True),
        sa.Column("on_list", sa.Boolean(), nullable=False),
        sa.Column("runs_below", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    )


_TABLES = {  # creation order; dropped in reverse
    "assessment_history": _assessment_history,
    "assessments": _assessments,
    "audit": _audit,
    "audit_pending": _audit_pending,
    "cursors": _cursors,
    "deals": _deals,
    "locks": _locks,
    "outbox": _outbox,
    "record_issues": _record_issues,
    "rescore": _rescore,
    "runs": _runs,
    "source_keys": _source_keys,
    "source_state": _source_state,
    "watchlist": _watchlist,
}
