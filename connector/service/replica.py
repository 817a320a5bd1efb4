"""One scheduler replica among several on one state store: each job and monitor runs once per tick.

Every replica fires every tick. On a fire it claims the tick (`TickBook.claim`: one insert wins), then
drains the job: it takes the job's lease, adopts every claim still owed (its own, a crashed replica's, one
whose claimer found the job busy), marks those a finished run already covered, runs the newest of one kind
once and marks it done (older owed ticks of that kind are covered by that run, as APScheduler's
`coalesce` would), releases the lease, and looks again. Order makes the hand-over safe: a replica claims
before it asks for the lease, and a holder looks for claims after it releases, so a claim made while the
job was busy is always seen by someone who can run it. Without the lease a replica never runs or settles a
tick; a run that loses its lease stops before writing (`Sync._renew`) and leaves its tick to the new holder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor

from connector.lease import LeaseTerms
from connector.outcome import RunReport
from connector.service.ticks import Tick, TickBook
from connector.state import StateStore
from connector.tables import TickRow

__all__ = ["Replica", "RunTick", "TickExecutor"]

log = logging.getLogger(__name__)

RunTick = Callable[[str, str], "RunReport | None"]  # (kind, lease owner) -> the run's report, None if none began


class Replica:
    """Claims and drains ticks for one process. `on_tick(job, kind, outcome)` counts outcomes: claimed,
    skipped (another replica claimed it), ran, covered, failed."""

    def __init__(self, store: StateStore, *, on_tick: Callable[[str, str, str], None] | None = None,
                 lease: LeaseTerms | None = None) -> None:
        self.store = store
        self.lease = lease or LeaseTerms()
        self.book = TickBook(store)
        self.on_tick = on_tick or (lambda _job, _kind, _outcome: None)

    def claim(self, tick: Tick) -> bool:
        """Claim a tick for whichever replica runs it next; False (quietly) if another replica has it."""
        if self.book.claim(tick, self.lease.owner()):
            log.debug("%s claimed", tick, extra={"job": tick.job, "event": "tick_claimed"})
            self.on_tick(tick.job, tick.kind, "claimed")
            return True
        log.debug("%s already claimed by another replica; skipped", tick,
                  extra={"job": tick.job, "event": "tick_skipped"})
        self.on_tick(tick.job, tick.kind, "skipped")
        return False

    def drain(self, job: str, run: RunTick, stopping: Callable[[], bool] = lambda: False) -> list[RunReport]:
        """Run what the job owes, one kind at a time, while this replica can hold the job's lease."""
        reports: list[RunReport] = []
        while not stopping() and self.book.pending(job):
            owner = self.lease.owner()
            # `renew` confirms the lease is still ours: two replicas taking over a dead holder at once can
            # both see `acquire` succeed, and only the row's owner may adopt claims.
            if not (self.store.acquire(job, owner, self.lease.ttl, take_over=self.lease.dead_here)
                    and self.store.renew(job, owner, self.lease.ttl)):
                # The holder looks for claims again after it releases: it (or the next one) runs them.
                log.debug("job %s: ticks owed, but another process holds the lease", job)
                break
            try:
                report = self._one_kind(job, owner, run)
            finally:
                self.store.release(job, owner)
            if report is not None:
                reports.append(report)
        return reports

    def _one_kind(self, job: str, owner: str, run: RunTick) -> RunReport | None:
        owed = self.book.adopt(job, owner)
        if not owed:
            return None
        kind = owed[0].kind  # the oldest owed tick's kind goes first
        rest: list[TickRow] = []
        covered: dict[int, list[TickRow]] = {}
        for row in (r for r in owed if r.kind == kind):
            covering = self.book.covering_run(row)
            if covering is None:
                rest.append(row)
            else:
                covered.setdefault(covering, []).append(row)
        for run_id, rows in covered.items():
            # A finished run that no tick owns ran for one of these (its replica died or lost the lease before
            # settling): the newest is its tick, done; the others are covered.
            own = [] if self.book.owns(run_id) else rows[-1:]
            self._settle(job, kind, owner, [r for r in rows if r not in own], "covered", run_id)
            self._settle(job, kind, owner, own, "done", run_id)
        if not rest:
            return None
        ticks = [Tick.of(r) for r in rest]
        latest, earlier = ticks[-1], ticks[:-1]
        log.info("%s: running%s", latest, f" (and covering {len(earlier)} earlier)" if earlier else "",
                 extra={"job": job, "event": "tick_running"})
        report = run(kind, owner)  # the run keeps the lease: the tick is settled before anyone may adopt it
        if not self.store.renew(job, owner, self.lease.ttl):
            # The run lost the lease (and stopped before writing): the new holder has adopted these ticks and
            # runs them, or marks them covered by a run that finished.
            log.info("%s: the job's lease passed to another process; the tick is left to it", latest)
            return report
        if report is None:
            self.book.settle(ticks, owner, "failed", None)
            for _ in ticks:
                self.on_tick(job, kind, "failed")
            return None
        if self.book.settle([latest], owner, "done", report.run_id):
            self.on_tick(job, kind, "ran")
        for _ in range(self.book.settle(earlier, owner, "covered", report.run_id)):
            self.on_tick(job, kind, "covered")
        return report


    def _settle(self, job: str, kind: str, owner: str, rows: list[TickRow], state: str, run_id: int) -> None:
        for row in rows:
            if self.book.settle([Tick.of(row)], owner, state, run_id):
                log.info("%s %s by run %d", Tick.of(row), state, run_id, extra={"job": job, "event": f"tick_{state}"})
                self.on_tick(job, kind, "ran" if state == "done" else state)


class _Scheduled:
    """An APScheduler job as `run_job` sees it, whose function also receives each scheduled fire time.

    No misfire grace: a replica that wakes late still claims the tick (another may have run it; if none
    did, it is owed), so every run time reaches the function, in order."""

    misfire_grace_time = None

    def __init__(self, job: Any, run_times: list[datetime]) -> None:
        self._job = job
        self._due = iter(run_times)

    def func(self, *args: Any, **kwargs: Any) -> Any:
        return self._job.func(*args, due=next(self._due), **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)


class TickExecutor(ThreadPoolExecutor):
    """A thread pool that hands a job function its scheduled fire time as ``due=``, the tick's identity:
    APScheduler 3 calls job functions without it, and wall time differs between replicas."""

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        super()._do_submit_job(_Scheduled(job, run_times), run_times)
