"""The last runs of each job and monitor, read from the state store's run history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select

from connector.state import StateStore
from connector.tables import RunRow

__all__ = ["Kind", "LastRun", "is_monitor", "last_runs", "last_success"]

Kind = Literal["job", "monitor"]
SCAN = 500  # recent runs looked at per job: enough to pass many monitor runs since the last full one


@dataclass(frozen=True)
class LastRun:
    run_id: int
    status: str
    started_at: datetime
    finished_at: datetime | None
    reason: str | None  # why it was not a success: the error, the stop, or the failed records


def is_monitor(row: RunRow) -> bool:
    return isinstance(row.summary, dict) and "monitor" in row.summary


def _utc(stamp: datetime) -> datetime:
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _reason(row: RunRow) -> str | None:
    if row.status == "success":
        return None
    summary = row.summary if isinstance(row.summary, dict) else {}
    if row.error:
        return row.error
    if summary.get("stopped"):
        return str(summary["stopped"])
    failures = summary.get("failures") or []
    if failures:
        first = failures[0]
        return f"{len(failures)} records failed, first {first.get('object')} {first.get('id')}: {first.get('reason')}"
    if summary.get("mapping_warnings"):
        return "the mapping is probably wrong: " + str(summary["mapping_warnings"][0].get("message"))
    return None if row.status == "running" else row.status


def _recent(store: StateStore, job: str) -> list[RunRow]:
    with store.session() as s:
        return list(s.scalars(select(RunRow).where(RunRow.job == job, RunRow.dry_run.is_(False))
                              .order_by(RunRow.id.desc()).limit(SCAN)))


def last_runs(store: StateStore, job: str) -> dict[Kind, LastRun]:
    """The newest real (not dry) run of the job itself and of its monitor, where there is one."""
    found: dict[Kind, LastRun] = {}
    for row in _recent(store, job):
        kind: Kind = "monitor" if is_monitor(row) else "job"
        if kind not in found:
            found[kind] = LastRun(row.id, row.status, _utc(row.started_at),
                                  _utc(row.finished_at) if row.finished_at else None, _reason(row))
    return found


def last_success(store: StateStore, job: str) -> datetime | None:
    """When the job's last successful full (not monitor) run finished."""
    with store.session() as s:
        rows = s.scalars(select(RunRow).where(RunRow.job == job, RunRow.status == "success",
                                              RunRow.dry_run.is_(False)).order_by(RunRow.id.desc()).limit(SCAN))
        for row in rows:
            if not is_monitor(row) and row.finished_at is not None:
                return _utc(row.finished_at)
    return None
