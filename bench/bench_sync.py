"""API calls and time for a full sync and for incremental runs, per CRM, against the sandbox.

Scenario (the figures the sync-engine and Zoho issues ask for): an org of 10,000 accounts with
20,000 deals; a full sync; a second run with no change; then 1% of accounts and 1% of deals touched
by users and an incremental run. Prints one table row per run and CRM.

    python bench/bench_sync.py [--accounts 10000] [--crm salesforce zoho]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import requests

from connector.config import load_config
from connector.crm.base import RetryPolicy
from connector.sandbox import running_sandbox
from connector.sandbox.client_config import write_config
from connector.sync import Sync

OBJECTS = {"salesforce": ("Account", "Opportunity"), "zoho": ("Accounts", "Deals")}


def scenario(crm: str, accounts: int) -> list[tuple[str, dict[str, int], float, dict[str, object]]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp, running_sandbox(crm, accounts=accounts, deals_per_account=2,
                                                               seed=3) as sandbox:
        creds = requests.get(f"{sandbox.url}/__sandbox/credentials", timeout=10).json()
        config = load_config(write_config(Path(tmp) / "config.toml", crm, creds))
        policy = RetryPolicy(sleep=lambda _s: None)

        def run(label: str) -> None:
            requests.delete(f"{sandbox.url}/__sandbox/calls", timeout=10)
            began = time.perf_counter()
            report = Sync(config, policy=policy).run()
            elapsed = time.perf_counter() - began
            calls = requests.get(f"{sandbox.url}/__sandbox/calls", timeout=10).json()
            summary = {"status": report.status, "accounts": report.objects["accounts"].extracted,
                       "deals": report.objects["deals"].extracted, "written": report.objects["accounts"].written
                       + report.objects["deals"].written, "tasks": report.tasks_created,
                       "tags": report.tags_added + report.tags_removed}
            rows.append((label, calls, elapsed, summary))

        run("full sync")
        run("no change")
        account_obj, deal_obj = OBJECTS[crm]
        for obj, count in ((account_obj, accounts // 100), (deal_obj, accounts * 2 // 100)):
            requests.post(f"{sandbox.url}/__sandbox/touch", json={"object": obj, "count": count}, timeout=30)
        run("1% touched")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--crm", nargs="+", default=["salesforce", "zoho"])
    args = parser.parse_args()
    print(f"{'crm':11s} {'run':11s} {'API calls':>9s} {'reads':>6s} {'writes':>6s} {'seconds':>8s}  result")
    for crm in args.crm:
        for label, calls, elapsed, summary in scenario(crm, args.accounts):
            print(f"{crm:11s} {label:11s} {calls['total']:9d} {calls['reads']:6d} {calls['writes']:6d} "
                  f"{elapsed:8.1f}  {summary}")


if __name__ == "__main__":
    main()
