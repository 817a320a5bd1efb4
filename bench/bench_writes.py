"""Write-back wall time with one lane against `write_concurrency` lanes, at injected network latency.

The sandbox runs in its own process (so its CPU does not compete with the client's GIL) with
``latency_ms`` set through its fault endpoint. For each CRM and latency, the same plan of field updates
(`--accounts` accounts and two deals each, every value changed) is applied with k=1 and with the
default k, on one client each; the client's CPU time is measured alongside the wall time. A last row
per Salesforce latency applies the plan as a backfill (one Bulk API 2.0 job per object) for its call
count; the sandbox finishes a job at once, so its wall time is a lower bound of a real org's.

    python bench/bench_writes.py [--accounts 2000] [--latency 20 100] [--crm salesforce zoho] [--lanes 4]

Prints a table, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import multiprocessing.connection
import time
from typing import Any

import requests

from connector.config import SalesforceConnection, ZohoConnection
from connector.crm.base import RetryPolicy
from connector.crm.salesforce import SalesforceClient
from connector.crm.zoho import ZohoClient
from connector.model import FieldUpdate, WritePlan
from connector.sandbox import running_sandbox

FIELDS = {"salesforce": ("Account", "Opportunity", "Id", "Risk_Score__c", "Risk_Tier__c"),
          "zoho": ("Accounts", "Deals", "id", "Risk_Score", "Risk_Tier")}


def serve(crm: str, accounts: int, conn: multiprocessing.connection.Connection) -> None:
    """The sandbox, in this child process until the parent says stop."""
    with running_sandbox(crm, accounts=accounts, deals_per_account=2, seed=5) as server:
        conn.send(server.url)
        conn.recv()


def client_for(crm: str, url: str, lanes: int, bulk_threshold: int) -> SalesforceClient | ZohoClient:
    creds: dict[str, Any] = requests.get(f"{url}/__sandbox/credentials", timeout=10).json()
    policy = RetryPolicy(sleep=lambda _s: None)
    if crm == "salesforce":
        conn = SalesforceConnection.model_validate({
            "crm": "salesforce", "instance_url": creds["instance_url"], "login_url": creds["login_url"],
            "api_reserve": 0, "write_concurrency": lanes,
            "auth": {"method": "jwt", "consumer_key": creds["consumer_key"], "username": creds["username"],
                     "private_key": creds["private_key"]}})
        return SalesforceClient(conn, policy=policy, bulk_threshold=bulk_threshold)
    zconn = ZohoConnection.model_validate({
        "crm": "zoho", "accounts_url": creds["accounts_url"], "api_url": creds["api_url"],
        "write_concurrency": lanes, "auth": {k: creds[k] for k in ("client_id", "client_secret", "refresh_token")}})
    return ZohoClient(zconn, policy=policy)


def plan_for(crm: str, url: str, score: float) -> WritePlan:
    account_obj, deal_obj, id_field, score_field, tier_field = FIELDS[crm]
    plan = WritePlan()
    for kind, obj in (("accounts", account_obj), ("deals", deal_obj)):
        rows = requests.get(f"{url}/__sandbox/records/{obj}", timeout=60).json()["records"]
        plan.updates += [FieldUpdate(kind, str(r[id_field]),  # type: ignore[arg-type]
                                     {score_field: (None, score), tier_field: (None, "high" if score > 50 else "low")},
                                     key=f"{kind}:{r[id_field]}:{score}") for r in rows]
    return plan


def measure(crm: str, url: str, latency: int, lanes: int, score: float, bulk_threshold: int) -> dict[str, Any]:
    requests.post(f"{url}/__sandbox/faults", json={"latency_ms": latency}, timeout=10).raise_for_status()
    plan = plan_for(crm, url, score)
    client = client_for(crm, url, lanes, bulk_threshold)
    if isinstance(client, ZohoClient):
        client.apply(WritePlan())  # nothing to write: the token mint is not part of the write-back
    else:
        client.call("login", lambda sf: None)
    requests.delete(f"{url}/__sandbox/calls", timeout=10)
    wall, cpu = time.perf_counter(), time.process_time()
    result = client.apply(plan)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    client.close()
    calls = requests.get(f"{url}/__sandbox/calls", timeout=10).json()["total"]
    assert not result.failed and len(result.outcomes) == len(plan.updates), "every write must succeed"
    return {"crm": crm, "latency_ms": latency, "lanes": lanes, "bulk": bulk_threshold <= len(plan.updates),
            "updates": len(plan.updates), "calls": calls, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--latency", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--crm", nargs="+", default=["salesforce", "zoho"])
    parser.add_argument("--lanes", type=int, default=4, help="k to compare with one lane (the default setting)")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for crm in args.crm:
        parent, child = multiprocessing.Pipe()
        process = multiprocessing.Process(target=serve, args=(crm, args.accounts, child), daemon=True)
        process.start()
        try:
            url = parent.recv()
            score = 10.0
            for latency in args.latency:
                for lanes in (1, args.lanes):
                    score += 1
                    rows.append(measure(crm, url, latency, lanes, score, bulk_threshold=10**9))
                if crm == "salesforce":
                    score += 1
                    rows.append(measure(crm, url, latency, args.lanes, score, bulk_threshold=1))
        finally:
            parent.send("stop")
            process.join(timeout=60)
    print(f"{'crm':<11}{'latency':>8}{'lanes':>6}{'path':>12}{'updates':>9}{'calls':>7}{'wall s':>9}{'cpu s':>8}"
          f"{'k1/k':>7}")
    ratios: dict[str, float] = {}
    for row in rows:
        base = next(r for r in rows if r["crm"] == row["crm"] and r["latency_ms"] == row["latency_ms"]
                    and r["lanes"] == 1 and not r["bulk"])
        ratio = base["wall_s"] / row["wall_s"] if row["wall_s"] else 0.0
        if row["lanes"] != 1 and not row["bulk"]:
            ratios[f"{row['crm']}@{row['latency_ms']}ms"] = round(ratio, 2)
        path = "bulk job" if row["bulk"] else "collections" if row["crm"] == "salesforce" else "PUT 100"
        print(f"{row['crm']:<11}{row['latency_ms']:>6}ms{row['lanes']:>6}{path:>12}{row['updates']:>9}"
              f"{row['calls']:>7}{row['wall_s']:>9.2f}{row['cpu_s']:>8.2f}{ratio:>7.2f}")
    print(json.dumps({"bench": "writes", "accounts": args.accounts, "rows": rows, "speedup_k_over_1": ratios}))


if __name__ == "__main__":
    main()
