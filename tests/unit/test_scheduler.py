"""The scheduler wires each job to its cron trigger, without overlap, and rejects bad schedules."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import load_config
from connector.errors import ConfigError
from connector.scheduler import build_scheduler

ROOT = Path(__file__).resolve().parents[2]


def config(tmp_path: Path, schedule: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"""
[connections.sf]
crm = "salesforce"
instance_url = "http://127.0.0.1:9"
login_url = "http://127.0.0.1:9"
[connections.sf.auth]
method = "password"
username = "u@example.com"
password = "x"  # a literal secret is accepted for a loopback URL only
[jobs.hourly]
connection = "sf"
mapping = "{ROOT / 'mappings' / 'salesforce.toml'}"
schedule = "{schedule}"
""")
    return path


def test_each_job_gets_a_non_overlapping_cron_entry(tmp_path: Path) -> None:
    cfg = load_config(config(tmp_path, "5 * * * *"))
    ran: list[str] = []
    scheduler = build_scheduler(cfg, run=lambda _cfg, job: ran.append(job))
    [entry] = scheduler.get_jobs()
    assert entry.id == "hourly" and entry.max_instances == 1 and entry.coalesce
    assert "minute='5'" in str(entry.trigger)
    entry.func(*entry.args)
    assert ran == ["hourly"]


def test_bad_cron_is_a_config_error_at_load_time(tmp_path: Path) -> None:
    # Every command validates the schedule, not only `schedule`: a typo never waits for the daemon.
    with pytest.raises(ConfigError, match="jobs.hourly.schedule.*not a cron expression"):
        load_config(config(tmp_path, "*/61 * * *"))
