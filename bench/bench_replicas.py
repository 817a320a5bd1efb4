"""Several scheduler replicas on one state store: double runs, missed ticks and takeover after a SIGKILL.

3 `riskbridge schedule` processes fire 100 one-second ticks (the `RBTEST_TICKS` test hook) against a
Salesforce sandbox; the first run of the window creates tasks, and the replica holding the job's lease is
SIGKILLed as its first task write arrives. The figures come from the runs table, the tick claims and the
sandbox (`tests/service/replicas.py`, the drill the slow test runs). Prints one table row per state store and
host layout, and one JSON line with every figure.

Hosts: `same` runs the replicas under one host name (a successor sees the killed pid gone and takes over at
once); `cross` gives each its own (`RISKBRIDGE_SERVICE__HOST_NAME`, as on several machines or pods), so the
job is taken over when the killed holder's lease lapses: `[service] lease_ttl_s` (60 s) after its last renewal.

    python bench/bench_replicas.py [--ticks 100] [--replicas 3] [--backend sqlite postgresql] [--hosts same cross]

PostgreSQL: the server on 127.0.0.1:5432 (trust authentication); the benchmark creates a database of its
own and drops it afterwards. Wall time includes the replicas' start-up; `replica CPU` is the user + system
time of all replica processes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the drill lives with the tests


from connector.sandbox import running_sandbox  # noqa: E402
from tests.conftest import Org, sandbox_config  # noqa: E402
from tests.service.replicas import Drill, DrillResult  # noqa: E402
from tests.state_db import scratch_database  # noqa: E402


@contextmanager
def state_url(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'state.db'}"
        return
    with scratch_database("rb_bench") as url:
        yield url


def drill(backend: str, ticks: int, replicas: int, hosts: str) -> DrillResult:
    with tempfile.TemporaryDirectory() as tmp, state_url(backend, Path(tmp)) as url, \
            running_sandbox("salesforce", accounts=24, deals_per_account=1, seed=11) as server:
        org = Org(server, "salesforce")
        path = sandbox_config(Path(tmp) / "config.toml", "salesforce", org.credentials(), state_url=url)
        run = Drill(org, path, backend=backend, replicas=replicas, ticks=ticks, hosts=hosts)
        try:
            return run.run()
        finally:
            run.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ticks", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--backend", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--hosts", nargs="+", default=["same", "cross"], choices=["same", "cross"])
    args = parser.parse_args()
    results = [drill(backend, args.ticks, args.replicas, hosts) for backend in args.backend for hosts in args.hosts]
    print(f"{'state':10s} {'hosts':5s} {'lease s':>7s} {'replicas':>8s} {'ticks':>5s} {'runs':>4s} {'done':>4s} {'covered':>7s} {'double':>6s} "
          f"{'missed':>6s} {'takeover s':>10s} {'tasks':>5s} {'owed once':>9s} {'dup tasks':>9s} {'wall s':>6s} {'replica CPU s':>13s}")
    for r in results:
        takeover = f"{r.takeover_s:.2f}" if r.takeover_s is not None else "-"
        once = f"{r.owed_tasks_once}/{r.expected_tasks}"
        print(f"{r.backend:10s} {r.hosts:5s} {r.lease_ttl_s:7.0f} {r.replicas:8d} {r.ticks:5d} {r.runs:4d} {r.done:4d} {r.covered:7d} {r.double_runs:6d} "
              f"{r.missed:6d} {takeover:>10s} {r.tasks:5d} {once:>9s} {r.duplicate_tasks:9d} {r.wall_s:6.1f} {r.replica_cpu_s:13.1f}")
        for error in r.errors:
            print(f"  {r.backend}: {error}")
    print(json.dumps({"bench": "replicas", "results": [json.loads(r.json()) for r in results]}, sort_keys=True))


if __name__ == "__main__":
    main()
