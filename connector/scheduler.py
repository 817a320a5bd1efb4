"""The scheduler daemon: APScheduler runs each job on its cron schedule. Thin on purpose.

`max_instances=1` and `coalesce=True`: a slow run is never overlapped by the next tick, and ticks
missed while it ran collapse into one run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from connector.config import Config, connection_hosts
from connector.errors import ConfigError, ConfigProblem, ConnectionFailed, Retriable, RiskbridgeError
from connector.sync import Sync

__all__ = ["build_scheduler"]

log = logging.getLogger(__name__)


def _run_job(config: Config, job: str) -> None:
    try:
        report = Sync(config, job).run()
        log.info("job %s run %d: %s, %d API calls", job, report.run_id, report.status, report.api_calls)
    except (ConnectionFailed, Retriable) as exc:  # the daemon keeps going; the run row records the failure
        log.error("job %s failed: %s (tried %s)", job, exc, connection_hosts(config, job))
    except RiskbridgeError as exc:
        log.error("job %s failed: %s", job, exc)


def build_scheduler(config: Config, jobs: list[str] | None = None,
                    run: Callable[[Config, str], None] = _run_job) -> BlockingScheduler:
    """A scheduler with one cron-triggered entry per job (all jobs unless `jobs` names some)."""
    names = jobs or sorted(config.jobs)
    problems = []
    scheduler = BlockingScheduler(timezone="UTC")
    for name in names:
        if name not in config.jobs:
            problems.append(ConfigProblem(config.source, f"jobs.{name}", "no such job"))
            continue
        try:
            trigger = CronTrigger.from_crontab(config.jobs[name].schedule, timezone="UTC")
        except ValueError as exc:
            problems.append(ConfigProblem(config.source, f"jobs.{name}.schedule", f"not a cron expression: {exc}",
                                          'five fields, e.g. "*/30 * * * *"'))
            continue
        scheduler.add_job(run, trigger, args=(config, name), id=name, name=f"riskbridge job {name}",
                          max_instances=1, coalesce=True, misfire_grace_time=300)
    if problems:
        raise ConfigError(problems)
    return scheduler
