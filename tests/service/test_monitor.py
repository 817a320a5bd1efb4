"""Monitor runs re-read by id only the watched accounts (riskiest tiers and watchlist) and their deals,
under the job's own lease and outbox; a quiet monitor run writes nothing."""

from __future__ import annotations

import math
from pathlib import Path

from connector.config import load_config
from connector.crm import open_client
from connector.crm.base import RetryPolicy
from connector.model import FieldUpdate, WritePlan
from connector.service.daemon import Daemon
from connector.service.monitor import watched_accounts
from connector.state import StateStore
from connector.sync import Sync
from tests.conftest import Org
from tests.service.conftest import extend, reads_of, record_fxiaoke_queries

MONITOR = '[jobs.default.monitor]\nschedule = "*/10 * * * *"\ntiers = ["high", "critical"]\nwatchlist = true\n'


def sanction(config_path: Path, org: Org, record_id: str) -> None:
    """A compliance hit entered in the CRM, through its own API: critical at once."""
    cfg = load_config(config_path)
    client = open_client(cfg.connections["sandbox"], objects={"accounts": org.names.accounts},
                         policy=RetryPolicy(sleep=lambda _s: None))
    result = client.apply(WritePlan(updates=[FieldUpdate("accounts", record_id, {org.names.sanctions: (None, True)},
                                                         "edit")]))
    client.close()
    assert result.outcomes["edit"].ok


def test_a_monitor_run_reads_only_the_watched_accounts_by_id(org: Org, config_path: Path) -> None:
    extend(config_path, MONITOR)
    cfg = load_config(config_path)
    assert Sync(cfg).run().status == "success"  # a first full run records every assessment
    store = StateStore(cfg.state_url)
    assert cfg.jobs["default"].monitor is not None
    watched = watched_accounts(store, "default", cfg.jobs["default"].monitor)
    tiers = {i: r.tier for i, r in store.assessments("default", "accounts",
                                                     [a[org.names.id] for a in org.records(org.names.accounts)]).items()}
    assert watched == sorted(i for i, t in tiers.items() if t in ("high", "critical"))
    assert 0 < len(watched) < len(tiers)
    calm = next(i for i, t in tiers.items() if t in ("low", "medium"))
    sanction(config_path, org, watched[0])
    sanction(config_path, org, calm)  # a change outside the watched set: the monitor must not see it

    org.reset_calls()
    record_fxiaoke_queries(org)
    daemon = Daemon(cfg, store=store)
    report = daemon.execute("default", "monitor")
    assert report is not None and report.status == "success", report
    reads = reads_of(org, org.names.accounts)
    assert reads and all(kind == "by-id" for kind, _ in reads), reads
    assert set().union(*(ids or set() for _, ids in reads)) == set(watched)
    deal_reads = reads_of(org, org.names.deals)
    watched_deals = {d.id for d in store.deals_for_accounts("default", watched)}
    assert all(kind == "by-id" for kind, _ in deal_reads), deal_reads
    assert set().union(*(ids or set() for _, ids in deal_reads)) == watched_deals
    accounts = {a[org.names.id]: a for a in org.records(org.names.accounts)}
    assert accounts[watched[0]][org.names.tier] == "critical"  # the watched change is written back
    assert accounts[calm][org.names.tier] != "critical"  # the unwatched one waits for the full run
    calls = org.calls()
    # Cost: the checks of a run, then one read per chunk of ids (accounts and deals), then the writes.
    print(f"\nmonitor cost ({org.names.crm}): {calls['total']} calls ({calls['reads']} reads, {calls['writes']} writes) "
          f"for {len(watched)} watched accounts and {len(watched_deals)} deals")
    assert calls["reads"] <= 8 + 2 * math.ceil(len(watched) / 100) + 2 * math.ceil(max(len(watched_deals), 1) / 100)
    runs = store.runs("default", 5)
    assert runs[0].summary["monitor"] == {"watched": len(watched)}

    # The full run then picks up the other change and does not redo the monitor's work.
    org.reset_calls()
    full = Sync(cfg).run()
    after = {a[org.names.id]: a for a in org.records(org.names.accounts)}
    assert after[calm][org.names.tier] == "critical"
    assert full.objects["accounts"].written == 1 + full.objects["accounts"].failed  # only the unwatched change
    tasks = [t for t in org.records(org.names.tasks) if t.get(org.names.task_key)]
    assert len(tasks) == len({t[org.names.task_key] for t in tasks})  # no duplicate task

    # A quiet monitor run (nothing changed in the CRM) writes nothing.
    org.reset_calls()
    quiet = daemon.execute("default", "monitor")
    assert quiet is not None and quiet.status == "success"
    assert org.calls()["writes"] == 0
