"""Several scheduler replicas on one state store: each job and monitor tick runs exactly once.

In-process replicas (one `Daemon` and one `StateStore` each, as separate processes would have) are handed
the scheduled fire times directly, an injected clock: ticks race on real threads against one SQLite file
(WAL) or one PostgreSQL database. Real `riskbridge schedule` processes, one SIGKILLed mid-run, are the
drill in `tests/service/replicas.py` (slow: process start-up alone takes seconds on a busy machine).
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select, update

from connector.config import load_config
from connector.crm.base import RetryPolicy
from connector.errors import JobBusy
from connector.lease import LeaseTerms
from connector.outcome import RunReport
from connector.sandbox import running_sandbox
from connector.scheduler import build_scheduler
from connector.service.daemon import Daemon
from connector.service.replica import TickExecutor
from connector.service.ticks import KEEP, Tick, TickBook
from connector.state import StateStore
from connector.sync import Sync
from connector.tables import LockRow, RunRow
from tests.conftest import Org, sandbox_config, task_target
from tests.faults.world import duplicates, rb_tasks, set_sanctions
from tests.service.conftest import extend
from tests.service.replicas import Drill, DrillResult
from tests.service.test_stop import _is_write
from tests.sources.conftest import _database, need_server
from tests.unit.test_scheduler import config as scheduler_config

JOB = "default"
MONITOR = '[jobs.default.monitor]\nschedule = "*/10 * * * *"\ntiers = ["high", "critical"]\nwatchlist = true\n'
T0 = datetime.now(UTC).replace(second=0, microsecond=0)  # recent: the sweep prunes claims older than a week
NO_WAIT = RetryPolicy(attempts=3, sleep=lambda _s: None)
LEASE = LeaseTerms().ttl
HOST_NAME_ENV = "RISKBRIDGE_SERVICE__HOST_NAME"


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    need_server("PostgreSQL", 5432, "psycopg")
    yield from _database("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                         "postgresql+psycopg://postgres@127.0.0.1:5432/{name}")


@pytest.fixture
def small_org() -> Iterator[Org]:
    with running_sandbox("salesforce", accounts=12, deals_per_account=1, seed=11) as server:
        yield Org(server, "salesforce")


@pytest.fixture
def config_path(small_org: Org, state_url: str, tmp_path: Path) -> Path:
    return extend(sandbox_config(tmp_path / "config.toml", "salesforce", small_org.credentials(), state_url=state_url),
                  MONITOR)


@pytest.fixture
def replicas(config_path: Path) -> Iterator[list[Daemon]]:
    """Three daemons, each with its own store (its own connection pool) on the one database."""
    config = load_config(config_path)
    daemons = [Daemon(config, store=StateStore(config.state_url)) for _ in range(3)]
    yield daemons
    for daemon in daemons:
        daemon.store.close()


def fire_together(fires: list[tuple[Daemon, str]], due: datetime) -> None:
    """Fire (replica, kind) pairs for one tick on threads released at once."""
    gate = threading.Barrier(len(fires))
    errors: list[BaseException] = []

    def fire(daemon: Daemon, kind: str) -> None:
        gate.wait()
        try:
            daemon.execute(JOB, kind, due)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=fire, args=pair) for pair in fires]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def runs_of(store: StateStore, after: int = 0) -> list[RunRow]:
    with store.session() as s:
        return list(s.scalars(select(RunRow).where(RunRow.job == JOB, RunRow.id > after).order_by(RunRow.id)))


def tick_outcomes(daemons: list[Daemon]) -> Counter[str]:
    total: Counter[str] = Counter()
    for daemon in daemons:
        for metric in daemon.metrics.ticks.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    total[sample.labels["outcome"]] += int(sample.value)
    return total


def dead_owner() -> str:
    """A lease owner naming a process of this host that has exited (a replica killed with SIGKILL)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return f"{socket.gethostname()}:{proc.pid}:deadbeef"


def test_the_scheduler_hands_each_fire_its_scheduled_time_not_the_wall_clock(tmp_path: Path) -> None:
    """The tick's identity: a replica that fires late still names the tick by the time it was due."""
    fired: dict[str, datetime] = {}
    done = threading.Event()

    def run(_config: object, job: str, due: datetime | None = None) -> None:  # APScheduler checks the signature
        assert due is not None
        fired[job] = due
        done.set()

    scheduler = build_scheduler(load_config(scheduler_config(tmp_path, "0 0 1 1 *")), run=run,
                                scheduler=BackgroundScheduler(timezone="UTC", executors={"ticks": TickExecutor()}),
                                executor="ticks", claims=True)
    late = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=90)  # due 90 s ago: this replica is late
    scheduler.modify_job("hourly", next_run_time=late)
    scheduler.start()
    try:
        assert done.wait(30)
    finally:
        scheduler.shutdown(wait=True)
    assert fired == {"hourly": late}


