"""End to end: a large Salesforce run writes every batch's field updates through one Bulk API 2.0 ingest
job per object for the whole run (issues 16 and 17), and ends exactly as a run through sObject Collections.

Every assertion reads the sandbox's records and call log, or the state store.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import requests

from connector.crm.base import RetryPolicy
from connector.crm.salesforce import SalesforceClient
from connector.sandbox import FaultSpec, Trigger, running_sandbox
from connector.state import StateStore
from connector.sync import Sync
from tests.e2e.test_writes import NOW, TODAY, bulk_jobs, calls, configure, outputs, stored, sync

ACCOUNTS = 60  # with 2 deals each, in batches of 10: six batches


def audited(config_url: str) -> list[tuple[str, str, str, str]]:
    store = StateStore(config_url)
    return sorted((e.action, e.object, e.record_id, str(sorted((e.detail or {}).get("changes", {}).items())))
                  for e in store.audit_entries(job="default"))


def test_a_backfill_over_several_batches_uses_one_ingest_job_per_object_and_ends_as_collections(
        tmp_path: Path) -> None:
    ends = []
    for threshold in (10_000, 50):
        with running_sandbox("salesforce", accounts=ACCOUNTS, deals_per_account=2, seed=11, today=TODAY) as sb:
            config = configure(sb, "salesforce", tmp_path / str(threshold),
                               job={"bulk_threshold": threshold, "batch_size": 10})
            report = sync(config)
            assert report.status == "success", report.failures
            log = calls(sb)
            if threshold == 50:
                assert bulk_jobs(config) == Counter({"Account": 1, "Opportunity": 1})
                assert log.get("POST jobs/ingest") == 2
                assert not [e for e in log if e.startswith("PATCH composite/sobjects") and "/Task" not in e]
                assert StateStore(config.state_url).bulk_jobs("default") == []
                assert StateStore(config.state_url).pending_writes("default") == []
            else:
                assert not bulk_jobs(config)
            written = report.objects["accounts"].written + report.objects["deals"].written
            ends.append((outputs(sb, "salesforce"), stored(config), audited(config.state_url), written))
            again = sync(config)  # idempotent: the echo of the bulk writes is nothing to do
            assert again.status == "success"
            assert again.objects["accounts"].written + again.objects["deals"].written == 0
    assert ends[0][3] > ACCOUNTS
    assert ends[1] == ends[0]


def test_failed_rows_of_a_run_wide_job_are_failures_and_issues_and_are_rewritten(tmp_path: Path) -> None:
    with running_sandbox("salesforce", accounts=ACCOUNTS, deals_per_account=2, seed=11, today=TODAY) as sb:
        config = configure(sb, "salesforce", tmp_path, job={"bulk_threshold": 50, "batch_size": 10})
        account = str(requests.get(f"{sb.url}/__sandbox/records/Account", timeout=10).json()["records"][37]["Id"])
        deal = str(requests.get(f"{sb.url}/__sandbox/records/Opportunity", timeout=10).json()["records"][5]["Id"])
        sb.sandbox.faults.configure(FaultSpec(record_errors={account: "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                                             deal: "UNABLE_TO_LOCK_ROW"}))
        first = sync(config)
        assert first.status == "partial"
        assert sorted((f["object"], f["id"]) for f in first.failures) == [("accounts", account), ("deals", deal)]
        assert all(f["reason"].split(":")[0] in ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "UNABLE_TO_LOCK_ROW")
                   for f in first.failures)
        assert first.objects["accounts"].failed == 1 and first.objects["deals"].failed == 1
        store = StateStore(config.state_url)
        assert {(i.object, i.record_id) for i in store.issues("default")} == {("accounts", account), ("deals", deal)}
        audited_ids = {e.record_id for e in store.audit_entries(job="default") if e.action == "update"}
        assert account not in audited_ids and deal not in audited_ids
        sb.sandbox.faults.configure(FaultSpec())
        second = sync(config)
        assert second.status == "success", second.failures
        assert second.objects["accounts"].written == 1 and second.objects["deals"].written >= 1
        assert store.issues("default") == []
        got = outputs(sb, "salesforce")
        assert got["Account"][account][1] is not None and got["Opportunity"][deal][1] is not None


def test_a_spool_past_the_upload_limit_starts_another_job(tmp_path: Path) -> None:
    """Bulk API 2.0 takes one upload per job: rows past the limit go into the object's next job."""
    ends = []
    for limit in (None, 1500):
        with running_sandbox("salesforce", accounts=ACCOUNTS, deals_per_account=2, seed=11, today=TODAY) as sb:
            config = configure(sb, "salesforce", tmp_path / str(limit), job={"bulk_threshold": 50, "batch_size": 10})
            conn = config.connections[config.jobs["default"].connection]
            client = SalesforceClient(conn, objects={"accounts": "Account", "deals": "Opportunity"},
                                      policy=RetryPolicy(attempts=4, sleep=lambda _s: None), bulk_threshold=50,
                                      **({"bulk_upload_bytes": limit} if limit else {}))
            report = Sync(config, client=client, policy=RetryPolicy(attempts=4, sleep=lambda _s: None),
                          clock=lambda: NOW).run()
            assert report.status == "success", report.failures
            jobs = bulk_jobs(config)
            if limit:
                assert jobs["Account"] > 1 and jobs["Opportunity"] > 1
            else:
                assert jobs == Counter({"Account": 1, "Opportunity": 1})
            ends.append((outputs(sb, "salesforce"), stored(config)))
    assert ends[1] == ends[0]


