"""The engine: one run of one job, wiring extract -> map -> score -> plan -> apply -> record.

A run reads the deals changed since the deal cursor into the deal snapshot (so every account is
scored with all its open deals without re-reading them), then the accounts changed since the
account cursor, then the accounts of changed deals that were not among them. Each account batch is
scored with its deals, planned, applied and recorded before the next is read: memory is bounded
by the batch size. Cursors never pass the run's start time and move only after the writes they
cover are recorded; records that could not be mapped or written become record issues and are
fetched again by id on the next run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connector.config import Config
from connector.crm import open_client
from connector.crm.base import Capabilities, CRMClient, ObjectSpec, RetryPolicy
from connector.errors import ConfigProblem, MappingError, QuotaExhausted
from connector.mapping import Mapping, RecordIssue, map_rows
from connector.model import Account, ApplyResult, Cursor, Deal, ObjectKind, TagAdd, TagRemove, TaskCreate, WritePlan
from connector.outcome import ObjectCounts, RunReport, describe_op, record
from connector.plan import BatchPlanner
from connector.state import StateStore
from connector.transforms import Unconvertible, parse_datetime
from scoring.deals import assess_deals
from scoring.engine import assess
from scoring.scorecard import Scorecard, load_scorecard

__all__ = ["ObjectCounts", "RunReport", "Sync"]

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Sync:
    """Runs one job. Build it once per run; `run()` never prints."""

    def __init__(self, config: Config, job: str | None = None, *, store: StateStore | None = None,
                 client: CRMClient | None = None, clock: Callable[[], datetime] = _utcnow,
                 policy: RetryPolicy | None = None, progress: Callable[[str, int], None] | None = None) -> None:
        self.config = config
        self.job_name, self.job = config.job(job)
        self.mapping: Mapping = config.mappings[self.job_name]
        self.conn = config.connections[self.job.connection]
        self.store = store or StateStore(config.state_url)
        self.clock = clock
        self.progress = progress or (lambda _stage, _n: None)
        self.scorecard: Scorecard = load_scorecard(None if self.job.scorecard == "default" else self.job.scorecard)
        self.specs = {kind: self._spec(kind) for kind in self.job.objects}
        objects: dict[str, str] = {kind: spec.name for kind, spec in self.specs.items()}
        self.client = client or open_client(self.conn, objects=objects, policy=policy,
                                            bulk_threshold=self.job.bulk_threshold, topic_tag=self.job.watchlist.topic)
        self._overlay: dict[str, Deal] = {}  # dry run: deals read this run, kept out of the store

    def _spec(self, kind: ObjectKind) -> ObjectSpec:
        obj = self.mapping.object(kind)
        return ObjectSpec(kind=kind, name=obj.object, cursor_field=obj.cursor_field, fields=obj.read_fields(),
                          page_size=self.job.batch_size, parent_field=obj.parent_field)

    # --- the run ----------------------------------------------------------------------------------
    def run(self, *, dry_run: bool = False, full: bool = False) -> RunReport:
        dry_run = dry_run or self.job.dry_run
        run_id = self.store.start_run(self.job_name, dry_run=dry_run, full=full)
        report = RunReport(run_id=run_id, job=self.job_name, dry_run=dry_run)
        started = time.monotonic()
        start = self.clock()
        self.planner = BatchPlanner(job_name=self.job_name, job=self.job, mapping=self.mapping, crm=self.conn.crm,
                                    run_id=run_id, now=start, store=self.store, client=self.client,
                                    model_version=self.scorecard.version)
        error: str | None = None
        try:
            self._check(self.client.check(list(self.specs.values())))
            if not dry_run:
                self._flush_outbox(report)
            deal_cursor, deal_accounts = (self._read_deals(report, start, dry_run, full) if "deals" in self.specs
                                          else (None, set()))
            done = self._accounts_pass(report, start, dry_run, full, deal_accounts)
            rest = sorted(deal_accounts - done)
            if rest:
                log.info("re-scoring %d accounts whose deals changed", len(rest))
                for page in self.client.fetch(self.specs["accounts"], rest):
                    self._process(page.rows, report, dry_run, force=set(rest))
            if deal_cursor is not None and not dry_run:
                self.store.save_cursor(self.job_name, "deals", deal_cursor)
        except QuotaExhausted as exc:
            report.stopped = f"API quota exhausted: {exc}"
            log.warning("run %d stopped cleanly, cursor kept: %s", run_id, exc)
        except Exception as exc:
            report.status = "failed"
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            report.api_calls = self.client.api_calls
            report.api_usage = self.client.api_usage
            report.duration_s = time.monotonic() - started
            if report.status != "failed":
                report.status = "partial" if (report.failures or report.stopped) else "success"
            self.store.finish_run(run_id, report.status, report.to_json(), report.api_calls, error)
            self.client.close()
        return report

    def _check(self, caps: Capabilities) -> None:
        """Every mapped field must exist and outputs must be writable, before any write."""
        problems = []
        for kind, spec in self.specs.items():
            if spec.name not in caps.fields:
                continue  # the client could not describe it; the first query will say why
            id_field = self.mapping.object(kind).id_field  # Zoho's field metadata does not list `id`
            for name in caps.missing(spec.name, [f.split(".", 1)[0] for f in spec.fields if f != id_field]):
                problems.append(ConfigProblem(self.mapping.source, kind, f"field {name!r} does not exist on "
                                              f"{spec.name} or is not visible to the integration user",
                                              "create the field, fix the mapping, or check field-level security"))
            for name in caps.not_updateable(spec.name, list(self.mapping.object(kind).outputs.values())):
                problems.append(ConfigProblem(self.mapping.source, f"{kind}.outputs",
                                              f"field {name!r} on {spec.name} is read-only",
                                              "riskbridge must be able to write every output field"))
        if problems:
            raise MappingError(problems)

    # --- reading ----------------------------------------------------------------------------------
    def _pages(self, kind: ObjectKind, cursor: Cursor | None, start: datetime
               ) -> Iterator[tuple[list[dict[str, Any]], Cursor | None]]:
        """Fresh rows page by page with the cursor they advance to, then last run's failures by id."""
        spec, obj = self.specs[kind], self.mapping.object(kind)
        # The cursor stays a second behind the run's start: in-flight transactions may still commit with
        # earlier stamps, and CRMs stamp to the second (Zoho) or millisecond (Salesforce).
        horizon = start.replace(microsecond=0) - timedelta(seconds=1)
        seen: set[str] = set()
        new_cursor = cursor
        for page in self.client.extract(spec, cursor):
            fresh = []
            for row in page.rows:
                record_id, stamp = str(row.get(obj.id_field)), _stamp(row.get(obj.cursor_field))
                if cursor is not None and stamp is not None and stamp < cursor.ts:
                    continue  # the overlap window: read and processed by an earlier run
                seen.add(record_id)
                fresh.append(row)
                if stamp is not None:
                    capped = min(stamp, horizon)
                    new_cursor = (new_cursor or Cursor(capped)).advance(capped, record_id)
            yield fresh, new_cursor
        retry = [i.record_id for i in self.store.issues(self.job_name, kind) if i.record_id not in seen]
        if retry:
            log.info("retrying %d %s that failed before", len(retry), kind)
            for page in self.client.fetch(spec, retry):
                yield page.rows, None

    def _read_deals(self, report: RunReport, start: datetime, dry_run: bool, full: bool
                    ) -> tuple[Cursor | None, set[str]]:
        """Refresh the deal snapshot; returns the deal cursor to save at the end and the accounts to re-score."""
        cursor = None if full else self.store.cursor(self.job_name, "deals")
        counts = report.objects["deals"]
        accounts: set[str] = set()
        new_cursor = cursor
        for rows, advanced in self._pages("deals", cursor, start):
            new_cursor = advanced or new_cursor
            if not rows:
                continue
            records, issues = map_rows(self.mapping, "deals", rows)
            deals = self.store.changed_deals(self.job_name, [d for d in records if isinstance(d, Deal)])
            counts.extracted += len(deals) + len(issues)
            counts.mapped += len(deals)
            self._skip(report, "deals", issues, dry_run)
            if dry_run:
                self._overlay.update({d.id: d for d in deals})
            else:
                self.store.save_deals(self.job_name, deals)
            accounts.update(d.account_id for d in deals if d.account_id)
            self.progress("deals read", len(rows))
        return new_cursor, accounts

    def _accounts_pass(self, report: RunReport, start: datetime, dry_run: bool, full: bool,
                       deal_accounts: set[str]) -> set[str]:
        cursor = None if full else self.store.cursor(self.job_name, "accounts")
        done: set[str] = set()
        for rows, advanced in self._pages("accounts", cursor, start):
            if rows:
                done |= self._process(rows, report, dry_run, force=deal_accounts if not full else None)
            if advanced is not None and not dry_run:
                self.store.save_cursor(self.job_name, "accounts", advanced)
        return done

    def _deals_of(self, account_ids: Iterable[str]) -> list[Deal]:
        if "deals" not in self.specs:
            return []
        wanted = set(account_ids)
        stored = {d.id: d for d in self.store.deals_for_accounts(self.job_name, wanted)}
        stored.update({i: d for i, d in self._overlay.items() if d.account_id in wanted})
        return list(stored.values())

    # --- one batch: map, score, plan, apply, record -----------------------------------------------
    def _process(self, rows: list[dict[str, Any]], report: RunReport, dry_run: bool,
                 force: set[str] | None = None) -> set[str]:
        """Map, score, plan, apply and record one batch of account rows; returns the ids it handled.

        Rows whose inputs and outputs are exactly as the last run left them (the echo of riskbridge's
        own write-back, or a boundary row read twice) are dropped before scoring, unless `force`
        names them (their deals changed) or `force` is None (a full run re-scores everything).
        """
        counts = report.objects["accounts"]
        records, issues = map_rows(self.mapping, "accounts", rows)
        accounts = [a for a in records if isinstance(a, Account)]
        if force is not None:
            accounts = self.planner.changed_accounts(accounts, force)
        counts.extracted += len(accounts) + len(issues)
        counts.mapped += len(accounts)
        self._skip(report, "accounts", issues, dry_run)
        if not accounts:
            return set()
        deals = self._deals_of(a.id for a in accounts)
        today = self.planner.now.date()
        scored = assess([a.values for a in accounts], self.scorecard, as_of=today,
                        deals=[d.values for d in deals] if deals else None, scored_at=self.planner.now,
                        watchlist_tier=self.job.watchlist.enter_tier)
        counts.scored += len(accounts)
        plan, assessments = self.planner.accounts(accounts, scored)
        if deals:
            deal_scores = assess_deals([d.values for d in deals], scored)
            deal_plan, deal_assessments = self.planner.deals(deals, deal_scores)
            report.objects["deals"].scored += len(deal_assessments)
            plan.extend(deal_plan)
            assessments += deal_assessments
        report.objects["accounts"].changed += sum(1 for u in plan.updates if u.object == "accounts")
        report.objects["deals"].changed += sum(1 for u in plan.updates if u.object == "deals")
        self.progress("accounts scored", len(accounts))
        if dry_run:
            report.plan += [describe_op(op) for op in plan.ops()]
            report.tasks_created += len(plan.tasks)
            report.tags_added += len(plan.tag_adds)
            report.tags_removed += len(plan.tag_removes)
            return {a.id for a in accounts}
        self.store.enqueue(self.planner.outbox(plan))
        result, quota = self._apply(plan)
        record(self.store, self.job_name, report, plan, result, assessments)
        self.progress("records written", report.objects["accounts"].written + report.objects["deals"].written)
        if quota is not None:
            raise quota
        return {a.id for a in accounts}

    def _skip(self, report: RunReport, kind: ObjectKind, issues: list[RecordIssue], dry_run: bool) -> None:
        if not issues:
            return
        report.objects[kind].skipped += len(issues)
        report.skipped += [{"object": kind, "id": i.record_id, "reason": i.reason} for i in issues]
        if not dry_run:
            self.store.record_issues(report.run_id, self.job_name, kind,
                                     {i.record_id: ("map", i.reason) for i in issues})

    def _apply(self, plan: WritePlan) -> tuple[ApplyResult, QuotaExhausted | None]:
        if not len(plan):
            return ApplyResult(), None
        try:
            return self.client.apply(plan), None
        except QuotaExhausted as exc:
            partial = getattr(exc, "partial", None)
            return (partial if isinstance(partial, ApplyResult) else ApplyResult()), exc

    def _flush_outbox(self, report: RunReport) -> None:
        """Resend task and tag mutations an earlier run could not finish (same keys: no duplicates)."""
        pending = self.store.pending_outbox(self.job_name)
        if not pending:
            return
        plan = WritePlan()
        for row in pending:
            kind: ObjectKind = "deals" if row.object == "deals" else "accounts"
            p = row.payload
            if row.kind == "task":
                plan.tasks.append(TaskCreate(key=row.key, object=kind, record_id=row.record_id,
                                             owner_id=p.get("owner_id"), subject=p["subject"],
                                             description=p["description"], due=date.fromisoformat(p["due"]),
                                             priority=p.get("priority", "High")))
            elif row.kind == "tag_add":
                plan.tag_adds.append(TagAdd(kind, row.record_id, p["tag"], row.key))
            else:
                plan.tag_removes.append(TagRemove(kind, row.record_id, p["tag"], row.key))
        log.info("resending %d task/tag mutations left by earlier runs", len(plan))
        result, quota = self._apply(plan)
        record(self.store, self.job_name, report, plan, result, [])
        if quota is not None:
            raise quota


def _stamp(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return parse_datetime(value)
    except Unconvertible:
        return None