def test_three_replicas_run_every_job_and_monitor_tick_exactly_once(replicas: list[Daemon], small_org: Org) -> None:
    rng = random.Random(16)
    dues = [T0 + timedelta(minutes=i) for i in range(4)]
    for i, due in enumerate(dues):
        if i % 2 == 1:  # users change the CRM now and then, so runs have work to do
            small_org.touch("Account", 2)
        order = rng.sample(replicas, 3)
        fire_together([(d, kind) for d in order[:2] for kind in ("job", "monitor")], due)
        # The third replica's clock fires after the holder finished the tick: it must not run it again.
        assert order[2].execute(JOB, "job", due) is None
        assert order[2].execute(JOB, "monitor", due) is None

    store = replicas[0].store
    rows = TickBook(store).rows(JOB)
    assert [(Tick.of(r).due, r.kind) for r in rows] == [(d, k) for d in dues for k in ("job", "monitor")]
    assert {r.state for r in rows} == {"done"}  # none missed, none merely covered
    runs = {r.id: r for r in runs_of(store)}
    owned = [r.run_id for r in rows]
    assert sorted(owned) == sorted(runs), "every run belongs to exactly one tick: no double run"
    for row in rows:
        run = runs[row.run_id]
        assert run.status == "success", run.error
        assert ("monitor" in run.summary) == (row.kind == "monitor")
    outcomes = tick_outcomes(replicas)
    assert outcomes["claimed"] == len(rows) and outcomes["ran"] == len(rows)
    assert outcomes["skipped"] == 2 * len(rows)  # each tick fired on three replicas, claimed once
    assert outcomes["covered"] == 0 and outcomes["failed"] == 0


def test_a_dead_claimers_tick_is_covered_by_the_next_run_and_a_lone_orphan_is_caught_up(
        replicas: list[Daemon]) -> None:
    survivor, store = replicas[0], replicas[0].store
    book = TickBook(store)
    assert Sync(survivor.config, store=store, policy=NO_WAIT).run().status == "success"
    before = runs_of(store)[-1].id

    # A replica claimed 09:00, took the lease and began its run; then it was killed.
    dead = dead_owner()
    assert book.claim(Tick(JOB, "job", T0), dead)
    assert store.acquire(JOB, dead, LEASE)
    killed_run = store.start_run(JOB, dry_run=False, full=False)
    # The next tick, on a survivor: the lapsed lease is taken over, the orphan adopted and covered by one run.
    report = survivor.execute(JOB, "job", T0 + timedelta(minutes=1))
    assert report is not None and report.status == "success"
    first, second = book.rows(JOB)
    assert (first.state, first.run_id) == ("covered", report.run_id)
    assert (second.state, second.run_id) == ("done", report.run_id)
    assert [r.id for r in runs_of(store, before)] == [killed_run, report.run_id]
    killed = store.run(killed_run)
    assert killed is not None and killed.status == "failed" and (killed.error or "").startswith("abandoned")

    # A daily tick whose claimer died, with no next tick soon: the sweep (every replica's wake-up) runs it.
    dead = dead_owner()
    assert book.claim(Tick(JOB, "monitor", T0 + timedelta(minutes=2)), dead)
    assert store.acquire(JOB, dead, LEASE)
    replicas[1].sweep()
    lone = book.rows(JOB)[-1]
    caught_up = runs_of(store, report.run_id)
    assert [r.id for r in caught_up] == [lone.run_id] and lone.state == "done"
    assert "monitor" in caught_up[0].summary

    # A claimer that finished its run but died before settling its tick: the sweep finds the run, which no
    # tick owns, and gives the tick to it; nothing runs again.
    dead = dead_owner()
    assert book.claim(Tick(JOB, "job", T0 + timedelta(minutes=3)), dead)
    finished = Sync(survivor.config, store=store, policy=NO_WAIT).run()
    replicas[2].sweep()
    last = book.rows(JOB)[-1]
    assert (last.state, last.run_id) == ("done", finished.run_id)
    assert runs_of(store, finished.run_id) == []
    assert tick_outcomes(replicas)["covered"] == 1

    # Settled claims older than a week are pruned on a wake-up; owed ones stay whatever their age.
    old = [Tick(JOB, "job", T0 - KEEP - timedelta(minutes=m)) for m in (1, 2)]
    owner = dead_owner()
    assert all(book.claim(tick, owner) for tick in old)
    assert book.settle(old[:1], owner, "done", finished.run_id) == 1
    assert book.prune(datetime.now(UTC)) == 1  # the settled one
    assert Tick.of(book.rows(JOB)[0]) == old[1]
    replicas[0].sweep()  # the owed old tick is run (nothing ran since it was claimed), then pruned
    assert len(runs_of(store, finished.run_id)) == 1
    assert len(book.rows(JOB)) == 4


