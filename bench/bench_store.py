"""The state store's share of a sync, on SQLite and PostgreSQL, for two versions of the code.

Each measurement runs in a fresh process with the chosen code tree first on ``sys.path``: a Salesforce
sandbox (in-process) with N accounts and 2N deals, a full sync and then a second run with nothing to do,
under cProfile timing the sync thread's CPU (wall time is noisy on a shared machine). The store's CPU
is the CPU spent inside `connector/state.py` entered from outside it (each top-level store call counted
once, nested calls not again; the audit chain it calls included); on PostgreSQL the CPU of the server
processes serving the run's database is added. The share is the store's CPU over all CPU the sync
caused (its thread's plus the server's). cProfile inflates Python-heavy code, so the figures compare
versions and backends measured the same way, not absolute costs.

    python bench/bench_store.py [--accounts 10000] [--backend sqlite postgresql]
                                [--before /work/main] [--after .] [--repeat 1]

PostgreSQL: a fresh database on 127.0.0.1:5432 (user postgres, trust auth) per measurement, dropped
after. Prints a table, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the scratch database helper lives with the tests

from tests.state_db import scratch_database  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextmanager
def _state_url(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'state.db'}"
        return
    with scratch_database("rb_bench") as url:
        yield url


def _store_seconds(profile: Any) -> tuple[float, dict[str, float]]:
    """Time inside connector/state.py entered from outside it, in total and per store method."""
    import pstats

    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    state = os.path.join("connector", "state.py")
    per_method: dict[str, float] = {}
    for (path, _line, name), (_cc, _nc, _tt, _ct, callers) in stats.items():
        if not path.endswith(state):
            continue
        entered = sum(c[3] for (caller_path, _l, _n), c in callers.items() if not caller_path.endswith(state))
        if entered:
            per_method[name] = per_method.get(name, 0.0) + entered
    return sum(per_method.values()), per_method


def _server_cpu(url: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends connected to the database of `url` (0 for SQLite,
    whose work is in this thread). The server runs on this machine: its processes' stat files are readable."""
    if not url.startswith("postgresql"):
        return 0.0
    from sqlalchemy import create_engine, text

    name = url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN)
    with admin.connect() as conn:
        # client backends only: autovacuum workers show up under the database too, whenever they run
        pids = list(conn.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = :d AND backend_type = "
                                      "'client backend'"), {"d": name}))
    admin.dispose()
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def child(accounts: int, backend: str) -> dict[str, Any]:
    """One measurement in this process (the code tree is whatever `connector` imports from). CPU is this
    thread's (the sandbox serves from other threads of the process), plus the database server's."""
    import cProfile

    import requests

    from connector.config import load_config
    from connector.crm.base import RetryPolicy
    from connector.sandbox import running_sandbox
    from connector.sandbox.client_config import write_config
    from connector.state import StateStore
    from connector.sync import Sync

    out: dict[str, Any] = {"code": str(Path(sys.modules["connector"].__file__ or "").parent.parent)}
    with tempfile.TemporaryDirectory() as tmp, _state_url(backend, Path(tmp)) as url, \
            running_sandbox("salesforce", accounts=accounts, deals_per_account=2, seed=3) as sandbox:
        creds = requests.get(f"{sandbox.url}/__sandbox/credentials", timeout=10).json()
        config = load_config(write_config(Path(tmp) / "config.toml", "salesforce", creds, state_url=url))
        policy = RetryPolicy(sleep=lambda _s: None)
        store = StateStore(url)
        for label in ("full", "no change"):
            profile = cProfile.Profile(time.thread_time)
            server = _server_cpu(url)
            began, cpu = time.perf_counter(), time.thread_time()
            profile.enable()
            report = Sync(config, store=store, policy=policy).run()
            profile.disable()
            wall, cpu = time.perf_counter() - began, time.thread_time() - cpu
            server = _server_cpu(url) - server
            store_cpu, methods = _store_seconds(profile)
            top = dict(sorted(methods.items(), key=lambda m: -m[1])[:8])
            out[label] = {"status": report.status, "wall_s": round(wall, 3), "sync_cpu_s": round(cpu, 3),
                          "store_cpu_s": round(store_cpu, 3), "server_cpu_s": round(server, 3),
                          "top": {k: round(v, 3) for k, v in top.items()}}
        store.close()
    return out


def measure(code: Path, accounts: int, backend: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    proc = subprocess.run([sys.executable, __file__, "--child", "--accounts", str(accounts), "--backend", backend],
                          cwd=code, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{code} on {backend} failed:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--backend", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--before", type=Path, default=Path("/work/main"), help="code tree of the 'before' run")
    parser.add_argument("--after", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--repeat", type=int, default=1, help="measurements per cell; the median is shown")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.accounts, args.backend[0])))
        return

    figures: dict[str, Any] = {"accounts": args.accounts, "deals": 2 * args.accounts, "crm": "salesforce",
                               "unit": "CPU seconds under cProfile (sync thread, plus the PostgreSQL server's)"}
    print(f"{'backend':10s} {'code':6s} {'run':9s} {'sync CPU':>8s} {'store CPU':>9s} {'+server':>7s} "
          f"{'share':>6s}  top store calls (CPU s)")
    for backend in args.backend:
        for version, code in (("before", args.before.resolve()), ("after", args.after.resolve())):
            runs = [measure(code, args.accounts, backend) for _ in range(args.repeat)]
            for label in ("full", "no change"):
                cell = {k: statistics.median(r[label][k] for r in runs)
                        for k in ("wall_s", "sync_cpu_s", "store_cpu_s", "server_cpu_s")}
                # the store's share of all CPU the sync caused: its own thread's and the database server's
                store = cell["store_cpu_s"] + cell["server_cpu_s"]
                cell["share"] = round(store / (cell["sync_cpu_s"] + cell["server_cpu_s"]), 3)
                cell["status"] = runs[0][label]["status"]
                top = ", ".join(f"{k} {v:.2f}" for k, v in list(runs[0][label]["top"].items())[:4])
                print(f"{backend:10s} {version:6s} {label:9s} {cell['sync_cpu_s']:8.2f} {cell['store_cpu_s']:9.2f} "
                      f"{cell['server_cpu_s']:7.2f} {cell['share']:6.1%}  {top}")
                figures[f"{backend}.{version}.{label}"] = {**cell, "top": runs[0][label]["top"]}
        for label in ("full", "no change"):
            before, after = (figures[f"{backend}.{v}.{label}"] for v in ("before", "after"))
            total = [c["store_cpu_s"] + c["server_cpu_s"] for c in (before, after)]
            figures[f"{backend}.store_speedup.{label}"] = round(total[0] / total[1], 2) if total[1] else None
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
