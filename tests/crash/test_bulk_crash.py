"""Crash safety of a large Salesforce run's run-wide Bulk API 2.0 jobs (issue 16 and 17).

The run records each batch as written while its field updates wait in the run's one ingest job per
object; the job goes out after the last batch. `riskbridge sync` is SIGKILLed with its jobs open (rows
spooled, nothing uploaded) or uploaded but not settled, then recovered in-process. The CRM must end as
the fault-free Collections run of the same seed leaves it (`test_crash.reference`): no update lost, no
task or topic duplicated, and no bulk job left open in the store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from connector import crashpoint
from connector.config import load_config
from connector.state import StateStore
from connector.sync import Sync
from tests.conftest import Org
from tests.crash.test_crash import NO_WAIT, config_file, prepare, recover, reference
from tests.faults.world import duplicates, end_state, set_sanctions, small_org


def bulk_config(org: Org, folder: Path, phase: str) -> Path:
    """The crash suite's config (batches of 6, topics, first-run tasks) with every run large: one Bulk API
    job per object takes the field updates of all its batches."""
    path = config_file(org, folder, phase)
    text = path.read_text(encoding="utf-8")
    assert "batch_size = 6\n" in text
    path.write_text(text.replace("batch_size = 6\n", "batch_size = 6\nbulk_threshold = 1\n", 1), encoding="utf-8")
    return path


def killed_at_upload(org: Org, path: Path, nth: int, *args: str) -> int:
    """Run `riskbridge sync`, SIGKILLed as its `nth` Bulk API upload arrives (the sandbox refuses that upload,
    so its job stays open and none of its rows is written); returns the exit code."""
    argv = [sys.executable, "-m", "connector.cli", "sync", "--config", str(path), "--json", *args]
    child: list[subprocess.Popen[str]] = []
    seen = [0]

    def observe(method: str, where: str) -> bool:
        if method == "PUT" and "jobs/ingest/" in where and where.rstrip("/").endswith("batches") and child:
            seen[0] += 1
            if seen[0] == nth:
                os.kill(child[0].pid, signal.SIGKILL)
                return True
        return False

    org.server.sandbox.faults.watch(observe)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    child.append(proc)
    proc.communicate(timeout=300)
    return proc.returncode



def assert_recovered(org: Org, path: Path, expected: dict[str, Any]) -> None:
    """The killed run left open bulk jobs; the next runs settle them and end as a run never killed would:
    the same records, tasks and topics in the CRM, no duplicate, nothing left open or marked running."""
    store = StateStore(load_config(path).state_url)
    assert store.bulk_jobs("default"), "the killed run left no open bulk job to settle"
    statuses = recover(path)
    assert statuses[-1] == "success", statuses
    assert duplicates(org) == []
    got = end_state(org)
    for part in ("tasks", "topics", "accounts", "deals"):
        assert got[part] == expected[part], part
    assert store.bulk_jobs("default") == [] and store.pending_writes("default") == []
    assert all(r.status != "running" for r in store.runs("default"))

@pytest.mark.parametrize(("phase", "nth"), [("incremental", 2), ("first", 1)])
def test_a_run_killed_as_it_uploads_loses_no_update(phase: str, nth: int, tmp_path: Path) -> None:
    """Incremental, second upload: the accounts' job landed, the deals' never did. Every batch is recorded
    and no later read returns those deals (unchanged in the CRM since the baseline), so only the open job the
    store kept tells the next run to write them again."""
    expected = reference("salesforce", phase, tmp_path)
    with small_org("salesforce") as org:
        path = bulk_config(org, tmp_path / f"{phase}-upload-{nth}", phase)
        prepare(org, path, phase)
        assert killed_at_upload(org, path, nth) == -signal.SIGKILL
        assert_recovered(org, path, expected)


@pytest.mark.parametrize(("phase", "point"), [
    ("first", "uploaded:1"),  # every job uploaded and closed, none settled or audited
    ("first", "recorded:2"),  # two batches recorded as written, their rows only in the dead run's spool
    ("incremental", "uploaded:1"),
    ("incremental", "recorded:1"),
])
def test_a_run_killed_with_its_bulk_jobs_open_loses_no_update(phase: str, point: str, tmp_path: Path) -> None:
    expected = reference("salesforce", phase, tmp_path)
    with small_org("salesforce") as org:
        path = bulk_config(org, tmp_path / f"{phase}-{point.replace(':', '-')}", phase)
        prepare(org, path, phase)
        env = {**os.environ, crashpoint.ENV: point}
        done = subprocess.run([sys.executable, "-m", "connector.cli", "sync", "--config", str(path), "--json"],
                              env=env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr[-2000:])
        assert_recovered(org, path, expected)


def test_a_killed_backfill_is_settled_and_audited_by_the_next_run(tmp_path: Path) -> None:
    """Killed after the upload: the next run reads the job's rows back, audits them under the run that sent
    them, writes nothing again and verifies the audit chain."""
    with small_org("salesforce") as org:
        path = bulk_config(org, tmp_path, "first")
        env = {**os.environ, crashpoint.ENV: "uploaded:1"}
        argv = [sys.executable, "-m", "connector.cli", "sync", "--config", str(path), "--json"]
        assert subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300,
                              check=False).returncode == -signal.SIGKILL
        store = StateStore(load_config(path).state_url)
        killed = max(r.id for r in store.runs("default"))
        written = {(e.object, e.record_id) for e in store.audit_entries(killed) if e.action == "update"}
        assert not written  # nothing settled, nothing audited yet
        statuses = recover(path)
        assert statuses[-1] == "success", statuses
        audited = [e for e in store.audit_entries(killed) if e.action == "update"]
        assert audited and all(e.detail.get("confirmed") == "read back" for e in audited)
        verify = subprocess.run([sys.executable, "-m", "connector.cli", "audit", "verify", "--config", str(path),
                                 "--json"], capture_output=True, text=True, timeout=120, check=False)
        assert verify.returncode == 0, verify.stdout + verify.stderr


def settled_then_sanctioned(org: Org, path: Path) -> str:
    """A baseline, runs until one writes nothing (its own echoes read and done with), then one account is
    sanctioned in the CRM: the next run writes that account and its deal, and nothing else."""
    assert Sync(load_config(path), policy=NO_WAIT).run().status == "success"
    for _ in range(3):
        quiet = Sync(load_config(path), policy=NO_WAIT).run()
        if quiet.objects["accounts"].written + quiet.objects["deals"].written == 0:
            break
    n = org.names
    target = next(str(a[n.id]) for a in org.records(n.accounts) if a.get(n.tier) in ("low", "medium")
                  and not a.get(n.override_tier) and any(d.get(n.deal_account) == a[n.id] for d in org.records(n.deals)))
    set_sanctions(org, target)
    return target


def test_a_deal_update_lost_with_its_job_is_written_by_the_next_run(tmp_path: Path) -> None:
    """A `--full` run (large: its read is the whole org) after a settled baseline: only the sanctioned
    account's and its deal's updates are in the run's jobs, and the deals' upload never arrives. The next
    run settles the open jobs, turns the deal's update that did not land into a record issue and writes
    it: the CRM ends as after a run that was never killed."""
    ends = []
    for kill in (False, True):
        with small_org("salesforce") as org:
            path = bulk_config(org, tmp_path / str(kill), "incremental")
            target = settled_then_sanctioned(org, path)
            if not kill:
                assert Sync(load_config(path), policy=NO_WAIT).run(full=True).status == "success"
            else:
                assert killed_at_upload(org, path, 2, "--full") == -signal.SIGKILL  # the accounts' job landed
                store = StateStore(load_config(path).state_url)
                assert [j.object for j in store.bulk_jobs("default")] == ["accounts", "deals"]
                account = next(a for a in org.records(org.names.accounts) if str(a[org.names.id]) == target)
                assert account.get(org.names.tier) == "critical"  # the account's own job landed
            statuses = recover(path)
            assert statuses[-1] == "success", statuses
            assert duplicates(org) == []
            ends.append(end_state(org))
    assert ends[1] == ends[0]