def sanction_two_calm_accounts(replica: Daemon, org: Org) -> list[str]:
    """A baseline run, then a sanctions hit on two calm accounts: the next run writes risk fields and
    creates a task for each. Returns their ids."""
    assert Sync(replica.config, store=replica.store, policy=NO_WAIT).run().status == "success"
    n = org.names
    calm = [str(a[n.id]) for a in org.records(n.accounts) if a.get(n.tier) in ("low", "medium")][:2]
    for record_id in calm:
        set_sanctions(org, record_id)
    return calm


def test_a_replica_that_lost_its_lease_stops_before_writing(replicas: list[Daemon], small_org: Org) -> None:
    stalled, successor = replicas[0], replicas[1]
    store = stalled.store
    calm = sanction_two_calm_accounts(stalled, small_org)

    successor_running = threading.Event()
    stray_writes: list[str] = []
    armed = [True]

    def observe(method: str, path: str) -> bool:
        if armed[0] and method == "GET" and "/query" in path:
            # The stalled replica's first read: its lease lapses (a pause longer than the lease), and a
            # successor replica, firing the same tick, takes the job over and runs it to the end.
            armed[0] = False
            with store.session() as s:
                s.execute(update(LockRow).where(LockRow.job == JOB).values(
                    expires_at=datetime.now(UTC) - timedelta(seconds=1)))
            successor_running.set()
            successor.execute(JOB, "job", T0)
            successor_running.clear()
        elif _is_write(method, path) and not successor_running.is_set():
            stray_writes.append(f"{method} {path}")
        return False

    small_org.server.sandbox.faults.watch(observe)
    report = stalled.execute(JOB, "job", T0)
    assert report is not None and report.status == "failed" and (report.error or "").startswith("JobBusy")
    assert stray_writes == []  # the stalled run renewed its lease before writing, found it taken, and stopped
    [tick] = TickBook(store).rows(JOB)
    assert tick.state == "done" and tick.run_id != report.run_id
    winner = store.run(tick.run_id or 0)
    assert winner is not None and winner.status == "success"
    tasks = Counter(task_target(small_org, t) for t in rb_tasks(small_org))
    assert all(tasks[record_id] == 1 for record_id in calm), tasks
    assert duplicates(small_org) == []


def _on_host(config_path: Path, host: str) -> Daemon:
    """A replica whose lease owners carry `host`: another machine, as far as leases can tell."""
    config = load_config(config_path, environ={**os.environ, HOST_NAME_ENV: host})
    return Daemon(config, store=StateStore(config.state_url))


def test_a_holder_on_another_host_paused_past_its_ttl_loses_the_job_and_stops_before_writing(
        config_path: Path, small_org: Org) -> None:
    stalled, successor = _on_host(config_path, "host-a"), _on_host(config_path, "host-b")
    store = stalled.store
    try:
        calm = sanction_two_calm_accounts(stalled, small_org)
        successor_running = threading.Event()
        stray_writes: list[str] = []
        waited: list[RunReport | None] = []
        armed = [True]

        def observe(method: str, path: str) -> bool:
            if armed[0] and method == "GET" and "/query" in path:
                armed[0] = False
                # host-b fires the tick too: host-a's lease is live (its heartbeat keeps it), so host-b waits.
                waited.append(successor.execute(JOB, "job", T0))
                # host-a is paused past its TTL (nothing renews it): the lease lapses, and host-b's next wake-up
                # takes the job over and runs it to the end.
                with store.session() as s:
                    holder = s.scalar(select(LockRow.owner).where(LockRow.job == JOB))
                    s.execute(update(LockRow).where(LockRow.job == JOB).values(
                        expires_at=datetime.now(UTC) - timedelta(seconds=1)))
                assert holder is not None and holder.startswith("host-a:")
                successor_running.set()
                successor.sweep()
                successor_running.clear()
            elif _is_write(method, path) and not successor_running.is_set():
                stray_writes.append(f"{method} {path}")
            return False

        small_org.server.sandbox.faults.watch(observe)
        report = stalled.execute(JOB, "job", T0)
        assert waited == [None]
        assert report is not None and report.status == "failed" and (report.error or "").startswith("JobBusy")
        assert stray_writes == []  # host-a checked its lease before writing, found it taken, and stopped
        [tick] = TickBook(store).rows(JOB)
        winner = store.run(tick.run_id or 0)
        assert tick.state == "done" and winner is not None and winner.status == "success"
        assert [r.id for r in runs_of(store, winner.id)] == []  # nothing ran the tick again
        tasks = Counter(task_target(small_org, t) for t in rb_tasks(small_org))
        assert all(tasks[record_id] == 1 for record_id in calm), tasks
        assert duplicates(small_org) == []
    finally:
        stalled.store.close()
        successor.store.close()


