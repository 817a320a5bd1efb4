"""The state store: runs, cursors, latest assessments and their history, the outbox, record issues,
watchlist state and the audit log. SQLAlchemy 2; SQLite by default, PostgreSQL for several replicas.

Nothing secret is stored here: rows hold ids, field names, scores and reasons, never credentials.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import groupby
from typing import Any, NamedTuple

from sqlalchemy import JSON, bindparam, create_engine, delete, event, func, insert, null, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from connector import audit as audit_log
from connector.errors import ConfigError, ConfigProblem, StateStoreError, StateStoreUnreachable
from connector.migrations import SchemaTooNew, current_revision, upgrade
from connector.model import AssessmentRecord, Cursor, Deal, WatchRecord
from connector.secret_refs import resolve_secret
from connector.store_rows import as_stored, merged_json, row_columns
from connector.store_url import check_state_url, display_url, is_reference
from connector.tables import (
    AssessmentRow,
    AuditRow,
    Base,
    BulkJobRow,
    CursorRow,
    DealRow,
    HistoryRow,
    IssueRow,
    LockRow,
    OutboxRow,
    PendingWriteRow,
    RescoreRow,
    RunRow,
    SourceKeyRow,
    SourceStateRow,
    WatchRow,
)

__all__ = ["AssessmentRow", "DealRow", "Fingerprint", "HeldTask", "OutboxRow", "Prior", "RunRow", "Scored", "StateStore", "WatchRow"]

log = logging.getLogger(__name__)
PAGE = 5000  # rows a streamed read holds at once


def _now() -> datetime:
    return datetime.now(UTC)


_OPEN_HINT = ("check that the database server is up and the URL, user and database are right; a damaged SQLite "
              "file can be moved aside (riskbridge creates a new one) or restored from a backup")


def _reason(exc: BaseException) -> str:
    """Why the store did not open, without the URL or parameters a driver may echo (they can hold a password)."""
    if isinstance(exc, DatabaseError) and "file is not a database" in str(exc.orig):
        return "the file is not a riskbridge state database (not an SQLite file, or damaged)"
    orig = getattr(exc, "orig", None)
    if orig is not None:
        first = str(orig).splitlines()[0][:200] if str(orig) else ""
        return f"{type(orig).__name__}: {first}"
    return type(exc).__name__


def _chunks(ids: Iterable[str], size: int = 500) -> Iterator[list[str]]:
    """Distinct ids in chunks small enough for one IN (...) on every database."""
    wanted = list(dict.fromkeys(ids))
    for start in range(0, len(wanted), size):
        yield wanted[start:start + size]


class StateStore:
    """All reads and writes of riskbridge's own state."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        """Open the store, creating it or upgrading its schema to the newest revision unless `migrate` is
        False (`state current` only looks); `url` may be a secret reference (``env:``/``file:``).

        Raises `StateStoreError` (a configuration error) when it cannot be opened, naming the URL with its
        password masked; `StateStoreUnreachable` when the database server did not answer."""
        if is_reference(url):
            try:
                url = resolve_secret(url, "state_url").get_secret_value()
            except ConfigError as exc:
                raise StateStoreError(exc.problems) from None
        self.url = display_url(url)  # never the password
        problems = check_state_url(url, source="state_url", key="state_url", literal=False)
        if problems:
            raise StateStoreError(problems)
        self._sqlite = url.startswith("sqlite")
        with self._opening():
            self.engine: Engine = create_engine(url, future=True)
            if self._sqlite:
                event.listen(self.engine, "connect", _sqlite_pragmas)
        # A store nobody closed still closes its pooled connections when it goes (a PostgreSQL connection
        # left to the garbage collector warns, and holds a server slot until then).
        weakref.finalize(self, self.engine.dispose)
        if migrate:
            try:
                self.upgrade()
            except StateStoreError:
                self.engine.dispose()
                raise

    def upgrade(self) -> list[str]:
        """Bring the schema to the newest revision under the migration lock; returns the revisions applied."""
        with self._opening():
            return upgrade(self.engine)

    def revision(self) -> str | None:
        """The schema revision the store is at (None: empty, or made before Alembic)."""
        with self._opening():
            return current_revision(self.engine)

    @contextmanager
    def _opening(self) -> Iterator[None]:
        """Errors of opening or migrating the store as configuration errors that never show the password."""
        try:
            yield
        except SchemaTooNew as exc:
            raise StateStoreError([ConfigProblem("state store", "state_url", f"{self.url}: {exc}",
                                                 "a store is never downgraded by riskbridge")]) from None
        except OperationalError as exc:
            problem = [ConfigProblem("state store", "state_url", f"{self.url}: cannot open the state store: "
                                     f"{_reason(exc)}", _OPEN_HINT)]
            if self._sqlite:
                raise StateStoreError(problem) from None
            raise StateStoreUnreachable(problem) from None
        except (SQLAlchemyError, ImportError, OSError) as exc:
            raise StateStoreError([ConfigProblem("state store", "state_url", f"{self.url}: cannot open the state "
                                                 f"store: {_reason(exc)}", _OPEN_HINT)]) from None

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

    def run(self, run_id: int) -> RunRow | None:
        with self.session() as s:
            return s.get(RunRow, run_id)

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

    # --- assessments ------------------------------------------------------------------------------
    def assessments(self, job: str, obj: str, ids: Iterable[str]) -> dict[str, AssessmentRow]:
        found: dict[str, AssessmentRow] = {}
        with self.session() as s:
            for chunk in _chunks(ids):
                rows = s.scalars(select(AssessmentRow).where(
                    AssessmentRow.job == job, AssessmentRow.object == obj, AssessmentRow.record_id.in_(chunk)))
                found.update({r.record_id: r for r in rows})
        return found

    def fingerprints(self, job: str, ids: Iterable[str]) -> dict[str, Fingerprint]:
        """What tells whether re-scoring these accounts could change anything (`BatchPlanner.changed_accounts`),
        read out of each detail by the database: the rest of the detail (the inputs) is never decoded."""
        detail: Any = AssessmentRow.detail
        query = select(AssessmentRow.record_id, AssessmentRow.model_version, detail["as_of"].as_string(),
                       detail["values_hash"].as_string(), detail["outputs"])
        found: dict[str, Fingerprint] = {}
        with self.session() as s:
            for chunk in _chunks(ids):
                rows = s.execute(query.where(AssessmentRow.job == job, AssessmentRow.object == "accounts",
                                             AssessmentRow.record_id.in_(chunk)))
                found.update({r[0]: Fingerprint(r[1], r[2], r[3], r[4] if r[4] is not None else {}) for r in rows})
        return found

    def priors(self, job: str, obj: str, ids: Iterable[str]) -> dict[str, Prior]:
        """What the planner needs of each record's recorded assessment (tier, time, a deal's flags), without
        loading the rest of its detail."""
        flags: Any = AssessmentRow.detail["flags"] if obj == "deals" else null()
        query = select(AssessmentRow.record_id, AssessmentRow.tier, AssessmentRow.scored_at, flags, AssessmentRow.run_id)
        found: dict[str, Prior] = {}
        with self.session() as s:
            for chunk in _chunks(ids):
                rows = s.execute(query.where(AssessmentRow.job == job, AssessmentRow.object == obj,
                                             AssessmentRow.record_id.in_(chunk)))
                found.update({r: Prior(tier, at, f if f is not None else [], run) for r, tier, at, f, run in rows})
        return found

    def scores(self, job: str, obj: str, ids: Iterable[str]) -> dict[str, Scored]:
        """The recorded (tier, score) of these records: what `save_assessments` compares to, without
        loading each assessment's detail."""
        found: dict[str, Scored] = {}
        with self.session() as s:
            for chunk in _chunks(ids):
                rows = s.execute(select(AssessmentRow.record_id, AssessmentRow.tier, AssessmentRow.score).where(
                    AssessmentRow.job == job, AssessmentRow.object == obj, AssessmentRow.record_id.in_(chunk)))
                found.update({r: Scored(t, s_) for r, t, s_ in rows})
        return found

    def save_assessments(self, run_id: int, job: str, obj: str, rows: Sequence[AssessmentRecord | AssessmentRow],
                         previous: Mapping[str, Scored | AssessmentRow]) -> None:
        """Store the latest assessment of each record (insert or replace), and a history row for each
        record whose tier or score moved from `previous`."""
        history = []
        for row in rows:
            before = previous.get(row.record_id)
            if before is None or before.tier != row.tier or abs(before.score - row.score) >= 0.05:
                history.append({"run_id": run_id, "job": job, "object": obj, "record_id": row.record_id,
                                "score": row.score, "tier": row.tier,
                                "previous_tier": before.tier if before else None, "scored_at": row.scored_at})
        with self.session() as s:
            if history:
                table: Any = HistoryRow.__table__  # Core executemany: no ORM bulk-insert bookkeeping per row
                s.execute(insert(table), history)
            self._upsert(s, AssessmentRow, [_assessment_columns(r, run_id) for r in rows])

    def due_accounts(self, job: str, today: date, stale_before: date, limit: int) -> list[str]:
        """Accounts to score again although the CRM did not change them: an override that has expired, and
        the stalest assessments (ages and tenure move with the calendar), at most `limit` of those.

        A watchlist member below the entry tier is not due on its own: hysteresis counts the assessments
        that read the record for a reason of their own, so a run with no CRM change writes nothing."""
        with self.session() as s:
            expired = s.scalars(select(AssessmentRow.record_id).where(
                AssessmentRow.job == job, AssessmentRow.object == "accounts",
                AssessmentRow.override_until.is_not(None), AssessmentRow.override_until < today))
            stale = s.scalars(select(AssessmentRow.record_id).where(
                AssessmentRow.job == job, AssessmentRow.object == "accounts", AssessmentRow.as_of < stale_before)
                .order_by(AssessmentRow.as_of, AssessmentRow.record_id).limit(limit))
            return list(dict.fromkeys([*expired, *stale]))

    def tier_counts(self, job: str, obj: str = "accounts") -> dict[str, int]:
        with self.session() as s:  # counted by the database: the daemon asks after every run, of every record
            return {tier: n for tier, n in s.execute(select(AssessmentRow.tier, func.count()).where(
                AssessmentRow.job == job, AssessmentRow.object == obj).group_by(AssessmentRow.tier))}

    def watchlist_count(self, job: str) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(WatchRow).where(
                WatchRow.job == job, WatchRow.on_list.is_(True))) or 0)

    def riskiest(self, job: str, limit: int = 5) -> list[AssessmentRow]:
        with self.session() as s:
            return list(s.scalars(select(AssessmentRow).where(
                AssessmentRow.job == job, AssessmentRow.object == "accounts").order_by(
                AssessmentRow.score.desc(), AssessmentRow.record_id).limit(limit)))

    # --- outbox -----------------------------------------------------------------------------------
    def outbox(self, keys: Iterable[str]) -> dict[str, OutboxRow]:
        found: dict[str, OutboxRow] = {}
        with self.session() as s:
            for chunk in _chunks(keys):
                rows = s.scalars(select(OutboxRow).where(OutboxRow.key.in_(chunk)))
                found.update({r.key: r for r in rows})
        return found

    def latest_tasks(self, job: str, record_ids: Iterable[str]) -> dict[tuple[str, str], OutboxRow]:
        """The newest task per (record, escalation rule), to tell whether that escalation is still open."""
        latest: dict[tuple[str, str], OutboxRow] = {}
        with self.session() as s:
            for chunk in _chunks(record_ids):
                rows = s.scalars(select(OutboxRow).where(
                    OutboxRow.job == job, OutboxRow.kind == "task", OutboxRow.record_id.in_(chunk)))
                for row in rows:
                    slot = (row.record_id, str(row.payload.get("rule", "")))
                    if slot not in latest or int(row.payload.get("episode", 0)) > int(
                            latest[slot].payload.get("episode", 0)):
                        latest[slot] = row
        return latest

    def enqueue(self, rows: list[OutboxRow]) -> None:
        """Record intended task/tag mutations before they are sent; a known key is kept as it is."""
        if not rows:
            return
        table: Any = OutboxRow.__table__
        statement = (sqlite_insert if self.engine.dialect.name == "sqlite" else postgresql_insert)(table)
        columns = row_columns(OutboxRow)
        with self.session() as s:
            s.execute(statement.on_conflict_do_nothing(index_elements=["key"]), [columns(r) for r in rows])

    def pending_outbox(self, job: str) -> list[OutboxRow]:
        with self.session() as s:
            return list(s.scalars(select(OutboxRow).where(OutboxRow.job == job,
                                                          OutboxRow.status.in_(("pending", "failed")))
                                  .order_by(OutboxRow.created_at)))

    def held_tasks(self, job: str) -> Iterator[HeldTask]:
        """First-run tasks the caps held back, not yet released (plan.py, `first_run.py`), each with its
        record's recorded tier and score: streamed riskiest first (score, then record id, then key), so a
        release holds what it sends, not every high-risk account of a first run over a large org. Ties are
        ordered here, not by the database, whose collation may not sort ids as Python does."""
        a = AssessmentRow
        query = (select(OutboxRow.key, OutboxRow.object, OutboxRow.record_id, OutboxRow.payload, a.tier, a.score)
                 .outerjoin(a, (a.job == OutboxRow.job) & (a.object == "accounts") & (a.record_id == OutboxRow.record_id))
                 .where(OutboxRow.job == job, OutboxRow.kind == "task", OutboxRow.status == "held")
                 .order_by(a.score.desc().nulls_last()).execution_options(yield_per=PAGE // 5))  # rows of JSON
        with self.session() as s, s.execute(query) as result:  # closed (a server-side cursor) if left early
            rows = (HeldTask(*r) for r in result)
            for _, tied in groupby(rows, key=lambda r: r.score):
                yield from sorted(tied, key=lambda r: (r.record_id, r.key))

    def release_held(self, payloads: dict[str, dict[str, Any]]) -> None:
        """Held tasks become pending (sent now, resent by later runs until done): key -> payload as sent."""
        if not payloads:
            return
        table: Any = OutboxRow.__table__
        statement = update(table).where(table.c.key == bindparam("b_key"), table.c.status == "held").values(
            status="pending", payload=bindparam("b_payload", type_=JSON), updated_at=_now())
        with self.session() as s:
            s.execute(statement, [{"b_key": k, "b_payload": p} for k, p in payloads.items()])

    def close_outbox(self, settled: dict[str, tuple[str, str]]) -> None:
        """Settle outbox rows without sending them: key -> (status, reason), e.g. superseded, abandoned."""
        if not settled:
            return
        table: Any = OutboxRow.__table__
        statement = update(table).where(table.c.key == bindparam("b_key")).values(
            status=bindparam("b_status"), last_error=bindparam("b_reason"), updated_at=_now())
        with self.session() as s:
            s.execute(statement, [{"b_key": k, "b_status": st, "b_reason": r} for k, (st, r) in settled.items()])

    def settle_outbox(self, results: dict[str, tuple[bool, str | None, str | None]]) -> None:
        """Mark outbox keys done or failed: key -> (ok, error, crm id)."""
        if not results:
            return
        # One statement for every key (a key not in the outbox matches no row): an empty CRM id keeps the
        # one recorded before.
        table: Any = OutboxRow.__table__
        statement = update(table).where(table.c.key == bindparam("b_key")).values(
            attempts=table.c.attempts + 1, status=bindparam("b_status"), last_error=bindparam("b_error"),
            crm_id=func.coalesce(bindparam("b_crm_id", type_=table.c.crm_id.type), table.c.crm_id),
            updated_at=_now())
        with self.session() as s:
            s.execute(statement, [{"b_key": k, "b_status": "done" if ok else "failed", "b_error": error,
                                   "b_crm_id": crm_id or None} for k, (ok, error, crm_id) in results.items()])

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
            for chunk in _chunks(ids):
                s.execute(delete(IssueRow).where(IssueRow.job == job, IssueRow.object == obj,
                                                 IssueRow.record_id.in_(chunk)))

    # --- deal snapshot ------------------------------------------------------------------------------
    def save_deals(self, job: str, deals: list[Deal]) -> None:
        with self.session() as s:
            self._upsert(s, DealRow, [{"job": job, "record_id": d.id, "account_id": d.account_id,
                                       "values": as_stored(d.values), "current": as_stored(d.current),
                                       "modstamp": d.modstamp} for d in deals])

    def changed_deals(self, job: str, deals: list[Deal]) -> tuple[list[Deal], set[str]]:
        """The deals whose values or CRM outputs differ from the snapshot (new deals included), and the
        accounts that changed deals used to belong to (a deal moved between accounts changes both)."""
        known: dict[str, Any] = {}
        with self.session() as s:
            for chunk in _chunks(d.id for d in deals):
                rows = s.execute(select(DealRow.record_id, DealRow.account_id, DealRow.values, DealRow.current)
                                 .where(DealRow.job == job, DealRow.record_id.in_(chunk)))
                known.update({r.record_id: r for r in rows})
        changed, moved_from = [], set()
        for deal in deals:
            row = known.get(deal.id)
            if row is None or row.values != as_stored(deal.values) or _outputs_differ(row.current, deal.current):
                changed.append(deal)
                if row is not None and row.account_id and row.account_id != deal.account_id:
                    moved_from.add(row.account_id)
        return changed, moved_from

    def drop_deals(self, job: str, ids: list[str]) -> set[str]:
        """Remove deals from the snapshot (they lost their account link); returns the accounts they had."""
        with self.session() as s:
            accounts = {a for chunk in _chunks(ids) for a in s.scalars(select(DealRow.account_id).where(
                DealRow.job == job, DealRow.record_id.in_(chunk))) if a}
            for chunk in _chunks(ids):
                s.execute(delete(DealRow).where(DealRow.job == job, DealRow.record_id.in_(chunk)))
        return accounts

    def forget_accounts(self, job: str, ids: Iterable[str]) -> None:
        """An account the CRM no longer returns: drop what riskbridge keeps about it."""
        with self.session() as s:
            for chunk in _chunks(ids):
                for table in (AssessmentRow, WatchRow):
                    s.execute(delete(table).where(table.job == job, table.record_id.in_(chunk)))
                s.execute(delete(RescoreRow).where(RescoreRow.job == job, RescoreRow.account_id.in_(chunk)))

    def update_deal_outputs(self, job: str, outputs: dict[str, dict[str, Any]]) -> None:
        """After a successful write: the CRM now holds these output values (canonical name -> value)."""
        if not outputs:
            return
        # Merged into the stored JSON by the database, in one statement per set of output names (one in
        # practice): no row is read. Like {**current, **outputs}, a null output is kept as null.
        by_names: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for record_id, values in outputs.items():
            patch = as_stored(values)
            by_names.setdefault(tuple(patch), []).append({"b_id": record_id, "b_patch": patch})
        table: Any = DealRow.__table__
        with self.session() as s:
            for names, params in by_names.items():
                statement = update(table).where(table.c.job == job, table.c.record_id == bindparam("b_id")).values(
                    current=merged_json(self.engine.dialect.name, table.c.current, names))
                if self.engine.dialect.name == "sqlite":
                    for p in params:  # json_set takes the values one by one, each as JSON text
                        patch = p.pop("b_patch")
                        p.update({f"b_v{i}": json.dumps(patch[n]) for i, n in enumerate(names)})
                s.execute(statement, params)

    def deals_for_accounts(self, job: str, account_ids: Iterable[str]) -> list[Deal]:
        """The stored deals of these accounts, chunk by chunk, each chunk in deal id order (the order does
        not depend on the backend or the index used, so plans and audit entries come out the same).

        Sorted here, not by ORDER BY: SQLite would then walk the job's primary key to skip the sort and
        read every deal of the job for each chunk again."""
        deals: list[Deal] = []
        query = select(DealRow.record_id, DealRow.modstamp, DealRow.values, DealRow.current)
        with self.session() as s:
            for chunk in _chunks(account_ids):
                rows = sorted(s.execute(query.where(DealRow.job == job, DealRow.account_id.in_(chunk))),
                              key=lambda r: r.record_id)
                deals += [Deal(r.record_id, r.modstamp, _revive(r.values), r.current) for r in rows]
        return deals

    # --- accounts to score again -------------------------------------------------------------------
    def mark_rescore(self, job: str, account_ids: Iterable[str]) -> None:
        with self.session() as s:
            self._upsert(s, RescoreRow, [{"job": job, "account_id": a, "since": _now()}
                                         for a in dict.fromkeys(account_ids) if a])

    def rescore_ids(self, job: str) -> Iterator[str]:
        """The accounts marked for re-scoring, streamed a page at a time (a first full run marks them all)."""
        with self.session() as s, s.scalars(select(RescoreRow.account_id).where(RescoreRow.job == job)
                                            .order_by(RescoreRow.account_id).execution_options(yield_per=PAGE)) as ids:
            yield from ids

    def clear_rescore(self, job: str, account_ids: Iterable[str]) -> None:
        with self.session() as s:
            for chunk in _chunks(account_ids):
                s.execute(delete(RescoreRow).where(RescoreRow.job == job, RescoreRow.account_id.in_(chunk)))

    def account_ids(self, job: str) -> list[str]:
        """Every account this job has an assessment of (a source added later re-scores them all)."""
        with self.session() as s:
            return list(s.scalars(select(AssessmentRow.record_id).where(AssessmentRow.job == job,
                                                                         AssessmentRow.object == "accounts")))

    # --- outside sources: snapshots, links and read state ---------------------------------------------
    def source_state(self, job: str, source: str) -> SourceStateRow | None:
        with self.session() as s:
            return s.get(SourceStateRow, (job, source))

    def save_source_state(self, job: str, source: str, **values: Any) -> None:
        with self.session() as s:
            row = s.get(SourceStateRow, (job, source))
            if row is None:
                row = SourceStateRow(job=job, source=source, watermark={}, stats={}, read_at=_now())
                s.add(row)
            for name, value in values.items():
                setattr(row, name, value)
            row.read_at = _now()

    def source_rows(self, job: str, source: str) -> dict[str, SourceKeyRow]:
        with self.session() as s:
            return {r.key: r for r in s.scalars(select(SourceKeyRow).where(SourceKeyRow.job == job,
                                                                           SourceKeyRow.source == source))}

    def save_source_rows(self, job: str, source: str, rows: dict[str, tuple[str, dict[str, Any]]],
                         removed: Iterable[str] = ()) -> None:
        """Replace the snapshot rows of these keys (hash, values), keeping the account each is linked to."""
        with self.session() as s:
            for chunk in _chunks(removed):
                s.execute(delete(SourceKeyRow).where(SourceKeyRow.job == job, SourceKeyRow.source == source,
                                                     SourceKeyRow.key.in_(chunk)))
            links = {r.key: r.account_id for r in s.scalars(select(SourceKeyRow).where(
                SourceKeyRow.job == job, SourceKeyRow.source == source, SourceKeyRow.account_id.is_not(None)))}
            self._upsert(s, SourceKeyRow, [{"job": job, "source": source, "key": k, "row_hash": h,
                                            "values": as_stored(v), "account_id": links.get(k)}
                                           for k, (h, v) in rows.items()])

    def link_source_keys(self, job: str, source: str, links: dict[str, str]) -> None:
        """Remember which account holds each key (a key no row carries yet too): a row appearing or
        changing later re-scores that account."""
        if not links:
            return
        with self.session() as s:
            known = {r.key: r for chunk in _chunks(links) for r in s.scalars(select(SourceKeyRow).where(
                SourceKeyRow.job == job, SourceKeyRow.source == source, SourceKeyRow.key.in_(chunk)))}
            fresh: list[dict[str, Any]] = []
            for key, account in links.items():
                if key in known:
                    known[key].account_id = account
                else:
                    fresh.append({"job": job, "source": source, "key": key, "row_hash": None, "values": {},
                                  "account_id": account})
            self._upsert(s, SourceKeyRow, fresh)

    def source_accounts(self, job: str, source: str, keys: Iterable[str]) -> set[str]:
        """The accounts linked to these keys of a source."""
        found: set[str] = set()
        with self.session() as s:
            for chunk in _chunks(keys):
                found.update(a for a in s.scalars(select(SourceKeyRow.account_id).where(
                    SourceKeyRow.job == job, SourceKeyRow.source == source, SourceKeyRow.key.in_(chunk))) if a)
        return found

    # --- the per-job lease --------------------------------------------------------------------------
    def acquire(self, job: str, owner: str, ttl: timedelta, take_over: Callable[[str], bool] | None = None) -> bool:
        """Take the job's lease unless another live owner holds it. Atomic on SQLite and PostgreSQL: one
        statement inserts the lease, or renews it where it expired or is ours, and returns the row only when
        it did; of replicas racing for it, PostgreSQL's row lock on the conflicting key lets exactly one win.

        `take_over(holder)` may declare the current holder dead (a crashed process on this host)."""
        now = self._lease_now()
        if take_over is not None:
            with self.session() as s:  # FOR UPDATE: a replica renewing the lease meanwhile waits for this verdict
                holder = s.scalar(select(LockRow).where(LockRow.job == job).with_for_update())
                if holder is not None and holder.owner != owner and take_over(holder.owner):
                    log.warning("job %s: taking over the lock of %s, which is no longer running", job, holder.owner)
                    # Only the dead owner's row: on SQLite (no FOR UPDATE) a replica racing us may have taken over
                    # already, and a delete by job alone would drop its fresh lease and let us both win.
                    s.execute(delete(LockRow).where(LockRow.job == job, LockRow.owner == holder.owner))
        table: Any = LockRow.__table__
        statement = (sqlite_insert if self.engine.dialect.name == "sqlite" else postgresql_insert)(table).values(
            job=job, owner=owner, expires_at=now + ttl)
        statement = statement.on_conflict_do_update(
            index_elements=["job"], set_={"owner": owner, "expires_at": now + ttl},
            where=(table.c.expires_at < now) | (table.c.owner == owner))
        with self.session() as s:
            return s.execute(statement.returning(table.c.owner)).scalar() == owner

    def has_synced(self, job: str) -> bool:
        """True once a real (not dry) run of the job has finished with success."""
        with self.session() as s:
            return s.scalar(select(RunRow.id).where(RunRow.job == job, RunRow.status == "success",
                                                    RunRow.dry_run.is_(False)).limit(1)) is not None

    def abandon_runs(self, job: str) -> None:
        """Mark runs still 'running' as failed: called by the lease holder, so none of them is alive."""
        with self.session() as s:
            s.execute(update(RunRow).where(RunRow.job == job, RunRow.status == "running").values(
                status="failed", error="abandoned: the process ended without finishing the run", finished_at=_now()))

    def release(self, job: str, owner: str) -> None:
        """Give the lease back; a lease another owner has taken over meanwhile is left alone."""
        with self.session() as s:
            s.execute(delete(LockRow).where(LockRow.job == job, LockRow.owner == owner))

    # --- watchlist --------------------------------------------------------------------------------
    def watch_states(self, job: str, ids: Iterable[str]) -> dict[str, WatchRecord]:
        found: dict[str, WatchRecord] = {}
        query = select(WatchRow.record_id, WatchRow.on_list, WatchRow.runs_below, WatchRow.since)
        with self.session() as s:
            for chunk in _chunks(ids):
                rows = s.execute(query.where(WatchRow.job == job, WatchRow.record_id.in_(chunk)))
                found.update({r: WatchRecord(job, r, on_list, runs_below, since) for r, on_list, runs_below, since in rows})
        return found

    def save_watch_states(self, rows: Sequence[WatchRecord | WatchRow]) -> None:
        with self.session() as s:
            self._upsert(s, WatchRow, [{"job": r.job, "record_id": r.record_id,
                                        "on_list": r.on_list if r.on_list is not None else False,
                                        "runs_below": r.runs_below if r.runs_below is not None else 0,
                                        "since": r.since} for r in rows])

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
    def audit(self, job: str, run_id: int, entries: list[audit_log.AuditEntry], settled: Iterable[str] = ()) -> None:
        """Chain entries for writes the CRM accepted onto the audit log and settle the pending writes keyed
        `settled`, in one transaction (safe for concurrent appenders). Details hold field names and values,
        never secrets."""
        audit_log.append(self.session, job, run_id, entries, _now(), settled=list(settled))

    def expect_writes(self, job: str, run_id: int, entries: list[audit_log.AuditEntry]) -> None:
        """Record field updates about to be sent; `audit(settled=...)` clears each once the CRM answers."""
        if entries:
            now = _now()
            with self.session() as s:
                self._upsert(s, PendingWriteRow, [{"key": e.key, "job": job, "run_id": run_id, "object": e.object,
                                                   "record_id": e.record_id, "detail": e.detail, "sent_at": now}
                                                  for e in entries])

    def pending_writes(self, job: str) -> list[PendingWriteRow]:
        """Field updates sent by an earlier run whose answer was never recorded."""
        with self.session() as s:
            return list(s.scalars(select(PendingWriteRow).where(PendingWriteRow.job == job)
                                  .order_by(PendingWriteRow.sent_at, PendingWriteRow.key)))

    def audit_entries(self, run_id: int | None = None, *, job: str | None = None, record_id: str | None = None,
                      since: datetime | None = None, after_id: int = 0, limit: int | None = None
                      ) -> list[audit_log.StoredEntry]:
        """Audit entries in chain order, filtered; page with `after_id` and `limit`. Read as stored, untrusted
        (`audit.from_stored`): a tampered value fails `audit verify`, not the read."""
        with self.session() as s:
            query = select(*audit_log.stored_columns()).where(AuditRow.id > after_id).order_by(AuditRow.id)
            if run_id is not None:
                query = query.where(AuditRow.run_id == run_id)
            if job is not None:
                query = query.where(AuditRow.job == job)
            if record_id is not None:
                query = query.where(AuditRow.record_id == record_id)
            if since is not None:
                query = query.where(AuditRow.at >= since)
            rows = s.execute(query if limit is None else query.limit(limit))
            return [audit_log.from_stored(r._mapping) for r in rows]

    def iter_audit(self, page: int = 5000, after_id: int = 0, **filters: Any) -> Iterator[audit_log.StoredEntry]:
        """Audit entries after `after_id` in chain order, read a page at a time (memory stays bounded)."""
        after = after_id
        while True:
            rows = self.audit_entries(after_id=after, limit=page, **filters)
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1].id

    def renew(self, job: str, owner: str, ttl: timedelta) -> bool:
        """Extend a lease `owner` still holds; False if it passed to another owner or was released meanwhile
        (unlike `acquire`, never takes the lease afresh: a run whose lease another run held since must stop)."""
        with self.session() as s:
            result = s.execute(update(LockRow).where(LockRow.job == job, LockRow.owner == owner).values(
                expires_at=self._lease_now() + ttl))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def _lease_now(self) -> Any:
        """Now, for leases: PostgreSQL's own clock, so replicas on hosts whose clocks differ agree on when a
        (60 s) lease lapses; SQLite's replicas share one host and its clock."""
        return _now() if self._sqlite else func.now()

    # --- deal snapshot, continued: the prune after a full read ---------------------------------------------
    def prune_unseen_deals(self, job: str, missing: Callable[[Iterable[str]], list[str]]) -> set[str]:
        """Drop snapshot deals a full read did not return (deleted in the CRM); returns their accounts.
        `missing(ids)` returns the ids the full read did not return (`IdSet.missing`):
        the snapshot is compared with them a chunk at a time, never all held at once."""
        gone: list[tuple[str, str | None]] = []
        with self.session() as s:
            # Streamed: the ORM buffers a whole result unless told otherwise (2,000,000 rows cost 650 MiB).
            rows = s.execute(select(DealRow.record_id, DealRow.account_id).where(DealRow.job == job)
                             .execution_options(yield_per=PAGE))
            for chunk in rows.partitions():
                accounts: dict[str, str | None] = dict(chunk)  # record id -> account id
                gone += [(r, accounts[r]) for r in missing(accounts)]
            for ids in _chunks(r for r, _ in gone):
                s.execute(delete(DealRow).where(DealRow.job == job, DealRow.record_id.in_(ids)))
        return {a for _, a in gone if a}

    # --- the run-wide Bulk API 2.0 jobs of a large run -----------------------------------------------------
    def open_bulk_job(self, job: str, run_id: int, obj: str, crm_job_id: str) -> None:
        """Remember a bulk write job before any cursor moves past the rows it carries."""
        with self.session() as s:
            s.add(BulkJobRow(job=job, crm_job_id=crm_job_id, object=obj, run_id=run_id, opened_at=_now()))

    def bulk_jobs(self, job: str) -> list[BulkJobRow]:
        """The bulk write jobs of `job` not settled yet, oldest first."""
        with self.session() as s:
            return list(s.scalars(select(BulkJobRow).where(BulkJobRow.job == job)
                                  .order_by(BulkJobRow.opened_at, BulkJobRow.crm_job_id)))

    def close_bulk_jobs(self, job: str, crm_job_ids: Iterable[str]) -> None:
        ids = list(crm_job_ids)
        with self.session() as s:
            for chunk in _chunks(ids):
                s.execute(delete(BulkJobRow).where(BulkJobRow.job == job, BulkJobRow.crm_job_id.in_(chunk)))

    def pending_writes_by_key(self, keys: Iterable[str]) -> dict[str, PendingWriteRow]:
        """The pending field updates with these keys (a settled bulk job's rows, a chunk at a time)."""
        found: dict[str, PendingWriteRow] = {}
        with self.session() as s:
            for chunk in _chunks(keys):
                found.update((r.key, r) for r in s.scalars(select(PendingWriteRow).where(PendingWriteRow.key.in_(chunk))))
        return found


class Fingerprint(NamedTuple):
    """An account's last recorded assessment, as far as deciding whether to score it again needs it."""

    model_version: str
    as_of: str | None  # the detail's day (ISO)
    values_hash: str | None
    outputs: dict[str, Any]  # the outputs it left in the CRM, as recorded


class Prior(NamedTuple):
    """A record's recorded assessment, as the planner compares a new one with it (`StateStore.priors`)."""

    tier: str
    scored_at: datetime
    flags: list[str]  # a deal's flag codes ([] for an account)
    run_id: int | None  # the run that recorded it; None for rows stored before revision 0006


class HeldTask(NamedTuple):
    """A held first-run task and its record's recorded assessment, if any (`StateStore.held_tasks`)."""

    key: str
    object: str
    record_id: str
    payload: dict[str, Any]
    tier: str | None  # None: the record has no recorded assessment yet (its writes failed and are retried)
    score: float | None


class Scored(NamedTuple):
    """A record's recorded tier and score (`StateStore.scores`)."""

    tier: str
    score: float


_ASSESSMENT_COLUMNS = tuple(c.name for c in AssessmentRow.__table__.columns if c.name != "run_id")


def _assessment_columns(row: AssessmentRecord | AssessmentRow, run_id: int) -> dict[str, Any]:
    """An assessment's statement parameters, recorded by run `run_id`; a missing detail is stored as {}
    (the column default)."""
    values = {name: getattr(row, name) for name in _ASSESSMENT_COLUMNS}
    values["run_id"] = run_id
    if values["detail"] is None:
        values["detail"] = {}
    return values


def _outputs_differ(stored: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether the CRM's output values differ from the snapshot's, as the CRM formats them. Identical
    values need no normalising (the usual case, and `_norm` is costly: it tries float() on every text)."""
    read = as_stored(current)
    return stored != read and _norm(stored) != _norm(read)


def _norm(outputs: dict[str, Any]) -> dict[str, Any]:
    """Output values compared the way the CRM formats them: numbers rounded, no timestamps."""
    out: dict[str, Any] = {}
    for key, value in outputs.items():
        if key == "scored_at":
            continue
        if isinstance(value, str):
            value = _text_output(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = round(float(value), 2)
        out[key] = value
    return out


@lru_cache(maxsize=4096)
def _text_output(value: str) -> Any:
    """A text output as `_norm` compares it; cached because the same reasons and tiers recur on thousands of
    deals and a failed float() (an exception) is the costly part."""
    try:
        return round(float(value), 2)
    except ValueError:
        return value.strip() or None


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

