"""An override is visible wherever the tier is shown: the CRM reasons field, the task, the deals, the view.

Against the sandbox on loopback: a sync, a credit manager's override set through the CRM's own API, a
second sync; then the sandbox's records, tasks and HTML view are read back.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from connector.config import Config
from connector.crm import open_client
from connector.crm.base import RetryPolicy
from connector.model import FieldUpdate, WritePlan
from connector.sync import Sync
from tests.conftest import Org

REASON = "Parent company guarantee on file"


def run(config: Config, policy: RetryPolicy, **kwargs: Any) -> Any:
    return Sync(config, policy=policy).run(**kwargs)


def edit(config: Config, org: Org, record_id: str, values: dict[str, Any]) -> None:
    """Set fields the way a credit manager would, through the CRM's own API."""
    client = open_client(config.connections["sandbox"], objects={"accounts": org.names.accounts,
                                                                 "deals": org.names.deals},
                         policy=RetryPolicy(sleep=lambda _s: None))
    result = client.apply(WritePlan(updates=[FieldUpdate("accounts", record_id,
                                                         {k: (None, v) for k, v in values.items()}, "edit")]))
    client.close()
    assert result.outcomes["edit"].ok, result.outcomes["edit"]


def by_id(org: Org, obj: str) -> dict[str, dict[str, Any]]:
    return {str(r[org.names.id]): r for r in org.records(obj)}


def _account_of(org: Org, deal: dict[str, Any]) -> str:
    ref = deal.get("AccountId") if org.names.crm == "salesforce" else (deal.get("Account_Name") or {}).get("id")
    return str(ref or "")


def test_an_override_shows_in_the_reasons_field_the_task_the_deals_and_the_view(
        org: Org, config: Config, no_wait: RetryPolicy) -> None:
    n = org.names
    run(config, no_wait)
    accounts = by_id(org, n.accounts)
    deals = org.records(n.deals)
    with_deals = {_account_of(org, d) for d in deals}
    target = next(i for i, a in accounts.items()
                  if a[n.tier] == "low" and not a.get(n.override_tier) and i in with_deals)
    until = (date.today() + timedelta(days=30)).isoformat()
    edit(config, org, target, {n.override_tier: "high", n.override_reason: REASON, n.override_until: until})
    run(config, no_wait)

    account = by_id(org, n.accounts)[target]
    line = f"tier high (override: {REASON}, until {until}; computed: low)"
    assert account[n.tier] == "high"
    assert account[n.reasons] == f"{line} | No material risk found"  # the reason is no risk reason

    tasks = [t for t in org.records(n.tasks) if target in str(t)]
    assert tasks, "an override to high escalates: the owner gets a task"
    description = str(tasks[-1].get("Description") or "")
    assert line in description

    mine = [d for d in org.records(n.deals) if _account_of(org, d) == target]
    assert mine and all(d[n.tier] in ("high", "critical") for d in mine)  # deals follow the effective tier
    assert all(str(d[n.reasons]).startswith(line) for d in mine)

    page = org.http.get(f"{org.url}/accounts/{target}", timeout=10).text
    assert f"override: high ({REASON}) until {until}" in page
    assert line in page
