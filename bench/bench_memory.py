"""Peak RSS of a full sync as the org grows: is memory flat in the org's size?

A full sync of a fresh sandbox at each size (default 10,000 and 100,000 accounts, two deals each), each
sync in a fresh process (`sync_process.py`, `getrusage` peak RSS); prints the table, the ratio of the
largest to the smallest, then one JSON line. `--baseline DIR` measures another checkout the same way.

    python bench/bench_memory.py [--crm salesforce] [--accounts 10000 100000] [--baseline /work/main]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, sandbox, sync_once  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crm", default="salesforce")
    parser.add_argument("--accounts", nargs="+", type=int, default=[10_000, 100_000])
    parser.add_argument("--code", type=Path, default=ROOT, help="the riskbridge checkout to measure")
    parser.add_argument("--baseline", type=Path, help="another checkout to measure side by side")
    args = parser.parse_args(argv)
    versions = {"this": args.code} | ({"baseline": args.baseline} if args.baseline else {})
    rows: list[dict[str, Any]] = []
    print(f"{'code':8s} {'crm':10s} {'accounts':>8s} {'peak RSS MiB':>12s} {'sync CPU s':>10s} {'wall s':>8s}")
    for name, code in versions.items():
        for accounts in args.accounts:
            with tempfile.TemporaryDirectory() as tmp, sandbox(args.crm, accounts, Path(tmp), code=code) as sb:
                run = sync_once(sb.config, code=code)
            rows.append({"code": name, "crm": args.crm, "accounts": accounts, **run})
            print(f"{name:8s} {args.crm:10s} {accounts:8d} {run['peak_rss_mib']:12.1f} {run['cpu_s']:10.1f} "
                  f"{run['wall_s']:8.1f}", flush=True)
    ratios = {}
    for name in versions:
        mine = [r for r in rows if r["code"] == name]
        ratios[name] = mine[-1]["peak_rss_mib"] / mine[0]["peak_rss_mib"]
        print(f"{name}: peak RSS {mine[0]['accounts']:,} -> {mine[-1]['accounts']:,} accounts: {ratios[name]:.2f}x")
    print(json.dumps({"bench": "memory", "results": rows, "rss_ratio": ratios}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
