"""The state store's tables (SQLAlchemy 2 declarative models): the schema at the newest Alembic revision.

A change here needs a revision in connector/migrations/versions/ (tests/state checks the two agree)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AssessmentRow", "AuditRow", "Base", "CursorRow",
    "DealRow", "HistoryRow", "IssueRow", "LockRow", "OutboxRow", "PendingWriteRow", "RescoreRow", "RunRow",
    "SourceKeyRow", "SourceStateRow", "WatchRow",
]


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class RunRow(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(100), index=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="running")  # running, success, partial, failed
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    full: Mapped[bool] = mapped_column(Boolean, default=False)
    api_calls: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class CursorRow(Base):
    __tablename__ = "cursors"
    job: Mapped[str] = mapped_column(String(100), primary_key=True)
    object: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class AssessmentRow(Base):
    """The latest assessment of one record, with the account figures deals need."""

    __tablename__ = "assessments"
    job: Mapped[str] = mapped_column(String(100), primary_key=True)
    object: Mapped[str] = mapped_column(String(20), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    tier: Mapped[str] = mapped_column(String(10))
    pd: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(80))
    inputs_hash: Mapped[str] = mapped_column(String(64))
    scored_at: Mapped[datetime]
    as_of: Mapped[date | None] = mapped_column(Date, index=True)  # the day ages and expiries were measured on
    override_until: Mapped[date | None] = mapped_column(Date)  # set while a human override is in force
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # reasons, limit, exposure, amount, ...
    # The run that recorded it: orders it against the tasks runs created (`plan.recorded_since`), which
    # times cannot do across runs that start within a second or replicas whose clocks disagree.
    run_id: Mapped[int | None] = mapped_column(Integer)


class HistoryRow(Base):
    """A change of score or tier, kept for the tier-movement report."""

    __tablename__ = "assessment_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    job: Mapped[str] = mapped_column(String(100))
    object: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[str] = mapped_column(String(40), index=True)
    score: Mapped[float] = mapped_column(Float)
    tier: Mapped[str] = mapped_column(String(10))
    previous_tier: Mapped[str | None] = mapped_column(String(10))
    scored_at: Mapped[datetime]


class OutboxRow(Base):
    """A task or tag mutation, keyed deterministically so a crash or retry never duplicates it."""

    __tablename__ = "outbox"
    # A job's tasks of some records (`latest_tasks`): without it the planner walks the job's whole outbox
    # through ix_outbox_job for every chunk of ids.
    __table_args__ = (Index("ix_outbox_job_kind_record", "job", "kind", "record_id"),)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    job: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # task, tag_add, tag_remove
    object: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[str] = mapped_column(String(40), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending, done, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    crm_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class IssueRow(Base):
    """A record skipped or not written; retried by id on the next run until it succeeds."""

    __tablename__ = "record_issues"
    job: Mapped[str] = mapped_column(String(100), primary_key=True)
    object: Mapped[str] = mapped_column(String(20), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    stage: Mapped[str] = mapped_column(String(10))  # map, apply
    reason: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    last_run_id: Mapped[int] = mapped_column(Integer)


class DealRow(Base):
    """The last-read canonical values of a deal, so accounts are scored with all their open deals
    without re-reading them from the CRM."""

    __tablename__ = "deals"
    # The deals of some accounts (`deals_for_accounts`): with only ix_deals_account_id SQLite prefers the
    # primary key's (job) prefix and scans every deal of the job per chunk of account ids.
    __table_args__ = (Index("ix_deals_job_account", "job", "account_id"),)
    job: Mapped[str] = mapped_column(String(100), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str | None] = mapped_column(String(40), index=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    current: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    modstamp: Mapped[datetime | None]


class WatchRow(Base):
    __tablename__ = "watchlist"
    job: Mapped[str] = mapped_column(String(100), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    on_list: Mapped[bool] = mapped_column(Boolean, default=False)
    runs_below: Mapped[int] = mapped_column(Integer, default=0)
    since: Mapped[datetime]


class AuditRow(Base):
    """One write the CRM accepted, hash-chained to the entry before it (`connector.audit`).

    Ids are assigned by the appender (head + 1), so two appenders racing for one head clash on the key.
    The chain columns are nullable only because schema 1 rows gain them by migration."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(40))
    object: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[str] = mapped_column(String(40), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    job: Mapped[str | None] = mapped_column(String(100), index=True)
    key: Mapped[str | None] = mapped_column(String(200))  # the op's idempotency key
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class PendingWriteRow(Base):
    """A field update sent to the CRM whose answer is not recorded yet. Settled with its audit entry; one left
    behind (the process was killed, every answer was lost) is read back from the CRM by the next run and
    audited if the CRM holds what was sent."""

    __tablename__ = "audit_pending"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    job: Mapped[str] = mapped_column(String(100), index=True)
    run_id: Mapped[int] = mapped_column(Integer)
    object: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sent_at: Mapped[datetime]


class RescoreRow(Base):
    """An account that must be scored again because its deals changed; cleared once it is recorded.

    Durable, so a crash or a quota stop between reading a deal and recording its account loses nothing."""

    __tablename__ = "rescore"
    job: Mapped[str] = mapped_column(String(100), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    since: Mapped[datetime]


class LockRow(Base):
    """A lease: one running sync per job, across processes and replicas sharing the store."""

    __tablename__ = "locks"
    job: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]


class SourceStateRow(Base):
    """How far a job has read one outside source: the file's content hash (or the database watermark),
    the run date invoice figures were computed for, and the last join's match figures for `check`."""

    __tablename__ = "source_state"
    job: Mapped[str] = mapped_column(String(100), primary_key=True)
    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    as_of: Mapped[date | None] = mapped_column(Date)
    watermark: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    read_at: Mapped[datetime]


class SourceKeyRow(Base):
    """The snapshot of one source row (its canonical values) by normalised key, with the hash that tells
    a changed row from an unchanged one; `account_id` is the account that last matched the key."""

    __tablename__ = "source_keys"
    job: Mapped[str] = mapped_column(String(100), primary_key=True)
    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    row_hash: Mapped[str | None] = mapped_column(String(64))
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    account_id: Mapped[str | None] = mapped_column(String(40), index=True)


__all__ += ["TickRow"]  # kept apart from the list above, so concurrent additions merge cleanly


class TickRow(Base):
    """One scheduled fire of a job or its monitor, claimed by the replica that runs it (`connector.service.ticks`).

    The key is the fire time APScheduler scheduled (not the wall clock), so every replica names a tick alike
    and only one insert of it wins. `owner` is the job-lease owner that answers for the tick now (it changes
    when a replica adopts a claim whose claimer lost its lease); `after_run` is the newest run id when it was
    claimed, so a later finished run of the same kind proves the tick covered."""

    __tablename__ = "ticks"
    job: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # job, monitor
    due_at: Mapped[datetime] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(10), default="claimed", index=True)  # claimed, done, covered, failed
    claimed_by: Mapped[str] = mapped_column(String(100))
    owner: Mapped[str] = mapped_column(String(100))
    after_run: Mapped[int] = mapped_column(Integer, default=0)
    run_id: Mapped[int | None] = mapped_column(Integer)  # the run that ran (done) or covered (covered) the tick
    claimed_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]


__all__ += ["BulkJobRow"]  # kept apart from the lists above, so concurrent additions merge cleanly


class BulkJobRow(Base):
    """A CRM-side bulk write job (Salesforce Bulk API 2.0 ingest) a run opened and has not settled yet.

    Written before the run's cursor moves past any row the job carries, deleted once its outcomes are
    recorded. One found at a run's start was left by a run that died or stopped: the next run settles it
    (`Sync._settle_left`) and turns its records that did not land into record issues."""

    __tablename__ = "bulk_jobs"
    job: Mapped[str] = mapped_column(String(100), primary_key=True)
    crm_job_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    object: Mapped[str] = mapped_column(String(20))  # accounts, deals
    run_id: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime]
