"""End to end: how a sync writes back. Collections on concurrent lanes for normal runs, one Bulk API 2.0
job per object for a backfill batch, and the same CRM state and stored data whatever the concurrency.

Every assertion reads the sandbox's records and call log, or the state store's tables.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from connector.config import Config, load_config
from connector.crm import open_client
from connector.crm.base import RetryPolicy
from connector.crm.salesforce import SalesforceClient
from connector.sandbox import FaultSpec, SandboxServer, running_sandbox
from connector.state import StateStore
from connector.sync import Sync
from tests.conftest import NAMES, sandbox_config

TODAY = date(2026, 5, 14)
NOW = datetime(2026, 5, 14, 9, 30, tzinfo=UTC)
# Columns that hold the wall-clock time of a write, or an id the CRM assigned on arrival (concurrent task
# upserts arrive in another order): everything else a run stores must be identical.
_VOLATILE = {"created_at", "updated_at", "started_at", "finished_at", "first_seen", "last_seen", "at", "crm_id", "id",
             "run_id", "summary"}
_TABLES = ("assessments", "assessment_history", "outbox", "record_issues", "deals", "watchlist", "cursors")


def configure(sb: SandboxServer, crm: str, tmp: Path, *, job: dict[str, Any] | None = None,
              connection: dict[str, Any] | None = None) -> Config:
    """The sandbox config, with extra keys in the connection and job sections."""
    creds = requests.get(f"{sb.url}/__sandbox/credentials", timeout=10).json()
    path = sandbox_config(tmp / "config.toml", crm, creds)
    text = path.read_text(encoding="utf-8")
    extra = "".join(f"{k} = {v!r}\n" for k, v in (connection or {}).items())
    text = text.replace(f'crm = "{crm}"\n', f'crm = "{crm}"\n{extra}', 1)
    extra = "".join(f"{k} = {v!r}\n" for k, v in (job or {}).items())
    text = text.replace('[jobs.default]\n', f'[jobs.default]\n{extra}', 1)
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def sync(config: Config, **kwargs: Any) -> Any:
    return Sync(config, policy=RetryPolicy(attempts=4, sleep=lambda _s: None), clock=lambda: NOW).run(**kwargs)


def calls(sb: SandboxServer) -> dict[str, int]:
    return dict(requests.get(f"{sb.url}/__sandbox/calls", timeout=10).json()["by_endpoint"])


def outputs(sb: SandboxServer, crm: str) -> dict[str, Any]:
    """Every record's risk outputs and the riskbridge tasks, as the CRM holds them."""
    n = NAMES[crm]
    out: dict[str, Any] = {}
    for obj in (n.accounts, n.deals):
        rows = requests.get(f"{sb.url}/__sandbox/records/{obj}", timeout=30).json()["records"]
        out[obj] = {r[n.id]: (r.get(n.score), r.get(n.tier), r.get(n.reasons), r.get(n.watchlist)) for r in rows}
    tasks = requests.get(f"{sb.url}/__sandbox/records/{n.tasks}", timeout=30).json()["records"]
    out["tasks"] = sorted(str(t[n.task_key]) for t in tasks if t.get(n.task_key))
    return out


def stored(config: Config) -> dict[str, list[tuple[Any, ...]]]:
    """The state store's tables that a run fills, without wall-clock and CRM-assigned columns."""
    engine = create_engine(config.state_url)  # SQLite, or PostgreSQL under RBTEST_STATE=postgresql
    try:
        tables: dict[str, list[tuple[Any, ...]]] = {}
        with engine.connect() as db:
            for table in _TABLES:
                result = db.execute(text(f"SELECT * FROM {table}"))  # noqa: S608 - fixed table names
                keep = [i for i, name in enumerate(result.keys()) if name not in _VOLATILE]
                tables[table] = sorted(tuple(_comparable(row[i]) for i in keep) for row in result)
        return tables
    finally:
        engine.dispose()


def _comparable(value: Any) -> Any:
    """JSON columns come back parsed on PostgreSQL: as sorted text they sort and compare like any value."""
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


def bulk_jobs(config: Config) -> Counter[str]:
    """Ingest jobs per object, as the org lists them."""
    client = open_client(config.connections["sandbox"], objects={}, policy=RetryPolicy(sleep=lambda _s: None))
    assert isinstance(client, SalesforceClient)
    try:
        listed = client.restful("list ingest jobs", "jobs/ingest")
    finally:
        client.close()
    return Counter(str(j["object"]) for j in listed["records"] if j.get("jobType") == "V2Ingest")


def test_a_normal_salesforce_run_writes_through_collections_not_bulk(tmp_path: Path) -> None:
    with running_sandbox("salesforce", accounts=300, deals_per_account=2, seed=4, today=TODAY) as sb:
        config = configure(sb, "salesforce", tmp_path)
        report = sync(config)
        written = report.objects["accounts"].written + report.objects["deals"].written
        assert report.status == "success" and report.objects["deals"].written > 500
        log = calls(sb)
        assert not [e for e in log if "jobs/ingest" in e]
        assert sum(n for e, n in log.items() if e.startswith("PATCH composite/sobjects")) >= written // 200


