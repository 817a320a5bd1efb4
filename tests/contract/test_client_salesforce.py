"""Contract tests: `SalesforceClient` against the Salesforce sandbox over loopback HTTP.

No patching and no sleeping: retries record their waits in a list, bulk jobs poll with no delay.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests

from connector.config import SalesforceConnection
from connector.crm.base import ObjectSpec, RetryPolicy
from connector.crm.salesforce import SalesforceClient
from connector.errors import AuthError, ConnectionFailed, Fatal, QuotaExhausted
from connector.model import ApplyResult, Cursor, FieldUpdate, TagAdd, TagRemove, TaskCreate, WritePlan
from connector.sandbox import FaultSpec, SandboxServer, Trigger, running_sandbox

ACCOUNTS = 450  # three server pages of 200
ACCOUNT_FIELDS = ("Id", "Name", "OwnerId", "BillingCountry", "Risk_Score__c", "Risk_Tier__c", "Risk_Watchlist__c",
                  "Risk_Scored_At__c", "Risk_Reasons__c", "SystemModstamp")
ACCOUNT = ObjectSpec("accounts", "Account", "SystemModstamp", ACCOUNT_FIELDS, page_size=150)
DEAL = ObjectSpec("deals", "Opportunity", "SystemModstamp", ("Id", "AccountId", "Amount", "StageName", "SystemModstamp"),
                  page_size=500, parent_field="AccountId")


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with running_sandbox("salesforce", accounts=ACCOUNTS, deals_per_account=2, seed=11) as sb:
        yield sb




def connection(creds: dict[str, Any], method: str = "jwt", **auth: Any) -> SalesforceConnection:
    base: dict[str, Any] = {"method": method}
    if method == "jwt":
        base |= {"consumer_key": creds["consumer_key"], "username": creds["username"],
                 "private_key": creds["private_key"]}
    elif method == "client_credentials":
        base |= {"consumer_key": creds["consumer_key"], "consumer_secret": creds["consumer_secret"]}
    else:
        base |= {"username": creds["username"], "password": creds["password"],
                 "security_token": creds.get("security_token")}
    base |= auth
    return SalesforceConnection.model_validate({
        "crm": "salesforce", "instance_url": creds["instance_url"], "login_url": creds["login_url"],
        "auth": {k: v for k, v in base.items() if v is not None}, "api_reserve": 0,
    })


def client_for(creds: dict[str, Any], sleeps: list[float], method: str = "jwt", *, auth: dict[str, Any] | None = None,
               **kw: Any) -> SalesforceClient:
    conn = connection(creds, method, **(auth or {}))
    if "api_reserve" in kw:
        conn = conn.model_copy(update={"api_reserve": kw.pop("api_reserve")})
    if "write_concurrency" in kw:
        conn = conn.model_copy(update={"write_concurrency": kw.pop("write_concurrency")})
    return SalesforceClient(conn, policy=RetryPolicy(attempts=4, sleep=sleeps.append), bulk_wait=0, **kw)


def faults(sb: SandboxServer, **spec: Any) -> None:
    sb.sandbox.faults.configure(FaultSpec(**spec))


def records(sb: SandboxServer, obj: str) -> dict[str, dict[str, Any]]:
    """The live records of `obj` (the inspection endpoint also lists deleted ones)."""
    rows = requests.get(f"{sb.url}/__sandbox/records/{obj}", timeout=10).json()["records"]
    return {r["Id"]: r for r in rows if not r.get("IsDeleted")}


def calls(sb: SandboxServer) -> dict[str, Any]:
    data: dict[str, Any] = requests.get(f"{sb.url}/__sandbox/calls", timeout=10).json()
    return data


def endpoint_calls(sb: SandboxServer, needle: str) -> int:
    return sum(n for name, n in calls(sb)["by_endpoint"].items() if needle in name)


def all_rows(client: SalesforceClient, spec: ObjectSpec, cursor: Cursor | None = None) -> list[dict[str, Any]]:
    return [row for page in client.extract(spec, cursor) for row in page.rows]


def parse_ts(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


def updates(ids: list[str], score: float, tier: str = "high") -> WritePlan:
    return WritePlan(updates=[FieldUpdate("accounts", i, {"Risk_Score__c": (None, score), "Risk_Tier__c": (None, tier)},
                                          key=f"upd:{i}") for i in ids])


# -- authentication -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method,auth", [
    ("jwt", {}),
    ("client_credentials", {}),
    ("password", {}),  # SOAP login()
    ("password", {"consumer_key": "<ck>", "consumer_secret": "<cs>"}),  # OAuth username-password grant
], ids=["jwt", "client_credentials", "password-soap", "password-oauth"])
def test_check_with_each_auth_method(sb: SandboxServer, creds: dict[str, Any], method: str,
                                     auth: dict[str, Any]) -> None:
    auth = {k: creds["consumer_key"] if v == "<ck>" else creds["consumer_secret"] if v == "<cs>" else v
            for k, v in auth.items()}
    client = client_for(creds, [], method, auth=auth)
    caps = client.check([ACCOUNT, DEAL])
    assert set(caps.fields) == {"Account", "Opportunity", "Task"}
    assert caps.fields["Account"]["Risk_Score__c"].updateable
    assert not caps.fields["Account"]["SystemModstamp"].updateable
    assert caps.fields["Task"]["Riskbridge_Key__c"].external_id
    assert caps.missing("Account", ["Risk_Tier__c", "Nope__c"]) == ["Nope__c"]
    assert caps.api_limit and caps.api_used is not None and client.api_usage == (caps.api_used, caps.api_limit)
    assert client.api_calls == calls(sb)["total"] == 5  # login, 3 describes, limits
    assert caps.user_id == creds["user_id"]
    client.close()


@pytest.mark.parametrize("method,field,code", [
    ("password", "password", "INVALID_LOGIN"),  # SOAP fault
    ("password", "consumer_secret", "invalid_client"),  # OAuth password grant
    ("client_credentials", "consumer_secret", "invalid_client"),
    ("jwt", "username", "invalid_grant"),
])
def test_refused_login_is_auth_error_without_secrets(sb: SandboxServer, creds: dict[str, Any], method: str, field: str,
                                                     code: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wr0ng-" + creds[field][::-1]
    auth = {field: wrong}
    if method == "password" and field == "consumer_secret":
        auth["consumer_key"] = creds["consumer_key"]
    sleeps: list[float] = []
    client = client_for(creds, sleeps, method, auth=auth)
    with pytest.raises(AuthError) as info:
        client.check([ACCOUNT])
    message = str(info.value)
    assert method in message and code in message and sleeps == []
    if method != "client_credentials":
        assert (wrong if field == "username" else creds["username"]) in message
    for secret in (*([wrong] if field != "username" else []), creds["password"], creds["security_token"], creds["consumer_secret"], creds["private_key"]):
        assert secret not in message and secret not in caplog.text and secret not in repr(info.value)


def test_unreachable_login_is_connection_failed(creds: dict[str, Any]) -> None:
    dead = {**creds, "instance_url": "http://127.0.0.1:9", "login_url": "http://127.0.0.1:9"}
    sleeps: list[float] = []
    client = client_for(dead, sleeps)
    with pytest.raises(ConnectionFailed) as info:
        client.check([ACCOUNT])
    assert not isinstance(info.value, AuthError) and len(sleeps) == 3


# -- reads ------------------------------------------------------------------------------------------------


def test_extract_pages_cover_every_row_once_in_order(sb: SandboxServer, creds: dict[str, Any]) -> None:
    client = client_for(creds, [])
    pages = list(client.extract(ACCOUNT, None))
    rows = [r for p in pages for r in p.rows]
    assert all(0 < len(p.rows) <= ACCOUNT.page_size for p in pages)
    assert len(rows) == len({r["Id"] for r in rows}) == len(records(sb, "Account")) == ACCOUNTS
    assert all("attributes" not in r and set(ACCOUNT_FIELDS) <= set(r) for r in rows)
    keys = [(parse_ts(r["SystemModstamp"]), r["Id"]) for r in rows]
    assert keys == sorted(keys)
    assert endpoint_calls(sb, "query") == 3  # batchSize=200: one query and two query_more
    assert client.api_calls == calls(sb)["total"] == 4


def test_cursor_returns_only_newer_rows(sb: SandboxServer, creds: dict[str, Any]) -> None:
    client = client_for(creds, [])
    rows = all_rows(client, ACCOUNT)
    last = parse_ts(rows[-1]["SystemModstamp"])
    cursor = Cursor(last, frozenset(r["Id"] for r in rows if parse_ts(r["SystemModstamp"]) == last))
    touched = requests.post(f"{sb.url}/__sandbox/touch", json={"object": "Account", "count": 4}, timeout=10).json()["ids"]
    newer = all_rows(client, ACCOUNT, cursor)
    assert all(parse_ts(r["SystemModstamp"]) >= last.replace(microsecond=0) for r in newer)
    fresh = {r["Id"] for r in newer if not cursor.seen(parse_ts(r["SystemModstamp"]), r["Id"])}
    assert fresh == set(touched)


def test_fetch_by_id(sb: SandboxServer, creds: dict[str, Any]) -> None:
    client = client_for(creds, [])
    accounts = list(records(sb, "Account"))
    wanted = accounts[:320] + ["001000000000000AAA"]  # two IN chunks; an unknown id is simply absent
    got = [r for p in client.fetch(ACCOUNT, wanted) for r in p.rows]
    assert sorted(r["Id"] for r in got) == sorted(accounts[:320])


def test_invalid_field_is_fatal_and_not_retried(sb: SandboxServer, creds: dict[str, Any]) -> None:
    sleeps: list[float] = []
    client = client_for(creds, sleeps)
    bad = ObjectSpec("accounts", "Account", "SystemModstamp", ("Id", "Nope__c"))
    with pytest.raises(Fatal) as info:
        all_rows(client, bad)
    assert info.value.code == "INVALID_FIELD" and info.value.status == 400
    assert sleeps == []


@pytest.mark.parametrize("fault", [
    {"rate_limit": Trigger(every=2, path="/query")},  # 403 REQUEST_LIMIT_EXCEEDED (concurrency)
    {"error_500": Trigger(every=2, path="/query")},
    {"error_503": Trigger(every=2, path="/query")},  # HTML maintenance page
    {"drop": Trigger(every=2, path="/query")},  # connection closed mid-response
], ids=["rate-limit", "500", "html-503", "drop"])
def test_transient_failures_are_retried_page_by_page(sb: SandboxServer, creds: dict[str, Any],
                                                     fault: dict[str, Any]) -> None:
    sleeps: list[float] = []
    client = client_for(creds, sleeps)
    client.check([ACCOUNT])
    faults(sb, **fault)
    rows = all_rows(client, ACCOUNT)
    assert len({r["Id"] for r in rows}) == len(rows) == ACCOUNTS
    assert len(sleeps) == 2  # query calls 2 and 4 fail: each page is retried on its own
    assert endpoint_calls(sb, "query") == 3 + 2


def test_expired_session_is_recovered(sb: SandboxServer, creds: dict[str, Any]) -> None:
    sleeps: list[float] = []
    client = client_for(creds, sleeps)
    faults(sb, session_expiry_after=3)
    assert len(all_rows(client, ACCOUNT)) == ACCOUNTS
    result = client.apply(updates(list(records(sb, "Account"))[:5], 42.0))
    assert all(o.ok for o in result.outcomes.values()) and sleeps == []
    assert endpoint_calls(sb, "token") + endpoint_calls(sb, "Soap") >= 3


# -- writes ---------------------------------------------------------------------------------------------


def test_apply_updates_with_per_record_errors(sb: SandboxServer, creds: dict[str, Any]) -> None:
    client = client_for(creds, [])
    ids = list(records(sb, "Account"))[:250]
    faults(sb, record_errors={ids[7]: "UNABLE_TO_LOCK_ROW"})
    stamp = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    plan = updates(ids, 73.5)
    plan.updates[0] = FieldUpdate("accounts", ids[0], {"Risk_Scored_At__c": (None, stamp), "Risk_Reasons__c": ("x", None)},
                                  key=f"upd:{ids[0]}")
    result = client.apply(plan)
    assert len(result.outcomes) == 250 and [o.key for o in result.failed] == [f"upd:{ids[7]}"]
    assert result.failed[0].error is not None and result.failed[0].error.startswith("UNABLE_TO_LOCK_ROW: ")
    after = records(sb, "Account")
    assert after[ids[7]]["Risk_Score__c"] != 73.5
    assert all(after[i]["Risk_Score__c"] == 73.5 and after[i]["Risk_Tier__c"] == "high" for i in ids[1:7] + ids[8:])
    assert after[ids[0]]["Risk_Reasons__c"] is None and after[ids[0]]["Risk_Scored_At__c"].startswith("2024-05-01")
    assert endpoint_calls(sb, "composite/sobjects") == 2  # 200 + 50
    again = client.apply(plan)  # re-applying is harmless
    assert [o.key for o in again.failed] == [f"upd:{ids[7]}"]
    assert records(sb, "Account")[ids[9]]["Risk_Score__c"] == 73.5


def test_rejected_write_request_fails_its_ops_and_the_plan_goes_on(sb: SandboxServer, creds: dict[str, Any]) -> None:
    sleeps: list[float] = []
    client = client_for(creds, sleeps)
    accounts, deals = list(records(sb, "Account"))[:3], list(records(sb, "Opportunity"))[:2]
    plan = updates(accounts, 33.0)
    plan.updates.append(FieldUpdate("accounts", accounts[0], {"Nope__c": (None, 1)}, key="bad"))
    plan.updates += [FieldUpdate("deals", i, {"Risk_Score__c": (None, 33.0)}, key=f"d:{i}") for i in deals]
    result = client.apply(plan)
    assert sorted(o.key for o in result.failed) == sorted(["bad", *(f"upd:{i}" for i in accounts)])
    assert all((o.error or "").startswith("INVALID_FIELD: No such column") for o in result.failed)
    assert all(records(sb, "Opportunity")[i]["Risk_Score__c"] == 33.0 for i in deals) and sleeps == []


def test_bulk_update_reads_failed_results(sb: SandboxServer, creds: dict[str, Any]) -> None:
    client = client_for(creds, [], bulk_threshold=100)
    ids = list(records(sb, "Account"))[:120]
    # login + 3 calls, then the session dies in the middle of the job and again before its failed results
    faults(sb, record_errors={ids[3]: "FIELD_CUSTOM_VALIDATION_EXCEPTION"}, session_expiry_after=8)
    client.check([ACCOUNT])
    plan = WritePlan(updates=[FieldUpdate("accounts", i, {"Risk_Watchlist__c": (None, True),
                                                          "Risk_Reasons__c": ("old", None), "Risk_Score__c": (None, 55.5)},
                                          key=f"b:{i}") for i in ids])
    result = client.apply(plan)
    assert len(result.outcomes) == 120 and [o.key for o in result.failed] == [f"b:{ids[3]}"]
    assert (result.failed[0].error or "").startswith("FIELD_CUSTOM_VALIDATION_EXCEPTION: ")
    after = records(sb, "Account")
    assert all(after[i]["Risk_Watchlist__c"] is True and after[i]["Risk_Reasons__c"] is None
               and after[i]["Risk_Score__c"] == 55.5 for i in ids if i != ids[3])
    assert endpoint_calls(sb, "composite/sobjects") == 0 and endpoint_calls(sb, "jobs/ingest") >= 5


def test_task_upsert_is_idempotent(sb: SandboxServer, creds: dict[str, Any]) -> None:
    client = client_for(creds, [])
    accounts = records(sb, "Account")
    ids = list(accounts)[:3]
    tasks = [TaskCreate(f"rb:{i}:tier-high:2024-05", "accounts", i, accounts[i]["OwnerId"], f"Review credit of {i}",
                        "Invoices 60+ days past due", date.today() + timedelta(days=3), "High") for i in ids]
    before = len(records(sb, "Task"))
    first = client.apply(WritePlan(tasks=tasks))
    second = client.apply(WritePlan(tasks=tasks))
    assert all(o.ok and o.crm_id for o in [*first.outcomes.values(), *second.outcomes.values()])
    assert {o.crm_id for o in first.outcomes.values()} == {o.crm_id for o in second.outcomes.values()}
    after = records(sb, "Task")
    assert len(after) == before + 3
    mine = [t for t in after.values() if (t.get("Riskbridge_Key__c") or "").startswith("rb:")]
    assert {t["WhatId"] for t in mine} == set(ids) and {t["Status"] for t in mine} == {"Not Started"}
    assert all(t["OwnerId"] == accounts[t["WhatId"]]["OwnerId"] and t["Priority"] == "High" for t in mine)
    keys = [t.key for t in tasks]
    assert client.open_task_keys([*keys, "rb:none"]) == set(keys)
    assert endpoint_calls(sb, "composite/sobjects/Task") == 2


def test_topic_tags(sb: SandboxServer, creds: dict[str, Any]) -> None:
    client = client_for(creds, [], topic_tag=True)
    ids = list(records(sb, "Account"))[:3]
    adds = [TagAdd("accounts", i, "credit-watchlist", key=f"tag+:{i}") for i in ids]
    assert all(o.ok for o in client.apply(WritePlan(tag_adds=adds)).outcomes.values())
    assert all(o.ok for o in client.apply(WritePlan(tag_adds=adds)).outcomes.values())  # already assigned
    topics = [t for t in records(sb, "Topic").values() if t["Name"] == "credit-watchlist"]
    assert len(topics) == 1
    assigned = [a for a in records(sb, "TopicAssignment").values() if a["TopicId"] == topics[0]["Id"]]
    assert sorted(a["EntityId"] for a in assigned) == sorted(ids)
    removes = [TagRemove("accounts", i, "credit-watchlist", key=f"tag-:{i}") for i in ids[:2]]
    assert all(o.ok for o in client.apply(WritePlan(tag_removes=removes)).outcomes.values())
    left = [a["EntityId"] for a in records(sb, "TopicAssignment").values() if a["TopicId"] == topics[0]["Id"]]
    assert left == [ids[2]]
    off = client_for(creds, []).apply(WritePlan(tag_adds=adds[:1]))
    assert (off.failed[0].error or "").startswith("TOPICS_DISABLED")


def test_quota_used_up_by_writes_stops_before_the_next_batch(sb: SandboxServer, creds: dict[str, Any]) -> None:
    sleeps: list[float] = []
    client = client_for(creds, sleeps, write_concurrency=1)  # one lane: the stop is before the next call
    ids = list(records(sb, "Account"))[:400]
    client.check([ACCOUNT])
    faults(sb, quota_after=1)  # the first write is the last call of the day: Sforce-Limit-Info says 1/1
    with pytest.raises(QuotaExhausted) as info:
        client.apply(updates(ids, 61.0))
    partial: ApplyResult = info.value.partial  # type: ignore[attr-defined]
    assert len(partial.outcomes) == 200 and all(o.ok for o in partial.outcomes.values())
    assert partial.stopped and sleeps == [] and client.api_usage == (1, 1)
    assert endpoint_calls(sb, "composite/sobjects") == 1


def test_total_requests_403_mid_apply_keeps_partial_outcomes(sb: SandboxServer, creds: dict[str, Any]) -> None:
    sleeps: list[float] = []
    client = client_for(creds, sleeps, bulk_threshold=100)
    deals = list(records(sb, "Opportunity"))[:50]
    accounts = list(records(sb, "Account"))[:120]
    plan = WritePlan(updates=[FieldUpdate("deals", i, {"Risk_Flags__c": (None, "over-credit")}, key=f"d:{i}") for i in deals])
    plan.extend(updates(accounts, 12.0))
    client.check([ACCOUNT, DEAL])
    # the accounts' bulk job is created, uploaded and closed first, then the deals' collections call goes out
    # while it runs; polling the job gets 403 TotalRequests
    faults(sb, quota_after=4)
    with pytest.raises(QuotaExhausted) as info:
        client.apply(plan)
    partial: ApplyResult = info.value.partial  # type: ignore[attr-defined]
    assert sorted(partial.outcomes) == sorted(f"d:{i}" for i in deals) and not partial.failed
    assert partial.stopped and "TotalRequests" in partial.stopped and sleeps == []


def test_total_requests_403_mid_extract(sb: SandboxServer, creds: dict[str, Any]) -> None:
    sleeps: list[float] = []
    client = client_for(creds, sleeps)
    client.check([ACCOUNT])
    faults(sb, quota_after=1)
    pages = client.extract(ACCOUNT, None)
    assert len(next(pages).rows) == ACCOUNT.page_size
    with pytest.raises(QuotaExhausted):
        list(pages)
    assert sleeps == []


def test_reserve_stops_before_a_write_batch(sb: SandboxServer, creds: dict[str, Any]) -> None:
    client = client_for(creds, [], api_reserve=10**9)
    client.check([ACCOUNT])
    writes_before = calls(sb)["writes"]
    with pytest.raises(QuotaExhausted) as info:
        client.apply(updates(list(records(sb, "Account"))[:3], 10.0))
    assert info.value.partial.outcomes == {}  # type: ignore[attr-defined]
    assert calls(sb)["writes"] == writes_before


def test_secrets_never_logged(sb: SandboxServer, creds: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = [creds["private_key"], creds["password"], creds["consumer_secret"]]
    for method in ("jwt", "password", "client_credentials"):
        client = client_for(creds, [], method)
        faults(sb, session_expiry_after=5, error_500=Trigger(every=7))
        client.check([ACCOUNT])
        all_rows(client, ACCOUNT)
        token = client._sf.session_id if client._sf else ""
        text = caplog.text + repr(client) + repr(client.conn)
        assert token and not [s for s in [*secrets, token] if s in text]
        assert "Bearer" not in caplog.text