def test_a_dry_run_of_a_backfill_opens_no_job(tmp_path: Path) -> None:
    with running_sandbox("salesforce", accounts=ACCOUNTS, deals_per_account=2, seed=11, today=TODAY) as sb:
        config = configure(sb, "salesforce", tmp_path, job={"bulk_threshold": 50, "batch_size": 10})
        report = sync(config, dry_run=True)
        assert report.status == "success" and report.plan
        assert not bulk_jobs(config) and calls(sb).get("POST jobs/ingest") is None


def test_after_a_backfill_a_small_incremental_run_writes_through_collections(tmp_path: Path) -> None:
    """A bulk job stamps its rows alike, so the next reads return them again at the cursor's instant (and drop
    them): those echoes do not make a run with a few changes large."""
    def run() -> Any:
        return Sync(config, policy=RetryPolicy(attempts=4, sleep=lambda _s: None)).run()  # the real clock

    with running_sandbox("salesforce", accounts=ACCOUNTS, deals_per_account=2, seed=11) as sb:
        config = configure(sb, "salesforce", tmp_path, job={"bulk_threshold": 50, "batch_size": 10})
        assert run().status == "success" and bulk_jobs(config) == Counter({"Account": 1, "Opportunity": 1})
        assert run().status == "success"  # reads the echoes
        requests.delete(f"{sb.url}/__sandbox/calls", timeout=10)
        requests.post(f"{sb.url}/__sandbox/touch", json={"object": "Account", "count": 5}, timeout=10)
        requests.post(f"{sb.url}/__sandbox/touch", json={"object": "Opportunity", "count": 5}, timeout=10)
        report = run()
        assert report.status == "success"
        log = calls(sb)
        assert not [e for e in log if "jobs/ingest" in e], log


def test_a_close_whose_answer_is_lost_is_looked_up_not_taken_for_a_refusal(tmp_path: Path) -> None:
    """Salesforce started the job but the answer to "UploadComplete" never came back (a dropped connection,
    or a read timeout while a large upload is taken in: the 1,000,000-account run lost 490,000 updates
    this way). The retry finds the job past that state and is refused; the client asks the job where it
    stands and settles it, instead of failing every row it carries."""
    with running_sandbox("salesforce", accounts=ACCOUNTS, deals_per_account=2, seed=11, today=TODAY) as sb:
        config = configure(sb, "salesforce", tmp_path, job={"bulk_threshold": 50, "batch_size": 10})
        sb.sandbox.faults.configure(FaultSpec(drop=Trigger(every=1, times=1, method="PATCH", path="jobs/ingest/")))
        report = sync(config)
        assert report.status == "success", report.failures[:3]
        assert bulk_jobs(config) == Counter({"Account": 1, "Opportunity": 1})
        assert report.objects["accounts"].written + report.objects["deals"].written > ACCOUNTS
        store = StateStore(config.state_url)
        assert store.issues("default") == [] and store.bulk_jobs("default") == []
