"""Is the daemon healthy: the scheduler runs and every job's last success is recent enough.

A job's allowed age is `stale_after_periods` of its schedule's period (three by default): a job on
``*/30 * * * *`` is stale once 90 minutes pass without a successful full run. A job that has never
succeeded is measured from the daemon's start, so a fresh daemon is not reported stale at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from connector.config import Config
from connector.service.history import last_success
from connector.state import StateStore

__all__ = ["Health", "Verdict", "schedule_period"]


def schedule_period(cron: str, now: datetime) -> timedelta:
    """The gap between the next two fire times of a cron schedule (from `now`)."""
    trigger = CronTrigger.from_crontab(cron, timezone="UTC")
    first = trigger.get_next_fire_time(None, now)
    if first is None:
        return timedelta(days=1)
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1))
    return (second - first) if second is not None else timedelta(days=1)


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    reasons: list[str]
    stale: list[str]  # the jobs that are stale

    def body(self) -> str:
        return "ok\n" if self.healthy else "\n".join(self.reasons) + "\n"


class Health:
    """The health verdict, from the state store's run history and an injected clock."""

    def __init__(self, config: Config, store: StateStore, jobs: list[str], *, clock: Callable[[], datetime],
                 scheduler_running: Callable[[], bool]) -> None:
        self.config = config
        self.store = store
        self.jobs = jobs
        self.clock = clock
        self.scheduler_running = scheduler_running
        self.started = clock()

    def allowed_age(self, job: str) -> timedelta:
        period = schedule_period(self.config.jobs[job].schedule, self.clock())
        return period * self.config.service.stale_after_periods

    def check(self) -> Verdict:
        now = self.clock()
        reasons: list[str] = []
        stale: list[str] = []
        if not self.scheduler_running():
            reasons.append("the scheduler is not running")
        for job in self.jobs:
            allowed = self.allowed_age(job)
            last = last_success(self.store, job)
            since = last or self.started
            if now - since > allowed:
                stale.append(job)
                what = f"last success {last:%Y-%m-%d %H:%M:%S} UTC" if last else "no successful run yet"
                reasons.append(f"job {job} is stale: {what}, allowed age {_age(allowed)}")
        return Verdict(not reasons, reasons, stale)


def _age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"
