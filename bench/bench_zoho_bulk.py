"""A Zoho backfill read two ways: the Bulk Read API (zipped CSV) against the COQL keyset walk.

One sandbox org of N accounts with their deals; each path reads every account and every deal with a
fresh client (`ZohoClient.extract` with no cursor, the engine's backfill read), 2,000 rows a page.
The bulk path has `bulk_read_threshold = 1`, the COQL path `0`. Reported per path: API calls (the
client's count, token mint included), wall time, the client thread's CPU time (`time.thread_time`,
the sandbox serves from other threads of this process) and the whole process's CPU time (client and
sandbox). Ratios are bulk / COQL from the same run. The sandbox's jobs complete at once (no queue), so
the wall time leaves out Zoho's own export time; the calls do not depend on it.

    python bench/bench_zoho_bulk.py [--accounts 20000] [--deals-per-account 1] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from typing import Any

import requests

from connector.config import ZohoConnection
from connector.crm.base import ObjectSpec, RetryPolicy
from connector.crm.zoho import ZohoClient
from connector.mapping import MAPPINGS_DIR, load_mapping
from connector.model import ObjectKind
from connector.sandbox import running_sandbox

MAPPING = load_mapping(MAPPINGS_DIR / "zoho.toml")


def spec(kind: ObjectKind) -> ObjectSpec:
    obj = MAPPING.object(kind)
    return ObjectSpec(kind, obj.object, obj.cursor_field, obj.read_fields(), page_size=2000,
                      parent_field=obj.parent_field)


def read(url: str, creds: dict[str, str], threshold: int) -> dict[str, Any]:
    conn = ZohoConnection.model_validate({
        "crm": "zoho", "accounts_url": creds["accounts_url"], "api_url": creds["api_url"], "timeout_s": 120,
        "auth": {k: creds[k] for k in ("client_id", "client_secret", "refresh_token")},
        "bulk_read_threshold": threshold})
    requests.delete(f"{url}/__sandbox/calls", timeout=10)
    client = ZohoClient(conn, policy=RetryPolicy(sleep=lambda _s: None))
    wall, cpu, process = time.perf_counter(), time.thread_time(), time.process_time()
    rows = {kind: sum(len(p.rows) for p in client.extract(spec(kind), None)) for kind in ("accounts", "deals")}
    out = {"rows": rows, "calls": client.api_calls, "wall_s": round(time.perf_counter() - wall, 3),
           "client_cpu_s": round(time.thread_time() - cpu, 3),
           "process_cpu_s": round(time.process_time() - process, 3),
           "by_endpoint": requests.get(f"{url}/__sandbox/calls", timeout=10).json()["by_endpoint"]}
    client.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--deals-per-account", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2, help="runs per path; the fastest wall time is kept")
    args = parser.parse_args()
    with running_sandbox("zoho", accounts=args.accounts, deals_per_account=args.deals_per_account, seed=4,
                         today=date(2026, 5, 14)) as server:
        creds = requests.get(f"{server.url}/__sandbox/credentials", timeout=10).json()
        best: dict[str, dict[str, Any]] = {}
        for _ in range(max(1, args.repeat)):
            for label, threshold in (("coql", 0), ("bulk", 1)):
                result = read(server.url, creds, threshold)
                if label not in best or result["wall_s"] < best[label]["wall_s"]:
                    best[label] = result
    coql, bulk = best["coql"], best["bulk"]
    assert coql["rows"] == bulk["rows"], (coql["rows"], bulk["rows"])
    print(f"Zoho backfill read of {args.accounts:,} accounts and {bulk['rows']['deals']:,} deals "
          f"(best of {args.repeat}):")
    print(f"{'path':6} {'calls':>7} {'wall s':>8} {'client CPU s':>13} {'process CPU s':>14}")
    for label, r in (("coql", coql), ("bulk", bulk)):
        print(f"{label:6} {r['calls']:>7} {r['wall_s']:>8.2f} {r['client_cpu_s']:>13.2f} {r['process_cpu_s']:>14.2f}")
    ratios = {k: round(bulk[k] / coql[k], 3) if coql[k] else None
              for k in ("calls", "wall_s", "client_cpu_s", "process_cpu_s")}
    print("bulk / coql: " + ", ".join(f"{k} {v}" for k, v in ratios.items()))
    print(json.dumps({"accounts": args.accounts, "coql": coql, "bulk": bulk, "bulk_over_coql": ratios}))


if __name__ == "__main__":
    main()
