"""The daemon: the scheduler, plus graceful stop, health and metrics, and alerts around every run.

Several replicas (`connector.service.replica`): every fire is a tick, claimed in the state store by the
scheduled fire time, so N daemons on one store run each job and monitor once per tick; a wake-up every
`SWEEP_EVERY_S` also runs ticks a crashed replica left owed, and prunes old claims.

Stop: the first SIGTERM or SIGINT starts no new run and asks the running ones to stop between batches
(`Sync(stop=...)`): each records the batch it is on, releases its lease and ends `partial` with the
reason; `serve()` then returns 0, or 1 if a run is still going after `service.stop_timeout_s`. A second
signal ends the process at once (exit 1): the lease lapses on its own and the outbox is resent by the
next run, as after a crash.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select

from connector.config import Config, connection_hosts
from connector.errors import ConfigError, ConfigProblem, ConnectionFailed, JobBusy, Retriable
from connector.lease import LeaseTerms
from connector.outcome import RunReport
from connector.scheduler import build_scheduler
from connector.service.alerts import Alert, AlertSender, from_report
from connector.service.endpoint import Endpoint
from connector.service.health import Health, Verdict
from connector.service.metrics import Metrics
from connector.service.monitor import watched_accounts
from connector.service.replica import Replica, TickExecutor
from connector.service.ticks import Tick
from connector.state import StateStore
from connector.sync import Sync
from connector.tables import AssessmentRow, HistoryRow, WatchRow

__all__ = ["EXIT_FORCED", "Daemon"]

log = logging.getLogger(__name__)

EXIT_FORCED = 1  # the stop bound passed with a run still going, or a second signal
HEALTH_EVERY_S = 60
SWEEP_EVERY_S = 30  # the catch-up wake-up for ticks a crashed replica left owed (daily crons have no next tick soon)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Daemon:
    """Runs the jobs (and monitors) of a config until stopped. `clock` and `sleep` are injected for tests."""

    def __init__(self, config: Config, jobs: list[str] | None = None, *, clock: Callable[[], datetime] = _utcnow,
                 sleep: Callable[[float], None] = time.sleep, store: StateStore | None = None) -> None:
        self.config = config
        self.names = jobs or sorted(config.jobs)
        self.clock = clock
        self.stop = threading.Event()
        self.store = store or StateStore(config.state_url)
        self.metrics = Metrics()
        self.alerts = AlertSender(config.alerts, sleep=sleep)
        self.replica = Replica(self.store, on_tick=self.metrics.tick, lease=LeaseTerms.of(config.service))
        background = BackgroundScheduler(timezone="UTC", executors={"default": ThreadPoolExecutor(),
                                                                    "ticks": TickExecutor()})
        self.scheduler = build_scheduler(config, self.names, run=self._fire_job, monitor=self._fire_monitor,
                                         scheduler=background, executor="ticks", claims=True)
        self.scheduler.add_job(self.watch_health, IntervalTrigger(seconds=HEALTH_EVERY_S), id="riskbridge.health",
                               max_instances=1, coalesce=True)
        self.scheduler.add_job(self.sweep, IntervalTrigger(seconds=SWEEP_EVERY_S), id="riskbridge.ticks",
                               max_instances=1, coalesce=True)
        self.health = Health(config, self.store, self.names, clock=clock,
                             scheduler_running=lambda: bool(self.scheduler.running) and not self.stop.is_set())
        listen = config.service.listen
        try:
            self.endpoint = Endpoint(listen, self.health.check, self.metrics.render) if listen else None
        except OSError as exc:  # the port is taken, or the address is not this host's
            raise ConfigError([ConfigProblem(config.source, "service.listen", f"cannot listen on {listen}: "
                                             f"{exc.strerror or exc}", "pick a free port, or stop what holds it")]) \
                from None
        self._locks = {name: threading.Lock() for name in self.names}
        self._wanted = {name: threading.Event() for name in self.names}  # a drain of the job was asked for
        self._running = 0
        self._idle = threading.Condition()
        self._stale: set[str] = set()
        self._signals = 0
        for name in self.names:
            self.metrics.portfolio(self.store, name)

    # --- one run ------------------------------------------------------------------------------------
    def execute(self, job: str, kind: str, due: datetime | None = None) -> RunReport | None:
        """One fire of a job or its monitor, unless stopping.

        With `due` (the fire time the scheduler planned) the tick is claimed in the state store and the job's
        owed ticks are run by whichever replica holds its lease (`Replica`): the last report this call made,
        if any. Without, one run now unless the job is already running here."""
        if self.stop.is_set():
            return None
        if due is not None:
            self.replica.claim(Tick(job, kind, due))
            return self._drain_here(job)
        lock = self._locks[job]
        if not lock.acquire(blocking=False):
            log.info("%s %s skipped: job %s is running", kind, job, job)
            return None
        try:
            with self._busy():
                return self._run(job, kind)
        finally:
            lock.release()

    def _fire_job(self, _config: Config, job: str, due: datetime | None = None) -> RunReport | None:
        return self.execute(job, "job", due)

    def _fire_monitor(self, _config: Config, job: str, due: datetime | None = None) -> RunReport | None:
        return self.execute(job, "monitor", due)

    def _drain_here(self, job: str) -> RunReport | None:
        """Drain the job in this thread, unless another thread of this replica is draining it: that one drains
        again before it returns (`_wanted`), so a claim made meanwhile is never left for the next wake-up."""
        wanted, lock = self._wanted[job], self._locks[job]
        wanted.set()
        last: RunReport | None = None
        while wanted.is_set():
            if not lock.acquire(blocking=False):
                return last
            try:
                wanted.clear()
                reports = self.drain(job)
                last = reports[-1] if reports else last
            finally:
                lock.release()
        return last

    def drain(self, job: str) -> list[RunReport]:
        """Run the ticks the job owes, if this replica can take its lease."""
        with self._busy():
            return self.replica.drain(job, lambda kind, owner: self._run(job, kind, owner), stopping=self.stop.is_set)

    def sweep(self) -> None:
        """The catch-up wake-up: ticks a crashed (or busy) claimer left owed run now; old claims are pruned."""
        for name in self.names:
            if self.stop.is_set():
                return
            self._drain_here(name)
        self.replica.book.prune(self.clock())

    @contextmanager
    def _busy(self) -> Iterator[None]:
        with self._idle:
            self._running += 1
        try:
            yield
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def _run(self, job: str, kind: str, owner: str | None = None) -> RunReport | None:
        """One run; `owner` names the job lease the caller already holds. None if no run began."""
        report: RunReport | None = None
        started = _utcnow()
        baseline = not self.store.has_synced(job)  # the first assessments: no watchlist alerts (as no tasks)
        try:
            sync = Sync(self.config, job, store=self.store, stop=self.stop)
            monitor = self.config.jobs[job].monitor
            watch = watched_accounts(self.store, job, monitor) if kind == "monitor" and monitor else None
            report = sync.run(watch=watch, owner=owner)
            log.info("%s %s run %d: %s", kind, job, report.run_id, report.status,
                     extra={"job": job, "run_id": report.run_id, "event": f"{kind}_finished",
                            "counts": _counts(report), "watched": len(watch) if watch is not None else None})
        except JobBusy as exc:  # another process (`riskbridge sync --job`, a replica) holds the job's lease
            report = getattr(exc, "report", None)  # set if the run began, then lost its lease: stopped before writing
            log.log(logging.WARNING if report else logging.INFO, "%s %s %s: %s", kind, job,
                    "stopped" if report else "skipped", exc, extra={"job": job, "event": f"{kind}_skipped"})
        except Exception as exc:  # noqa: BLE001 - the daemon goes on; the run row records the failure
            report = getattr(exc, "report", None)
            hosts = f" (tried {connection_hosts(self.config, job)})" if isinstance(exc, ConnectionFailed | Retriable) \
                else ""
            log.error("%s %s failed: %s%s", kind, job, exc, hosts,
                      extra={"job": job, "run_id": report.run_id if report else None, "event": f"{kind}_failed"})
        if report is not None:
            self._after(kind, report, None if baseline else started)
        return report

    def _after(self, kind: str, report: RunReport, started: datetime | None) -> None:
        self.metrics.observe(kind, report, self.clock())
        self.metrics.portfolio(self.store, report.job)
        alert = from_report(kind, report)
        if alert is not None:
            self.alerts.send(alert)
        for entry in self._critical_entries(report, started) if started is not None else []:
            self.alerts.send(entry)

    def _critical_entries(self, report: RunReport, since: datetime) -> list[Alert]:
        """Accounts that this run moved into `critical` and onto the watchlist.

        The run's own tier history (by run id) says which accounts it moved; the watchlist row's `since`
        (stamped to the second) says the entry is new, not an account already watched as `high`."""
        if report.dry_run or not self.config.jobs[report.job].watchlist.enabled:
            return []
        since = since.replace(microsecond=0)  # the planner stamps whole seconds
        with self.store.session() as s:
            moved = set(s.scalars(select(HistoryRow.record_id).where(
                HistoryRow.run_id == report.run_id, HistoryRow.object == "accounts", HistoryRow.tier == "critical",
                (HistoryRow.previous_tier.is_(None)) | (HistoryRow.previous_tier != "critical"))))
            entered = sorted(w.record_id for w in s.scalars(select(WatchRow).where(
                WatchRow.job == report.job, WatchRow.on_list.is_(True), WatchRow.record_id.in_(moved)))
                if (w.since if w.since.tzinfo else w.since.replace(tzinfo=UTC)) >= since) if moved else []
        rows = self.store.assessments(report.job, "accounts", entered)
        alerts = []
        for record_id in entered:
            row: AssessmentRow | None = rows.get(record_id)
            if row is None:
                continue
            detail = row.detail or {}
            alerts.append(Alert("watchlist", report.job, "critical", f"account {record_id} entered the watchlist "
                                "as critical", report.run_id,
                                account={"id": record_id, "name": detail.get("name"), "tier": row.tier,
                                         "score": round(row.score, 1), "reasons": list(detail.get("reasons") or [])}))
        return alerts

    # --- health -------------------------------------------------------------------------------------
    def watch_health(self) -> Verdict:
        """Alert once when a job goes stale (and again only after it has recovered)."""
        verdict = self.health.check()
        for job in set(verdict.stale) - self._stale:
            reason = next((r for r in verdict.reasons if r.startswith(f"job {job} ")), "stale")
            self.alerts.send(Alert("stale", job, "stale", reason))
        self._stale = set(verdict.stale)
        return verdict

    # --- lifecycle ----------------------------------------------------------------------------------
    def request_stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        """First call: stop gracefully. Second signal: exit now."""
        self._signals += 1
        if self._signals > 1 and signum is not None:
            log.warning("second signal: stopping at once; the job's lease lapses on its own")
            logging.shutdown()
            os._exit(EXIT_FORCED)
        log.warning("stopping: no new run; a running sync finishes its batch (at most %.0fs)",
                    self.config.service.stop_timeout_s, extra={"event": "stopping"})
        self.stop.set()

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def start(self, run_now: bool = False) -> None:
        """Start the scheduler (and the endpoint); with `run_now`, every job runs once at once, then on
        its schedule (a daemon restarted after a long stop need not wait for the next tick)."""
        if run_now:
            for name in self.names:
                self.scheduler.modify_job(name, next_run_time=self.clock())
        self.scheduler.start()
        if self.endpoint is not None:
            self.endpoint.start()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no run is going; False if one still is after `timeout` seconds."""
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout)

    def serve(self, run_now: bool = False) -> int:
        """Run until a stop is requested; then return 0, or `EXIT_FORCED` if a run outlived the bound."""
        self.start(run_now)
        while not self.stop.wait(1.0):  # a timeout keeps the main thread responsive to signals
            pass
        self.scheduler.shutdown(wait=False)
        idle = self.wait_idle(self.config.service.stop_timeout_s)
        if self.endpoint is not None:
            self.endpoint.stop()
        if not idle:
            log.error("a run is still going after %.0fs; exiting anyway, its lease lapses on its own",
                      self.config.service.stop_timeout_s)
            return EXIT_FORCED
        log.info("stopped", extra={"event": "stopped"})
        return 0


def _counts(report: RunReport) -> dict[str, int]:
    return {"read": sum(c.extracted for c in report.objects.values()),
            "written": sum(c.written for c in report.objects.values()),
            "failed": sum(c.failed for c in report.objects.values()),
            "tasks_created": report.tasks_created, "tags_changed": report.tags_added + report.tags_removed,
            "api_calls": report.api_calls}
