"""The replica drill, shared by tests/service/test_replicas.py and bench/bench_replicas.py.

N real `riskbridge schedule` processes on one state store fire the same fast ticks (the `RBTEST_TICKS` hook:
a tick every second at whole seconds, so every replica names them alike). Once all are up, a window of
`ticks` ticks opens: accounts are put under sanctions, so the window's first run creates tasks; with
`kill=True` the sandbox SIGKILLs the process that holds the job's lease as that run's first task write
arrives (the write goes through: the CRM did the work and nothing was recorded, the worst moment for a
duplicate). When every tick of the window is run or covered, the replicas are stopped (SIGTERM) and the
figures are read back from the runs table, the claims and the sandbox.

`hosts="cross"` gives each replica a host name of its own (`RISKBRIDGE_SERVICE__HOST_NAME`), as on several
machines or pods: no replica can see the killed one's pid, so the job is taken over only once its lease lapses
(`[service] lease_ttl_s` after the last renewal); with `hosts="same"` a replica sees the pid gone at once.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from connector.config import load_config
from connector.crm.base import RetryPolicy
from connector.scheduler import TEST_TICKS_ENV
from connector.service.ticks import TickBook
from connector.state import StateStore
from connector.sync import Sync
from connector.tables import LockRow, RunRow
from tests.conftest import Org, task_target
from tests.faults.world import duplicates, rb_tasks, set_sanctions

JOB = "default"
TASK_WRITE = {"salesforce": ("composite/sobjects/Task", "PATCH"), "zoho": ("/Tasks/upsert", "POST")}
HOST_NAME_ENV = "RISKBRIDGE_SERVICE__HOST_NAME"  # the config override that names a replica's host
READY_MARK = "scheduled default"  # `riskbridge schedule` prints it on stderr once its scheduler is built


@dataclass
class DrillResult:
    backend: str
    replicas: int
    ticks: int
    hosts: str = "same"  # "same": one host name for all replicas; "cross": one each
    lease_ttl_s: float = 0.0
    claims: int = 0
    runs: int = 0  # runs of the job since the drill began, the killed one included
    done: int = 0
    covered: int = 0
    failed: int = 0
    double_runs: int = 0
    missed: int = 0
    killed: int = 0
    takeover_s: float | None = None  # SIGKILL -> the next run of the job starts on another replica
    tasks: int = 0
    duplicate_tasks: int = 0
    expected_tasks: int = 0  # accounts put under sanctions: one task each is owed
    owed_tasks_once: int = 0  # of those, the accounts with exactly one task in the CRM
    wall_s: float = 0.0
    replica_cpu_s: float = 0.0  # user + system CPU of all replica processes
    exit_codes: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def wait_until(condition: Callable[[], bool], timeout: float, what: str, step: float = 0.2) -> None:
    """Wait for a condition that other processes bring about (an event wait, not a guess at timing)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        pause.wait(step)


