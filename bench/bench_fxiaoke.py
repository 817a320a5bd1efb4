"""What a Fxiaoke sync costs under the tenant's default frequency limit (60 calls per 20 s per API path).

Fxiaoke has no batch update: every changed record is one `data/update` call, and the client's limiter
paces those calls under the per-path window. Waiting 20 s for each 60 updates would make this
benchmark take over half an hour, so time is virtual where it is spent waiting: the client's limiter
and retries "sleep" by moving a shared clock forward, and the sandbox's limiter reads the same clock,
so it still checks every call against the real window (any 30004 is counted). Everything else (HTTP,
scoring, the state store) runs for real and its time is added. Writes run one at a time here
(concurrency 1): under the limiter a path admits 60 calls per window whatever the concurrency, so
the wall time is the same, and one thread keeps the virtual clock exact.

Two runs of the default job (accounts and their deals) on a fresh 2,000-account tenant: the full
sync, then an incremental run after a user edits 1% of the accounts. Prints a table and one JSON line.

    python bench/bench_fxiaoke.py [--accounts 2000] [--deals-per-account 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from connector.config import load_config
from connector.crm.base import RetryPolicy
from connector.crm.fxiaoke import FxiaokeClient
from connector.crm.fxiaoke_rate import PathLimiter
from connector.sandbox import running_sandbox
from connector.sandbox.client_config import write_config
from connector.sync import Sync


class VirtualClock:
    """Real elapsed time plus every wait, which is skipped rather than slept."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.waited = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.started + self.waited

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waited += max(0.0, seconds)


def run(label: str, config_path: Path, url: str, clock: VirtualClock, limiter: PathLimiter) -> dict[str, Any]:
    config = load_config(config_path)
    conn = config.connections["sandbox"]
    mapping = config.mappings["default"]
    waited_before = limiter.waited_s
    client = FxiaokeClient(conn, objects={k: mapping.object(k).object for k in mapping.kinds},  # type: ignore[arg-type]
                           policy=RetryPolicy(sleep=clock.sleep), limiter=limiter)
    requests.delete(f"{url}/__sandbox/calls", timeout=10)
    before = requests.get(f"{url}/__sandbox/limits", timeout=10).json()["rejected"]
    start_virtual, start_real = clock.now(), time.monotonic()
    report = Sync(config, client=client).run()
    wall = clock.now() - start_virtual
    real = time.monotonic() - start_real
    calls = requests.get(f"{url}/__sandbox/calls", timeout=10).json()
    limits = requests.get(f"{url}/__sandbox/limits", timeout=10).json()
    counts = report.objects
    return {
        "run": label, "status": report.status, "api_calls": client.api_calls,
        "by_endpoint": dict(sorted(calls["by_endpoint"].items())),
        "accounts_written": counts["accounts"].written, "deals_written": counts["deals"].written,
        "followups": report.tasks_created, "wall_s": round(wall, 1),
        "limiter_wait_s": round(limiter.waited_s - waited_before, 1),
        "limiter_share": round((limiter.waited_s - waited_before) / wall, 3) if wall else 0.0, "work_s": round(real, 1),
        "rejected_30004": limits["rejected"] - before,
        "max_in_window": max(limits["max_in_window"].values()) if limits["max_in_window"] else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--deals-per-account", type=int, default=2)
    args = parser.parse_args()
    clock = VirtualClock()
    with tempfile.TemporaryDirectory(prefix="bench-fxiaoke-") as tmp, \
            running_sandbox("fxiaoke", accounts=args.accounts, deals_per_account=args.deals_per_account,
                            seed=7) as server:
        epoch = time.time()
        server.sandbox.app.clock = lambda: epoch + clock.now()  # type: ignore[attr-defined]
        creds = requests.get(f"{server.url}/__sandbox/credentials", timeout=10).json()
        path = write_config(Path(tmp) / "config.toml", "fxiaoke", creds)
        path.write_text(path.read_text(encoding="utf-8").replace('crm = "fxiaoke"\n',
                                                                  'crm = "fxiaoke"\nconcurrency = 1\n', 1))
        # One limiter for both runs, as the scheduler's process shares one per tenant (`shared_limiter`).
        limiter = PathLimiter(60, 20.0, clock=clock.now, sleep=clock.sleep)
        rows = [run("full sync", path, server.url, clock, limiter)]
        clock.sleep(30 * 60)  # the next scheduled run, half an hour later: the windows have long slid
        touched = requests.post(f"{server.url}/__sandbox/touch",
                                json={"object": "AccountObj", "count": max(1, args.accounts // 100)}, timeout=10)
        rows.append(run(f"incremental, {len(touched.json()['ids'])} accounts edited", path, server.url, clock,
                        limiter))
    print(f"Fxiaoke sync, {args.accounts} accounts x {args.deals_per_account} deals, limit 60 calls / 20 s per path")
    print(f"{'run':<36}{'calls':>7}{'updates':>9}{'wall s':>9}{'limiter s':>11}{'share':>7}{'work s':>8}{'30004':>7}")
    for row in rows:
        updates = row["by_endpoint"].get("POST crm/v2/data/update", 0)
        print(f"{row['run']:<36}{row['api_calls']:>7}{updates:>9}{row['wall_s']:>9}{row['limiter_wait_s']:>11}"
              f"{row['limiter_share']:>7.0%}{row['work_s']:>8}{row['rejected_30004']:>7}")
    print(json.dumps({"bench": "fxiaoke_sync", "accounts": args.accounts,
                      "deals_per_account": args.deals_per_account, "runs": rows}, ensure_ascii=False))


if __name__ == "__main__":
    main()