def test_a_heartbeat_that_finds_the_lease_taken_stops_the_run_at_its_next_check(config_path: Path,
                                                                                small_org: Org) -> None:
    config = load_config(config_path)
    store = StateStore(config.state_url)
    try:
        assert Sync(config, store=store, policy=NO_WAIT).run().status == "success"
        n = small_org.names
        calm = [str(a[n.id]) for a in small_org.records(n.accounts) if a.get(n.tier) in ("low", "medium")][:2]
        for record_id in calm:
            set_sanctions(small_org, record_id)
        sync = Sync(config, store=store, policy=NO_WAIT)
        successor = "host-b:1:successor"
        writes: list[str] = []
        beats: list[bool] = []

        def observe(method: str, path: str) -> bool:
            if not beats and method == "GET" and "/query" in path:
                # The run was paused past its TTL; another host's replica took the lease; then the run's
                # heartbeat beats (before the run reaches its own check) and finds the lease gone.
                with store.session() as s:
                    s.execute(update(LockRow).where(LockRow.job == JOB).values(
                        expires_at=datetime.now(UTC) - timedelta(seconds=1)))
                assert store.acquire(JOB, successor, LEASE)
                beats.append(sync.heartbeat.beat())
            elif _is_write(method, path):
                writes.append(f"{method} {path}")
            return False

        small_org.server.sandbox.faults.watch(observe)
        with pytest.raises(JobBusy, match="lease was lost") as stopped:  # the heartbeat's verdict
            sync.run()
        report = stopped.value.report  # type: ignore[attr-defined]
        assert beats == [False] and writes == []  # stopped at its first check, before any write
        assert report.status == "failed" and report.error.startswith("JobBusy")
        with store.session() as s:  # the successor's lease is left alone
            assert s.scalar(select(LockRow.owner).where(LockRow.job == JOB)) == successor
        store.release(JOB, successor)
        assert Sync(config, store=store, policy=NO_WAIT).run().status == "success"  # the next run does the work
        tasks = Counter(task_target(small_org, t) for t in rb_tasks(small_org))
        assert all(tasks[record_id] == 1 for record_id in calm), tasks
    finally:
        store.close()


def _drill_config(org: Org, folder: Path, state_url: str) -> Path:
    return sandbox_config(folder / "config.toml", org.names.crm, org.credentials(), state_url=state_url)


def _assert_drill(drill: Drill, ticks: int) -> DrillResult:
    result = drill.run()
    assert result.errors == [], result.errors
    assert result.killed == 1 and result.takeover_s is not None, result.json()
    assert (result.claims, result.missed, result.double_runs) == (ticks, 0, 0), result.json()
    assert result.done + result.covered == ticks and result.failed == 0, result.json()
    assert result.duplicate_tasks == 0, result.json()
    assert result.owed_tasks_once == result.expected_tasks == len(drill.targets) > 0, result.json()
    return result


@pytest.mark.slow
@pytest.mark.parametrize("hosts", ["same", "cross"])
@pytest.mark.parametrize("ticks", [100])
def test_three_real_replicas_one_killed_mid_run(state_url: str, tmp_path: Path, ticks: int, hosts: str) -> None:
    """3 `riskbridge schedule` processes x 100 one-second ticks; the lease holder is SIGKILLed at its first
    task write: 0 double runs and 0 missed ticks (runs table and claims), no duplicate task in the CRM.

    On one host a replica sees the killed pid gone and takes over at once; with a host name each (several
    machines or pods) one takes over when the lease lapses, about its TTL (60 s) after the kill."""
    with running_sandbox("salesforce", accounts=24, deals_per_account=1, seed=11) as server:
        org = Org(server, "salesforce")
        drill = Drill(org, _drill_config(org, tmp_path, state_url), backend=state_url.split(":")[0].split("+")[0],
                      ticks=ticks, hosts=hosts)
        try:
            result = _assert_drill(drill, ticks)
        finally:
            drill.close()
    ttl = LEASE.total_seconds()
    assert result.takeover_s is not None
    if hosts == "same":
        assert result.takeover_s < ttl / 2, result.json()  # the pid shortcut, not the lapse
    else:
        # Not before the lease lapsed (the last renewal came just before the killed write), and soon after:
        # the next one-second tick takes it over.
        assert ttl - 5 <= result.takeover_s <= ttl + 20, result.json()