class Drill:
    """Set up the org and the store, run the replicas over `ticks` ticks, and read the figures back."""

    def __init__(self, org: Org, config_path: Path, *, backend: str, replicas: int = 3, ticks: int = 100,
                 kill: bool = True, sanctioned: int = 3, startup_s: float = 60.0, hosts: str = "same") -> None:
        if hosts not in ("same", "cross"):
            raise ValueError(f"hosts={hosts!r}: same or cross")
        self.org, self.config_path, self.backend, self.hosts = org, config_path, backend, hosts
        self.replicas, self.ticks, self.kill, self.sanctioned = replicas, ticks, kill, sanctioned
        self.startup_s = startup_s
        self.config = load_config(config_path)
        self.store = StateStore(self.config.state_url)  # creates the schema once, before the replicas race
        self.procs: list[subprocess.Popen[bytes]] = []
        self.killed_at: float | None = None
        self.killed_pid: int | None = None
        self.targets: list[str] = []  # the accounts put under sanctions: one task each is owed
        self.folder = config_path.parent

    # --- the drill ----------------------------------------------------------------------------------
    def run(self) -> DrillResult:
        baseline = Sync(self.config, store=self.store, policy=RetryPolicy(attempts=3, sleep=lambda _s: None)).run()
        assert baseline.status == "success", baseline.to_json(plan=False)
        with self.store.session() as s:
            first_run = int(s.scalar(select(RunRow.id).order_by(RunRow.id.desc()).limit(1)) or 0) + 1
        began = time.monotonic()
        self._launch()
        try:
            wait_until(self._all_ready, self.startup_s, "every replica to start its scheduler")
            if self.kill:
                self.org.server.sandbox.faults.watch(self._kill_lease_holder)
            self.targets = self._sanction()
            start = math.ceil(time.time()) + 1  # the first whole second after the change: its run sees it
            dues = [datetime.fromtimestamp(start + i, UTC) for i in range(self.ticks)]
            try:
                wait_until(lambda: self._settled(dues), self.ticks + 90.0, "every tick of the window to be run or "
                           "covered")
            except TimeoutError as exc:
                raise TimeoutError(f"{exc}\n{self._diagnosis(dues)}") from None
        finally:
            cpu = self._stop()
        result = self._figures(dues, first_run, self.targets)
        result.wall_s = time.monotonic() - began
        result.replica_cpu_s = cpu
        return result

    def _sanction(self) -> list[str]:
        n = self.org.names
        calm = [str(a[n.id]) for a in self.org.records(n.accounts)
                if a.get(n.tier) in ("low", "medium") and not a.get(n.override_tier)][: self.sanctioned]
        for record_id in calm:
            set_sanctions(self.org, record_id)
        return calm

    def _launch(self) -> None:
        for i in range(self.replicas):
            env = {**os.environ, TEST_TICKS_ENV: "1"}
            if self.hosts == "cross":
                env[HOST_NAME_ENV] = f"replica-{i}"
            with (self.folder / f"replica{i}.out").open("wb") as out, (self.folder / f"replica{i}.err").open("wb") as err:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "connector.cli", "schedule", "--config", str(self.config_path),
                     "--log-format", "json"], stdout=out, stderr=err, env=env))

    def _stderr(self, i: int) -> str:
        return (self.folder / f"replica{i}.err").read_text(errors="replace")

    def _all_ready(self) -> bool:
        return all(READY_MARK in self._stderr(i) for i in range(self.replicas))

    def _settled(self, dues: list[datetime]) -> bool:
        if datetime.now(UTC) < dues[-1]:
            return False
        rows = TickBook(self.store).rows(JOB)
        settled = {r.due_at.replace(tzinfo=UTC) if r.due_at.tzinfo is None else r.due_at
                   for r in rows if r.state != "claimed" and r.kind == "job"}
        return all(d in settled for d in dues)

    def _diagnosis(self, dues: list[datetime]) -> str:
        rows = TickBook(self.store).rows(JOB)
        window = {d for d in dues}
        unsettled = [f"{r.kind} {r.due_at} {r.state} owner={r.owner} claimed_by={r.claimed_by}" for r in rows
                     if r.state == "claimed"]
        missing = [d.isoformat() for d in dues if d not in {_aware(r.due_at) for r in rows if r.kind == "job"}]
        with self.store.session() as s:
            lease = [(h.owner, h.expires_at) for h in s.scalars(select(LockRow))]
        errors = [line[:400] for i in range(self.replicas) for line in self._stderr(i).splitlines()
                  if '"level": "error"' in line or '"level": "warning"' in line][-15:]
        return (f"window {min(window)}..{max(window)}; unclaimed: {missing[:10]}; owed: {unsettled[:10]}; "
                f"lease: {lease}; killed pid {self.killed_pid}; replica pids {[p.pid for p in self.procs]}; "
                f"alive {[p.poll() is None for p in self.procs]}\nlog:\n" + "\n".join(errors))

    def _kill_lease_holder(self, method: str, path: str) -> bool:
        """Sandbox hook: on the first task write, SIGKILL the replica whose run is sending it."""
        wanted, verb = TASK_WRITE[self.org.names.crm]
        if self.killed_pid is not None or method != verb or wanted not in path:
            return False
        with self.store.session() as s:
            holder = s.get(LockRow, JOB)
        pid = int(holder.owner.split(":")[1]) if holder is not None else -1
        for proc in self.procs:
            if proc.pid == pid:
                os.kill(pid, signal.SIGKILL)
                self.killed_at, self.killed_pid = time.time(), pid
                proc.wait()  # reap it: a zombie still answers kill(pid, 0), and the lease would look alive
        return False  # the write goes through: the CRM did the work, the replica recorded nothing

    def _stop(self) -> float:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        cpu = 0.0
        for proc in self.procs:
            try:
                _pid, _status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(_status)
                cpu += usage.ru_utime + usage.ru_stime
            except ChildProcessError:  # reaped already (the killed one)
                proc.wait()
        return cpu

    # --- the figures --------------------------------------------------------------------------------
    def _figures(self, dues: list[datetime], first_run: int, targets: list[str]) -> DrillResult:
        result = DrillResult(self.backend, self.replicas, self.ticks, self.hosts, self.config.service.lease_ttl_s,
                             killed=int(self.killed_pid is not None))
        rows = [r for r in TickBook(self.store).rows(JOB) if r.kind == "job"]
        by_due = {(r.due_at if r.due_at.tzinfo else r.due_at.replace(tzinfo=UTC)): r for r in rows}
        with self.store.session() as s:
            runs = list(s.scalars(select(RunRow).where(RunRow.job == JOB, RunRow.id >= first_run)
                                  .order_by(RunRow.id)))
        window = [by_due[d] for d in dues if d in by_due]
        result.claims = len(window)
        result.done = sum(1 for r in window if r.state == "done")
        result.covered = sum(1 for r in window if r.state == "covered")
        result.failed = sum(1 for r in window if r.state == "failed")
        result.missed = sum(1 for d in dues if d not in by_due or by_due[d].state not in ("done", "covered"))
        dead = [r for r in runs if (r.error or "").startswith("abandoned")]
        result.runs = len({r.run_id for r in window if r.state == "done"}) + len(dead)
        # Over every run since the drill began (ticks before and after the window too): a double run is a
        # run no tick owns (it ran a tick another run ran) or one that two ticks own.
        own = [r.run_id for r in rows if r.state == "done"]
        result.double_runs = (len(runs) - len(dead) - len(set(own))) + (len(own) - len(set(own)))
        if self.killed_at is not None:
            after = [r for r in runs if _aware(r.started_at).timestamp() > self.killed_at]
            result.takeover_s = round(_aware(after[0].started_at).timestamp() - self.killed_at, 3) if after else None
        tasks = rb_tasks(self.org)
        result.tasks = len(tasks)
        result.duplicate_tasks = len(duplicates(self.org))
        result.expected_tasks = len(targets)
        per_account = Counter(task_target(self.org, t) for t in tasks)
        result.owed_tasks_once = sum(1 for record_id in targets if per_account[record_id] == 1)
        result.exit_codes = [p.returncode for p in self.procs]
        for i, proc in enumerate(self.procs):
            if proc.pid != self.killed_pid and proc.returncode != 0:
                result.errors.append(f"replica {i} exited {proc.returncode}: {self._stderr(i)[-2000:]}")
        for i in range(self.replicas):
            result.errors += [line for line in self._stderr(i).splitlines() if '"level": "error"' in line][:5]
        return result

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.store.close()


def _aware(stamp: datetime) -> datetime:
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
