"""The state store's share of a sync, on SQLite and PostgreSQL, for two versions of the code.

Each measurement runs in a fresh process with the chosen code tree first on ``sys.path``: a Salesforce
sandbox (in-process) with N accounts and 2N deals, a full sync and then a second run with nothing to do,
under cProfile. The store's time is the time spent inside `connector/state.py` entered from outside it
(each top-level store call counted once, nested calls not again); the audit chain it calls is included.
cProfile inflates Python-heavy code, so the figures are for comparing versions and backends measured
the same way in one run, not absolute costs.

    python bench/bench_store.py [--accounts 10000] [--backend sqlite postgresql]
                                [--before /work/main] [--after .] [--repeat 1]

PostgreSQL: a fresh database on 127.0.0.1:5432 (user postgres, trust auth) per measurement, dropped
after. Prints a table, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


@contextmanager
def _state_url(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'state.db'}"
        return
    from sqlalchemy import create_engine, text

    name = f"rb_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield PG_URL.format(name=name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


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


def child(accounts: int, backend: str) -> dict[str, Any]:
    """One measurement in this process (the code tree is whatever `connector` imports from)."""
    import cProfile

    import requests

    from connector.config import load_config
    from connector.crm.base import RetryPolicy
    from connector.sandbox import running_sandbox
    from connector.sandbox.client_config import write_config
    from connector.sync import Sync

    out: dict[str, Any] = {"code": str(Path(sys.modules["connector"].__file__ or "").parent.parent)}
    with tempfile.TemporaryDirectory() as tmp, _state_url(backend, Path(tmp)) as url, \
            running_sandbox("salesforce", accounts=accounts, deals_per_account=2, seed=3) as sandbox:
        creds = requests.get(f"{sandbox.url}/__sandbox/credentials", timeout=10).json()
        config = load_config(write_config(Path(tmp) / "config.toml", "salesforce", creds, state_url=url))
        policy = RetryPolicy(sleep=lambda _s: None)
        for label in ("full", "no change"):
            profile = cProfile.Profile()
            began, cpu = time.perf_counter(), time.process_time()
            profile.enable()
            report = Sync(config, policy=policy).run()
            profile.disable()
            wall, cpu = time.perf_counter() - began, time.process_time() - cpu
            store, methods = _store_seconds(profile)
            top = dict(sorted(methods.items(), key=lambda m: -m[1])[:8])
            out[label] = {"status": report.status, "sync_s": round(wall, 3), "sync_cpu_s": round(cpu, 3),
                          "store_s": round(store, 3), "share": round(store / wall, 3),
                          "top": {k: round(v, 3) for k, v in top.items()}}
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

    figures: dict[str, Any] = {"accounts": args.accounts, "deals": 2 * args.accounts, "crm": "salesforce"}
    print(f"{'backend':10s} {'code':6s} {'run':9s} {'sync s':>7s} {'store s':>8s} {'share':>6s}  top store calls (s)")
    for backend in args.backend:
        for version, code in (("before", args.before.resolve()), ("after", args.after.resolve())):
            runs = [measure(code, args.accounts, backend) for _ in range(args.repeat)]
            for label in ("full", "no change"):
                store = statistics.median(r[label]["store_s"] for r in runs)
                sync = statistics.median(r[label]["sync_s"] for r in runs)
                top = ", ".join(f"{k} {v:.2f}" for k, v in list(runs[0][label]["top"].items())[:4])
                print(f"{backend:10s} {version:6s} {label:9s} {sync:7.2f} {store:8.2f} {store / sync:6.1%}  {top}")
                figures[f"{backend}.{version}.{label}"] = {"sync_s": sync, "store_s": store,
                                                           "share": round(store / sync, 3),
                                                           "status": runs[0][label]["status"]}
        for label in ("full", "no change"):
            before = figures[f"{backend}.before.{label}"]["store_s"]
            after = figures[f"{backend}.after.{label}"]["store_s"]
            figures[f"{backend}.store_speedup.{label}"] = round(before / after, 2) if after else None
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
