"""Sources end to end against the sandboxes: an edited file re-scores exactly the accounts whose rows
changed, an unchanged one none; a bare org plus sources scores like the provisioned org of the same seed."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import requests

from connector.admin.provision import apply_plan, plan_provision, read_org
from connector.config import load_config
from connector.crm import open_admin
from connector.sandbox import running_sandbox
from connector.sandbox.client_config import write_config
from connector.sandbox.data import generate
from connector.sandbox.sources import add_sources_to_config, erp_number, write_sources
from connector.sync import Sync
from tests.conftest import NAMES

SEED, ACCOUNTS = 11, 60


def _setup(url: str, crm: str, org: str, folder: Path) -> Path:
    creds = requests.get(f"{url}/__sandbox/credentials", timeout=10).json()
    config = write_config(folder / "config.toml", crm, creds, org=org)
    files = write_sources(folder / "sources", generate(SEED, ACCOUNTS, 2, date.today()), seed=SEED, today=date.today(),
                          crm=crm, org=org)
    return add_sources_to_config(config, files, crm)


def _tiers(url: str, crm: str) -> dict[str, str]:
    names = NAMES[crm]
    rows = requests.get(f"{url}/__sandbox/records/{names.accounts}", timeout=30).json()["records"]
    number = "AccountNumber" if crm == "salesforce" else "Account_Number"
    return {str(r[number]): r.get(names.tier) for r in rows}


def test_edited_source_rescores_exactly_the_changed_accounts(crm: str, tmp_path: Path) -> None:
    with running_sandbox(crm, accounts=ACCOUNTS, deals_per_account=2, seed=SEED) as sb:
        cfg_path = _setup(sb.url, crm, "provisioned", tmp_path)
        first = Sync(load_config(cfg_path)).run()
        assert first.status == "success" and first.sources["bureau"]["matched"] == ACCOUNTS
        assert first.sources["bureau"]["duplicates"] and first.sources["bureau"]["keys"] > ACCOUNTS  # misses too
        unchanged = Sync(load_config(cfg_path)).run()
        assert unchanged.objects["accounts"].scored == 0 and not unchanged.sources["bureau"]["read"]
        # the finance team corrects two firms' statements: only those two accounts are scored again
        path = tmp_path / "sources" / "financials.csv"
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        edited = {rows[1][0], rows[2][0]}
        for row in rows[1:3]:
            row[5] = str(float(row[4]) * 3)  # total_liabilities: debts triple
        with path.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows(rows)
        after = Sync(load_config(cfg_path)).run()
        assert after.sources["financials"]["read"] and after.sources["financials"]["changed"] == 2
        assert after.objects["accounts"].scored == 2
        assert {erp_number(int(k) - 10000) for k in edited} == edited


def test_bare_org_with_sources_agrees_with_the_provisioned_org(crm: str, tmp_path: Path) -> None:
    with running_sandbox(crm, accounts=ACCOUNTS, deals_per_account=2, seed=SEED) as sb:
        cfg = load_config(write_config(tmp_path / "p" / "config.toml", crm,
                                       requests.get(f"{sb.url}/__sandbox/credentials", timeout=10).json()))
        assert Sync(cfg).run().status == "success"
        provisioned = _tiers(sb.url, crm)
    with running_sandbox(crm, accounts=ACCOUNTS, deals_per_account=2, seed=SEED, org="bare") as sb:
        cfg = load_config(_setup(sb.url, crm, "bare", tmp_path / "b"))
        conn = cfg.connections[cfg.jobs["default"].connection]
        admin = open_admin(conn)
        apply_plan(plan_provision(cfg, "default", read_org(cfg, "default", admin)), admin)
        report = Sync(load_config(_setup(sb.url, crm, "bare", tmp_path / "b"))).run()
        assert report.status == "success", report.to_json()
        bare = _tiers(sb.url, crm)
    assert set(bare) == set(provisioned) and all(bare.values())
    agree = sum(bare[k] == provisioned[k] for k in provisioned) / len(provisioned)
    print(f"tier agreement bare+sources vs provisioned ({crm}): {agree:.1%}")
    assert agree >= 0.95
