"""Tick claims: which replica runs each scheduled fire of a job or monitor, kept in the state store.

A `Tick` is (job, kind, due): the fire time APScheduler scheduled, which every replica computes alike from
the same cron, so it names one tick on all of them. Claiming inserts the tick's row once (INSERT … ON
CONFLICT DO NOTHING): the first replica wins and the rest see the row and skip. A claim is only a promise;
the run itself needs the job's lease (`StateStore.acquire`), and a claim whose owner does not hold the lease
is an orphan that any lease holder adopts (`TickBook.adopt`): so a claimer that crashed, or that found the
job busy, leaves its tick to the next replica that wakes up, and none is lost.

States: ``claimed`` (owed), ``done`` (its own run ran it), ``covered`` (a run that started after it was
claimed ran in its stead: a late tick is never run twice), ``failed`` (the run could not start).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from connector.state import StateStore
from connector.tables import RunRow, TickRow

__all__ = ["KEEP", "Tick", "TickBook"]

log = logging.getLogger(__name__)

KEEP = timedelta(days=7)  # settled claims older than this are pruned; the runs table keeps the history
# Runs that did not do a tick's work, by the start of their recorded error: one whose process died
# (`StateStore.abandon_runs`), and one that lost its lease and stopped before writing (`Sync._renew`).
NOT_COVERING = ("abandoned", "JobBusy")


@dataclass(frozen=True)
class Tick:
    """One scheduled fire: `kind` is "job" or "monitor"; `due` is the scheduled (not the actual) time."""

    job: str
    kind: str
    due: datetime

    def __post_init__(self) -> None:
        # One spelling for every replica: UTC, aware. SQLite keeps the wall time only, PostgreSQL the instant.
        due = self.due if self.due.tzinfo else self.due.replace(tzinfo=UTC)
        object.__setattr__(self, "due", due.astimezone(UTC))

    @classmethod
    def of(cls, row: TickRow) -> Tick:
        return cls(row.job, row.kind, row.due_at)

    def __str__(self) -> str:
        return f"{self.kind} {self.job} @ {self.due.isoformat()}"


class TickBook:
    """The claims table, through the state store's engine (short transactions, one statement each where
    another replica may race, so SQLite never has to upgrade a read lock)."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def claim(self, tick: Tick, owner: str) -> bool:
        """Insert the tick's claim; True if this call made it, False if another replica (or an earlier call)
        already holds the row."""
        now = datetime.now(UTC)
        newest = select(func.coalesce(func.max(RunRow.id), 0)).scalar_subquery()
        table: Any = TickRow.__table__
        insert = sqlite_insert if self.store.engine.dialect.name == "sqlite" else postgresql_insert
        values = insert(table).values(job=tick.job, kind=tick.kind, due_at=tick.due, state="claimed",
                                      claimed_by=owner, owner=owner, after_run=newest, claimed_at=now)
        # RETURNING, not rowcount: drivers disagree on the rowcount of a conflicting INSERT (psycopg: -1).
        statement = values.on_conflict_do_nothing(index_elements=["job", "kind", "due_at"]).returning(table.c.job)
        with self.store.session() as s:
            return s.execute(statement).first() is not None

    def pending(self, job: str) -> list[TickRow]:
        """The job's claims still owed, oldest first."""
        with self.store.session() as s:
            return list(s.scalars(select(TickRow).where(TickRow.job == job, TickRow.state == "claimed")
                                  .order_by(TickRow.due_at)))

    def adopt(self, job: str, owner: str) -> list[TickRow]:
        """Make every owed claim of the job `owner`'s, and return them (oldest first).

        Only the holder of the job's lease may call this: no other owner can be running a claim then (a run
        needs the lease, and a replica that lost it stops before writing), so each claim it finds is an
        orphan or a claim whose claimer found the job busy."""
        with self.store.session() as s:
            s.execute(update(TickRow).where(TickRow.job == job, TickRow.state == "claimed").values(owner=owner))
        with self.store.session() as s:
            return list(s.scalars(select(TickRow).where(TickRow.job == job, TickRow.state == "claimed",
                                                        TickRow.owner == owner).order_by(TickRow.due_at)))

    def covering_run(self, row: TickRow) -> int | None:
        """The first run of the tick's job and kind that began after the tick was claimed and finished (not
        abandoned by a dead process, not stopped for a lost lease), or None: such a run did the tick's
        work, whoever started it."""
        with self.store.session() as s:
            runs = s.execute(select(RunRow.id, RunRow.status, RunRow.error, RunRow.summary).where(
                RunRow.job == row.job, RunRow.id > row.after_run, RunRow.dry_run.is_(False),
                RunRow.status != "running").order_by(RunRow.id)).all()
        for run_id, _status, error, summary in runs:
            if (error or "").startswith(NOT_COVERING):
                continue
            if ("monitor" in (summary or {})) == (row.kind == "monitor"):
                return int(run_id)
        return None

    def owns(self, run_id: int) -> bool:
        """True if a tick is settled as done by this run."""
        with self.store.session() as s:
            return s.scalar(select(TickRow.job).where(TickRow.run_id == run_id, TickRow.state == "done")
                            .limit(1)) is not None

    def settle(self, ticks: Iterable[Tick], owner: str, state: str, run_id: int | None) -> int:
        """Mark claims `owner` still answers for as `state`; a claim adopted by another replica meanwhile
        (this one lost its lease) is left to it. Returns how many were marked."""
        marked = 0
        with self.store.session() as s:
            for tick in ticks:
                result = s.execute(update(TickRow).where(
                    TickRow.job == tick.job, TickRow.kind == tick.kind, TickRow.due_at == tick.due,
                    TickRow.owner == owner, TickRow.state == "claimed").values(
                    state=state, run_id=run_id, settled_at=datetime.now(UTC)))
                marked += result.rowcount  # type: ignore[attr-defined]
        return marked

    def prune(self, now: datetime, keep: timedelta = KEEP) -> int:
        """Delete settled claims due before `now - keep`; owed ones stay whatever their age."""
        with self.store.session() as s:
            result = s.execute(delete(TickRow).where(TickRow.state != "claimed", TickRow.due_at < now - keep))
            return int(result.rowcount)  # type: ignore[attr-defined]

    def rows(self, job: str | None = None) -> list[TickRow]:
        """Every claim (of one job), by due time: for tests, the benchmark and `schedule list`."""
        with self.store.session() as s:
            query = select(TickRow).order_by(TickRow.due_at, TickRow.kind)
            return list(s.scalars(query.where(TickRow.job == job) if job else query))