@pytest.mark.slow
def test_a_salesforce_run_below_the_bulk_threshold_writes_through_collections_not_bulk(tmp_path: Path) -> None:
    """9,800 deals, under `bulk_threshold` (10,000): a backfill of that size is an ordinary run."""
    with running_sandbox("salesforce", accounts=4900, deals_per_account=2, seed=4, today=TODAY) as sb:
        config = configure(sb, "salesforce", tmp_path)
        report = sync(config)
        assert report.status == "success" and report.objects["deals"].written > 9_000
        assert not [e for e in calls(sb) if "jobs/ingest" in e]


def test_a_backfill_above_the_threshold_uses_one_bulk_job_per_object_and_ends_the_same(tmp_path: Path) -> None:
    ends = []
    for threshold in (10_000, 50):
        with running_sandbox("salesforce", accounts=60, deals_per_account=2, seed=11, today=TODAY) as sb:
            config = configure(sb, "salesforce", tmp_path / str(threshold), job={"bulk_threshold": threshold})
            report = sync(config)
            assert report.status == "success"
            jobs = bulk_jobs(config)
            if threshold == 50:
                assert jobs == Counter({"Account": 1, "Opportunity": 1})
                assert calls(sb).get("POST jobs/ingest") == 2
            else:
                assert not jobs
            ends.append((outputs(sb, "salesforce"), stored(config)))
    assert ends[0] == ends[1]


def test_a_failed_row_of_a_bulk_job_is_that_records_alone_and_is_retried(tmp_path: Path) -> None:
    with running_sandbox("salesforce", accounts=60, deals_per_account=2, seed=11, today=TODAY) as sb:
        config = configure(sb, "salesforce", tmp_path, job={"bulk_threshold": 50})
        accounts = requests.get(f"{sb.url}/__sandbox/records/Account", timeout=10).json()["records"]
        bad = str(accounts[7]["Id"])
        sb.sandbox.faults.configure(FaultSpec(record_errors={bad: "FIELD_CUSTOM_VALIDATION_EXCEPTION"}))
        first = sync(config)
        assert first.status == "partial"
        assert [(f["object"], f["id"]) for f in first.failures] == [("accounts", bad)]
        assert [i.record_id for i in StateStore(config.state_url).issues("default", "accounts")] == [bad]
        sb.sandbox.faults.configure(FaultSpec())
        second = sync(config)
        assert second.status == "success" and second.objects["accounts"].written >= 1
        assert StateStore(config.state_url).issues("default", "accounts") == []


@pytest.mark.parametrize("crm", ["salesforce", "zoho"])
def test_concurrent_writes_leave_the_same_crm_and_store_as_one_lane(crm: str, tmp_path: Path) -> None:
    ends = []
    for lanes in (1, 4):
        with running_sandbox(crm, accounts=250, deals_per_account=2, seed=6, today=TODAY) as sb:
            config = configure(sb, crm, tmp_path / str(lanes), connection={"write_concurrency": lanes})
            report = sync(config)
            assert report.status == "success"
            ends.append((outputs(sb, crm), stored(config), report.objects["accounts"].written,
                         report.objects["deals"].written, report.tasks_created))
    assert ends[0] == ends[1]


@pytest.mark.parametrize("crm", ["salesforce", "zoho"])
def test_a_quota_stop_during_concurrent_writes_keeps_the_cursor_and_the_next_run_finishes(
        crm: str, tmp_path: Path) -> None:
    n = NAMES[crm]
    with running_sandbox(crm, accounts=320, deals_per_account=1, seed=6, today=TODAY) as sb:
        config = configure(sb, crm, tmp_path, connection={"write_concurrency": 4})
        # the allowance runs out at the second account write call, while other lanes' calls are in flight
        path, method = ("composite/sobjects", "PATCH") if crm == "salesforce" else ("/crm/v8/Accounts", "PUT")
        sb.sandbox.faults.configure(FaultSpec.model_validate({"quota": {"every": 2, "times": 1, "path": path,
                                                                        "method": method}}))
        stopped = sync(config)
        assert stopped.status == "partial" and stopped.stopped and "quota" in stopped.stopped.lower()
        assert stopped.objects["accounts"].written < 320 and not stopped.failures
        store = StateStore(config.state_url)
        assert store.cursor("default", "accounts") is None and store.cursor("default", "deals") is None
        sb.sandbox.faults.configure(FaultSpec())
        finished = sync(config)
        assert finished.status == "success"
        accounts = requests.get(f"{sb.url}/__sandbox/records/{n.accounts}", timeout=30).json()["records"]
        skipped = {str(i.record_id) for i in store.issues("default", "accounts")}
        assert all(a[n.tier] for a in accounts if not a.get("IsDeleted") and str(a[n.id]) not in skipped)
        assert store.cursor("default", "accounts") is not None
        keys = [t[n.task_key] for t in requests.get(f"{sb.url}/__sandbox/records/{n.tasks}", timeout=30).json()[
            "records"] if t.get(n.task_key)]
        assert len(keys) == len(set(keys))
