"""A full Salesforce sync at 100,000 and 1,000,000 accounts (2 deals each): time, CPU, calls and peak RSS.

Each size runs in fresh processes: the sandbox in its own (`riskbridge sandbox serve`), the sync in another,
so the sync's peak RSS and CPU are its own. Prints a table, then one JSON line with every figure and the
RSS ratio between the largest and the smallest size (issue 16's goal: at most 1.5).

    python bench/bench_scale.py [--accounts 100000 1000000] [--sandbox-only]

`--sandbox-only` measures the sandbox alone: startup time (generation and indexes), its RSS when ready,
and after one full read of both objects through Bulk API 2.0. `--store-only` builds the Salesforce
sandbox's record store in a fresh process per size (no server): build CPU and the RSS it adds, per
account (with its deals and tasks); run it on another checkout to compare stores.

Minimum calls, as counted here: login, 3 describes (Account, Opportunity, Task) and limits; per object
one REST probe, a Bulk query job (create, 2 polls) and one results call per 10,000 rows; per object with
updates one Bulk ingest job (create, upload, close, 1 poll, 2 result reads); tasks and topic assignments
through sObject Collections, 200 records per call.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
PAGE = 10_000


def _vm(pid: int, key: str) -> int:
    """A /proc/<pid>/status figure in KiB (VmHWM: peak RSS, VmRSS: current)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class SandboxProcess:
    """`riskbridge sandbox serve` in its own process, with a config written for it."""

    def __init__(self, accounts: int, tmp: Path) -> None:
        self.config = tmp / "config.toml"
        cmd = [sys.executable, "-m", "connector.cli", "sandbox", "serve", "--crm", "salesforce", "--accounts",
               str(accounts), "--deals-per-account", "2", "--seed", "3", "--write-config", str(self.config)]
        began = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"sandbox did not start: {line!r}")
        self.startup_s = time.perf_counter() - began
        self.url = line.rsplit(" ", 1)[1].strip()
        self.ready_rss_kib = _vm(self.proc.pid, "VmRSS")

    def calls(self) -> dict[str, Any]:
        data: dict[str, Any] = requests.get(f"{self.url}/__sandbox/calls", timeout=60).json()
        return data

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def child_sync(config: str) -> None:
    """Run one full sync in this (fresh) process; print its figures as JSON."""
    from connector.config import load_config
    from connector.crm.base import RetryPolicy
    from connector.sync import Sync

    began = time.perf_counter()
    report = Sync(load_config(Path(config)), policy=RetryPolicy(sleep=lambda _s: None)).run(full=True)
    wall = time.perf_counter() - began
    usage = resource.getrusage(resource.RUSAGE_SELF)
    acc, deals = report.objects["accounts"], report.objects["deals"]
    print(json.dumps({"status": report.status, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
                      "peak_rss_kib": usage.ru_maxrss, "accounts": acc.extracted, "deals": deals.extracted,
                      "accounts_written": acc.written, "deals_written": deals.written,
                      "tasks": report.tasks_created, "tags": report.tags_added + report.tags_removed}))


def minimum_calls(accounts: int, deals: int, run: dict[str, Any]) -> int:
    reads = sum(4 + math.ceil(n / PAGE) for n in (accounts, deals))
    writes = 6 * sum(1 for n in (run["accounts_written"], run["deals_written"]) if n)
    small = math.ceil(run["tasks"] / 200) + math.ceil(run["tags"] / 200)
    return 5 + reads + writes + small


