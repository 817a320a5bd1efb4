"""riskbridge against a naive simple-salesforce script, on identical fresh sandboxes at a given latency.

Each side gets its own fresh Salesforce sandbox (same seed, same data) with `--latency-ms` added to
every API call, and runs in a fresh process: the naive script (`naive_script.py`: `query_all`, one
`Account.update` per account, one `Task.create` per task) and a full riskbridge sync
(`sync_process.py`). Prints both rows (wall, process CPU, sandbox CPU, calls), the ratio, then one JSON
line.

    python bench/bench_naive.py [--accounts 10000] [--latency-ms 20] [--code DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import HERE, ROOT, env_for, sandbox, sync_once  # noqa: E402


def naive_once(config: Path, code: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(HERE / "naive_script.py"), str(config)], env=env_for(code),
                         capture_output=True, text=True, check=False, cwd=config.parent)
    if out.returncode != 0:
        raise RuntimeError(f"the naive script failed ({out.returncode}): {out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def measure(side: str, accounts: int, latency_ms: int, code: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, sandbox("salesforce", accounts, Path(tmp), code=code,
                                                       latency_ms=latency_ms) as sb:
        before = sb.cpu_s()
        run = naive_once(sb.config, code) if side == "naive" else sync_once(sb.config, code=code)
        return {"side": side, **run, "sandbox_cpu_s": sb.cpu_s() - before, "calls": sb.calls()["total"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--code", type=Path, default=ROOT, help="the riskbridge checkout to measure")
    args = parser.parse_args(argv)
    rows = [measure(side, args.accounts, args.latency_ms, args.code) for side in ("naive", "riskbridge")]
    print(f"{args.accounts:,} accounts, {args.latency_ms} ms latency per call")
    print(f"{'side':11s} {'wall s':>8s} {'CPU s':>7s} {'sandbox CPU s':>13s} {'calls':>6s}  written")
    for r in rows:
        print(f"{r['side']:11s} {r['wall_s']:8.1f} {r['cpu_s']:7.2f} {r['sandbox_cpu_s']:13.2f} {r['calls']:6d}  "
              f"{r['written']} tasks {r['tasks']}")
    naive, ours = rows
    ratio = naive["wall_s"] / ours["wall_s"]
    print(f"riskbridge is {ratio:.1f}x faster (wall) with {naive['calls'] / max(1, ours['calls']):.0f}x fewer calls")
    print(json.dumps({"bench": "naive", "accounts": args.accounts, "latency_ms": args.latency_ms, "naive": naive,
                      "riskbridge": ours, "wall_ratio": ratio}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
