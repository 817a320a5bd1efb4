"""The scheduler gives each job's monitor its own non-overlapping entry, and `next_runs` lists both."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.config import load_config
from connector.errors import ConfigError
from connector.scheduler import build_scheduler, next_runs
from tests.unit.test_scheduler import config


def test_a_monitor_gets_its_own_entry_and_the_same_guards(tmp_path: Path) -> None:
    path = config(tmp_path, "5 * * * *")
    path.write_text(path.read_text() + '[jobs.hourly.monitor]\nschedule = "*/10 * * * *"\ntiers = ["critical"]\n'
                    "watchlist = false\n")
    cfg = load_config(path)
    ran: list[tuple[str, str]] = []
    scheduler = build_scheduler(cfg, run=lambda _c, job: ran.append(("job", job)),
                                monitor=lambda _c, job: ran.append(("monitor", job)))
    entries = {e.id: e for e in scheduler.get_jobs()}
    assert set(entries) == {"hourly", "hourly.monitor"}
    monitor = entries["hourly.monitor"]
    assert monitor.max_instances == 1 and monitor.coalesce and "minute='*/10'" in str(monitor.trigger)
    monitor.func(*monitor.args)
    entries["hourly"].func(*entries["hourly"].args)
    assert ran == [("monitor", "hourly"), ("job", "hourly")]
    upcoming = next_runs(cfg, datetime(2026, 1, 1, 12, 7, tzinfo=UTC))
    assert upcoming["hourly"] == ("5 * * * *", datetime(2026, 1, 1, 13, 5, tzinfo=UTC))
    assert upcoming["hourly.monitor"] == ("*/10 * * * *", datetime(2026, 1, 1, 12, 10, tzinfo=UTC))
    with pytest.raises(ConfigError, match="no such job"):
        next_runs(cfg, datetime.now(UTC), ["nightly"])


def test_a_monitor_that_watches_nothing_is_refused(tmp_path: Path) -> None:
    path = config(tmp_path, "5 * * * *")
    path.write_text(path.read_text() + "[jobs.hourly.monitor]\ntiers = []\nwatchlist = false\n")
    with pytest.raises(ConfigError, match="watches nothing"):
        load_config(path)
