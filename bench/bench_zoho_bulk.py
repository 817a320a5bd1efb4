"""A Zoho backfill read two ways: the Bulk Read API (zipped CSV) against the COQL keyset walk.

One sandbox org of N accounts with their deals; each path reads every account and every deal with a
fresh client (`ZohoClient.extract` with no cursor, the engine's backfill read), 2,000 rows a page.
The bulk path has `bulk_read_threshold = 1`, the COQL path `0`. The client runs in a child process
(spawned, so it holds nothing of the sandbox). Reported per path: API calls (the client's count, token
mint included), wall time of the read, the client's CPU time and peak RSS, and the sandbox's CPU time
(this process, serving) over the same read. Ratios are bulk / COQL from the same run. The sandbox's jobs complete at once (no queue), so
the wall time leaves out Zoho's own export time; the calls do not depend on it.

    python bench/bench_zoho_bulk.py [--accounts 20000] [--deals-per-account 1] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
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


def _peak_rss_mb() -> float:
    """This process's peak RSS (Linux `VmHWM`: unlike `ru_maxrss` it is not inherited through fork and exec)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _read_in_child(url: str, creds: dict[str, str], threshold: int, out: Any) -> None:
    """The client side alone, in a fresh process: its CPU time and peak RSS are the client's own."""
    conn = ZohoConnection.model_validate({
        "crm": "zoho", "accounts_url": creds["accounts_url"], "api_url": creds["api_url"], "timeout_s": 120,
        "auth": {k: creds[k] for k in ("client_id", "client_secret", "refresh_token")},
        "bulk_read_threshold": threshold})
    client = ZohoClient(conn, policy=RetryPolicy(sleep=lambda _s: None))
    wall, cpu = time.perf_counter(), time.process_time()
    rows = {kind: sum(len(p.rows) for p in client.extract(spec(kind), None)) for kind in ("accounts", "deals")}
    out.put({"rows": rows, "calls": client.api_calls, "wall_s": round(time.perf_counter() - wall, 3),
             "client_cpu_s": round(time.process_time() - cpu, 3),
             "client_peak_rss_mb": _peak_rss_mb()})
    client.close()


def read(url: str, creds: dict[str, str], threshold: int) -> dict[str, Any]:
    """One backfill read by a client in a child process; this process only serves the sandbox meanwhile."""
    requests.delete(f"{url}/__sandbox/calls", timeout=10)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_read_in_child, args=(url, creds, threshold, queue))
    served = time.process_time()
    child.start()
    result: dict[str, Any] = queue.get(timeout=3600)
    child.join()
    result["sandbox_cpu_s"] = round(time.process_time() - served, 3)
    result["by_endpoint"] = requests.get(f"{url}/__sandbox/calls", timeout=10).json()["by_endpoint"]
    return result


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
    assert "POST bulk/read" in bulk["by_endpoint"], "the module fits one COQL page of keys: use more than 2,000 accounts"
    print(f"Zoho backfill read of {args.accounts:,} accounts and {bulk['rows']['deals']:,} deals "
          f"(best of {args.repeat}):")
    print(f"{'path':6} {'calls':>7} {'wall s':>8} {'client CPU s':>13} {'sandbox CPU s':>14} {'client RSS MB':>14}")
    for label, r in (("coql", coql), ("bulk", bulk)):
        print(f"{label:6} {r['calls']:>7} {r['wall_s']:>8.2f} {r['client_cpu_s']:>13.2f} {r['sandbox_cpu_s']:>14.2f} "
              f"{r['client_peak_rss_mb']:>14.1f}")
    ratios = {k: round(bulk[k] / coql[k], 3) if coql[k] else None
              for k in ("calls", "wall_s", "client_cpu_s", "sandbox_cpu_s", "client_peak_rss_mb")}
    print("bulk / coql: " + ", ".join(f"{k} {v}" for k, v in ratios.items()))
    print(json.dumps({"accounts": args.accounts, "coql": coql, "bulk": bulk, "bulk_over_coql": ratios}))


if __name__ == "__main__":
    main()