def one_size(accounts: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = SandboxProcess(accounts, Path(tmp))
        try:
            requests.delete(f"{sandbox.url}/__sandbox/calls", timeout=60)
            sandbox_cpu = _cpu(sandbox.proc.pid)
            began = time.perf_counter()
            out = subprocess.run([sys.executable, __file__, "--child", str(sandbox.config)], cwd=ROOT, check=True,
                                 capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            wall = time.perf_counter() - began
            run = json.loads(out.stdout.strip().splitlines()[-1])
            calls = sandbox.calls()
            return {"accounts": accounts, "deals": run["deals"], "status": run["status"], "wall_s": round(wall, 1),
                    "sync_wall_s": round(run["wall_s"], 1), "sync_cpu_s": round(run["cpu_s"], 1),
                    "sandbox_cpu_s": round(_cpu(sandbox.proc.pid) - sandbox_cpu, 1),
                    "calls": calls["total"], "min_calls": minimum_calls(accounts, accounts * 2, run),
                    "sync_peak_rss_mib": round(run["peak_rss_kib"] / 1024, 1),
                    "sandbox_startup_s": round(sandbox.startup_s, 1),
                    "sandbox_peak_rss_mib": round(_vm(sandbox.proc.pid, "VmHWM") / 1024, 1),
                    "written": run["accounts_written"] + run["deals_written"], "tasks": run["tasks"]}
        finally:
            sandbox.stop()


def sandbox_only(accounts: int) -> dict[str, Any]:
    """Startup and RSS of the sandbox alone, then after one Bulk read of every account and deal."""
    from connector.config import SalesforceConnection, load_config
    from connector.crm.base import ObjectSpec, RetryPolicy
    from connector.crm.salesforce import SalesforceClient

    with tempfile.TemporaryDirectory() as tmp:
        sandbox = SandboxProcess(accounts, Path(tmp))
        try:
            config = load_config(sandbox.config)
            conn = next(iter(config.connections.values()))
            assert isinstance(conn, SalesforceConnection)
            client = SalesforceClient(conn.model_copy(update={"bulk_query_threshold": 1}),
                                      policy=RetryPolicy(sleep=lambda _s: None))
            began, rows = time.perf_counter(), 0
            for name in ("Account", "Opportunity"):
                spec = ObjectSpec("accounts", name, "SystemModstamp", ("Id", "Name", "SystemModstamp"), page_size=2000)
                rows += sum(len(p.rows) for p in client.extract(spec, None))
            read_s = time.perf_counter() - began
            return {"accounts": accounts, "sandbox_startup_s": round(sandbox.startup_s, 1),
                    "ready_rss_mib": round(sandbox.ready_rss_kib / 1024, 1), "rows_read": rows,
                    "bulk_read_s": round(read_s, 1),
                    "peak_rss_mib": round(_vm(sandbox.proc.pid, "VmHWM") / 1024, 1)}
        finally:
            sandbox.stop()


def child_store(accounts: int) -> None:
    """Build the Salesforce sandbox store in this (fresh) process; print its CPU and RSS as JSON."""
    import gc

    from connector.sandbox.sf_store import Store

    gc.collect()
    before, began = _vm(os.getpid(), "VmRSS"), time.process_time()
    store = Store(seed=3, accounts=accounts, deals_per_account=2, today=date.today())
    cpu = time.process_time() - began
    gc.collect()
    added = _vm(os.getpid(), "VmRSS") - before
    # The columns' own bytes, where the store has them (RSS deltas are blurred by the allocator's arenas).
    held = sum(t.base.nbytes() for t in store.tables.values() if hasattr(t, "base"))
    print(json.dumps({"accounts": accounts, "build_cpu_s": round(cpu, 1), "rss_added_mib": round(added / 1024, 1),
                      "bytes_per_account": round(added * 1024 / accounts), "column_bytes_per_account":
                      round(held / accounts) if held else None, "peak_rss_mib":
                      round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


def store_only(accounts: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child-store", str(accounts)], cwd=ROOT, check=True,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--sandbox-only", action="store_true")
    parser.add_argument("--store-only", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-store", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_sync(args.child)
        return
    if args.child_store:
        child_store(args.child_store)
        return
    results: list[dict[str, Any]] = []
    if args.store_only:
        print(f"{'accounts':>9s} {'build CPU s':>11s} {'RSS added MiB':>13s} {'B/account':>9s}", flush=True)
        for n in args.accounts:
            r = store_only(n)
            results.append(r)
            print(f"{n:9d} {r['build_cpu_s']:11.1f} {r['rss_added_mib']:13.1f} {r['bytes_per_account']:9d}", flush=True)
        print(json.dumps({"bench": "scale_store", "sizes": results}))
        return
    if args.sandbox_only:
        print(f"{'accounts':>9s} {'startup s':>9s} {'ready MiB':>9s} {'read s':>7s} {'peak MiB':>9s}", flush=True)
        for n in args.accounts:
            r = sandbox_only(n)
            results.append(r)
            print(f"{n:9d} {r['sandbox_startup_s']:9.1f} {r['ready_rss_mib']:9.1f} {r['bulk_read_s']:7.1f} "
                  f"{r['peak_rss_mib']:9.1f}", flush=True)
        print(json.dumps({"bench": "scale_sandbox", "sizes": results}))
        return
    print(f"{'accounts':>9s} {'status':>8s} {'wall s':>7s} {'sync CPU s':>10s} {'sandbox CPU s':>13s} "
          f"{'calls':>6s} {'min':>5s} {'sync RSS MiB':>12s} {'sandbox MiB':>11s}", flush=True)
    for n in args.accounts:
        r = one_size(n)
        results.append(r)
        print(f"{n:9d} {r['status']:>8s} {r['sync_wall_s']:7.1f} {r['sync_cpu_s']:10.1f} {r['sandbox_cpu_s']:13.1f} "
              f"{r['calls']:6d} {r['min_calls']:5d} {r['sync_peak_rss_mib']:12.1f} {r['sandbox_peak_rss_mib']:11.1f}",
              flush=True)
    ratio = (results[-1]["sync_peak_rss_mib"] / results[0]["sync_peak_rss_mib"]) if len(results) > 1 else None
    if ratio is not None:
        print(f"sync peak RSS ratio {results[-1]['accounts']:,}/{results[0]['accounts']:,}: {ratio:.2f} (goal <= 1.5)")
    print(json.dumps({"bench": "scale", "sizes": results, "rss_ratio": ratio}))


if __name__ == "__main__":
    main()
