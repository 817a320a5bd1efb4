"""Bulk API 2.0 query: the sandbox's wire (job states, CSV pages by locator, errors) and the client's
backfill path over it (typed rows identical to the REST path, the threshold, the poll backoff).

No patching and no sleeping: the client's waits are recorded in a list.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.config import SalesforceConnection, load_config
from connector.crm.base import ObjectSpec, RetryPolicy
from connector.crm.salesforce import SalesforceClient
from connector.crm.sf_bulk_query import Backoff, BulkQuery, typed_row
from connector.errors import Fatal
from connector.sandbox import SandboxServer, running_sandbox
from connector.sandbox.client_config import write_config
from connector.state import StateStore
from connector.sync import Sync

ACCOUNTS = 320
API = "/services/data/v59.0"
FIELDS = ("Id", "Name", "OwnerId", "Owner.Name", "Description", "AnnualRevenue", "NumberOfEmployees",
          "Risk_Watchlist__c", "Sanctions_Hit__c", "Statement_Date__c", "Risk_Scored_At__c", "Risk_Score__c",
          "SystemModstamp")
ACCOUNT = ObjectSpec("accounts", "Account", "SystemModstamp", FIELDS, page_size=100)
NASTY = [  # (Name, Description): every CSV hazard once
    ("Comma, Quote \"and\" Co.", "line one\nline two, with \"quotes\""),
    ("北京华信科技有限公司", "Ünïcödé ✓ — emoji 🚀"),
    ("Trailing space ", None),
    ("CRLF Ltd", "a\r\nb"),
    ("\"Leading quote", "tab\there; pipe | caret ^"),
]


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with running_sandbox("salesforce", accounts=ACCOUNTS, deals_per_account=1, seed=23) as sb:
        yield sb





def client_for(creds: dict[str, Any], sleeps: list[float], threshold: int = 0, **kw: Any) -> SalesforceClient:
    conn = SalesforceConnection.model_validate({
        "crm": "salesforce", "instance_url": creds["instance_url"], "login_url": creds["login_url"],
        "auth": {"method": "jwt", "consumer_key": creds["consumer_key"], "username": creds["username"],
                 "private_key": creds["private_key"]},
        "api_reserve": 0, "bulk_query_threshold": threshold})
    return SalesforceClient(conn, policy=RetryPolicy(attempts=4, sleep=sleeps.append), bulk_wait=0, **kw)


def by_endpoint(sb: SandboxServer) -> dict[str, int]:
    data: dict[str, int] = requests.get(f"{sb.url}/__sandbox/calls", timeout=10).json()["by_endpoint"]
    return data


def reset_calls(sb: SandboxServer) -> None:
    requests.post(f"{sb.url}/__sandbox/calls/reset", timeout=10)


def create_job(wire: requests.Session, sb: SandboxServer, soql: str, **extra: Any) -> requests.Response:
    return wire.post(f"{sb.url}{API}/jobs/query", json={"operation": "query", "query": soql, **extra}, timeout=10)


def poll(wire: requests.Session, sb: SandboxServer, job_id: str) -> dict[str, Any]:
    info: dict[str, Any] = wire.get(f"{sb.url}{API}/jobs/query/{job_id}", timeout=10).json()
    return info


def add_nasty_accounts(wire: requests.Session, sb: SandboxServer) -> list[str]:
    records = [{"attributes": {"type": "Account"}, "Name": name, "Description": desc, "Risk_Watchlist__c": True,
                "Sanctions_Hit__c": False, "Risk_Score__c": 71.5, "NumberOfEmployees": 12}
               for name, desc in NASTY]
    made = wire.post(f"{sb.url}{API}/composite/sobjects", json={"records": records}, timeout=10).json()
    assert all(r["success"] for r in made), made
    return [r["id"] for r in made]


# -- the sandbox's wire -----------------------------------------------------------------------------


def test_query_job_states_and_locator_pages(sb: SandboxServer, wire: requests.Session) -> None:
    created = create_job(wire, sb, "SELECT Id, Name FROM Account ORDER BY Id")
    assert created.status_code == 200
    job = created.json()
    assert (job["state"], job["operation"], job["object"], job["id"][:3]) == ("UploadComplete", "query", "Account", "750")
    early = wire.get(f"{sb.url}{API}/jobs/query/{job['id']}/results", timeout=10)
    assert early.status_code == 400 and early.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    assert poll(wire, sb, job["id"])["state"] == "InProgress"
    done = poll(wire, sb, job["id"])
    assert (done["state"], done["numberRecordsProcessed"], done["jobType"]) == ("JobComplete", ACCOUNTS, "V2Query")

    ids: list[str] = []
    locator, pages = "", 0
    while True:
        params = {"maxRecords": "150", **({"locator": locator} if locator else {})}
        res = wire.get(f"{sb.url}{API}/jobs/query/{job['id']}/results", params=params, timeout=10)
        assert res.status_code == 200 and res.headers["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(res.content.decode("utf-8"), newline="")))
        assert rows[0] == ["Id", "Name"]  # a header on every page
        assert int(res.headers["Sforce-NumberOfRecords"]) == len(rows) - 1
        ids += [r[0] for r in rows[1:]]
        pages += 1
        locator = res.headers["Sforce-Locator"]
        if locator == "null":
            break
    assert pages == 3 and ids == sorted(ids) and len(set(ids)) == ACCOUNTS
    again = wire.get(f"{sb.url}{API}/jobs/query/{job['id']}/results", params={"maxRecords": "150"}, timeout=10)
    assert again.headers["Sforce-Locator"] != "null"  # a locator can be read again while the job exists
    assert wire.delete(f"{sb.url}{API}/jobs/query/{job['id']}", timeout=10).status_code == 204
    assert wire.get(f"{sb.url}{API}/jobs/query/{job['id']}", timeout=10).status_code == 404


@pytest.mark.parametrize("soql,code", [
    ("SELECT Id, NoSuchField__c FROM Account", "INVALID_FIELD"),
    ("SELECT Id FROM NoSuchObject", "INVALID_TYPE"),
    ("SELECT FROM Account", "MALFORMED_QUERY"),
])
def test_bad_soql_is_refused_at_create(sb: SandboxServer, wire: requests.Session, soql: str, code: str) -> None:
    res = create_job(wire, sb, soql)
    assert res.status_code == 400 and res.json()[0]["errorCode"] == code


def test_count_and_bad_locator_are_refused(sb: SandboxServer, wire: requests.Session) -> None:
    assert create_job(wire, sb, "SELECT COUNT() FROM Account").status_code == 400
    job = create_job(wire, sb, "SELECT Id FROM Account").json()
    poll(wire, sb, job["id"])
    poll(wire, sb, job["id"])
    bad = wire.get(f"{sb.url}{API}/jobs/query/{job['id']}/results", params={"locator": "@@"}, timeout=10)
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALIDLOCATOR"
    zero = wire.get(f"{sb.url}{API}/jobs/query/{job['id']}/results", params={"maxRecords": "-1"}, timeout=10)
    assert zero.status_code == 400


def test_abort_before_complete(sb: SandboxServer, wire: requests.Session) -> None:
    job = create_job(wire, sb, "SELECT Id FROM Account").json()
    aborted = wire.patch(f"{sb.url}{API}/jobs/query/{job['id']}", json={"state": "Aborted"}, timeout=10)
    assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
    assert poll(wire, sb, job["id"])["state"] == "Aborted"  # polling never revives it
    assert wire.get(f"{sb.url}{API}/jobs/query/{job['id']}/results", timeout=10).status_code == 400


def test_csv_cells_nulls_booleans_and_datetimes(sb: SandboxServer, wire: requests.Session) -> None:
    ids = add_nasty_accounts(wire, sb)
    soql = ("SELECT Id, Name, Description, Risk_Watchlist__c, Industry, SystemModstamp FROM Account "
            f"WHERE Id = '{ids[0]}'")
    job = create_job(wire, sb, soql).json()
    poll(wire, sb, job["id"])
    poll(wire, sb, job["id"])
    body = wire.get(f"{sb.url}{API}/jobs/query/{job['id']}/results", timeout=10).content.decode("utf-8")
    [header, row] = list(csv.reader(io.StringIO(body, newline="")))
    cells = dict(zip(header, row, strict=True))
    assert cells["Name"] == NASTY[0][0] and cells["Description"] == NASTY[0][1]
    assert cells["Risk_Watchlist__c"] == "true" and cells["Industry"] == ""
    assert cells["SystemModstamp"].endswith(".000Z") and "T" in cells["SystemModstamp"]
    assert body.startswith('"Id","Name"')  # RFC 4180, every cell quoted


# -- the client ------------------------------------------------------------------------------------


def rest_rows(client: SalesforceClient, soql: str) -> dict[str, dict[str, Any]]:
    return {r["Id"]: r for r in client.query_all("rest", soql)}


def test_bulk_rows_are_typed_like_rest_rows(sb: SandboxServer, creds: dict[str, Any],
                                            wire: requests.Session) -> None:
    ids = add_nasty_accounts(wire, sb)
    sleeps: list[float] = []
    client = client_for(creds, sleeps)
    soql = f"SELECT {', '.join(FIELDS)} FROM Account ORDER BY SystemModstamp, Id"
    rest = rest_rows(client, soql)
    pages = list(BulkQuery(client, page_records=97).rows(soql, client.field_types("Account")))
    bulk = [r for page in pages for r in page]
    assert len(pages) == -(-(ACCOUNTS + len(NASTY)) // 97) and all(len(p) <= 97 for p in pages)
    assert [r["Id"] for r in bulk] == list(rest)  # same rows, same order
    assert {r["Id"]: r for r in bulk} == rest  # and the same typed values, field by field
    nasty = {r["Id"]: r for r in bulk if r["Id"] in ids}
    assert [nasty[i]["Name"] for i in ids] == [n for n, _ in NASTY]
    assert nasty[ids[3]]["Description"] == "a\r\nb" and nasty[ids[2]]["Description"] is None
    assert nasty[ids[0]]["Risk_Watchlist__c"] is True and nasty[ids[0]]["Risk_Score__c"] == 71.5
    assert isinstance(nasty[ids[0]]["NumberOfEmployees"], int) and isinstance(nasty[ids[0]]["Owner"], dict)
    assert sleeps and sleeps[0] <= 0.5  # polled with a short first wait, never a fixed 2 s



def _split(n: int, size: int) -> list[int]:
    return [min(size, n - start) for start in range(0, n, size)]


def test_a_results_page_is_typed_a_batch_at_a_time(sb: SandboxServer, creds: dict[str, Any]) -> None:
    """A page of 97 rows comes out as batches of at most 40 (the engine's batch), in order, none lost: the
    rows of a 10,000-row page are never all held as dicts at once."""
    client = client_for(creds, [])
    soql = "SELECT Id, Name, SystemModstamp FROM Account ORDER BY SystemModstamp, Id"
    batches = list(BulkQuery(client, page_records=97, batch_records=40).rows(soql, client.field_types("Account")))
    pages = [97] * (ACCOUNTS // 97) + [ACCOUNTS % 97]  # 97, 97, 97, 29
    assert [len(b) for b in batches] == [size for page in pages for size in _split(page, 40)]  # 40, 40, 17, ...
    assert [r["Id"] for b in batches for r in b] == list(rest_rows(client, soql))

def test_typed_row_relationship_and_empty_parent() -> None:
    header = ["Id", "Owner.Name", "Owner.Email", "Amount", "IsWon", "CloseDate", "SystemModstamp"]
    types = {"amount": "currency", "iswon": "boolean", "closedate": "date", "systemmodstamp": "datetime"}
    row = typed_row(header, ["006A", "", "x@example.com", "1200", "false", "2026-01-02",
                             "2026-01-02T03:04:05.000Z"], types)
    assert row == {"Id": "006A", "Owner": {"Name": None, "Email": "x@example.com"}, "Amount": 1200.0, "IsWon": False,
                   "CloseDate": "2026-01-02", "SystemModstamp": "2026-01-02T03:04:05.000+0000"}
    assert typed_row(header[:3], ["006B", "", ""], types) == {"Id": "006B", "Owner": None}


def test_backoff_starts_short_and_is_capped() -> None:
    delays = Backoff(first=0.25, factor=2.0, cap=1.0).delays()
    assert [next(delays) for _ in range(5)] == [0.25, 0.5, 1.0, 1.0, 1.0]


def test_extract_above_threshold_reads_through_bulk(sb: SandboxServer, creds: dict[str, Any]) -> None:
    reset_calls(sb)
    rest = [r for page in client_for(creds, [], threshold=0).extract(ACCOUNT, None) for r in page.rows]
    assert not any("jobs/query" in e for e in by_endpoint(sb))
    reset_calls(sb)
    sleeps: list[float] = []
    client = client_for(creds, sleeps, threshold=ACCOUNTS, bulk_query_page=150)
    pages = list(client.extract(ACCOUNT, None))
    bulk = [r for page in pages for r in page.rows]
    assert bulk == rest and all(len(p.rows) <= ACCOUNT.page_size for p in pages)
    calls = by_endpoint(sb)
    assert calls["POST jobs/query"] == 1 and calls["GET jobs/query/{id}"] == 2
    assert calls["GET jobs/query/{id}/results"] == 3  # 320 rows by 150
    assert sleeps == [0.25]  # one InProgress poll, then done


def test_threshold_not_reached_or_incremental_stays_on_rest(sb: SandboxServer, creds: dict[str, Any]) -> None:
    reset_calls(sb)
    client = client_for(creds, [], threshold=ACCOUNTS + 1)
    assert sum(len(p.rows) for p in client.extract(ACCOUNT, None)) == ACCOUNTS
    assert not any("jobs/query" in e for e in by_endpoint(sb))


def test_failed_job_is_fatal(sb: SandboxServer, creds: dict[str, Any], wire: requests.Session) -> None:
    client = client_for(creds, [])
    query = BulkQuery(client, max_polls=1)
    with pytest.raises(Fatal) as exc:  # never complete after one poll: a clear timeout, and the job aborted
        list(query.rows("SELECT Id FROM Account", {}))
    assert exc.value.code == "BULK_QUERY_TIMEOUT"
    assert query.job_id is not None and poll(wire, sb, query.job_id)["state"] == "Aborted"


# -- the engine over it ----------------------------------------------------------------------------


def _full_sync(tmp: Path, threshold: int) -> tuple[dict[str, Any], dict[str, int], list[float]]:
    """A first (full) sync of a fresh org; what it stored, the sandbox's call log, and the client's waits."""
    with running_sandbox("salesforce", accounts=140, deals_per_account=2, seed=31) as sb:
        creds = requests.get(f"{sb.url}/__sandbox/credentials", timeout=10).json()
        path = write_config(tmp / "config.toml", "salesforce", creds)
        text = path.read_text(encoding="utf-8")
        assert 'crm = "salesforce"\n' in text
        path.write_text(text.replace('crm = "salesforce"\n', f'crm = "salesforce"\nbulk_query_threshold = {threshold}\n',
                                     1), encoding="utf-8")
        config = load_config(path)
        sleeps: list[float] = []
        report = Sync(config, policy=RetryPolicy(attempts=4, sleep=sleeps.append)).run()
        assert report.status == "success", report.failures
        records = {obj: requests.get(f"{sb.url}/__sandbox/records/{obj}", timeout=30).json()["records"]
                   for obj in ("Account", "Opportunity", "Task")}
        calls = by_endpoint(sb)
    store = StateStore(config.state_url)
    ids = {obj: [r["Id"] for r in rows] for obj, rows in records.items()}
    assessed = {obj: {i: (a.score, a.tier, a.pd, a.inputs_hash, a.override_until, a.detail)
                      for i, a in store.assessments("default", kind, ids[obj]).items()}
                for kind, obj in (("accounts", "Account"), ("deals", "Opportunity"))}
    deals = sorted((d.id, d.modstamp, repr(d.values), repr({k: v for k, v in d.current.items() if k != "scored_at"}))
                   for d in store.deals_for_accounts("default", ids["Account"]))  # scored_at: the run's clock
    written = {obj: [{k: v for k, v in r.items() if k.startswith("Risk_") and k != "Risk_Scored_At__c"} for r in rows]
               for obj, rows in records.items() if obj != "Task"}
    tasks = sorted((t["WhatId"], t["Subject"], t["Riskbridge_Key__c"]) for t in records["Task"] if t["Riskbridge_Key__c"])
    return {"assessed": assessed, "deals": deals, "written": written, "tasks": tasks,
            "cursors": {k: store.cursor("default", k) for k in ("accounts", "deals")}}, calls, sleeps


def test_backfill_above_threshold_reads_through_bulk_and_stores_what_rest_stores(tmp_path: Path) -> None:
    rest, rest_calls, _ = _full_sync(tmp_path / "rest", 0)
    bulk, bulk_calls, sleeps = _full_sync(tmp_path / "bulk", 100)
    assert not any("jobs/query" in e for e in rest_calls)
    assert bulk_calls["POST jobs/query"] == 2  # one job each for Account (140) and Opportunity (280)
    assert bulk_calls["GET jobs/query/{id}/results"] == 2 and bulk_calls["GET jobs/query/{id}"] == 4
    assert sleeps and max(sleeps) <= 0.5
    assert rest["assessed"]["Account"] and rest["deals"] and rest["tasks"]
    assert bulk == rest
