"""An override is visible wherever the tier is shown: the CRM reasons field, the task, the deals, the view.

Against the sandbox on loopback: a sync, a credit manager's override set through the CRM's own API, a
second sync; then the sandbox's records, tasks and HTML view are read back.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from connector.config import Config, load_config
from connector.crm import open_client
from connector.crm.base import RetryPolicy
from connector.model import FieldUpdate, WritePlan
from connector.sync import Sync
from tests.conftest import Org, ref_id

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
    return ref_id(deal.get(org.names.deal_account)) or ""


def test_an_override_shows_in_the_reasons_field_the_task_the_deals_and_the_view(
        org: Org, config_path: Path, no_wait: RetryPolicy) -> None:
    n = org.names
    # The lines below are the English catalogue's; a Fxiaoke job would otherwise write Chinese.
    config_path.write_text(config_path.read_text(encoding="utf-8") + 'lang = "en"\n', encoding="utf-8")
    config = load_config(config_path)
    run(config, no_wait)
    accounts = by_id(org, n.accounts)
    deals = org.records(n.deals)
    with_deals = {_account_of(org, d) for d in deals}
    target = next(i for i, a in accounts.items()
                  if a[n.tier] == "low" and not a.get(n.override_tier) and i in with_deals)
    until = (date.today() + timedelta(days=30)).isoformat()
    # A Fxiaoke date field takes epoch milliseconds: the client converts a date, not an ISO string.
    until_value: Any = date.fromisoformat(until) if n.crm == "fxiaoke" else until
    edit(config, org, target, {n.override_tier: "high", n.override_reason: REASON, n.override_until: until_value})
    run(config, no_wait)

    account = by_id(org, n.accounts)[target]
    line = f"tier high (override: {REASON}, until {until}; computed: low)"
    assert account[n.tier] == "high"
    assert account[n.reasons] == f"{line} | No material risk found"  # the reason is no risk reason

    tasks = [t for t in org.records(n.tasks) if target in str(t)]
    assert tasks, "an override to high escalates: the owner gets a task"
    description = str(tasks[-1].get("Description") or tasks[-1].get("active_record_content") or "")
    assert line in description

    mine = [d for d in org.records(n.deals) if _account_of(org, d) == target]
    assert mine and all(d[n.tier] in ("high", "critical") for d in mine)  # deals follow the effective tier
    assert all(str(d[n.reasons]).startswith(line) for d in mine)

    page = org.http.get(f"{org.url}/accounts/{target}", timeout=10).text
    assert f"override: high ({REASON}) until {until}" in page
    assert line in page
