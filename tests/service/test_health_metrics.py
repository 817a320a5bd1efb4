"""The daemon's loopback endpoint: /healthz turns 503 when a job goes stale (injected clock), /metrics
reflects the runs; a stale job raises one alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from connector.config import load_config
from connector.service.daemon import Daemon
from connector.state import StateStore
from tests.conftest import Org
from tests.service.conftest import extend
from tests.service.receivers import webhook_receiver


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name}{{{want}}} in /metrics")


def test_healthz_turns_503_when_a_job_goes_stale_and_metrics_reflect_runs(org: Org, config_path: Path) -> None:
    with webhook_receiver() as hook:
        # A yearly schedule never fires during the test; the daemon's runs are made by `execute`.
        extend(config_path, f'[service]\nlisten = "127.0.0.1:0"\nstale_after_periods = 2\n'
                            f'[alerts]\non = ["stale"]\n[alerts.webhook]\nurl = "{hook.url}"\n',
               job='schedule = "0 0 1 1 *"\n')
        cfg = load_config(config_path)
        clock = Clock()
        daemon = Daemon(cfg, clock=clock, sleep=lambda _s: None)
        daemon.start()
        assert daemon.endpoint is not None
        base = f"http://{daemon.endpoint.address}"
        try:
            assert requests.get(f"{base}/healthz", timeout=5).status_code == 200  # fresh: measured from start
            report = daemon.execute("default", "job")
            assert report is not None and report.status == "success"
            health = requests.get(f"{base}/healthz", timeout=5)
            assert health.status_code == 200 and health.text == "ok\n"

            text = requests.get(f"{base}/metrics", timeout=5).text
            assert metric(text, "riskbridge_runs_total", job="default", kind="job", status="success") == 1
            accounts = report.objects["accounts"]
            assert metric(text, "riskbridge_records_total", job="default", object="accounts", outcome="read") \
                == accounts.extracted
            assert metric(text, "riskbridge_records_total", job="default", object="accounts", outcome="written") \
                == accounts.written > 0
            assert metric(text, "riskbridge_api_calls_total", job="default") == report.api_calls
            assert metric(text, "riskbridge_run_duration_seconds_count", job="default", kind="job") == 1
            assert metric(text, "riskbridge_last_success_timestamp_seconds", job="default", kind="job") \
                == clock.now.timestamp()
            tiers = StateStore(cfg.state_url).tier_counts("default")
            for tier, count in tiers.items():
                assert metric(text, "riskbridge_accounts", job="default", tier=tier) == count
            assert metric(text, "riskbridge_watchlist_size", job="default") \
                == StateStore(cfg.state_url).watchlist_count("default")
            if report.api_usage is not None:  # Salesforce reports its daily allowance; the Zoho client does not
                used, limit = report.api_usage
                assert metric(text, "riskbridge_api_quota_left", job="default") == limit - used

            clock.now += timedelta(days=366 * 2 + 1)  # two yearly periods and a day without a success
            stale = requests.get(f"{base}/healthz", timeout=5)
            assert stale.status_code == 503
            assert "job default is stale" in stale.text and "last success" in stale.text

            daemon.watch_health()
            daemon.watch_health()  # still stale: no second alert
            assert [b["event"] for b in hook.bodies] == ["stale"]
            assert hook.bodies[0]["job"] == "default"

            daemon.stop.set()  # stopping: the scheduler no longer counts as running
            assert "the scheduler is not running" in requests.get(f"{base}/healthz", timeout=5).text
            assert requests.get(f"{base}/nothing", timeout=5).status_code == 404
        finally:
            daemon.scheduler.shutdown(wait=False)
            daemon.endpoint.stop()
