"""The record stage: what a run did (`RunReport`) and how apply results are written to the state store."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from connector import crashpoint
from connector.model import ApplyResult, FieldUpdate, TagAdd, TaskCreate, WriteOp, WritePlan
from connector.plan import Planned
from connector.state import StateStore

__all__ = ["LISTED", "Listed", "ObjectCounts", "RunReport", "describe_op", "record"]

LISTED = 1_000  # the failed or skipped records a run report lists by name; the rest are counted


class Listed(list[dict[str, str]]):
    """A run's failed or skipped records as its report lists them: every one counted (`total`), the first
    `LISTED` listed. Each is also a record issue in the store, fetched again by id next run; a run over a
    million records that all fail alike (a validation rule) keeps a thousand lines in memory and in its
    stored summary, not a million."""

    def __init__(self, entries: Iterable[dict[str, str]] = ()) -> None:
        super().__init__()
        self.total = 0
        self.extend(entries)

    def append(self, entry: dict[str, str]) -> None:
        self.total += 1
        if len(self) < LISTED:
            super().append(entry)

    def extend(self, entries: Iterable[dict[str, str]]) -> None:
        for entry in entries:
            self.append(entry)
        if isinstance(entries, Listed):  # what it only counted
            self.total += entries.total - len(entries)

    def __iadd__(self, entries: Iterable[dict[str, str]]) -> Listed:  # type: ignore[override,misc]
        self.extend(entries)
        return self

    def take_back(self, entries: list[dict[str, str]]) -> None:
        """Withdraw these entries (each added once), whether listed or only counted."""
        gone = {id(e) for e in entries}
        self[:] = [e for e in self if id(e) not in gone]
        self.total -= len(gone)

    def to_json(self, name: str) -> dict[str, Any]:
        return {name: list(self), f"{name}_total": self.total} if self.total else {}


@dataclass
class ObjectCounts:
    """Per object: rows read, rows that were only echoes of riskbridge's own writes (`unchanged`), then
    records mapped, skipped (unreadable values), scored, changed (a write planned), written and failed."""

    extracted: int = 0
    unchanged: int = 0
    mapped: int = 0
    skipped: int = 0
    scored: int = 0
    changed: int = 0
    written: int = 0
    failed: int = 0


def _objects() -> dict[str, ObjectCounts]:
    return {"accounts": ObjectCounts(), "deals": ObjectCounts()}


@dataclass
class RunReport:
    """What one run did; `to_json()` is the `--json` output."""

    run_id: int
    job: str
    dry_run: bool
    status: str = "running"
    objects: dict[str, ObjectCounts] = field(default_factory=_objects)
    tasks_created: int = 0
    tags_added: int = 0
    tags_removed: int = 0
    resent: int = 0  # task/tag mutations an earlier run left unfinished, sent again (already counted then)
    api_calls: int = 0
    api_usage: tuple[int, int] | None = None  # (used, daily allowance) as the CRM reports it
    duration_s: float = 0.0
    stopped: str | None = None
    error: str | None = None  # why a failed run failed
    failures: Listed = field(default_factory=Listed)
    skipped: Listed = field(default_factory=Listed)
    plan: list[dict[str, Any]] = field(default_factory=list)  # dry run: every write that would happen
    # Inputs that failed on most rows of a batch: the mapping, not the data, is probably wrong; never `success`.
    mapping_warnings: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # per outside source: rows, matches, changes
    # First-run tasks (connector/first_run.py): created or planned now, still held back, the caps.
    first_run: dict[str, Any] | None = None
    # Dry run, for the plan summary (connector/plan_review.py): "object|before|after" -> count, and the
    # record ids entering and leaving the watchlist.
    tier_moves: dict[str, int] = field(default_factory=dict)
    watch_moves: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self, plan: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status, "run_id": self.run_id, "job": self.job,
            "objects": {k: asdict(v) for k, v in self.objects.items()},
            "tasks_created": self.tasks_created, "tags_added": self.tags_added, "tags_removed": self.tags_removed,
            "resent": self.resent,
            "api_calls": self.api_calls, "duration_s": round(self.duration_s, 3),
        }
        if self.api_usage is not None:
            out["api_usage"] = {"used": self.api_usage[0], "limit": self.api_usage[1]}
        if self.dry_run:
            from connector.plan_review import summary  # plan_review builds on describe_op, below

            out["dry_run"] = True
            out["plan_summary"] = summary(self.plan, self.tier_moves, self.watch_moves, self.first_run)
            if plan:
                out["plan"] = self.plan
        if self.stopped:
            out["stopped"] = self.stopped
        if self.error:
            out["error"] = self.error
        if self.sources:
            out["sources"] = self.sources
        out.update(self.failures.to_json("failures"))
        out.update(self.skipped.to_json("skipped"))
        if self.mapping_warnings:
            out["mapping_warnings"] = self.mapping_warnings
        if self.first_run is not None:
            out["first_run"] = self.first_run
        return out


def record(store: StateStore, job: str, report: RunReport, plan: WritePlan, result: ApplyResult,
           planned: list[Planned]) -> set[str]:
    """Store what the CRM accepted: assessments, watchlist state, outbox status and issues (the engine has
    already audited every accepted write, as the CRM acknowledged it).

    Returns the accounts recorded in full. An account and its deals are one unit: if a write of either
    was never attempted (the quota ran out), none of the unit's assessments is stored, so the next run
    plans the same writes again (its account stays marked for re-scoring; its row stays behind the
    cursor). A record whose write failed keeps its old assessment and becomes a record issue, fetched
    again by id on the next run.
    """
    account_of = {p.assessment.record_id: str(p.assessment.detail.get("account_id") or "") for p in planned
                  if p.assessment.object == "deals"}
    failed: dict[tuple[str, str], str] = {}
    unattempted: set[str] = set()  # account ids whose unit has an op the CRM never saw
    for op in plan.ops():
        outcome = result.outcomes.get(op.key)
        if outcome is None:
            unattempted.add(op.record_id if op.object == "accounts" else account_of.get(op.record_id, ""))
            continue
        if not outcome.ok:
            if (op.object, op.record_id) not in failed:
                report.objects[op.object].failed += 1
            failed[(op.object, op.record_id)] = outcome.error or "failed"
            report.failures.append({"object": op.object, "id": op.record_id, "op": _op_name(op),
                                    "reason": outcome.error or "failed"})
            continue
        if isinstance(op, FieldUpdate):
            report.objects[op.object].written += 1
        elif isinstance(op, TaskCreate):
            report.tasks_created += 1
        elif isinstance(op, TagAdd):
            report.tags_added += 1
        else:
            report.tags_removed += 1
    outbox_ops: list[WriteOp] = [*plan.tasks, *plan.tag_adds, *plan.tag_removes]
    store.settle_outbox({op.key: (o.ok, o.error, o.crm_id) for op in outbox_ops
                         if (o := result.outcomes.get(op.key)) is not None})
    crashpoint.reached("settled")
    recorded: set[str] = set()
    for kind in ("accounts", "deals"):
        mine = [p for p in planned if p.assessment.object == kind]
        unit = (lambda p: p.assessment.record_id) if kind == "accounts" else (
            lambda p: account_of.get(p.assessment.record_id, ""))
        ok = [p for p in mine if (kind, p.assessment.record_id) not in failed and unit(p) not in unattempted]
        if not mine:
            continue
        previous = store.scores(job, kind, [p.assessment.record_id for p in ok])
        store.save_assessments(report.run_id, job, kind, [p.assessment for p in ok], previous)
        watch = [p.watch for p in ok if p.watch is not None]
        if watch:
            store.save_watch_states(watch)
        if kind == "deals":
            store.update_deal_outputs(job, {p.assessment.record_id: p.outputs for p in ok})
        else:
            recorded = {p.assessment.record_id for p in ok}
        store.record_issues(report.run_id, job, kind,
                            {rid: ("apply", reason) for (k, rid), reason in failed.items() if k == kind})
        store.resolve_issues(job, kind, [p.assessment.record_id for p in ok])
    return recorded


def _op_name(op: WriteOp) -> str:
    return {FieldUpdate: "update", TaskCreate: "task", TagAdd: "tag_add"}.get(type(op), "tag_remove")


def describe_op(op: WriteOp) -> dict[str, Any]:
    """A JSON-able line of the dry-run plan."""
    if isinstance(op, FieldUpdate):
        return {"op": "update", "object": op.object, "id": op.record_id,
                "changes": {k: [_plain(o), _plain(n)] for k, (o, n) in op.changes.items()}}
    if isinstance(op, TaskCreate):
        return {"op": "task", "object": op.object, "id": op.record_id, "key": op.key, "owner": op.owner_id,
                "subject": op.subject, "due": op.due.isoformat(), "priority": op.priority}
    return {"op": _op_name(op), "object": op.object, "id": op.record_id, "tag": op.tag}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value  # datetimes too
