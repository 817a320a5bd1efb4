"""The engine: one run of one job, wiring extract -> map -> score -> plan -> apply -> record.

A run reads the deals changed since the deal cursor into the deal snapshot (so every account is
scored with all its open deals without re-reading them), then the accounts changed since the
account cursor, then the accounts of changed deals that were not among them. Each account batch is
scored with its deals, planned, applied and recorded before the next is read: memory is bounded
by the batch size. Cursors never pass the run's start time and move only after the writes they
cover are recorded; records that could not be mapped or written become record issues and are
fetched again by id on the next run.

A large run (a Salesforce backfill: a read reports `bulk_threshold` records or more) writes its field
updates through one Bulk API 2.0 job per object for the whole run (`DeferredWrites`). A batch's
updates are spooled into the jobs and recorded at once, optimistically, as written; the run settles
the jobs after its last batch (`_settle_writes`) and turns the rows that failed into record issues
with the CRM's reason, so they are fetched again and rewritten next run. It is crash safe because
two things are stored before a batch's cursor moves: each field update as a pending write (as for
every write, `audit_recovery`) and each job's id as soon as the job is created (`bulk_jobs`). A run
that finds a job left by a dead run settles it first (`_settle_left`: an open job is aborted, a
running one awaited), then reads the pending writes back from the CRM: those in place are audited,
the rest become record issues (with the job's failure reason when it has one), so a retried deal also
refreshes its snapshot values and nothing written optimistically is lost.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import chain
from typing import TYPE_CHECKING, Any

from connector import crashpoint, first_run
from connector.audit import AuditEntry, accepted, expected
from connector.audit_recovery import confirmed_writes
from connector.config import Config
from connector.crm import open_client
from connector.crm.base import Capabilities, CRMClient, DeferredWrites, ObjectSpec, RetryPolicy
from connector.errors import ConfigError, ConfigProblem, JobBusy, MappingError, QuotaExhausted, RecordSkipped
from connector.gcpace import fewer_collections
from connector.idset import IdSet
from connector.lease import Heartbeat, LeaseTerms
from connector.mapping import Mapping, MappingSuspect, RecordIssue, map_rows, suspect_mappings
from connector.model import Account, ApplyResult, Cursor, Deal, ObjectKind, TagAdd, TagRemove, TaskCreate, WritePlan
from connector.outcome import ObjectCounts, RunReport, describe_op, record
from connector.plan import TIER_RANK, BatchPlanner, recorded_since
from connector.plan_review import plan_line, tally
from connector.readahead import read_ahead
from connector.state import StateStore
from connector.transforms import Unconvertible, parse_datetime
from scoring.deals import assess_deals
from scoring.engine import assess
from scoring.scorecard import Scorecard, load_scorecard

if TYPE_CHECKING:  # imported when a job has sources: pyarrow and the readers cost a sync without them ~0.3 s
    from connector.sources.join import SourceJoin

__all__ = ["ObjectCounts", "RunReport", "StopRequested", "Sync"]

log = logging.getLogger(__name__)

RESCORE_AFTER = timedelta(days=7)  # ages, tenure and expiries move with the calendar
MAX_ATTEMPTS = 3  # sends of one task or tag mutation before it is abandoned and reported
TASK_KEY = {"salesforce": ("Task", "Riskbridge_Key__c"), "zoho": ("Tasks", "Riskbridge_Key"),
            "fxiaoke": ("ActiveRecordObj", "risk_alert_key__c")}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class StopRequested(Exception):  # noqa: N818 - a request, not an error: the run stops cleanly between batches
    """The daemon was asked to stop: the run ends after the batch it has recorded, like an exhausted quota."""


class Sync:
    """Runs one job. Build it once per run; `run()` never prints."""

    def __init__(self, config: Config, job: str | None = None, *, store: StateStore | None = None,
                 client: CRMClient | None = None, clock: Callable[[], datetime] = _utcnow,
                 policy: RetryPolicy | None = None,
                 progress: Callable[[str, int, int | None], None] | None = None,
                 stop: threading.Event | None = None) -> None:
        self.config = config
        self.job_name, self.job = config.job(job)
        self.mapping: Mapping = config.mappings[self.job_name]
        self.conn = config.connections[self.job.connection]
        self.store = store or StateStore(config.state_url)
        self.clock = clock
        # (stage, advance, total so far or None): stages are keys of the `progress` texts; the counts add
        # up to the report's (read = extracted, scored, written = field updates the CRM accepted).
        self.progress = progress or (lambda _stage, _n, _total: None)
        self._writes_planned = 0
        self.stop = stop  # set by the daemon on SIGTERM/SIGINT; checked between batches
        self.lease = LeaseTerms.of(config.service)
        self.scorecard: Scorecard = load_scorecard(None if self.job.scorecard == "default" else self.job.scorecard)
        self.sources: SourceJoin | None = None
        self.specs = {kind: self._spec(kind) for kind in self.job.objects}
        objects: dict[str, str] = {kind: spec.name for kind, spec in self.specs.items()}
        self.client = client or open_client(self.conn, objects=objects, policy=policy,
                                            bulk_threshold=self.job.bulk_threshold, topic_tag=self.job.watchlist.topic)
        self._reading: list[Generator[Any, None, None]] = []  # read-aheads of this run, closed at its end
        self._overlay: dict[str, Deal] = {}  # dry run: deals read this run, kept out of the store
        self._rescore: set[str] = set()  # dry run: accounts whose deals changed, kept out of the store
        self._owed_keys: set[str] = set()  # dry run: outbox mutations already listed as owed
        self._abandoned: dict[str, dict[str, str]] = {}  # outbox key -> its failure line in the report
        self._held: list[TaskCreate] = []  # dry run: first-run tasks planned this run, kept out of the store
        self._names: dict[tuple[str, str], str] = {}  # dry run: record names, for the plan's first-run tasks
        self._bulk_jobs: list[str] = []  # run-wide bulk jobs this run opened and has not settled

    def _spec(self, kind: ObjectKind) -> ObjectSpec:
        obj = self.mapping.object(kind)
        fields = obj.read_fields()
        if kind == "accounts" and self.job.sources:  # the key fields the sources join on are read too
            keys = [s.key.crm_field for n in self.job.sources if (s := self.config.sources[n]).key is not None]
            fields = tuple(dict.fromkeys([*fields, *(k for k in keys if k != obj.id_field)]))
        return ObjectSpec(kind=kind, name=obj.object, cursor_field=obj.cursor_field, fields=fields,
                          page_size=self.job.batch_size, parent_field=obj.parent_field)

    # --- the run ----------------------------------------------------------------------------------
    def run(self, *, dry_run: bool = False, full: bool = False, watch: list[str] | None = None,
            owner: str | None = None) -> RunReport:
        """One run. Never raises for record-level problems; a run-level failure (auth, outage, a bug) is
        recorded with status ``failed`` and re-raised with the report attached as ``exc.report``.

        With `watch` (a monitor run), only those accounts and their stored deals are read again, by id; the
        cursors are left alone, and the run holds the job's own lease and outbox, so it never overlaps a
        full run nor duplicates its tasks and tags. `owner`: the lease owner of a caller that already holds
        the job's lease and releases it itself (a scheduler replica settles its tick first,
        `connector.service.replica`)."""
        dry_run = dry_run or self.job.dry_run
        keep_lease, owner = owner is not None, owner or self.lease.owner()
        if not self.store.acquire(self.job_name, owner, self.lease.ttl, take_over=self.lease.dead_here):
            raise JobBusy(f"job {self.job_name!r} is already running (another process holds its lock); "
                          "wait for it to finish")
        # The heartbeat keeps the short lease alive for as long as the run holds it, whatever ends the run;
        # young garbage collections are spaced out meanwhile (a run's live objects made them 30% of its CPU).
        with fewer_collections(), Heartbeat(self.store, self.job_name, owner, self.lease.ttl) as self.heartbeat:
            return self._holding(dry_run=dry_run, full=full, watch=watch, owner=owner, keep_lease=keep_lease)

    def _holding(self, *, dry_run: bool, full: bool, watch: list[str] | None, owner: str, keep_lease: bool) -> RunReport:
        """The run, with the job's lease held by `owner` (and released here unless `keep_lease`)."""
        self.store.abandon_runs(self.job_name)  # we hold the lease: any run still marked running is dead
        baseline = not self.store.has_synced(self.job_name)  # until the first complete sync, tiers are a baseline
        start = self.clock()
        checked: BaseException | None = None
        try:
            self._load_sources(start, dry_run)  # an unreadable source stops the run before any CRM call
            self._check(self.client.check(list(self.specs.values())))
        except ConfigError:
            # A problem in the config or mapping, found before anything was read or written: not a run of
            # the job (no failed run with a table of zeros); the caller reports it like any config error.
            if not keep_lease:
                self._release(owner)
            self.client.close()
            raise
        except Exception as exc:  # noqa: BLE001 - an outage or refusal is a failed run, recorded below
            checked = exc
        run_id = self.store.start_run(self.job_name, dry_run=dry_run, full=full)
        report = RunReport(run_id=run_id, job=self.job_name, dry_run=dry_run)
        started = time.monotonic()
        self.owner = owner
        self.planner = BatchPlanner(job_name=self.job_name, job=self.job, mapping=self.mapping, crm=self.conn.crm,
                                    run_id=run_id, now=start, store=self.store, client=self.client,
                                    model_version=self.scorecard.version, baseline=baseline)
        try:
            if checked is not None:
                raise checked
            if not dry_run:
                self._audit_unanswered(self._settle_left())
                if isinstance(self.client, DeferredWrites):
                    self.client.defer_writes(self._journal)
            self._flush_outbox(report)
            if watch is not None:
                self._watched(report, watch, dry_run)
            else:
                deal_cursor = self._read_deals(report, start, dry_run, full) if "deals" in self.specs else None
                done = self._accounts_pass(report, start, dry_run, full)
                self._rest(report, dry_run, done)
                self._release_first_run(report, dry_run, baseline)
                self._settle_writes(report)
                if deal_cursor is not None and not dry_run:
                    self.store.save_cursor(self.job_name, "deals", deal_cursor)
        except QuotaExhausted as exc:
            report.stopped = f"API quota exhausted: {exc}"
            log.warning("run %d stopped cleanly, cursor kept: %s", run_id, exc)
            self._settle_if_possible(report)
        except StopRequested:
            report.stopped = "stop requested (SIGTERM/SIGINT): the next run completes the rest"
            self._settle_if_possible(report)  # what was recorded stays recorded: its bulk jobs go out too
            log.warning("run %d stopped between batches on request, cursor kept", run_id)
        except Exception as exc:
            self._settle_if_possible(report)
            report.status = "failed"
            report.error = f"{type(exc).__name__}: {exc}"
            exc.report = report  # type: ignore[attr-defined]  # the CLI still prints the summary
            raise
        finally:
            for pages in self._reading:  # a run that stopped mid-read leaves no read-ahead thread behind
                pages.close()
            self._finish_sources(report, dry_run)
            self._forgive(report)
            report.api_calls = self.client.api_calls
            report.api_usage = self.client.api_usage
            report.duration_s = time.monotonic() - started
            if report.status != "failed":
                report.status = "partial" if (report.failures or report.stopped or report.mapping_warnings) \
                    else "success"
            summary = report.to_json(plan=False)
            if watch is not None:  # `schedule list` and the health check tell monitor runs from full ones
                summary["monitor"] = {"watched": len(watch)}
            self.store.finish_run(run_id, report.status, summary, report.api_calls, report.error)
            if not keep_lease:
                self._release(owner)
            self.client.close()
        return report

    def _stop_point(self) -> None:
        """Between batches: stop here if the daemon was asked to (what is recorded stays recorded)."""
        if self.stop is not None and self.stop.is_set():
            raise StopRequested

    def _load_sources(self, start: datetime, dry_run: bool) -> None:
        """Read the job's outside sources (DESIGN §2: they join at the map stage); accounts whose source rows
        changed join the durable re-score set, as accounts of changed deals do."""
        if not self.job.sources:
            return
        from pathlib import Path

        from connector.sources.join import SourceJoin

        self.sources = SourceJoin(self.config.sources, self.job.sources, base=Path(self.config.source).resolve().parent,
                                  store=self.store, job=self.job_name, id_field=self.mapping.accounts.id_field,
                                  today=start.date(), dry_run=dry_run)
        self.sources.load()
        if dry_run:
            self._rescore |= self.sources.rescore

    def account_inputs(self, record_id: str) -> tuple[dict[str, Any], dict[str, str]]:
        """One account's canonical inputs as a run would score them now, and where each came from (for
        `explain`). Reads the CRM and the sources; writes nothing. Raises `RecordSkipped` for an account
        that is not there or cannot be mapped."""
        try:
            rows = [r for page in self.client.fetch(self.specs["accounts"], [record_id]) for r in page.rows]
        finally:
            self.client.close()
        records, issues = map_rows(self.mapping, "accounts", rows)
        accounts = [a for a in records if isinstance(a, Account)]
        if not accounts:
            reason = issues[0].reason if issues else f"no account {record_id!r} in the CRM"
            raise RecordSkipped(record_id, reason)
        provenance: dict[str, str] = {}
        if self.job.sources:
            self._load_sources(self.clock(), dry_run=True)
            assert self.sources is not None
            id_field = self.mapping.accounts.id_field
            self.sources.join(accounts, {str(r.get(id_field)): r for r in rows})
            provenance = self.sources.explain(accounts[0].id)
        return accounts[0].values, provenance

    def _finish_sources(self, report: RunReport, dry_run: bool) -> None:
        if self.sources is None:
            return
        report.sources = {n: s.to_json() for n, s in self.sources.stats.items()}
        if dry_run:
            return
        for name, stats in self.sources.stats.items():
            state = self.store.source_state(self.job_name, name)
            if state is not None and stats.accounts:
                self.store.save_source_state(self.job_name, name, stats={**state.stats, "join": stats.to_json()})

    def _renew(self) -> None:
        """Extend the lease; if another process took it (ours lapsed), or the heartbeat could not keep it,
        stop before writing anything."""
        self.heartbeat.check()
        if not self.store.renew(self.job_name, self.owner, self.lease.ttl):
            raise JobBusy(f"job {self.job_name!r}: this run's lock lapsed and another run took it; stopping")

    def _release(self, owner: str) -> None:
        self.heartbeat.stop()  # first: a beat after the release would find the lease gone and cry "lost"
        self.store.release(self.job_name, owner)

    def _check(self, caps: Capabilities) -> None:
        """Every mapped field must exist, outputs must be writable and the task key must be an external id,
        before any write."""
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
        task_object, task_key = TASK_KEY[self.conn.crm]
        if self.job.tasks.enabled and task_object in caps.fields:
            info = {k.lower(): v for k, v in caps.fields[task_object].items()}.get(task_key.lower())
            if info is None or (self.conn.crm == "salesforce" and not info.external_id):
                problems.append(ConfigProblem(self.mapping.source, "tasks", f"{task_object}.{task_key} is missing or "
                                              "not an external id", "create it as a unique External ID text field "
                                              "(120 characters), or set tasks.enabled = false"))
        if problems:
            raise MappingError(problems)

    # --- reading ----------------------------------------------------------------------------------
    def _pages(self, kind: ObjectKind, cursor: Cursor | None, start: datetime
               ) -> Iterator[tuple[list[dict[str, Any]], Cursor | None, bool]]:
        """(rows, the cursor they advance to, retried?): fresh rows page by page, then last run's failures
        fetched again by id."""
        spec, obj = self.specs[kind], self.mapping.object(kind)
        # The cursor stays a second behind the run's start: in-flight transactions may still commit with
        # earlier stamps, and CRMs stamp to the second (Zoho) or millisecond (Salesforce).
        horizon = start.replace(microsecond=0) - timedelta(seconds=1)
        seen = IdSet()  # compact: memory stays flat in the org's size
        new_cursor = cursor
        for page in self._ahead(read_ahead(self.client.extract(spec, cursor), name=f"read-ahead-{kind}")):
            self._renew()
            fresh, ids = [], []
            # `Cursor.advance` row by row, with the boundary ids in one mutable set: thousands of rows written
            # in the same second would otherwise copy a growing frozenset per row (quadratic).
            top, at_top = (new_cursor.ts, set(new_cursor.ids)) if new_cursor is not None else (None, set())
            for row in page.rows:
                record_id, stamp = str(row.get(obj.id_field)), _stamp(row.get(obj.cursor_field))
                if cursor is not None and stamp is not None and cursor.seen(stamp, record_id):
                    continue  # the overlap with the last run: read and processed then
                ids.append(record_id)
                fresh.append(row)
                if stamp is not None:
                    capped = min(stamp, horizon)
                    if top is None or capped > top:
                        top, at_top = capped, {record_id}
                    elif capped == top:
                        at_top.add(record_id)
            if top is not None and (new_cursor is None or top != new_cursor.ts or len(at_top) != len(new_cursor.ids)):
                new_cursor = Cursor(top, frozenset(at_top))
            seen.update(ids)
            yield fresh, new_cursor, False
        retry = seen.missing(i.record_id for i in self.store.issues(self.job_name, kind))
        if retry:
            log.info("retrying %d %s that failed before", len(retry), kind)
            for page in self.client.fetch(spec, retry):
                yield page.rows, None, True

    def _ahead(self, pages: Generator[Any, None, None]) -> Generator[Any, None, None]:
        """Remember a read-ahead so the run closes it (joining its thread) however the run ends."""
        self._reading.append(pages)
        return pages

    def _read_deals(self, report: RunReport, start: datetime, dry_run: bool, full: bool) -> Cursor | None:
        """Refresh the deal snapshot and mark the accounts whose deals changed; returns the deal cursor,
        saved only at the end of the run (after those accounts are recorded)."""
        cursor = None if full else self.store.cursor(self.job_name, "deals")
        counts = report.objects["deals"]
        new_cursor = cursor
        seen = IdSet()  # every deal a full read returned, compactly (a Python set costs ~0.2 KiB an account)
        if cursor is not None:  # deleted deals never come back from an incremental read: ask for them
            gone = self.client.deleted(self.specs["deals"], cursor.ts)
            if gone and not dry_run:
                log.info("%d deals were deleted in the CRM; their accounts are scored again", len(gone))
                self.store.mark_rescore(self.job_name, self.store.drop_deals(self.job_name, gone))
        for rows, advanced, retried in self._pages("deals", cursor, start):
            new_cursor = advanced or new_cursor
            if not rows:
                continue
            counts.extracted += len(rows)
            records, issues = map_rows(self.mapping, "deals", rows)
            deals = [d for d in records if isinstance(d, Deal) and d.account_id]
            unlinked = [d.id for d in records if isinstance(d, Deal) and not d.account_id]
            if unlinked:  # no account to score it with; if it had one, that account's exposure just fell
                link = self.mapping.object("deals").input("account_id")
                report.skipped += [{"object": "deals", "id": i, "reason": f"{link.field if link else 'account_id'} "
                                    "is empty: a deal is scored with its account"} for i in unlinked]
                counts.skipped += len(unlinked)
                if not dry_run:
                    self.store.mark_rescore(self.job_name, self.store.drop_deals(self.job_name, unlinked))
            seen.update(d.id for d in deals)
            changed, moved_from = self.store.changed_deals(self.job_name, deals)
            if retried:
                changed = deals  # a failed deal is retried even if nothing changed since
            counts.unchanged += len(deals) - len(changed)
            counts.mapped += len(changed)
            self._skip(report, "deals", issues, dry_run, rows=len(rows))
            accounts = {d.account_id for d in changed if d.account_id} | moved_from
            if dry_run:
                self._overlay.update({d.id: d for d in changed})
                self._rescore |= accounts
            else:
                self.store.mark_rescore(self.job_name, accounts)  # before the snapshot: a crash loses nothing
                self.store.save_deals(self.job_name, changed)
            self.progress("deals_read", len(rows), None)
            self._stop_point()
        if full and not dry_run:
            # A full read also catches deletions older than the CRM's deleted-records window.
            self.store.mark_rescore(self.job_name, self.store.prune_unseen_deals(self.job_name, seen.missing))
        return new_cursor

    def _accounts_pass(self, report: RunReport, start: datetime, dry_run: bool, full: bool) -> IdSet:
        cursor = None if full else self.store.cursor(self.job_name, "accounts")
        # A full run scores every account it reads, so it needs no re-score set (on a first run: every account).
        force = set() if full else set(self.store.rescore_ids(self.job_name)) | self._rescore
        done = IdSet()
        for rows, advanced, retried in self._pages("accounts", cursor, start):
            crashpoint.reached("extracted")
            if rows:
                done.update(self._process(rows, report, dry_run, rescore_all=full or retried, force=force))
            if advanced is not None and not dry_run:
                self.store.save_cursor(self.job_name, "accounts", advanced)
            self._stop_point()
        return done

    def _rest(self, report: RunReport, dry_run: bool, done: IdSet) -> None:
        """Accounts to score although their own rows did not change: their deals changed, an override
        expired, or their assessment is a week old."""
        today = self.planner.now.date()
        due = self.store.due_accounts(self.job_name, today, today - RESCORE_AFTER, self.job.batch_size)
        # Streamed past the accounts done: after a first full run every account is marked, and done.
        rest = sorted(set(done.missing(chain(self.store.rescore_ids(self.job_name), self._rescore, due))))
        if not rest:
            return
        log.info("scoring %d accounts again (deals changed, override expired, watchlist or age)", len(rest))
        found: set[str] = set()
        id_field = self.mapping.object("accounts").id_field
        for page in self.client.fetch(self.specs["accounts"], rest):
            found.update(str(r.get(id_field)) for r in page.rows)
            self._process(page.rows, report, dry_run, rescore_all=True, force=set())
            self._stop_point()
        gone = set(rest) - found
        if gone and not dry_run:  # deleted in the CRM (or no longer visible): stop asking for them
            log.info("%d accounts are gone from the CRM; forgetting them", len(gone))
            self.store.forget_accounts(self.job_name, gone)

    def _watched(self, report: RunReport, ids: list[str], dry_run: bool) -> None:
        """A monitor run: re-read the watched accounts' stored deals and then the accounts, by id.

        Accounts whose rows and deals are as the last run left them are dropped before scoring (as in a
        full run), so a quiet monitor run writes nothing and does not count toward watchlist hysteresis."""
        force: set[str] = set()
        if "deals" in self.specs and ids:
            stored = self.store.deals_for_accounts(self.job_name, ids)
            wanted = [d.id for d in stored]
            found: set[str] = set()
            for page in self.client.fetch(self.specs["deals"], wanted) if wanted else ():
                self._renew()
                report.objects["deals"].extracted += len(page.rows)
                records, issues = map_rows(self.mapping, "deals", page.rows)
                deals = [d for d in records if isinstance(d, Deal) and d.account_id]
                found.update(d.id for d in records if isinstance(d, Deal))
                changed, moved_from = self.store.changed_deals(self.job_name, deals)
                report.objects["deals"].unchanged += len(deals) - len(changed)
                report.objects["deals"].mapped += len(changed)
                self._skip(report, "deals", issues, dry_run, rows=len(page.rows))
                found.update(i.record_id for i in issues)
                accounts = {d.account_id for d in changed if d.account_id} | moved_from
                force |= accounts
                if dry_run:
                    self._overlay.update({d.id: d for d in changed})
                else:
                    self.store.mark_rescore(self.job_name, accounts)
                    self.store.save_deals(self.job_name, changed)
            gone = [i for i in wanted if i not in found]
            if gone and not dry_run:  # deleted, or moved out of sight: their accounts' exposure changed
                force |= self.store.drop_deals(self.job_name, gone)
                self.store.mark_rescore(self.job_name, force)
        force |= set(self.store.rescore_ids(self.job_name)) & set(ids)
        for page in self.client.fetch(self.specs["accounts"], ids) if ids else ():
            self._renew()
            self._process(page.rows, report, dry_run, rescore_all=False, force=force)
            self._stop_point()

    def _release_first_run(self, report: RunReport, dry_run: bool, first: bool) -> None:
        """Send the riskiest first-run tasks held back so far, within the caps (`first_run`); a dry run lists
        them in the plan. Every run reports how many are still held back."""
        policy = self.job.tasks
        if not policy.enabled:
            return
        # Streamed riskiest first and released as they come: a first run over a large org holds back tens of
        # thousands; the run keeps the ones it sends.
        pool = first_run.HeldPool(self.planner.now.date(), policy)
        stored = pool.candidates(self.store.held_tasks(self.job_name))
        # A dry run: the first-run tasks it would have held (one held already is listed once).
        held = {k for k, row in self.store.outbox(t.key for t in self._held).items() if row.status == "held"}
        planned = sorted((first_run.FirstRunTask(t, self.planner.scores.get(t.record_id, 0.0), {})
                          for t in self._held if t.key not in held), key=first_run.release_order)
        chosen = first_run.release(heapq.merge(stored, planned, key=first_run.release_order), policy)
        if not pool.rows and not planned and not first:
            return
        waiting, superseded = chosen.waiting + pool.waiting, pool.superseded
        tasks = WritePlan(tasks=[c.task for c in chosen.chosen])
        report.first_run = first_run.summary(policy, first=first, created=len(tasks.tasks), held=waiting)
        if not tasks.tasks and not superseded:
            return
        if dry_run:
            recorded = self.store.assessments(self.job_name, "accounts", [op.record_id for op in tasks.tasks])
            names = {**{("accounts", r.record_id): str(r.detail.get("name") or "") for r in recorded.values()},
                     **self._names}
            report.plan += [{**describe_op(op), "name": names.get((op.object, op.record_id)), "first_run": True}
                            for op in tasks.tasks]
            report.tasks_created += len(tasks.tasks)
            return
        self.store.close_outbox(superseded)
        self.store.release_held({c.task.key: c.payload for c in chosen.chosen})
        log.info("first-run tasks: sending %d, %d still held back by the caps", len(tasks.tasks), waiting)
        self._renew()
        result, quota = self._apply(tasks)
        before = report.tasks_created
        record(self.store, self.job_name, report, tasks, result, [])
        report.first_run["created"] = report.tasks_created - before
        if quota is not None:
            raise quota

    def _deals_of(self, account_ids: Iterable[str]) -> list[Deal]:
        if "deals" not in self.specs:
            return []
        wanted = set(account_ids)
        stored = {d.id: d for d in self.store.deals_for_accounts(self.job_name, wanted)}
        stored.update({i: d for i, d in self._overlay.items() if d.account_id in wanted})
        return list(stored.values())

    # --- one batch: map, score, plan, apply, record -----------------------------------------------
    def _process(self, rows: list[dict[str, Any]], report: RunReport, dry_run: bool, *, rescore_all: bool,
                 force: set[str]) -> set[str]:
        """Map, score, plan, apply and record one batch of account rows; returns the ids it handled.

        Unless `rescore_all`, rows whose inputs and outputs are exactly as the last run left them (the
        echo of riskbridge's own write-back, or a boundary row read twice) are dropped before scoring,
        except the accounts in `force` (their deals changed).
        """
        counts = report.objects["accounts"]
        counts.extracted += len(rows)
        self.progress("accounts_read", len(rows), None)
        records, issues = map_rows(self.mapping, "accounts", rows)
        accounts = [a for a in records if isinstance(a, Account)]
        if self.sources is not None:
            id_field = self.mapping.accounts.id_field
            self.sources.join(accounts, {str(r.get(id_field)): r for r in rows})
        if not rescore_all:
            fresh = self.planner.changed_accounts(accounts, force)
            counts.unchanged += len(accounts) - len(fresh)
            accounts = fresh
        counts.mapped += len(accounts)
        self._skip(report, "accounts", issues, dry_run, rows=len(rows))
        handled = {i.record_id for i in issues}
        if not accounts:
            return handled
        deals = self._deals_of(a.id for a in accounts)
        today = self.planner.now.date()
        scored = assess([a.values for a in accounts], self.scorecard, as_of=today,
                        deals=[d.values for d in deals] if deals else None, scored_at=self.planner.now,
                        watchlist_tier=self.job.watchlist.enter_tier)
        counts.scored += len(accounts)
        crashpoint.reached("scored")
        plan, assessments = self.planner.accounts(accounts, scored)
        if self.sources is not None:  # where each value came from, for `explain` and the demo
            for planned in assessments:
                planned.assessment.detail["sources"] = self.sources.explain(planned.assessment.record_id)
        if deals:
            deal_scores = assess_deals([d.values for d in deals], scored)
            deal_plan, deal_assessments = self.planner.deals(deals, deal_scores)
            report.objects["deals"].scored += len(deal_assessments)
            plan.extend(deal_plan)
            assessments += deal_assessments
        report.objects["accounts"].changed += sum(1 for u in plan.updates if u.object == "accounts")
        report.objects["deals"].changed += sum(1 for u in plan.updates if u.object == "deals")
        self.progress("accounts_scored", len(accounts), None)
        if dry_run:
            self._held += plan.held
            by_record = {(p.assessment.object, p.assessment.record_id): p for p in assessments}
            self._names.update({key: str(p.assessment.detail.get("name") or "") for key, p in by_record.items()})
            canonical: dict[str, dict[str, str]] = {kind: {crm: name for name, crm in self.mapping.object(kind).outputs.items()}
                         for kind in self.specs}
            report.plan += [plan_line(op, by_record, canonical) for op in plan.ops() if op.key not in self._owed_keys]
            tally(report.tier_moves, report.watch_moves, assessments, self.job.watchlist.enabled)
            report.tasks_created += sum(1 for t in plan.tasks if t.key not in self._owed_keys)
            report.tags_added += len(plan.tag_adds)
            report.tags_removed += len(plan.tag_removes)
            return handled | {a.id for a in accounts}
        self._renew()
        self.store.enqueue(self.planner.outbox(plan))
        crashpoint.reached("enqueued")
        written = report.objects["accounts"].written + report.objects["deals"].written
        self._writes_planned += len(plan.updates)
        result, quota = self._apply(plan)
        crashpoint.reached("applied")
        recorded = record(self.store, self.job_name, report, plan, result, assessments)
        self.store.clear_rescore(self.job_name, recorded)
        crashpoint.reached("recorded")
        self.progress("records_written", report.objects["accounts"].written + report.objects["deals"].written - written,
                      self._writes_planned)
        if quota is not None:
            raise quota
        return handled | {a.id for a in accounts}

    def _skip(self, report: RunReport, kind: ObjectKind, issues: list[RecordIssue], dry_run: bool,
              rows: int = 0) -> None:
        if not issues:
            return
        suspects = {s.canonical: s for s in suspect_mappings(self.mapping, kind, rows, issues)}
        if suspects:
            known = {(w["object"], w["input"]) for w in report.mapping_warnings}
            for s in suspects.values():
                log.warning("the mapping is probably wrong: %s", s.message)
                if (kind, s.canonical) not in known:
                    report.mapping_warnings.append({"object": kind, "input": s.canonical, "field": s.field,
                                                    "transform": s.transform, "failed": s.failed, "rows": s.rows,
                                                    "sample": s.sample, "message": s.message})
            issues = [RecordIssue(i.object, i.record_id, _blame_mapping(i, suspects), i.failed) for i in issues]
        report.objects[kind].skipped += len(issues)
        report.skipped += [{"object": kind, "id": i.record_id, "reason": i.reason} for i in issues]
        if not dry_run:
            self.store.record_issues(report.run_id, self.job_name, kind,
                                     {i.record_id: ("map", i.reason) for i in issues})

    def _apply(self, plan: WritePlan) -> tuple[ApplyResult, QuotaExhausted | None]:
        """Apply a plan and audit every write the CRM accepted at once, before anything else is recorded
        and whatever the apply ended with: a run that fails half-way still leaves its writes audited."""
        if not len(plan):
            return ApplyResult(), None
        self.store.expect_writes(self.job_name, self.planner.run_id, expected(plan))
        try:
            result = self.client.apply(plan)
        except Exception as exc:
            partial = getattr(exc, "partial", None)
            done = partial if isinstance(partial, ApplyResult) else ApplyResult()
            self._audit_answered(plan, done)
            if isinstance(exc, QuotaExhausted):
                return done, exc
            raise
        self._audit_answered(plan, result)
        return result, None

    def _audit_answered(self, plan: WritePlan, result: ApplyResult) -> None:
        """Audit what the CRM accepted; an update taken into a run-wide job stays pending until it settles."""
        answered = ApplyResult({k: o for k, o in result.outcomes.items() if not o.deferred})
        self.store.audit(self.job_name, self.planner.run_id, accepted(plan, answered), settled=answered.outcomes)

    def _journal(self, kind: ObjectKind, job_id: str) -> None:
        """A run-wide bulk job was created: store its id before any cursor moves past the rows it takes."""
        self.store.open_bulk_job(self.job_name, self.planner.run_id, kind, job_id)
        self._bulk_jobs.append(job_id)

    def _settle_writes(self, report: RunReport) -> None:
        """Settle this run's bulk jobs: audit the rows the CRM accepted; a failed row was recorded as written,
        so it becomes a failure of the run and a record issue (fetched and rewritten next run)."""
        if not self._bulk_jobs or not isinstance(self.client, DeferredWrites):
            return
        self._renew()  # uploading is writing
        for outcomes in self.client.settle_writes():
            sent = self.store.pending_writes_by_key(o.key for o in outcomes)
            entries: list[AuditEntry] = []
            failed: dict[str, dict[str, tuple[str, str]]] = {}
            for outcome in outcomes:
                write = sent.get(outcome.key)
                if write is None:
                    continue
                kind: ObjectKind = "deals" if write.object == "deals" else "accounts"
                if outcome.ok:
                    detail = {**write.detail, "crm_id": outcome.crm_id} if outcome.crm_id else write.detail
                    entries.append(AuditEntry("update", kind, write.record_id, write.key, detail))
                    continue
                reason = outcome.error or "failed"
                failed.setdefault(kind, {})[write.record_id] = ("apply", reason)
                report.objects[kind].written -= 1
                report.objects[kind].failed += 1
                report.failures.append({"object": kind, "id": write.record_id, "op": "update", "reason": reason})
            self.store.audit(self.job_name, self.planner.run_id, entries, settled=[o.key for o in outcomes])
            for obj, issues in failed.items():
                self.store.record_issues(self.planner.run_id, self.job_name, obj, issues)
        self.store.close_bulk_jobs(self.job_name, self._bulk_jobs)
        self._bulk_jobs.clear()

    def _settle_if_possible(self, report: RunReport) -> None:
        """A run that stops on an error still sends the bulk rows of the batches it recorded (the CRM gets
        them now, not a run later); if it cannot (no quota, the lease lost), the next run settles the jobs."""
        try:
            self._settle_writes(report)
        except Exception as exc:  # noqa: BLE001 - the run's own error is the one reported
            log.warning("bulk jobs left for the next run to settle: %s", exc)

    def _settle_left(self) -> dict[tuple[int, str], dict[str, str]]:
        """Bring the bulk jobs a dead run left to an end; (run id, object) -> record id -> failure reason,
        for `_audit_unanswered` to turn what did not land into record issues."""
        left = self.store.bulk_jobs(self.job_name)
        if not left or not isinstance(self.client, DeferredWrites):
            return {}
        failed = self.client.settle_left([j.crm_job_id for j in left])
        return {(j.run_id, j.object): failed for j in left}

    def _audit_unanswered(self, left: dict[tuple[int, str], dict[str, str]]) -> None:
        """Audit the field updates an interrupted run sent without recording the CRM's answer, if the CRM
        holds them as sent (`audit_recovery`): the values are in place, so no later run writes them again.

        An update a dead run took into a bulk job (`left`, from `_settle_left`) was recorded as written; if
        the CRM does not hold it, it becomes a record issue, so the record is read and written again."""
        pending = self.store.pending_writes(self.job_name)
        current: dict[tuple[str, str], dict[str, Any]] = {}
        kinds: tuple[ObjectKind, ...] = ("accounts", "deals")
        for kind in kinds:
            ids = [p.record_id for p in pending if p.object == kind]
            if not ids or kind not in self.specs:
                continue
            id_field = self.mapping.object(kind).id_field
            for page in self.client.fetch(self.specs[kind], ids):
                current.update({(kind, str(r.get(id_field))): r for r in page.rows})
        landed: set[str] = set()
        for run_id, (entries, keys) in confirmed_writes(pending, current).items():
            landed.update(e.key for e in entries)
            self.store.audit(self.job_name, run_id, entries, settled=keys)
        lost: dict[str, dict[str, tuple[str, str]]] = {}
        for write in pending:
            failed = left.get((write.run_id, write.object))
            if failed is not None and write.key not in landed:
                reason = failed.get(write.record_id) or ("BULK_UNSETTLED: the run that sent this update ended "
                                                          "before its Bulk API job was settled")
                lost.setdefault(write.object, {})[write.record_id] = ("apply", reason)
        for obj, issues in lost.items():
            log.warning("%d %s updates of an interrupted run's bulk jobs did not land; they are retried", len(issues),
                        obj)
            self.store.record_issues(self.planner.run_id, self.job_name, obj, issues)
        if left:
            self.store.close_bulk_jobs(self.job_name, [j.crm_job_id for j in self.store.bulk_jobs(self.job_name)])

    def _forgive(self, report: RunReport) -> None:
        """An abandoned mutation that the planner sent again under the same key, with success, in this
        same run (its record still called for it) is no failure: drop its line from the report."""
        if not self._abandoned:
            return
        done = {k for k, row in self.store.outbox(self._abandoned).items() if row.status == "done"}
        report.failures.take_back([self._abandoned[k] for k in done])

    def _owed(self, report: RunReport) -> WritePlan:
        """The task and tag mutations earlier runs left unfinished, still owed (invariant 7).

        A task is superseded only by an assessment of its record recorded since the task was planned and
        below the task's tier. Neither a missing nor an older assessment means "the tier fell": the run
        that planned the task may have written the CRM's fields and stopped before recording anything. A mutation that failed
        `MAX_ATTEMPTS` times is abandoned and reported once, so it cannot keep every later run partial."""
        pending = self.store.pending_outbox(self.job_name)
        plan = WritePlan()
        if not pending:
            return plan
        recorded = {(kind, r.record_id): r for kind in ("accounts", "deals") for r in self.store.assessments(
            self.job_name, kind, [p.record_id for p in pending if p.object == kind]).values()}
        settled: dict[str, tuple[str, str]] = {}
        for row in pending:
            kind: ObjectKind = "deals" if row.object == "deals" else "accounts"
            p = row.payload
            rule = str(p.get("rule", ""))
            now = recorded.get((kind, row.record_id))
            if row.kind == "task" and rule.startswith("tier-") and now is not None and recorded_since(now, row) \
                    and TIER_RANK.get(now.tier, 0) < TIER_RANK.get(rule[5:], 0):
                settled[row.key] = ("superseded", f"a recorded assessment ({now.tier}, scored "
                                    f"{now.scored_at:%Y-%m-%d %H:%M}) is below {rule[5:]}")
            elif row.attempts >= MAX_ATTEMPTS:
                settled[row.key] = ("abandoned", row.last_error or "failed")
                if not report.dry_run:
                    self._abandoned[row.key] = {"object": kind, "id": row.record_id, "op": f"{row.kind} (abandoned)",
                                                "reason": f"gave up after {row.attempts} attempts: {row.last_error}"}
                    report.failures.append(self._abandoned[row.key])
            elif row.kind == "task":
                plan.tasks.append(TaskCreate(key=row.key, object=kind, record_id=row.record_id,
                                             owner_id=p.get("owner_id"), subject=p["subject"],
                                             description=p["description"], due=date.fromisoformat(p["due"]),
                                             priority=p.get("priority", "High")))
            elif row.kind == "tag_add":
                plan.tag_adds.append(TagAdd(kind, row.record_id, p["tag"], row.key))
            else:
                plan.tag_removes.append(TagRemove(kind, row.record_id, p["tag"], row.key))
        if not report.dry_run:
            self.store.close_outbox(settled)
        return plan

    def _flush_outbox(self, report: RunReport) -> None:
        """Resend what earlier runs left unfinished (same keys: the CRM's upsert dedupes); a dry run lists
        it in the plan instead, so owed work is never invisible."""
        plan = self._owed(report)
        if not len(plan):
            return
        if report.dry_run:
            report.plan += [{**describe_op(op), "owed": True} for op in plan.ops()]
            report.resent += len(plan)
            self._owed_keys = {op.key for op in plan.ops()}
            return
        log.info("resending %d task/tag mutations left by earlier runs", len(plan))
        result, quota = self._apply(plan)
        resent = RunReport(run_id=report.run_id, job=report.job, dry_run=False)
        record(self.store, self.job_name, resent, plan, result, [])
        report.resent += resent.tasks_created + resent.tags_added + resent.tags_removed
        report.failures += resent.failures
        if quota is not None:
            raise quota


def _blame_mapping(issue: RecordIssue, suspects: dict[str, MappingSuspect]) -> str:
    """A record issue's reason, led by the mapping mistake that probably caused it."""
    blamed = [suspects[name] for name, _ in issue.failed if name in suspects]
    if not blamed:
        return issue.reason
    return ("the mapping is probably wrong (" + "; ".join(f"{s.field} with transform {s.transform!r} failed on "
                                                          f"{s.failed} of {s.rows} rows" for s in blamed)
            + f"), not this record: {issue.reason}")


def _stamp(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return parse_datetime(value)
    except Unconvertible:
        return None
