"""A few simulated weeks of a sandbox org, for the report tests: weekly syncs on an injected clock, with CRM
users editing accounts (`touch`) and a credit manager setting overrides between runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from connector.config import Config, load_config
from connector.crm import open_client
from connector.crm.base import RetryPolicy
from connector.model import FieldUpdate, WritePlan
from connector.sync import Sync
from tests.conftest import Org, sandbox_config

WEEKS = 4
TOUCHED_PER_WEEK = 60
OVERRIDE_REASON = "Parent company guarantee on file"


@dataclass(frozen=True)
class History:
    config_path: Path
    config: Config
    since: datetime  # the start of the reported period: after the first (baseline) run
    overrides: dict[str, date]  # account id -> override until


def _edit(config: Config, org: Org, values: dict[str, dict[str, Any]]) -> None:
    """Set fields the way a credit manager would, through the CRM's own API."""
    client = open_client(config.connections["sandbox"], objects={"accounts": org.names.accounts,
                                                                 "deals": org.names.deals},
                         policy=RetryPolicy(sleep=lambda _s: None))
    plan = WritePlan(updates=[FieldUpdate("accounts", i, {k: (None, v) for k, v in fields.items()}, f"edit:{i}")
                              for i, fields in values.items()])
    result = client.apply(plan)
    client.close()
    assert all(o.ok for o in result.outcomes.values()), result.outcomes


def simulate(org: Org, tmp_path: Path, weeks: int = WEEKS, touched: int = TOUCHED_PER_WEEK) -> History:
    """A baseline sync `weeks` weeks ago, then one sync a week until today, touching accounts in between."""
    config_path = sandbox_config(tmp_path / "config.toml", org.names.crm, org.credentials())
    config = load_config(config_path)
    policy = RetryPolicy(attempts=4, sleep=lambda _s: None)
    today = datetime.now(UTC).replace(microsecond=0)
    start = today - timedelta(weeks=weeks)
    overrides: dict[str, date] = {}
    for week in range(weeks + 1):
        at = start + timedelta(weeks=week)
        report = Sync(config, policy=policy, clock=lambda at=at: at).run()  # type: ignore[misc]
        assert report.status == "success", report.failures
        if week == weeks:
            break
        org.touch(org.names.accounts, touched)
        if week == 1:  # two overrides: one expires within the report's 14-day window, one later
            ids = [str(r[org.names.id]) for r in org.records(org.names.accounts)[:2]]
            overrides = {ids[0]: today.date() + timedelta(days=7), ids[1]: today.date() + timedelta(days=60)}
            n = org.names
            _edit(config, org, {i: {n.override_tier: "high", n.override_reason: OVERRIDE_REASON,
                                    n.override_until: until.isoformat()} for i, until in overrides.items()})
    return History(config_path, config, start + timedelta(days=1), overrides)
