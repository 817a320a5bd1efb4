"""One sync run in this (fresh) process, measured from inside: ``python bench/sync_process.py CONFIG``.

Prints one JSON line: status, counts, API calls, wall seconds, this process's CPU seconds
(`resource.getrusage`, user + system, startup imports included) and its peak RSS. The benchmarks
start it as a subprocess so each run's CPU and memory are its own; `--code DIR` in the benchmarks
puts another checkout first on PYTHONPATH to measure a baseline with the same script.

    python bench/sync_process.py config.toml [--full] [--profile out.prof] [--clock 2026-03-02T09:00:00+00:00]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

STARTED = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--full", action="store_true", help="a full run (--full of `riskbridge sync`)")
    parser.add_argument("--profile", help="write a cProfile of the run to this file")
    args = parser.parse_args()

    from connector.config import load_config
    from connector.crm.base import RetryPolicy
    from connector.sync import Sync

    config = load_config(args.config)
    sync = Sync(config, policy=RetryPolicy(sleep=lambda _s: None))
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        report = profiler.runcall(sync.run, full=args.full)
        profiler.dump_stats(args.profile)
    else:
        report = sync.run(full=args.full)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "status": report.status, "api_calls": report.api_calls,
        "read": {kind: c.extracted for kind, c in report.objects.items()},
        "written": {kind: c.written for kind, c in report.objects.items()}, "tasks": report.tasks_created,
        "tags": report.tags_added + report.tags_removed,
        "wall_s": time.perf_counter() - STARTED, "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,  # Linux reports KiB
    }))


if __name__ == "__main__":
    main()
