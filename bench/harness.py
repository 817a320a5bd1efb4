"""What the sync benchmarks share: a sandbox CRM in its own process, and sync runs in fresh processes.

The sandbox runs as ``python -m connector.cli sandbox serve`` so its CPU (read from /proc/<pid>/stat)
is never mixed with the sync's; every sync run is `bench/sync_process.py` in a fresh interpreter, so
its CPU and peak RSS (`getrusage`, measured inside it) are that run's alone.
"""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OBJECTS = {"salesforce": ("Account", "Opportunity", "Task"), "zoho": ("Accounts", "Deals", "Tasks"),
           "fxiaoke": ("AccountObj", "NewOpportunityObj", "ActiveRecordObj")}
# Records per read page and per write call the CRMs' batch endpoints allow (see docs/crm-*.md).
PAGE = {"salesforce": 2000, "zoho": 200, "fxiaoke": 100}
WRITE_BATCH = {"salesforce": 200, "zoho": 100, "fxiaoke": 1}
READ_PAGE = {("zoho", "deals"): 2000}  # Zoho deals carry no tags: COQL reads 2,000 rows a call
ZOHO_BULK_READ = 50_000  # Zoho's default bulk_read_threshold
_TICKS = os.sysconf("SC_CLK_TCK")
# A benchmark stopped with SIGTERM unwinds like Ctrl-C, so its sandbox and sync children are stopped too.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def env_for(code: Path) -> dict[str, str]:
    """The environment that runs riskbridge from the checkout `code`."""
    return {**os.environ, "PYTHONPATH": str(code), "PYTHONDONTWRITEBYTECODE": "1"}


@dataclass
class Sandbox:
    """A sandbox CRM served by a child process."""

    crm: str
    url: str
    process: subprocess.Popen[str]
    config: Path

    def cpu_s(self) -> float:
        """The sandbox process's CPU seconds so far (user + system, from /proc/<pid>/stat)."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15)

    def calls(self) -> dict[str, Any]:
        return dict(requests.get(f"{self.url}/__sandbox/calls", timeout=60).json())

    def reset_calls(self) -> None:
        requests.delete(f"{self.url}/__sandbox/calls", timeout=60)

    def touch(self, obj: str, count: int) -> list[str]:
        resp = requests.post(f"{self.url}/__sandbox/touch", json={"object": obj, "count": count}, timeout=600)
        return list(resp.json()["ids"])

    def records(self, obj: str) -> list[dict[str, Any]]:
        return list(requests.get(f"{self.url}/__sandbox/records/{obj}", timeout=600).json()["records"])


@contextmanager
def sandbox(crm: str, accounts: int, workdir: Path, *, code: Path = ROOT, latency_ms: int = 0, seed: int = 3,
            state_url: str | None = None) -> Iterator[Sandbox]:
    """Serve a sandbox of `accounts` accounts (two deals each) and write a config for it in `workdir`."""
    config = workdir / f"{crm}-{accounts}.toml"
    cmd = [sys.executable, "-m", "connector.cli", "sandbox", "serve", "--crm", crm, "--accounts", str(accounts),
           "--seed", str(seed), "--latency-ms", str(latency_ms), "--write-config", str(config)]
    if crm == "fxiaoke":  # the default 60 calls / 20 s per path would make the benchmark measure the pacing
        cmd += ["--rate-limit", "1000000", "--daily-quota", "100000000"]
    proc = subprocess.Popen(cmd, env=env_for(code), stdout=subprocess.PIPE, text=True, cwd=workdir)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"listening on (\S+)", line)
        if not match:
            raise RuntimeError(f"the sandbox did not start: {line!r}")
        if crm == "fxiaoke":
            text = config.read_text(encoding="utf-8")
            config.write_text(text.replace('crm = "fxiaoke"\n', 'crm = "fxiaoke"\nrate_limit = 1000000\n', 1),
                              encoding="utf-8")
        if state_url is not None:
            text = config.read_text(encoding="utf-8")
            config.write_text(re.sub(r"^state_url = .*$", f'state_url = "{state_url}"', text, count=1, flags=re.M),
                              encoding="utf-8")
        yield Sandbox(crm, match.group(1), proc, config)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sync_once(config: Path, *, code: Path = ROOT, full: bool = False, profile: Path | None = None) -> dict[str, Any]:
    """One sync run in a fresh process running the checkout `code`; its own figures (see sync_process.py)."""
    cmd = [sys.executable, str(HERE / "sync_process.py"), str(config)]
    if full:
        cmd.append("--full")
    if profile is not None:
        cmd += ["--profile", str(profile)]
    out = subprocess.run(cmd, env=env_for(code), capture_output=True, text=True, check=False, cwd=config.parent)
    if out.returncode != 0:
        raise RuntimeError(f"sync failed ({out.returncode}): {out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def minimum_calls(crm: str, run: dict[str, Any], *, full: bool = False) -> int:
    """The fewest API calls that do what a run did (`sync_process.py`'s figures): one call per page of
    each object read and per batch of each object's updates and of the tasks and tags written.
    Authentication and metadata calls are not counted (they are the "+ 8" of the goal).

    Zoho (docs/crm-zoho.md): accounts are read with their `Tag`, which COQL cannot select, so a page of
    `GET /crm/v8/Accounts` (200) is the most a call reads; the doc does not say a page-token chain walks a
    snapshot, so a listing of more than one page is correct only with its ids walked by COQL (2,000 a call);
    deals need no tag and COQL reads 2,000 a call; a full read of `ZOHO_BULK_READ` records or more is one
    Bulk Read job per 200,000 (create, poll, download). Salesforce writes an object's rows in one Bulk API
    2.0 ingest job when that takes fewer calls than sObject Collections (200 a call)."""
    def pages(n: int, size: int) -> int:
        return -(-n // size)

    def read(kind: str, n: int) -> int:
        if crm == "zoho" and full and n >= ZOHO_BULK_READ:
            return 3 * pages(n, 200_000)
        listed = pages(n, READ_PAGE.get((crm, kind), PAGE[crm]))
        return listed + (pages(n, 2000) if crm == "zoho" and listed > 1 and (crm, kind) not in READ_PAGE else 0)

    def written(n: int) -> int:
        collections = pages(n, WRITE_BATCH[crm])
        # Salesforce: one Bulk API 2.0 ingest job (create, upload, close, a poll) carries any number of rows.
        return min(collections, 4) if crm == "salesforce" else collections

    return (sum(read(kind, n) for kind, n in run["read"].items())
            + sum(written(n) for n in run["written"].values())
            + pages(run["tasks"], WRITE_BATCH[crm]) + pages(run["tags"], WRITE_BATCH[crm]))


def spread(values: Sequence[float]) -> str:
    """`min / median` as the tables print them."""
    return f"{min(values):.2f} / {statistics.median(values):.2f}"
