"""Graceful stop: SIGTERM while the daemon's sync is writing finishes and records the current batch,
releases the lease and exits 0; the next run completes the work with no write repeated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from connector.config import load_config
from connector.state import StateStore
from connector.sync import Sync
from connector.tables import LockRow
from tests.conftest import Org
from tests.service.conftest import extend


def _is_write(method: str, path: str) -> bool:
    lowered = path.lower()
    if lowered.startswith("/cgi/"):  # Fxiaoke posts its reads too: only these actions change data
        return lowered.rstrip("/").rsplit("/", 1)[-1] in ("update", "create", "invalid", "changeowner")
    return method != "GET" and not any(part in lowered for part in ("token", "coql", "query"))


def daemon(config_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "connector.cli", "schedule", "--config", str(config_path),
                             "--run-now", "--log-format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def signal_on_first_write(org: Org, count: int = 1) -> list[subprocess.Popen[str]]:
    """Send SIGTERM `count` times to the daemon when the sandbox sees the first write (the daemon is
    registered in the returned list); the write itself goes through."""
    target: list[subprocess.Popen[str]] = []
    sent: list[bool] = []

    def observe(method: str, path: str) -> bool:
        if target and not sent and _is_write(method, path):
            sent.append(True)
            for _ in range(count):
                os.kill(target[0].pid, signal.SIGTERM)
        return False

    org.server.sandbox.faults.watch(observe)
    return target


def written_records(store: StateStore, run_id: int) -> Counter[str]:
    return Counter(e.record_id for e in store.audit_entries(run_id) if e.action == "update" and e.object == "accounts")


def test_sigterm_mid_run_finishes_the_batch_and_the_next_run_completes(org: Org, config_path: Path) -> None:
    extend(config_path, "[service]\nstop_timeout_s = 60\n", job='schedule = "0 0 1 1 *"\nbatch_size = 10\n')
    org.faults(latency_ms=20)
    target = signal_on_first_write(org)
    proc = daemon(config_path)
    target.append(proc)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "apscheduler" not in err and "Adding job" not in err  # APScheduler's chatter stays at WARNING
    assert "stopping: no new run" in err

    cfg = load_config(config_path)
    store = StateStore(cfg.state_url)
    [first] = store.runs("default", 5)
    assert first.status == "partial" and "stop requested" in first.summary["stopped"], first.summary
    with store.session() as s:
        assert s.scalars(select(LockRow)).all() == []  # the lease was released
    total = len(org.records(org.names.accounts))
    done_first = written_records(store, first.id)
    assert 0 < len(done_first) < total  # stopped after a batch, not at the end
    assert first.summary["objects"]["accounts"]["written"] == len(done_first)  # what was written is recorded
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    [finished] = [line for line in lines if line.get("event") == "job_finished"]
    assert finished["job"] == "default" and finished["run_id"] == first.id
    assert finished["counts"]["written"] == first.summary["objects"]["accounts"]["written"] \
        + first.summary["objects"]["deals"]["written"]

    org.faults(latency_ms=0)
    second = Sync(cfg).run()
    assert second.status == "success", second.failures
    done_second = written_records(store, second.run_id)
    assert not set(done_first) & set(done_second)  # nothing written twice
    assert max((done_first + done_second).values()) == 1
    skipped = {s["id"] for s in second.skipped}
    accounts = org.records(org.names.accounts)
    assert all(a[org.names.tier] for a in accounts if a[org.names.id] not in skipped)  # nothing missed
    assert Sync(cfg).run().objects["accounts"].written == 0  # and the work is complete


def test_a_second_signal_stops_at_once_and_the_next_run_recovers(org: Org, config_path: Path) -> None:
    extend(config_path, "[service]\nstop_timeout_s = 60\n", job='schedule = "0 0 1 1 *"\nbatch_size = 10\n')
    target: list[subprocess.Popen[str]] = []
    held, released = threading.Event(), threading.Event()

    def hold_first_write(method: str, path: str) -> bool:
        # The first write is held (the sync is mid-batch) until the test has sent the second signal.
        if target and not held.is_set() and _is_write(method, path):
            held.set()
            os.kill(target[0].pid, signal.SIGTERM)
            released.wait(60)
        return False

    org.server.sandbox.faults.watch(hold_first_write)
    proc = daemon(config_path)
    target.append(proc)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # the daemon's own word that the first signal was handled
        seen.append(line)
        if "stopping: no new run" in line:
            break
    os.kill(proc.pid, signal.SIGTERM)
    _, rest = proc.communicate(timeout=60)
    released.set()
    err = "".join(seen) + rest
    assert proc.returncode == 1, err
    assert "second signal" in err

    cfg = load_config(config_path)
    report = Sync(cfg).run()  # the dead process's lease is taken over; the outbox resends what was owed
    assert report.status == "success", report.failures
    store = StateStore(cfg.state_url)
    runs = store.runs("default", 5)
    assert runs[-1].status == "failed" and "abandoned" in (runs[-1].error or "")
    tasks = [t for t in org.records(org.names.tasks) if t.get(org.names.task_key)]
    assert len(tasks) == len({t[org.names.task_key] for t in tasks})
    assert Sync(cfg).run().objects["accounts"].written == 0
