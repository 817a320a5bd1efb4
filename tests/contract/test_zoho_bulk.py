"""Contract tests: the Zoho Bulk Read API, sandbox and client, over loopback HTTP (no patching, no sleeping).

The sandbox's clock is injected: a job completes when the test (or the client's injected wait) moves it.
"""

from __future__ import annotations

import csv
import io
import time
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
import requests

from connector.config import ZohoConnection
from connector.crm.base import ObjectSpec, RetryPolicy
from connector.crm.zoho import ZohoClient
from connector.crm.zoho_wire import parse_time
from connector.errors import AuthError
from connector.mapping import MAPPINGS_DIR, load_mapping, map_rows
from connector.model import Cursor, ObjectKind
from connector.sandbox import running_sandbox
from connector.sandbox.server import SandboxServer
from connector.sandbox.zoho import ZohoApp

MAPPING = load_mapping(MAPPINGS_DIR / "zoho.toml")
NO_BULK = "ZohoCRM.modules.ALL ZohoCRM.settings.ALL ZohoCRM.coql.READ ZohoCRM.users.READ"


class Clock:
    """The sandbox's time, moved only by the test or by the client's injected waits."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Org:
    def __init__(self, server: SandboxServer) -> None:
        self.url = server.url
        app = server.sandbox.app
        assert isinstance(app, ZohoApp)
        self.app = app
        self.clock = Clock()
        app.clock = self.clock
        self.creds: dict[str, str] = requests.get(f"{self.url}/__sandbox/credentials", timeout=5).json()
        self.waits: list[float] = []

    def token(self) -> str:
        form = {"grant_type": "refresh_token", **{k: self.creds[k] for k in ("client_id", "client_secret",
                                                                             "refresh_token")}}
        return str(requests.post(f"{self.url}/oauth/v2/token", data=form, timeout=5).json()["access_token"])

    def api(self, method: str, path: str, token: str, **kw: Any) -> requests.Response:
        return requests.request(method, f"{self.url}{path}", headers={"Authorization": f"Zoho-oauthtoken {token}"},
                                timeout=10, **kw)

    def calls(self) -> dict[str, int]:
        return dict(requests.get(f"{self.url}/__sandbox/calls", timeout=5).json()["by_endpoint"])

    def reset_calls(self) -> None:
        requests.delete(f"{self.url}/__sandbox/calls", timeout=5)

    def faults(self, **spec: Any) -> None:
        requests.post(f"{self.url}/__sandbox/faults", json=spec, timeout=5).raise_for_status()

    def wait(self, seconds: float) -> None:
        """The client's wait: recorded, and the sandbox's time moves on by as much."""
        self.waits.append(seconds)
        self.clock.advance(seconds)

    def client(self, threshold: int, *, run_rows: int | None = None) -> ZohoClient:
        conn = ZohoConnection.model_validate({
            "crm": "zoho", "accounts_url": self.creds["accounts_url"], "api_url": self.creds["api_url"],
            "auth": {k: self.creds[k] for k in ("client_id", "client_secret", "refresh_token")}, "timeout_s": 10,
            "bulk_read_threshold": threshold})
        client = ZohoClient(conn, policy=RetryPolicy(attempts=6, sleep=self.wait), clock=self.clock)
        if run_rows is not None:
            client.bulk_run_rows = run_rows
        return client


@pytest.fixture
def org() -> Iterator[Org]:
    with running_sandbox("zoho", accounts=230, deals_per_account=1, seed=8, today=date(2026, 5, 14)) as server:
        yield Org(server)


def spec(kind: ObjectKind = "accounts", page_size: int = 100) -> ObjectSpec:
    obj = MAPPING.object(kind)
    return ObjectSpec(kind, obj.object, obj.cursor_field, obj.read_fields(), page_size=page_size,
                      parent_field=obj.parent_field)


def read_all(client: ZohoClient, object_spec: ObjectSpec) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for page in client.extract(object_spec, None):
        assert 0 < len(page.rows) <= object_spec.page_size
        rows += page.rows
    return rows


def order_key(row: dict[str, Any]) -> tuple[datetime, int]:
    moment = parse_time(row["Modified_Time"])
    assert moment is not None
    return moment, int(row["id"])


def create(org: Org, token: str, query: dict[str, Any], **extra: Any) -> requests.Response:
    return org.api("POST", "/crm/bulk/v8/read", token, json={"query": query, **extra})


def job_of(resp: requests.Response) -> str:
    assert resp.status_code == 201, resp.text
    return str(resp.json()["data"][0]["details"]["id"])


def unzip(resp: requests.Response, job_id: str) -> list[list[str]]:
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/zip"
    assert resp.headers["Content-Disposition"] == f'attachment; filename="{job_id}.zip"'
    with zipfile.ZipFile(io.BytesIO(resp.content)) as archive:
        assert archive.namelist() == [f"{job_id}.csv"]
        text = archive.read(f"{job_id}.csv").decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


# ---------------------------------------------------------------- the sandbox's API


def test_a_job_is_added_then_in_progress_then_completed_by_the_sandbox_clock(org: Org) -> None:
    org.app.bulk.delay_s = 10
    token = org.token()
    resp = create(org, token, {"module": {"api_name": "Accounts"}, "fields": ["Account_Name", "Owner"]},
                  callback={"url": "https://example.com/done", "method": "post"})
    body = resp.json()["data"][0]
    assert (body["status"], body["code"], body["message"]) == ("success", "ADDED_SUCCESSFULLY", "Added successfully.")
    assert body["details"]["state"] == "ADDED" and body["details"]["operation"] == "read"
    job_id = job_of(resp)
    states = []
    for step in (0, 6, 5):
        org.clock.advance(step)
        states.append(org.api("GET", f"/crm/bulk/v8/read/{job_id}", token).json()["data"][0])
    assert [s["state"] for s in states] == ["ADDED", "IN PROGRESS", "COMPLETED"]
    assert "result" not in states[1] and states[2]["callback"]["method"] == "post"
    assert states[2]["result"] == {"page": 1, "count": 230, "per_page": 200_000, "more_records": False,
                                   "download_url": f"/crm/bulk/v8/read/{job_id}/result"}
    rows = unzip(org.api("GET", f"/crm/bulk/v8/read/{job_id}/result", token), job_id)
    assert rows[0] == ["Id", "Account_Name", "Owner"] and len(rows) == 231
    owners = {r["id"]: r["Owner"]["id"] for r in org.app.records("Accounts") or []}
    assert all(owners[r[0]] == r[2] for r in rows[1:])  # a lookup is exported as the related record's id


def test_the_result_is_refused_until_the_job_completes(org: Org) -> None:
    org.app.bulk.delay_s = 30
    token = org.token()
    job_id = job_of(create(org, token, {"module": {"api_name": "Deals"}}))
    early = org.api("GET", f"/crm/bulk/v8/read/{job_id}/result", token)
    assert early.status_code == 400 and early.json()["details"]["state"] == "ADDED"
    org.clock.advance(30)
    assert org.api("GET", f"/crm/bulk/v8/read/{job_id}/result", token).status_code == 200


def test_an_export_pages_at_per_page_records_and_says_more_records(org: Org) -> None:
    org.app.bulk.per_page = 100
    token = org.token()
    seen: list[str] = []
    for page, (count, more) in enumerate(((100, True), (100, True), (30, False)), start=1):
        job_id = job_of(create(org, token, {"module": {"api_name": "Accounts"}, "fields": ["Account_Name"],
                                            "page": page}))
        result = org.api("GET", f"/crm/bulk/v8/read/{job_id}", token).json()["data"][0]["result"]
        assert (result["page"], result["count"], result["more_records"]) == (page, count, more)
        seen += [r[0] for r in unzip(org.api("GET", f"/crm/bulk/v8/read/{job_id}/result", token), job_id)[1:]]
    assert len(seen) == len(set(seen)) == 230


def test_criteria_on_modified_time_pick_the_records_changed_since(org: Org) -> None:
    token = org.token()
    stamps = sorted(order_key(r) for r in org.app.records("Accounts") or [])
    since = stamps[150][0]
    criteria = {"group_operator": "and", "group": [
        {"field": {"api_name": "Modified_Time"}, "comparator": "greater_equal", "value": since.isoformat()},
        {"field": {"api_name": "Account_Name"}, "comparator": "not_equal", "value": "nobody"}]}
    job_id = job_of(create(org, token, {"module": {"api_name": "Accounts"}, "fields": ["Modified_Time"],
                                        "criteria": criteria}))
    rows = unzip(org.api("GET", f"/crm/bulk/v8/read/{job_id}/result", token), job_id)[1:]
    assert {r[0] for r in rows} == {str(i) for ts, i in stamps if ts >= since}


@pytest.mark.parametrize(("query", "status", "code", "api_name"), [
    ({"module": {"api_name": "Widgets"}}, 400, "INVALID_MODULE", "module"),
    ({"module": {"api_name": "Accounts"}, "fields": ["Account_Name", "No_Such_Field"]}, 400, "INVALID_DATA",
     "No_Such_Field"),
    ({"module": {"api_name": "Accounts"}, "criteria": {"field": {"api_name": "Nope"}, "comparator": "equal",
                                                       "value": "x"}}, 400, "INVALID_DATA", "Nope"),
    ({"module": {"api_name": "Accounts"}, "criteria": {"field": {"api_name": "Modified_Time"},
                                                       "comparator": "around", "value": "x"}},
     400, "FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED", "Modified_Time"),
])
def test_a_bad_query_gets_zohos_error(org: Org, query: dict[str, Any], status: int, code: str, api_name: str) -> None:
    resp = create(org, org.token(), query)
    assert resp.status_code == status and resp.json()["code"] == code and resp.json()["status"] == "error"
    assert resp.json()["details"]["api_name"] == api_name


def test_too_many_running_jobs_get_429_until_one_completes(org: Org) -> None:
    org.app.bulk.delay_s, org.app.bulk.max_active = 5, 2
    token = org.token()
    for _ in range(2):
        job_of(create(org, token, {"module": {"api_name": "Accounts"}}))
    refused = create(org, token, {"module": {"api_name": "Accounts"}})
    assert refused.status_code == 429 and refused.json()["code"] == "TOO_MANY_REQUESTS"
    org.clock.advance(5)
    job_of(create(org, token, {"module": {"api_name": "Accounts"}}))


def test_tokens_without_the_bulk_scope_or_expired_are_refused(org: Org) -> None:
    good = org.token()
    org.app.auth.scope = NO_BULK
    narrow = org.token()
    query = {"module": {"api_name": "Accounts"}}
    assert create(org, narrow, query).json()["code"] == "OAUTH_SCOPE_MISMATCH"
    assert org.api("GET", "/crm/bulk/v8/read/1", narrow).status_code == 401
    assert org.api("GET", "/crm/v8/Accounts/actions/count", narrow).json() == {"count": 230}  # REST unaffected
    assert create(org, good, query).status_code == 201
    org.app.expire_sessions()
    assert create(org, good, query).json()["code"] == "INVALID_TOKEN"


# ---------------------------------------------------------------- the client


def test_a_full_read_above_the_threshold_exports_in_pages_and_hands_rows_in_cursor_order(org: Org) -> None:
    org.app.bulk.per_page = 90  # three export jobs
    client = org.client(threshold=200, run_rows=17)  # many sorted runs to merge
    rows = read_all(client, spec())
    calls = org.calls()
    assert calls["POST bulk/read"] == 3 and calls["GET bulk/read/{job_id}/result"] == 3
    assert calls["GET Accounts/actions/count"] == 1
    assert calls["GET Accounts"] == 1  # the first page, which showed more: no other page, the export carried them all
    assert len(rows) == len({r["id"] for r in rows}) == 230
    assert [order_key(r) for r in rows] == sorted(order_key(r) for r in rows)
    client.close()


def test_below_the_threshold_or_turned_off_the_read_stays_on_coql(org: Org) -> None:
    for threshold in (231, 0):
        org.reset_calls()
        client = org.client(threshold=threshold)
        assert len(read_all(client, spec())) == 230
        calls = org.calls()
        assert not any(name.startswith(("POST bulk", "GET bulk")) for name in calls)
        assert calls.get("GET Accounts/actions/count", 0) == (1 if threshold else 0)
        client.close()


def test_polling_starts_at_half_a_second_and_backs_off(org: Org) -> None:
    org.app.bulk.delay_s = 20
    client = org.client(threshold=1)
    assert len(read_all(client, spec())) == 230
    assert org.waits[0] == 0.5 and all(b > a for a, b in zip(org.waits, org.waits[1:], strict=False))
    assert sum(org.waits) >= 20 and len(org.waits) == org.calls()["GET bulk/read/{job_id}"] - 1
    client.close()


def test_a_record_read_by_bulk_and_by_coql_maps_identically(org: Org) -> None:
    """CSV edge cases: commas, quotes, newlines, Chinese, empty cells, booleans, lookups, tags."""
    store = org.app.store
    accounts = sorted(store.records["Accounts"])
    odd = {
        accounts[0]: {"Account_Name": 'Acme, "the best", Inc.', "Industry": None, "Sanctions_Hit": True},
        accounts[1]: {"Account_Name": "上海远航物流有限公司", "Billing_Country": "中国", "Insolvency": False},
        accounts[2]: {"Account_Name": "Line one\nline two\r\nthree", "Audit_Opinion": "", "Credit_Limit": 1234.5},
        accounts[3]: {"Account_Name": "Ümlaut — ", "Bureau_Score": "0", "Disputes_12m": 0, "Statement_Date": None},
    }
    with store.lock:
        for rid, values in odd.items():
            store.records["Accounts"][rid].update(values)
        store.retag("Accounts", accounts[4], ["credit-watchlist", "vip"], over_write=False, add=True)
    coql = read_all(org.client(threshold=0), spec())
    bulk = read_all(org.client(threshold=1), spec())
    assert org.calls()["POST bulk/read"] == 1
    by_coql, by_bulk = {r["id"]: r for r in coql}, {r["id"]: r for r in bulk}
    assert by_coql.keys() == by_bulk.keys()
    assert by_bulk[accounts[0]]["Account_Name"] == 'Acme, "the best", Inc.'
    assert by_bulk[accounts[2]]["Account_Name"] == "Line one\nline two\r\nthree"
    assert by_bulk[accounts[1]]["Account_Name"] == "上海远航物流有限公司"
    assert by_bulk[accounts[0]]["Sanctions_Hit"] is True and by_bulk[accounts[1]]["Insolvency"] is False
    assert by_bulk[accounts[0]]["Industry"] is None and by_bulk[accounts[3]]["Bureau_Score"] == "0"
    assert by_bulk[accounts[3]]["Disputes_12m"] == 0 and by_bulk[accounts[3]]["Statement_Date"] is None
    assert by_bulk[accounts[2]]["Credit_Limit"] == 1234.5
    for rid, row in by_bulk.items():  # every plain value equal; lookups and tags by what the mapping reads
        other = by_coql[rid]
        assert row["Owner"]["id"] == other["Owner"]["id"]
        assert {t["name"] for t in row["Tag"] or []} == {t["name"] for t in other["Tag"] or []}
        plain = {k: v for k, v in row.items() if not isinstance(v, dict | list)}
        assert plain == {k: other[k] for k in plain} | {k: None for k in plain if other[k] == ""}
    assert {t["name"] for t in by_bulk[accounts[4]]["Tag"]} == {"credit-watchlist", "vip"}
    mapped_coql, issues_coql = map_rows(MAPPING, "accounts", coql)
    mapped_bulk, issues_bulk = map_rows(MAPPING, "accounts", bulk)
    assert sorted(mapped_bulk, key=lambda a: a.id) == sorted(mapped_coql, key=lambda a: a.id)
    assert sorted((i.record_id, i.reason) for i in issues_bulk) == sorted((i.record_id, i.reason) for i in issues_coql)


def test_deals_read_by_bulk_and_by_coql_map_identically(org: Org) -> None:
    coql = read_all(org.client(threshold=0), spec("deals"))
    bulk = read_all(org.client(threshold=1), spec("deals"))
    assert org.calls()["POST bulk/read"] == 1 and len(bulk) == 230
    mapped_coql, _ = map_rows(MAPPING, "deals", coql)
    mapped_bulk, _ = map_rows(MAPPING, "deals", bulk)
    assert sorted(mapped_bulk, key=lambda d: d.id) == sorted(mapped_coql, key=lambda d: d.id)


def test_records_edited_after_the_export_are_met_by_the_next_incremental_read(org: Org) -> None:
    client = org.client(threshold=1)
    edited: list[str] = []

    def edit_after_download(resp: requests.Response, *args: Any, **kwargs: Any) -> None:
        if resp.request.url and resp.request.url.endswith("/result") and not edited:
            org.clock.advance(5)
            edited.extend(org.app.touch("Accounts", 3))

    client._session.hooks["response"].append(edit_after_download)
    rows = read_all(client, spec())
    assert len(edited) == 3 and len(rows) == len({r["id"] for r in rows}) == 230  # the export's view, once each
    cursor = Cursor(order_key(rows[0])[0])
    for row in rows:  # as the engine advances it (the run's start is later than every stamp here)
        cursor = cursor.advance(order_key(row)[0], row["id"])
    org.reset_calls()
    again = [r for page in client.extract(spec(), cursor) for r in page.rows]
    latest = {r["id"]: r["Modified_Time"] for r in org.app.records("Accounts") or []}
    assert {r["id"]: r["Modified_Time"] for r in again} == {i: latest[i] for i in edited}
    assert not any("bulk" in name for name in org.calls())  # incremental reads never export


def test_a_download_cut_off_midway_is_fetched_again(org: Org) -> None:
    org.faults(drop={"every": 1, "times": 1, "path": "/result"})
    rows = read_all(org.client(threshold=1), spec())
    assert len(rows) == 230 and org.calls()["GET bulk/read/{job_id}/result"] == 2


def test_server_errors_and_rate_limits_on_the_bulk_calls_are_retried(org: Org) -> None:
    org.faults(error_500={"every": 2, "times": 2, "path": "/crm/bulk/"},
               rate_limit={"every": 3, "times": 1, "path": "/crm/bulk/"})
    rows = read_all(org.client(threshold=1), spec())
    assert len(rows) == 230 and org.calls()["POST bulk/read"] == 1  # a retried poll or download makes no new job
    assert len(org.waits) >= 3  # each retry waited through the injected wait


def test_too_many_jobs_is_retried_with_backoff(org: Org) -> None:
    org.app.bulk.delay_s, org.app.bulk.max_active = 1, 1
    job_of(create(org, org.token(), {"module": {"api_name": "Accounts"}}))  # someone else's job, running
    rows = read_all(org.client(threshold=1), spec())
    assert len(rows) == 230 and org.calls()["POST bulk/read"] >= 3  # ours refused at least once, then taken


def test_without_the_bulk_scope_the_backfill_fails_with_a_clear_error(org: Org) -> None:
    org.app.auth.scope = NO_BULK
    with pytest.raises(AuthError) as caught:
        read_all(org.client(threshold=1), spec())
    message = str(caught.value)
    assert "ZohoCRM.bulk.read" in message and "bulk_read_threshold = 0" in message
    assert org.client(threshold=0).extract(spec(), None) is not None
    assert len(read_all(org.client(threshold=0), spec())) == 230  # and COQL still works without it
