"""The scheduler: APScheduler runs each job on its cron schedule, and its monitor on its own. Thin on purpose.

`max_instances=1` and `coalesce=True`: a slow run is never overlapped by the next tick, and ticks
missed while it ran collapse into one run. A job and its monitor share the job's lease in the state
store, so they never run at once either: the daemon claims each fire as a tick in the state store and
runs a monitor tick that came while the job ran right after it (`connector.service.replica`), once across
all replicas.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from connector.config import Config, connection_hosts
from connector.errors import ConfigError, ConfigProblem, ConnectionFailed, Retriable, RiskbridgeError
from connector.sync import Sync

__all__ = ["MONITOR_SUFFIX", "TEST_TICKS_ENV", "build_scheduler", "next_runs"]

log = logging.getLogger(__name__)

MONITOR_SUFFIX = ".monitor"  # the APScheduler id of a job's monitor entry: "<job>.monitor"
# A test hook, inert in production: "<every s>" replaces every cron with a tick every that many seconds, at
# whole seconds, so all replicas name the same ticks (the replica suite and benchmark need fast ticks; cron
# stops at minutes). Named RBTEST_* like `connector.crashpoint`, not a config key.
TEST_TICKS_ENV = "RBTEST_TICKS"
FIRES_AT_ONCE = 8  # with claims: fires of one entry in flight at once (each claims, then drains or leaves it)


def _test_trigger() -> CronTrigger | None:
    every = os.environ.get(TEST_TICKS_ENV)
    return CronTrigger(second=f"*/{int(every)}", timezone="UTC") if every else None


def _run_job(config: Config, job: str) -> None:
    try:
        report = Sync(config, job).run()
        log.info("job %s run %d: %s, %d API calls", job, report.run_id, report.status, report.api_calls)
    except (ConnectionFailed, Retriable) as exc:  # the daemon keeps going; the run row records the failure
        log.error("job %s failed: %s (tried %s)", job, exc, connection_hosts(config, job))
    except RiskbridgeError as exc:
        log.error("job %s failed: %s", job, exc)


def _run_monitor(config: Config, job: str) -> None:
    from connector.service.monitor import watched_accounts

    sync = Sync(config, job)
    monitor = config.jobs[job].monitor
    if monitor is None:
        return
    try:
        report = sync.run(watch=watched_accounts(sync.store, job, monitor))
        log.info("monitor %s run %d: %s, %d API calls", job, report.run_id, report.status, report.api_calls)
    except RiskbridgeError as exc:
        log.error("monitor %s failed: %s", job, exc)


def _triggers(config: Config, names: list[str]) -> tuple[dict[str, CronTrigger], list[ConfigProblem]]:
    """APScheduler id -> trigger, for every job and monitor named; and the problems found."""
    problems: list[ConfigProblem] = []
    triggers: dict[str, CronTrigger] = {}
    for name in names:
        if name not in config.jobs:
            problems.append(ConfigProblem(config.source, f"jobs.{name}", "no such job",
                                          f"jobs defined: {', '.join(sorted(config.jobs)) or 'none'}"))
            continue
        monitor = config.jobs[name].monitor
        entries = [(name, config.jobs[name].schedule, f"jobs.{name}.schedule")]
        if monitor is not None:
            entries.append((name + MONITOR_SUFFIX, monitor.schedule, f"jobs.{name}.monitor.schedule"))
        for entry_id, cron, key in entries:
            try:
                triggers[entry_id] = _test_trigger() or CronTrigger.from_crontab(cron, timezone="UTC")
            except ValueError as exc:
                problems.append(ConfigProblem(config.source, key, f"not a cron expression: {exc}",
                                              'five fields, e.g. "*/30 * * * *"'))
    return triggers, problems


def build_scheduler(config: Config, jobs: list[str] | None = None,
                    run: Callable[[Config, str], object] = _run_job, *,
                    monitor: Callable[[Config, str], object] = _run_monitor,
                    scheduler: BaseScheduler | None = None, executor: str = "default",
                    claims: bool = False) -> BaseScheduler:
    """A scheduler with one cron-triggered entry per job (all jobs unless `jobs` names some), and one per
    job monitor (id "<job>.monitor"), run by the scheduler's `executor` (the daemon's hands each run its
    scheduled fire time, `connector.service.replica.TickExecutor`).

    With `claims` (the daemon: every fire is claimed in the state store and runs under the job's lease) no
    fire is dropped or merged here: a fire that comes while this replica is busy must still be claimed, or a
    tick every replica was busy for would be lost; overlap and catch-up are the claims' business."""
    triggers, problems = _triggers(config, jobs or sorted(config.jobs))
    if problems:
        raise ConfigError(problems)
    scheduler = scheduler or BlockingScheduler(timezone="UTC")
    for entry_id, trigger in triggers.items():
        name, is_monitor = entry_id.removesuffix(MONITOR_SUFFIX), entry_id.endswith(MONITOR_SUFFIX)
        scheduler.add_job(monitor if is_monitor else run, trigger, args=(config, name), id=entry_id,
                          name=f"riskbridge {'monitor' if is_monitor else 'job'} {name}",
                          max_instances=FIRES_AT_ONCE if claims else 1, coalesce=not claims,
                          misfire_grace_time=300, executor=executor)
    return scheduler


def next_runs(config: Config, now: datetime, jobs: list[str] | None = None) -> dict[str, tuple[str, datetime | None]]:
    """APScheduler id -> (cron, next fire time after `now`) for every job and monitor (for `schedule list`)."""
    triggers, problems = _triggers(config, jobs or sorted(config.jobs))
    if problems:
        raise ConfigError(problems)
    out: dict[str, tuple[str, datetime | None]] = {}
    for entry_id, trigger in triggers.items():
        name = entry_id.removesuffix(MONITOR_SUFFIX)
        job = config.jobs[name]
        cron = job.monitor.schedule if entry_id.endswith(MONITOR_SUFFIX) and job.monitor else job.schedule
        out[entry_id] = (cron, trigger.get_next_fire_time(None, now))
    return out
