"""The sync's own cost per CRM and org size: full run, a run with nothing to do, an incremental run.

For each CRM and size, a fresh sandbox (seeded, two deals per account) runs in its own process; every
sync runs in a fresh process (`sync_process.py`). Per run: wall time, the sync process's CPU
(`getrusage` inside it), the sandbox's CPU (/proc/<pid>/stat), API calls against the minimum for what
the run read and wrote (`harness.minimum_calls`) and the sync's peak RSS; min / median of
`--repeats` fresh sandboxes. `--baseline DIR` measures another checkout (e.g. /work/main) the same way
in the same invocation, so the two are compared on the same machine at the same time. `--latency-ms`
adds that much to every API call (the sandbox waits before answering), as a real CRM's round trip would:
then the wall ratio, not the CPU, is the figure that counts.

    python bench/bench_sync.py [--crm salesforce zoho fxiaoke] [--accounts 10000 50000] [--repeats 3]
                               [--baseline /work/main] [--latency-ms 100]

Prints a table, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import OBJECTS, ROOT, minimum_calls, sandbox, spread, sync_once  # noqa: E402

RUNS = ("full", "nothing to do", "incremental")


def scenario(crm: str, accounts: int, code: Path, latency_ms: int = 0) -> dict[str, dict[str, Any]]:
    """One fresh sandbox: a full run, a run with nothing to do, then 1% of accounts and deals touched."""
    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp, sandbox(crm, accounts, Path(tmp), code=code,
                                                                  latency_ms=latency_ms) as sb:
        for label in RUNS:
            if label == "incremental":
                account_obj, deal_obj, _ = OBJECTS[crm]
                sb.touch(account_obj, max(1, accounts // 100))
                sb.touch(deal_obj, max(1, accounts * 2 // 100))
            sb.reset_calls()
            cpu_before = sb.cpu_s()
            run = sync_once(sb.config, code=code)
            calls = sb.calls()
            out[label] = {**run, "sandbox_cpu_s": sb.cpu_s() - cpu_before, "calls": calls["total"],
                          "min_calls": minimum_calls(crm, run, full=label == "full")}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crm", nargs="+", default=["salesforce", "zoho", "fxiaoke"])
    parser.add_argument("--accounts", nargs="+", type=int, default=[10_000, 50_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--code", type=Path, default=ROOT, help="the riskbridge checkout to measure")
    parser.add_argument("--baseline", type=Path, help="another checkout to measure side by side")
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every API call by the sandbox")
    args = parser.parse_args(argv)
    versions = {"this": args.code} | ({"baseline": args.baseline} if args.baseline else {})
    results: list[dict[str, Any]] = []
    print(f"{'code':8s} {'crm':10s} {'accounts':>8s} {'run':13s} {'wall s':>13s} {'sync CPU s':>13s} "
          f"{'ms/account':>10s} {'sandbox CPU s':>13s} {'calls':>6s} {'min':>5s} {'peak RSS MiB':>13s}")
    for crm in args.crm:
        for accounts in args.accounts:
            for name, code in versions.items():
                repeats = [scenario(crm, accounts, code, args.latency_ms) for _ in range(args.repeats)]
                for label in RUNS:
                    runs = [r[label] for r in repeats]
                    cpu = [r["cpu_s"] for r in runs]
                    row = {"code": name, "checkout": str(code), "crm": crm, "accounts": accounts, "run": label,
                           "wall_s": [r["wall_s"] for r in runs], "sync_cpu_s": cpu,
                           "sync_cpu_ms_per_account": min(cpu) * 1000 / accounts,
                           "sandbox_cpu_s": [r["sandbox_cpu_s"] for r in runs], "calls": runs[0]["calls"],
                           "min_calls": runs[0]["min_calls"], "peak_rss_mib": [r["peak_rss_mib"] for r in runs],
                           "status": [r["status"] for r in runs], "read": runs[0]["read"],
                           "written": runs[0]["written"]}
                    results.append(row)
                    print(f"{name:8s} {crm:10s} {accounts:8d} {label:13s} {spread(row['wall_s']):>13s} "
                          f"{spread(cpu):>13s} {row['sync_cpu_ms_per_account']:10.3f} "
                          f"{spread(row['sandbox_cpu_s']):>13s} {row['calls']:6d} {row['min_calls']:5d} "
                          f"{spread(row['peak_rss_mib']):>13s}", flush=True)
    ratios = _ratios(results)
    for line in ratios:
        print(line["text"])
    print(json.dumps({"bench": "sync", "results": results, "ratios": ratios}))
    return 0


def _ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Growth with size (min CPU of the largest over the smallest) and this code against the baseline."""
    out: list[dict[str, Any]] = []
    key = {(r["code"], r["crm"], r["accounts"], r["run"]): min(r["sync_cpu_s"]) for r in results}
    wall = {(r["code"], r["crm"], r["accounts"], r["run"]): min(r["wall_s"]) for r in results}
    sizes = sorted({r["accounts"] for r in results})
    for code, crm, accounts, run in key:
        if len(sizes) > 1 and accounts == sizes[-1] and (code, crm, sizes[0], run) in key:
            growth = key[(code, crm, accounts, run)] / key[(code, crm, sizes[0], run)]
            out.append({"text": f"{code} {crm} {run}: sync CPU {sizes[0]:,} -> {accounts:,} accounts grows "
                                f"{growth:.2f}x", "code": code, "crm": crm, "run": run, "cpu_growth": growth})
        if code == "this" and ("baseline", crm, accounts, run) in key:
            ratio = key[("baseline", crm, accounts, run)] / key[(code, crm, accounts, run)]
            faster = wall[("baseline", crm, accounts, run)] / wall[(code, crm, accounts, run)]
            out.append({"text": f"{crm} {accounts:,} {run}: baseline / this sync CPU = {ratio:.2f}x, "
                                f"wall = {faster:.2f}x", "crm": crm, "accounts": accounts, "run": run,
                        "cpu_speedup": ratio, "wall_speedup": faster})
    return out


if __name__ == "__main__":
    raise SystemExit(main())
