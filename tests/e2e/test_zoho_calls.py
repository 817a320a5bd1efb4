"""A Zoho run makes at most 1.05 × the fewest calls that do its work, plus 8 (issue 17), by the sandbox's call log.

The fewest calls, from docs/crm-zoho.md: accounts are read with their `Tag`, which COQL cannot select, so
at best 200 a call (a page of `GET /crm/v8/Accounts`), plus their ids by COQL (2,000 a call) when they
take more than one page, since the doc does not say what a page token names; deals need no tag, so COQL reads them 2,000 a call;
updates, task upserts and tag actions take 100 records a call. Metadata, the token, the deleted-records
check and the tag definition are the "+ 8".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.config import Config, load_config
from connector.crm.base import RetryPolicy
from connector.outcome import RunReport
from connector.sandbox import running_sandbox
from connector.sandbox.client_config import write_config
from connector.sync import Sync
from tests.conftest import Org

NO_WAIT = RetryPolicy(attempts=4, sleep=lambda _s: None)


def pages(n: int, size: int) -> int:
    return -(-n // size)


def minimum(report: RunReport) -> int:
    objects, accounts = report.objects, report.objects["accounts"].extracted
    # A listing of more than one page is correct only with its ids walked by COQL, 2,000 a call (crm-zoho.md
    # does not say a page-token chain walks a snapshot).
    return (pages(accounts, 200) + (pages(accounts, 2000) if accounts > 200 else 0)
            + pages(objects["deals"].extracted, 2000)
            + sum(pages(c.written, 100) for c in objects.values())
            + pages(report.tasks_created, 100) + pages(report.tags_added, 100) + pages(report.tags_removed, 100))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Org, Config]]:
    with running_sandbox("zoho", accounts=600, deals_per_account=2, seed=11) as server:
        org = Org(server, "zoho")
        yield org, load_config(write_config(tmp_path / "config.toml", "zoho", org.credentials()))


def run(org: Org, config: Config) -> tuple[RunReport, dict[str, Any]]:
    """One run; its clock a few seconds ahead, so its cursor is not held a second behind the CRM's last
    write (the runs follow each other within a second here) and the next run reads only what changed."""
    org.reset_calls()
    report = Sync(config, policy=NO_WAIT, clock=lambda: datetime.now(UTC) + timedelta(seconds=5)).run()
    assert report.status == "success", report.failures
    return report, org.calls()


def test_a_run_with_nothing_to_do_calls_within_5_percent_of_the_minimum_plus_8(world: tuple[Org, Config]) -> None:
    org, config = world
    full, calls = run(org, config)
    assert calls["total"] <= 1.05 * minimum(full) + 8, json.dumps(calls["by_endpoint"])
    # The next run reads every record again (the full run's write-backs stamped them) and writes nothing.
    echo, calls = run(org, config)
    assert echo.objects["accounts"].extracted == 600 and echo.objects["deals"].extracted == 1200
    assert sum(c.written for c in echo.objects.values()) == 0
    assert calls["total"] <= 1.05 * minimum(echo) + 8, calls["by_endpoint"]
    assert "GET Accounts" in calls["by_endpoint"] and "GET Deals" not in calls["by_endpoint"]  # deals by COQL
    assert echo.api_calls == calls["total"]
    # Then a user edits a few records: the rows of the cursor's own second are not listed again. The edits
    # are stamped two seconds on: made within the cursor's own second (a fast machine, or a slow one's
    # luck) they would be read by id through that second's COQL check, one call more than counted here.
    app = org.server.sandbox.app
    real = app.clock
    app.clock = lambda: real() + 2  # type: ignore[method-assign]
    org.touch("Accounts", 6)
    org.touch("Deals", 12)
    later, calls = run(org, config)
    assert later.objects["accounts"].extracted < 600
    assert calls["total"] <= 1.05 * minimum(later) + 8, json.dumps(calls["by_endpoint"])
    assert calls["by_endpoint"]["GET Accounts"] <= 2, json.dumps(calls["by_endpoint"])  # a page, and the rescored
