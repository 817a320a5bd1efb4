"""Concurrent writes (`write_concurrency` lanes) against the Salesforce and Zoho sandboxes over loopback HTTP.

A batch's write calls go out on k sessions at once; the outcome of every record must be what one lane
would report, a per-record failure must stay that record's, and a quota stop must leave every record
either written and reported ok, or untouched and unreported.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connector.config import SalesforceConnection, ZohoConnection
from connector.crm.base import RetryPolicy
from connector.crm.salesforce import SalesforceClient
from connector.crm.zoho import ZohoClient
from connector.errors import QuotaExhausted
from connector.model import ApplyResult, FieldUpdate, WritePlan
from connector.sandbox import FaultSpec, SandboxServer, running_sandbox
from connector.sandbox.faults import Trigger

OBJECT = {"salesforce": "Account", "zoho": "Accounts"}
ID = {"salesforce": "Id", "zoho": "id"}
SCORE = {"salesforce": "Risk_Score__c", "zoho": "Risk_Score"}
CHUNK = {"salesforce": 200, "zoho": 100}  # records per write call
WRITE_PATH = {"salesforce": "composite/sobjects", "zoho": "/crm/v8/Accounts"}  # as a fault trigger matches it
WRITE_ENDPOINT = {"salesforce": "composite/sobjects", "zoho": "PUT Accounts"}  # as the call log names it


@pytest.fixture(params=["salesforce", "zoho"])
def crm(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sb(crm: str) -> Iterator[SandboxServer]:
    with running_sandbox(crm, accounts=1000, deals_per_account=0, seed=3) as server:
        yield server


def client_for(crm: str, sb: SandboxServer, lanes: int, sleeps: list[float]) -> SalesforceClient | ZohoClient:
    creds: dict[str, Any] = requests.get(f"{sb.url}/__sandbox/credentials", timeout=10).json()
    policy = RetryPolicy(attempts=3, sleep=sleeps.append)
    if crm == "salesforce":
        conn = SalesforceConnection.model_validate({
            "crm": "salesforce", "instance_url": creds["instance_url"], "login_url": creds["login_url"],
            "api_reserve": 0, "write_concurrency": lanes,
            "auth": {"method": "jwt", "consumer_key": creds["consumer_key"], "username": creds["username"],
                     "private_key": creds["private_key"]}})
        return SalesforceClient(conn, policy=policy, bulk_wait=0)
    zconn = ZohoConnection.model_validate({
        "crm": "zoho", "accounts_url": creds["accounts_url"], "api_url": creds["api_url"], "timeout_s": 10,
        "write_concurrency": lanes, "auth": {k: creds[k] for k in ("client_id", "client_secret", "refresh_token")}})
    return ZohoClient(zconn, policy=policy)


def records(crm: str, sb: SandboxServer) -> dict[str, dict[str, Any]]:
    rows = requests.get(f"{sb.url}/__sandbox/records/{OBJECT[crm]}", timeout=30).json()["records"]
    return {str(r[ID[crm]]): r for r in rows if not r.get("IsDeleted")}


def write_calls(crm: str, sb: SandboxServer) -> int:
    by_endpoint = requests.get(f"{sb.url}/__sandbox/calls", timeout=10).json()["by_endpoint"]
    return sum(n for name, n in by_endpoint.items() if WRITE_ENDPOINT[crm] in name and "Task" not in name)


def score_plan(crm: str, ids: list[str], score: float) -> WritePlan:
    return WritePlan(updates=[FieldUpdate("accounts", i, {SCORE[crm]: (None, score)}, key=f"u:{i}") for i in ids])


def test_a_record_failure_inside_a_concurrent_batch_is_that_records_alone(crm: str, sb: SandboxServer) -> None:
    sleeps: list[float] = []
    client = client_for(crm, sb, 4, sleeps)
    ids = sorted(records(crm, sb))[:5 * CHUNK[crm]]
    bad = ids[3 * CHUNK[crm] + 17]  # inside the fourth call, which runs beside others
    sb.sandbox.faults.configure(FaultSpec(record_errors={bad: "FIELD_CUSTOM_VALIDATION_EXCEPTION"}))
    result = client.apply(score_plan(crm, ids, 42.5))
    client.close()
    assert list(result.outcomes) == [f"u:{i}" for i in ids]  # merged in request order, whatever finished first
    assert [o.key for o in result.failed] == [f"u:{bad}"]
    after = records(crm, sb)
    assert all(after[i][SCORE[crm]] == 42.5 for i in ids if i != bad) and after[bad][SCORE[crm]] != 42.5
    assert write_calls(crm, sb) == 5 and sleeps == []


def test_concurrent_and_sequential_writes_report_and_leave_the_same(crm: str) -> None:
    ends = []
    for lanes in (1, 4):
        with running_sandbox(crm, accounts=700, deals_per_account=0, seed=8) as sb:
            ids = sorted(records(crm, sb))
            sb.sandbox.faults.configure(FaultSpec(record_errors={ids[250]: "UNABLE_TO_LOCK_ROW", ids[3]: "INVALID_X"}))
            client = client_for(crm, sb, lanes, [])
            plan = score_plan(crm, ids[:650], 17.25)
            result = client.apply(plan)
            client.close()
            state = {i: r[SCORE[crm]] for i, r in records(crm, sb).items()}
            ends.append(([(o.key, o.ok, o.error) for o in result.outcomes.values()], state, write_calls(crm, sb)))
    assert ends[0] == ends[1]


def test_a_quota_stop_during_concurrent_writes_reports_exactly_what_was_written(crm: str, sb: SandboxServer) -> None:
    sleeps: list[float] = []
    threads_before = set(threading.enumerate())  # other tests' clients may still hold their lanes
    client = client_for(crm, sb, 4, sleeps)
    ids = sorted(records(crm, sb))[:8 * CHUNK[crm]]
    before = {i: r[SCORE[crm]] for i, r in records(crm, sb).items()}
    # the allowance is used up at the third write call, for good: calls in flight or after it are refused
    sb.sandbox.faults.configure(FaultSpec(quota=Trigger(every=3, times=1, path=WRITE_PATH[crm])))
    with pytest.raises(QuotaExhausted) as info:
        client.apply(score_plan(crm, ids, 99.5))
    client.close()
    partial: ApplyResult = info.value.partial  # type: ignore[attr-defined]
    assert partial.stopped and partial.outcomes and not partial.failed
    assert len(partial.outcomes) % CHUNK[crm] == 0 and len(partial.outcomes) <= 2 * CHUNK[crm]
    after = records(crm, sb)
    for i in ids:  # written and reported ok, or untouched and unreported: never written and unreported
        assert after[i][SCORE[crm]] == (99.5 if f"u:{i}" in partial.outcomes else before[i])
    assert 3 <= write_calls(crm, sb) <= 2 + 4  # no call starts after the stop, beyond those already in flight
    assert not [t for t in set(threading.enumerate()) - threads_before if t.name.startswith(f"{crm}-write")]
