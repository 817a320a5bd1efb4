"""The state store: runs, cursors, latest assessments and their history, the outbox, record issues,
watchlist state and the audit log. SQLAlchemy 2; SQLite by default, PostgreSQL for several replicas.

Nothing secret is stored here: rows hold ids, field names, scores and reasons, never credentials.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from connector.model import Cursor, Deal

__all__ = ["SCHEMA_VERSION", "AssessmentRow", "DealRow", "OutboxRow", "RunRow", "StateStore", "WatchRow"]

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class SchemaVersion(Base):
    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)


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
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # reasons, limit, exposure, amount, ...


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
    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(40))
    object: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# Each migration moves the schema from version N-1 to N. create_all makes new tables; columns added
# to existing tables in later versions go here as ALTER statements.
MIGRATIONS: dict[int, list[str]] = {}


class StateStore:
    """All reads and writes of riskbridge's own state."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, future=True)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._migrate()

    def _migrate(self) -> None:
        Base.metadata.create_all(self.engine)
        with Session(self.engine) as s, s.begin():
            current = s.scalar(select(SchemaVersion.version).order_by(SchemaVersion.version.desc()).limit(1))
            if current is None:
                s.add(SchemaVersion(version=SCHEMA_VERSION))
                return
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS.get(version, []):
                    s.execute(statement)  # type: ignore[call-overload]
                s.add(SchemaVersion(version=version))
                log.info("state store migrated to schema version %d", version)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s, s.begin():
            yield s

    def close(self) -> None:
        self.engine.dispose()

    # --- runs -------------------------------------------------------------------------------------
    def start_run(self, job: str, *, dry_run: bool, full: bool) -> int:
        with self.session() as s:
            row = RunRow(job=job, started_at=_now(), dry_run=dry_run, full=full, summary={})
            s.add(row)
            s.flush()
            return row.id

    def finish_run(self, run_id: int, status: str, summary: dict[str, Any], api_calls: int,
                   error: str | None = None) -> None:
        with self.session() as s:
            s.execute(update(RunRow).where(RunRow.id == run_id).values(
                status=status, summary=summary, api_calls=api_calls, error=error, finished_at=_now()))

    def runs(self, job: str | None = None, limit: int = 20) -> list[RunRow]:
        with self.session() as s:
            query = select(RunRow).order_by(RunRow.id.desc()).limit(limit)
            if job:
                query = query.where(RunRow.job == job)
            return list(s.scalars(query))

    # --- cursors ----------------------------------------------------------------------------------
    def cursor(self, job: str, obj: str) -> Cursor | None:
        with self.session() as s:
            row = s.get(CursorRow, (job, obj))
            return Cursor.from_json(row.value) if row else None

    def save_cursor(self, job: str, obj: str, cursor: Cursor) -> None:
        with self.session() as s:
            s.merge(CursorRow(job=job, object=obj, value=cursor.to_json(), updated_at=_now()))

    def clear_cursors(self, job: str) -> None:
        with self.session() as s:
            s.execute(delete(CursorRow).where(CursorRow.job == job))

    # --- assessments ------------------------------------------------------------------------------
    def assessments(self, job: str, obj: str, ids: Iterable[str]) -> dict[str, AssessmentRow]:
        wanted = list(dict.fromkeys(ids))
        found: dict[str, AssessmentRow] = {}
        with self.session() as s:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                rows = s.scalars(select(AssessmentRow).where(
                    AssessmentRow.job == job, AssessmentRow.object == obj, AssessmentRow.record_id.in_(chunk)))
                found.update({r.record_id: r for r in rows})
        return found

    def save_assessments(self, run_id: int, job: str, obj: str, rows: list[AssessmentRow],
                         previous: dict[str, AssessmentRow]) -> None:
        history = []
        for row in rows:
            before = previous.get(row.record_id)
            if before is None or before.tier != row.tier or abs(before.score - row.score) >= 0.05:
                history.append({"run_id": run_id, "job": job, "object": obj, "record_id": row.record_id,
                                "score": row.score, "tier": row.tier,
                                "previous_tier": before.tier if before else None, "scored_at": row.scored_at})
        with self.session() as s:
            if history:
                s.execute(insert(HistoryRow), history)
            self._upsert(s, AssessmentRow, [_columns(r) for r in rows])

    def deal_assessments_for_accounts(self, job: str, account_ids: Iterable[str]) -> dict[str, list[AssessmentRow]]:
        """Stored deal assessments grouped by account (for other open deals' exposure)."""
        wanted = list(dict.fromkeys(account_ids))
        grouped: dict[str, list[AssessmentRow]] = {}
        with self.session() as s:
            rows = s.scalars(select(AssessmentRow).where(AssessmentRow.job == job, AssessmentRow.object == "deals"))
            wanted_set = set(wanted)
            for row in rows:
                acc = str(row.detail.get("account_id") or "")
                if acc in wanted_set:
                    grouped.setdefault(acc, []).append(row)
        return grouped

    def tier_counts(self, job: str, obj: str = "accounts") -> dict[str, int]:
        with self.session() as s:
            counts: dict[str, int] = {}
            for tier in s.scalars(select(AssessmentRow.tier).where(AssessmentRow.job == job,
                                                                   AssessmentRow.object == obj)):
                counts[tier] = counts.get(tier, 0) + 1
            return counts

    def riskiest(self, job: str, limit: int = 5) -> list[AssessmentRow]:
        with self.session() as s:
            return list(s.scalars(select(AssessmentRow).where(
                AssessmentRow.job == job, AssessmentRow.object == "accounts").order_by(
                AssessmentRow.score.desc(), AssessmentRow.record_id).limit(limit)))

    # --- outbox -----------------------------------------------------------------------------------
    def outbox(self, keys: Iterable[str]) -> dict[str, OutboxRow]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, OutboxRow] = {}
        with self.session() as s:
            for start in range(0, len(wanted), 500):
                rows = s.scalars(select(OutboxRow).where(OutboxRow.key.in_(wanted[start:start + 500])))
                found.update({r.key: r for r in rows})
        return found

    def latest_tasks(self, job: str, record_ids: Iterable[str]) -> dict[tuple[str, str], OutboxRow]:
        """The newest task per (record, escalation rule), to tell whether that escalation is still open."""
        wanted = list(dict.fromkeys(record_ids))
        latest: dict[tuple[str, str], OutboxRow] = {}
        with self.session() as s:
            for start in range(0, len(wanted), 500):
                rows = s.scalars(select(OutboxRow).where(
                    OutboxRow.job == job, OutboxRow.kind == "task", OutboxRow.record_id.in_(wanted[start:start + 500])))
                for row in rows:
                    slot = (row.record_id, str(row.payload.get("rule", "")))
                    if slot not in latest or int(row.payload.get("episode", 0)) > int(
                            latest[slot].payload.get("episode", 0)):
                        latest[slot] = row
        return latest

    def enqueue(self, rows: list[OutboxRow]) -> None:
        """Record intended task/tag mutations before they are sent; a known key is not added twice."""
        existing = self.outbox(r.key for r in rows)
        with self.session() as s:
            for row in rows:
                if row.key not in existing:
                    s.add(row)

    def pending_outbox(self, job: str) -> list[OutboxRow]:
        with self.session() as s:
            return list(s.scalars(select(OutboxRow).where(OutboxRow.job == job, OutboxRow.status != "done")
                                  .order_by(OutboxRow.created_at)))

    def settle_outbox(self, results: dict[str, tuple[bool, str | None, str | None]]) -> None:
        """Mark outbox keys done or failed: key -> (ok, error, crm id)."""
        with self.session() as s:
            for key, (ok, error, crm_id) in results.items():
                row = s.get(OutboxRow, key)
                if row is None:
                    continue
                row.attempts += 1
                row.status = "done" if ok else "failed"
                row.last_error = error
                row.crm_id = crm_id or row.crm_id
                row.updated_at = _now()

    # --- record issues ----------------------------------------------------------------------------
    def issues(self, job: str, obj: str | None = None) -> list[IssueRow]:
        with self.session() as s:
            query = select(IssueRow).where(IssueRow.job == job)
            if obj:
                query = query.where(IssueRow.object == obj)
            return list(s.scalars(query.order_by(IssueRow.object, IssueRow.record_id)))

    def record_issues(self, run_id: int, job: str, obj: str, issues: dict[str, tuple[str, str]]) -> None:
        """record id -> (stage, reason)."""
        now = _now()
        with self.session() as s:
            for record_id, (stage, reason) in issues.items():
                row = s.get(IssueRow, (job, obj, record_id))
                if row is None:
                    s.add(IssueRow(job=job, object=obj, record_id=record_id, stage=stage, reason=reason,
                                   first_seen=now, last_seen=now, last_run_id=run_id))
                else:
                    row.stage, row.reason, row.last_seen, row.last_run_id = stage, reason, now, run_id
                    row.attempts += 1

    def resolve_issues(self, job: str, obj: str, record_ids: Iterable[str]) -> None:
        ids = list(record_ids)
        with self.session() as s:
            for start in range(0, len(ids), 500):
                s.execute(delete(IssueRow).where(IssueRow.job == job, IssueRow.object == obj,
                                                 IssueRow.record_id.in_(ids[start:start + 500])))

    # --- deal snapshot ------------------------------------------------------------------------------
    def save_deals(self, job: str, deals: list[Deal]) -> None:
        with self.session() as s:
            self._upsert(s, DealRow, [{"job": job, "record_id": d.id, "account_id": d.account_id,
                                       "values": _json(d.values), "current": _json(d.current),
                                       "modstamp": d.modstamp} for d in deals])

    def changed_deals(self, job: str, deals: list[Deal]) -> list[Deal]:
        """The deals whose values or CRM outputs differ from the snapshot (new deals included)."""
        ids = [d.id for d in deals]
        known: dict[str, DealRow] = {}
        with self.session() as s:
            for start in range(0, len(ids), 500):
                rows = s.scalars(select(DealRow).where(DealRow.job == job, DealRow.record_id.in_(ids[start:start + 500])))
                known.update({r.record_id: r for r in rows})
        changed = []
        for deal in deals:
            row = known.get(deal.id)
            if row is None or row.values != _json(deal.values) or _norm(row.current) != _norm(_json(deal.current)):
                changed.append(deal)
        return changed

    def update_deal_outputs(self, job: str, outputs: dict[str, dict[str, Any]]) -> None:
        """After a successful write: the CRM now holds these output values (canonical name -> value)."""
        ids = list(outputs)
        with self.session() as s:
            for start in range(0, len(ids), 500):
                rows = s.scalars(select(DealRow).where(DealRow.job == job, DealRow.record_id.in_(ids[start:start + 500])))
                for row in rows:
                    row.current = {**row.current, **_json(outputs[row.record_id])}

    def deals_for_accounts(self, job: str, account_ids: Iterable[str]) -> list[Deal]:
        wanted = list(dict.fromkeys(account_ids))
        deals: list[Deal] = []
        with self.session() as s:
            for start in range(0, len(wanted), 500):
                rows = s.scalars(select(DealRow).where(DealRow.job == job,
                                                       DealRow.account_id.in_(wanted[start:start + 500])))
                deals += [Deal(r.record_id, r.modstamp, _revive(r.values), dict(r.current)) for r in rows]
        return deals

    # --- watchlist --------------------------------------------------------------------------------
    def watch_states(self, job: str, ids: Iterable[str]) -> dict[str, WatchRow]:
        wanted = list(dict.fromkeys(ids))
        found: dict[str, WatchRow] = {}
        with self.session() as s:
            for start in range(0, len(wanted), 500):
                rows = s.scalars(select(WatchRow).where(WatchRow.job == job,
                                                        WatchRow.record_id.in_(wanted[start:start + 500])))
                found.update({r.record_id: r for r in rows})
        return found

    def save_watch_states(self, rows: list[WatchRow]) -> None:
        with self.session() as s:
            self._upsert(s, WatchRow, [_columns(r) for r in rows])

    def _upsert(self, session: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
        """Insert or replace rows by primary key: one compiled statement, executed for all rows."""
        if not rows:
            return
        table: Any = model.__table__
        keys = [c.name for c in table.primary_key.columns]
        statement = (sqlite_insert if self.engine.dialect.name == "sqlite" else postgresql_insert)(table)
        statement = statement.on_conflict_do_update(
            index_elements=keys, set_={c: statement.excluded[c] for c in rows[0] if c not in keys})
        session.execute(statement, rows)

    # --- audit ------------------------------------------------------------------------------------
    def audit(self, run_id: int, entries: list[tuple[str, str, str, dict[str, Any]]]) -> None:
        """(action, object, record id, detail) per entry; details hold field names and values, never secrets."""
        now = _now()
        with self.session() as s:
            s.execute(insert(AuditRow), [{"run_id": run_id, "at": now, "action": a, "object": o, "record_id": r,
                                          "detail": json.loads(json.dumps(d, default=str))} for a, o, r, d in entries])

    def audit_entries(self, run_id: int | None = None) -> list[AuditRow]:
        with self.session() as s:
            query = select(AuditRow).order_by(AuditRow.id)
            if run_id is not None:
                query = query.where(AuditRow.run_id == run_id)
            return list(s.scalars(query))


def _columns(row: Base) -> dict[str, Any]:
    table: Any = row.__table__
    return {c.name: getattr(row, c.key) for c in table.columns}


def _json(values: dict[str, Any]) -> dict[str, Any]:
    """Values as the JSON column will hand them back (dates and datetimes as ISO strings)."""
    return dict(json.loads(json.dumps(values, default=str)))


def _norm(outputs: dict[str, Any]) -> dict[str, Any]:
    """Output values compared the way the CRM formats them: numbers rounded, no timestamps."""
    out: dict[str, Any] = {}
    for key, value in outputs.items():
        if key == "scored_at":
            continue
        if isinstance(value, str):
            try:
                value = round(float(value), 2)
            except ValueError:
                value = value.strip() or None
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = round(float(value), 2)
        out[key] = value
    return out


def _revive(values: dict[str, Any]) -> dict[str, Any]:
    """JSON keeps dates as ISO strings; canonical deal values need them back as dates."""
    out = dict(values)
    close = out.get("close_date")
    if isinstance(close, str):
        try:
            out["close_date"] = date.fromisoformat(close[:10])
        except ValueError:
            out["close_date"] = None
    return out


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()

