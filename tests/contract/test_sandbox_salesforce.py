"""Contract tests of the Salesforce sandbox, driven over loopback HTTP by the real simple-salesforce client.

Each test logs in the way a client does (credentials from `/__sandbox/credentials`, then SOAP, JWT,
client-credentials or password login through a `requests` session whose adapter reaches the loopback
URL). Faults fire on exact call counts, so nothing sleeps. Response shapes are checked against the real
recordings in `shared/fixtures/salesforce/`.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from connector.crm.transport import session_for
from connector.sandbox import FaultSpec, SandboxServer, Trigger, running_sandbox

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "salesforce"
ACCOUNTS = 300
API = "/services/data/v59.0"
Http = Callable[[], requests.Session]


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with running_sandbox("salesforce", accounts=ACCOUNTS, deals_per_account=2, seed=5) as sb:
        yield sb




@pytest.fixture()
def http(sb: SandboxServer) -> Iterator[Callable[[], requests.Session]]:
    """Sessions whose https traffic reaches the sandbox (as the connector builds them), closed afterwards."""
    made: list[requests.Session] = []

    def new() -> requests.Session:
        made.append(session_for(sb.url))
        return made[-1]
    yield new
    for session in made:
        session.close()


@pytest.fixture()
def sf(creds: dict[str, Any], http: Callable[[], requests.Session]) -> Salesforce:
    """simple-salesforce logged in through SOAP login() with username, password and security token."""
    return Salesforce(username=creds["username"], password=creds["password"], security_token=creds["security_token"],
                      session=http(), domain="login")



def inspect(sb: SandboxServer, what: str) -> Any:
    return requests.get(f"{sb.url}/__sandbox/{what}", timeout=10).json()


def records(sb: SandboxServer, obj: str) -> dict[str, dict[str, Any]]:
    return {r["Id"]: r for r in inspect(sb, f"records/{obj}")["records"]}


def faults(sb: SandboxServer, **spec: Any) -> None:
    requests.post(f"{sb.url}/__sandbox/faults", json=FaultSpec(**spec).model_dump(exclude_none=True),
                  timeout=10).raise_for_status()


def account_ids(sf: Salesforce, n: int) -> list[str]:
    return [r["Id"] for r in sf.query(f"SELECT Id FROM Account ORDER BY Id LIMIT {n}")["records"]]


def fixture(name: str) -> list[dict[str, Any]]:
    if not FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    data: list[dict[str, Any]] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def shape(value: Any) -> Any:
    """Key sets and JSON types, recursively (lists by their first element)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return "number" if isinstance(value, int | float) and not isinstance(value, bool) else type(value).__name__


# -- login ----------------------------------------------------------------------------------------------


def test_soap_login_and_refused_login(sb: SandboxServer, sf: Salesforce, creds: dict[str, Any], http: Http) -> None:
    assert sf.sf_instance == sb.url.removeprefix("http://")
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == ACCOUNTS
    with pytest.raises(SalesforceAuthenticationFailed) as info:
        Salesforce(username=creds["username"], password="wrong", security_token=creds["security_token"],
                   session=http(), domain="login")
    assert info.value.code == "INVALID_LOGIN"


def test_jwt_bearer_login_checks_the_signature(sb: SandboxServer, creds: dict[str, Any], http: Http) -> None:
    sf = Salesforce(username=creds["username"], consumer_key=creds["consumer_key"], privatekey=creds["private_key"],
                    session=http())
    assert sf.query("SELECT Id FROM User WHERE IsActive = true")["totalSize"] == 9
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with pytest.raises(SalesforceAuthenticationFailed) as info:
        Salesforce(username=creds["username"], consumer_key=creds["consumer_key"], privatekey=other,
                   session=http())
    assert info.value.code == "invalid_grant"
    with pytest.raises(SalesforceAuthenticationFailed) as info:
        Salesforce(username="someone@else.example.com", consumer_key=creds["consumer_key"],
                   privatekey=creds["private_key"], session=http())
    assert (info.value.code, info.value.content) == ("invalid_grant", b"authentication failure")


def test_client_credentials_login(sb: SandboxServer, creds: dict[str, Any], http: Http) -> None:
    sf = Salesforce(consumer_key=creds["consumer_key"], consumer_secret=creds["consumer_secret"], domain="acme.my",
                    session=http())
    assert sf.query("SELECT Id FROM Opportunity LIMIT 1")["totalSize"] == 1
    with pytest.raises(SalesforceAuthenticationFailed):
        Salesforce(consumer_key=creds["consumer_key"], consumer_secret="nope", domain="acme.my",
                   session=http())


def test_password_grant_token_response(sb: SandboxServer, creds: dict[str, Any], http: Http) -> None:
    sf = Salesforce(username=creds["username"], password=creds["password"] + creds["security_token"],
                    consumer_key=creds["consumer_key"], consumer_secret=creds["consumer_secret"],
                    session=http())
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
    form = {"grant_type": "password", "client_id": creds["consumer_key"], "client_secret": creds["consumer_secret"],
            "username": creds["username"], "password": creds["password"]}
    ok = requests.post(f"{sb.url}/services/oauth2/token", data=form, timeout=10).json()
    assert set(ok) == {"access_token", "instance_url", "id", "token_type", "issued_at", "signature", "scope"}
    assert ok["instance_url"] == sb.url and ok["token_type"] == "Bearer" and ok["issued_at"].isdigit()
    bad = requests.post(f"{sb.url}/services/oauth2/token", data={**form, "password": "x"}, timeout=10)
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_grant", "error_description": "authentication failure"}


def test_expired_session_gives_401_and_simple_salesforce_logs_in_again(sb: SandboxServer, sf: Salesforce,
                                                                      wire: requests.Session) -> None:
    faults(sb, session_expiry_after=3)
    for _ in range(4):  # each expiry costs a 401, a SOAP login and the retried call
        assert sf.query("SELECT Id FROM Account LIMIT 2")["totalSize"] == 2
    by_endpoint = inspect(sb, "calls")["by_endpoint"]
    assert by_endpoint["POST Soap/u/59.0"] >= 2
    old = wire.get(f"{sb.url}{API}/limits/", timeout=10)
    assert old.status_code == 401
    assert old.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


# -- query ----------------------------------------------------------------------------------------------


def test_query_all_iter_follows_next_records_url_with_batch_size(sb: SandboxServer, sf: Salesforce,
                                                                 wire: requests.Session) -> None:
    rows = list(sf.query_all_iter("SELECT Id, Name, SystemModstamp FROM Account ORDER BY SystemModstamp, Id",
                                  headers={"Sforce-Query-Options": "batchSize=200"}))
    assert len(rows) == len({r["Id"] for r in rows}) == ACCOUNTS
    assert [(r["SystemModstamp"], r["Id"]) for r in rows] == sorted((r["SystemModstamp"], r["Id"]) for r in rows)
    assert inspect(sb, "calls")["by_endpoint"]["GET query/{locator}"] == 1
    first = wire.get(f"{sb.url}{API}/query/", params={"q": "SELECT Id FROM Account"},
                     headers={"Sforce-Query-Options": "batchSize=250"}, timeout=10).json()
    assert (first["totalSize"], first["done"], len(first["records"])) == (ACCOUNTS, False, 250)
    assert re.fullmatch(r"/services/data/v59\.0/query/01g\w{15}-250", first["nextRecordsUrl"])
    last = wire.get(f"{sb.url}{first['nextRecordsUrl']}", timeout=10).json()
    assert (last["done"], len(last["records"]), "nextRecordsUrl" in last) == (True, 50, False)
    gone = wire.get(f"{sb.url}{API}/query/01gXXXXXXXXXXXXXXX-200", timeout=10)
    assert gone.status_code == 400 and gone.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_incremental_query_with_id_tie_break(sb: SandboxServer, sf: Salesforce) -> None:
    ids = account_ids(sf, 5)
    rows = [{"attributes": {"type": "Account"}, "id": i, "Risk_Score__c": 1} for i in ids]
    body = {"allOrNone": True, "records": rows}
    sf.restful("composite/sobjects", method="PATCH", json=body)
    tied = sf.query(format_soql("SELECT Id, SystemModstamp FROM Account WHERE Id IN {} ORDER BY Id", ids))["records"]
    assert len({r["SystemModstamp"] for r in tied}) == 1  # one DML statement, one stamp
    stamp = datetime.strptime(tied[0]["SystemModstamp"], "%Y-%m-%dT%H:%M:%S.%f%z")
    soql = format_soql("SELECT Id FROM Account WHERE (SystemModstamp = {ts} AND Id > {last}) OR SystemModstamp > {ts} "
                       "ORDER BY SystemModstamp, Id", ts=stamp, last=ids[1])
    assert "+00:00" in soql  # format_soql's rendering of an aware datetime
    assert [r["Id"] for r in sf.query_all(soql)["records"]] == ids[2:]
    assert sf.query(format_soql("SELECT COUNT() FROM Account WHERE SystemModstamp >= {}", stamp))["totalSize"] == 5


def test_soql_subset(sf: Salesforce) -> None:
    q = sf.query_all
    all_opps = q("SELECT Id, Name, Amount, StageName, IsClosed, CloseDate, Account.Name FROM Opportunity")["records"]
    assert len(all_opps) == 2 * ACCOUNTS and all(isinstance(o["Account"]["Name"], str) for o in all_opps)
    big = q("SELECT Id FROM Opportunity WHERE Amount >= 100000 AND (StageName = 'closed won' OR IsClosed = false)")
    expected = [o for o in all_opps if (o["Amount"] or 0) >= 100000 and (o["StageName"] == "Closed Won"
                                                                           or not o["IsClosed"])]
    assert big["totalSize"] == len(expected) > 0
    stages = q("SELECT Id FROM Opportunity WHERE StageName IN ('Prospecting', 'Qualification') LIMIT 7")
    assert stages["totalSize"] == 7
    nulls = q("SELECT Id FROM Opportunity WHERE Amount = null")["totalSize"]
    assert nulls == sum(o["Amount"] is None for o in all_opps)
    pivot = sorted(o["CloseDate"] for o in all_opps)[ACCOUNTS]
    dated = q(f"SELECT Id FROM Opportunity WHERE CloseDate < {pivot} OR Name LIKE '%\\'%'")["totalSize"]
    assert dated == sum(o["CloseDate"] < pivot or "'" in o["Name"] for o in all_opps) >= ACCOUNTS // 2
    desc = q("SELECT Amount FROM Opportunity WHERE Amount != null ORDER BY Amount DESC NULLS LAST LIMIT 3")["records"]
    assert [r["Amount"] for r in desc] == sorted((o["Amount"] for o in all_opps if o["Amount"]), reverse=True)[:3]
    lower = q("select id, NAME from account where name != null limit 1")["records"][0]
    assert list(lower) == ["attributes", "Id", "Name"]  # names come back in their API spelling


@pytest.mark.parametrize("soql,code,text", [
    ("SELECT Id, Foo__c FROM Account", "INVALID_FIELD", "No such column 'Foo__c' on entity 'Account'"),
    ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY", "unexpected token"),
    ("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'", "MALFORMED_QUERY",
     "unexpected token: 'OR'"),
    ("SELECT Id FROM Xyzzy", "INVALID_TYPE", "sObject type 'Xyzzy' is not supported"),
    ("SELECT Id FROM Account WHERE SystemModstamp > '2024-01-01T00:00:00Z'", "INVALID_QUERY_FILTER_OPERATOR",
     "must be of type dateTime"),
    ("SELECT Id FROM Account WHERE Risk_Reasons__c = 'x'", "INVALID_FIELD", "can not be filtered"),
], ids=["invalid-field", "malformed", "and-or", "invalid-type", "quoted-datetime", "long-text-filter"])
def test_query_errors_have_the_real_shape(sf: Salesforce, soql: str, code: str, text: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query(soql)
    assert info.value.status == 400
    [err] = info.value.content
    assert set(err) == {"message", "errorCode"} and err["errorCode"] == code and text in err["message"]
    assert "ERROR at Row:1:Column:" in err["message"]


def test_query_all_sees_deleted_rows(sf: Salesforce) -> None:
    [victim] = account_ids(sf, 1)
    assert sf.Account.delete(victim) == 204
    assert sf.query(format_soql("SELECT Id FROM Account WHERE Id = {}", victim))["totalSize"] == 0
    gone = sf.query_all(format_soql("SELECT Id, IsDeleted FROM Account WHERE Id = {}", victim), include_deleted=True)
    assert gone["records"][0]["IsDeleted"] is True


# -- describe, limits -------------------------------------------------------------------------------------


def test_describe_and_if_modified_since(sf: Salesforce) -> None:
    account = sf.Account.describe()
    fields = {f["name"]: f for f in account["fields"]}
    tier = fields["Risk_Tier__c"]
    assert tier["custom"] and tier["restrictedPicklist"] and tier["updateable"]
    assert [p["value"] for p in tier["picklistValues"]] == ["low", "medium", "high", "critical"]
    assert fields["SystemModstamp"]["type"] == "datetime" and not fields["SystemModstamp"]["updateable"]
    assert all(f["custom"] == f["name"].endswith("__c") for f in fields.values())
    task = {f["name"]: f for f in sf.Task.describe()["fields"]}
    key = task["Riskbridge_Key__c"]
    assert key["externalId"] and key["unique"] and key["length"] == 120 and task["IsClosed"]["updateable"] is False
    assert {s["name"] for s in sf.describe()["sobjects"]} >= {"Account", "Opportunity", "Task", "User", "Topic",
                                                              "TopicAssignment"}
    with pytest.raises(SalesforceGeneralError) as info:
        sf.Account.describe(headers={"If-Modified-Since": "Wed, 01 Jan 2098 00:00:00 GMT"})
    assert info.value.status == 304
    old = sf.session.get(f"{sf.base_url}sobjects/Account/describe", timeout=10,
                         headers={**sf.headers, "If-Modified-Since": "Wed, 3 Jul 2013 19:43:31 GMT"})
    assert old.status_code == 200


def test_limit_info_header_and_limits(sb: SandboxServer, sf: Salesforce, wire: requests.Session) -> None:
    faults(sb, quota_after=5000)
    sf.query("SELECT Id FROM Account LIMIT 1")
    assert sf.api_usage["api-usage"].used == 1 and sf.api_usage["api-usage"].total == 5000
    res = wire.get(f"{sb.url}{API}/sobjects/Account/describe", timeout=10)
    assert res.headers["Sforce-Limit-Info"] == "api-usage=2/5000"
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {"Max": 5000, "Remaining": 4997}
    versions = requests.get(f"{sb.url}/services/data/", timeout=10)
    assert "Sforce-Limit-Info" not in versions.headers and {"version": "59.0"}.items() <= versions.json()[7].items()


# -- writes ----------------------------------------------------------------------------------------------


def test_composite_update_reports_each_record_in_order(sb: SandboxServer, sf: Salesforce) -> None:
    ids = account_ids(sf, 6)
    faults(sb, record_errors={ids[1]: "UNABLE_TO_LOCK_ROW", ids[3]: "FIELD_CUSTOM_VALIDATION_EXCEPTION"})
    before = records(sb, "Account")
    rows = [{"attributes": {"type": "Account"}, "Id" if n % 2 else "id": i, "risk_score__c": "72.5",
             "Risk_Tier__c": "high"} for n, i in enumerate(ids)]
    rows[5]["Risk_Tier__c"] = "extreme"
    result = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": rows})
    assert [r["success"] for r in result] == [True, False, True, False, True, False]
    assert [r["errors"][0]["statusCode"] for r in result if not r["success"]] == [
        "UNABLE_TO_LOCK_ROW", "FIELD_CUSTOM_VALIDATION_EXCEPTION", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"]
    assert result[5]["errors"][0]["fields"] == ["Risk_Tier__c"]
    after = records(sb, "Account")
    user = requests.get(f"{sb.url}/__sandbox/credentials", timeout=10).json()["user_id"]
    for n, i in enumerate(ids):
        if result[n]["success"]:
            assert after[i]["Risk_Score__c"] == 72.5 and after[i]["LastModifiedById"] == user
            assert after[i]["SystemModstamp"] > before[i]["SystemModstamp"] == before[i]["LastModifiedDate"]
        else:
            assert after[i] == before[i]


def test_all_or_none_rolls_back_and_201_records_are_refused(sb: SandboxServer, sf: Salesforce) -> None:
    ids = account_ids(sf, 3)
    before = records(sb, "Account")
    rows = [{"attributes": {"type": "Account"}, "id": i, "Risk_Score__c": 9} for i in ids]
    rows[1]["SystemModstamp"] = "2024-01-01T00:00:00Z"
    result = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": rows})
    assert [r["errors"][0]["statusCode"] for r in result] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK", "INVALID_FIELD_FOR_INSERT_UPDATE", "ALL_OR_NONE_OPERATION_ROLLED_BACK"]
    assert records(sb, "Account") == before
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful("composite/sobjects", method="PATCH", json={"records": rows[:1] * 201})
    assert info.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful("composite/sobjects", method="PATCH", json={"records": [{**rows[0], "Nope__c": 1}]})
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_single_record_crud_status_codes(sb: SandboxServer, sf: Salesforce) -> None:
    created = sf.Account.create({"Name": "Probe Ltd", "Risk_Watchlist__c": True})
    assert set(created) == {"id", "success", "errors"} and created["id"].startswith("001")
    assert sf.Account.update(created["id"], {"AnnualRevenue": "1250000"}) == 204
    row = sf.Account.get(created["id"])
    assert row["AnnualRevenue"] == 1250000.0 and row["Risk_Watchlist__c"] is True and row["Risk_Score__c"] is None
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Account.update(created["id"], {"Name": None})
    assert info.value.content == [{"message": "Required fields are missing: [Name]",
                                   "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["Name"]}]
    assert sf.Account.delete(created["id"]) == 204
    res = sf.session.get(f"{sf.base_url}sobjects/Account/{created['id']}", headers=sf.headers, timeout=10)
    assert res.status_code == 404 and res.json()[0]["errorCode"] == "NOT_FOUND"


def test_task_upsert_by_external_id(sb: SandboxServer, sf: Salesforce) -> None:
    [account] = account_ids(sf, 1)
    body = {"Subject": "Review credit terms", "WhatId": account, "Priority": "High", "ActivityDate": "2030-01-31"}
    assert sf.Task.upsert("Riskbridge_Key__c/rb:1:tier:2030-01", body) == 201
    assert sf.Task.upsert("Riskbridge_Key__c/rb:1:tier:2030-01", {**body, "Status": "Completed"}) == 200
    task = sf.Task.get_by_custom_id("Riskbridge_Key__c", "rb:1:tier:2030-01")
    assert (task["IsClosed"], task["AccountId"], task["OwnerId"][:3]) == (True, account, "005")
    batch = [{"attributes": {"type": "Task"}, "Riskbridge_Key__c": k, "Subject": "s", "WhatId": account}
             for k in ("rb:1:tier:2030-01", "rb:2", "rb:3")]
    result = sf.restful("composite/sobjects/Task/Riskbridge_Key__c", method="PATCH",
                        json={"allOrNone": False, "records": batch})
    assert [(r["success"], r["created"]) for r in result] == [(True, False), (True, True), (True, True)]
    assert len([t for t in records(sb, "Task").values() if (t["Riskbridge_Key__c"] or "").startswith("rb:")]) == 3
    clash = sf.restful("composite/sobjects", method="POST",
                       json={"records": [{**batch[1], "Riskbridge_Key__c": "RB:2"}]})
    assert clash[0]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"


def test_bulk2_update_with_failed_rows(sb: SandboxServer, sf: Salesforce) -> None:
    ids = account_ids(sf, 5)
    faults(sb, record_errors={ids[2]: "UNABLE_TO_LOCK_ROW"})
    sf.Account.update(ids[0], {"Risk_Reasons__c": "old", "Risk_Score__c": 5})
    rows = [{"Id": i, "Risk_Score__c": "", "Risk_Reasons__c": "#N/A", "Risk_Tier__c": "high"} for i in ids]
    rows[4]["Risk_Tier__c"] = "nope"
    [job] = sf.bulk2.Account.update(records=rows, wait=0)
    assert (job["numberRecordsProcessed"], job["numberRecordsFailed"], job["numberRecordsTotal"]) == (5, 2, 5)
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Account.get_failed_records(job["job_id"]))))
    assert sorted((r["sf__Id"], r["sf__Error"].split(":")[0]) for r in failed) == sorted(
        [(ids[2], "UNABLE_TO_LOCK_ROW"), (ids[4], "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")])
    done = sf.bulk2.Account.get_all_ingest_records(job["job_id"])
    assert {r["sf__Id"] for r in done["successfulRecords"]} == {ids[0], ids[1], ids[3]}
    assert all(r["sf__Created"] == "false" for r in done["successfulRecords"]) and done["unprocessedRecords"] == []
    after = records(sb, "Account")
    assert after[ids[0]]["Risk_Reasons__c"] is None and after[ids[0]]["Risk_Score__c"] == 5.0  # '#N/A' vs empty
    assert after[ids[2]]["Risk_Tier__c"] is None and after[ids[3]]["Risk_Tier__c"] == "high"
    routes = {p: sf.session.get(f"{sf.bulk2_url}ingest/{job['job_id']}/{p}", headers=sf.headers, timeout=10).status_code
              for p in ("successfulResults/", "FAILEDRESULTS", "unprocessedrecords/")}
    assert set(routes.values()) == {200}


def test_bulk2_query_pages_with_locator(sb: SandboxServer, sf: Salesforce) -> None:
    pages = list(sf.bulk2.Account.query("SELECT Id, Name, Sanctions_Hit__c FROM Account", max_records=120, wait=0))
    rows = [r for page in pages for r in csv.DictReader(io.StringIO(page))]
    assert len(pages) == 3 and len(rows) == len({r["Id"] for r in rows}) == ACCOUNTS
    assert {r["Sanctions_Hit__c"] for r in rows} <= {"true", "false"}
    assert inspect(sb, "calls")["by_endpoint"]["GET jobs/query/{id}/results"] == 3


def test_topics_as_watchlist_tags(sb: SandboxServer, sf: Salesforce) -> None:
    ids = account_ids(sf, 2)
    [topic] = sf.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "Topic"}, "Name": "credit-watchlist"}]})
    links = [{"attributes": {"type": "TopicAssignment"}, "TopicId": topic["id"], "EntityId": i} for i in ids]
    made = sf.restful("composite/sobjects", method="POST", json={"records": links})
    assert all(r["success"] for r in made)
    again = sf.restful("composite/sobjects", method="POST", json={"records": links[:1]})
    assert again[0]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    no_update = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "TopicAssignment"}, "id": made[0]["id"], "EntityId": ids[1]}]})
    assert no_update[0]["success"] is False
    found = sf.query(format_soql("SELECT Id, EntityId, Topic.Name FROM TopicAssignment WHERE EntityId IN {}", ids))
    assert {(r["EntityId"], r["Topic"]["Name"]) for r in found["records"]} == {(i, "credit-watchlist") for i in ids}
    assert records(sb, "Account")[ids[0]]["_topics"] == ["credit-watchlist"]
    assert "credit-watchlist" in requests.get(f"{sb.url}/accounts/{ids[0]}", timeout=10).text
    gone = sf.restful(f"composite/sobjects?ids={made[0]['id']}&allOrNone=true", method="DELETE")
    assert gone == [{"id": made[0]["id"], "success": True, "errors": []}]
    assert [a["EntityId"] for a in records(sb, "TopicAssignment").values()] == [ids[1]]


# -- faults ----------------------------------------------------------------------------------------------


def test_every_fault_kind_has_its_wire_response(sb: SandboxServer, wire: requests.Session) -> None:
    url = f"{sb.url}{API}/query/?q=SELECT+Id+FROM+Account+LIMIT+1"
    faults(sb, rate_limit=Trigger(every=1, times=1))
    res = wire.get(url, timeout=10)
    assert res.status_code == 403 and res.json() == [{"message": "ConcurrentPerOrgLongTxn Limit exceeded.",
                                                      "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    assert wire.get(url, timeout=10).status_code == 200
    faults(sb, error_500=Trigger(every=1, times=1))
    res = wire.get(url, timeout=10)
    assert res.status_code == 500 and res.json()[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    faults(sb, error_503=Trigger(every=1, times=1))
    res = wire.get(url, timeout=10)
    assert res.status_code == 503 and res.headers["Content-Type"].startswith("text/html")
    faults(sb, drop=Trigger(every=1, times=1))
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        wire.get(url, timeout=10)
    faults(sb, quota_after=1)
    assert wire.get(url, timeout=10).status_code == 200
    res = wire.get(url, timeout=10)
    assert res.status_code == 403 and res.json() == [{"message": "TotalRequests Limit exceeded.",
                                                      "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    assert res.headers["Sforce-Limit-Info"] == "api-usage=2/1"
    faults(sb, latency_ms=60)
    started = time.perf_counter()
    assert wire.get(url, timeout=10).status_code == 200
    assert time.perf_counter() - started >= 0.06


def test_refused_request_raises_in_simple_salesforce(sb: SandboxServer, sf: Salesforce) -> None:
    faults(sb, rate_limit=Trigger(every=1, times=1, path="/query"))
    with pytest.raises(SalesforceRefusedRequest) as info:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert info.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


# -- inspection, view, data -------------------------------------------------------------------------------


def test_inspection_api(sb: SandboxServer, sf: Salesforce) -> None:
    assert len(records(sb, "Account")) == ACCOUNTS and requests.get(f"{sb.url}/__sandbox/records/Nope",
                                                                    timeout=10).status_code == 404
    calls = inspect(sb, "calls")
    assert calls["total"] == calls["reads"] == 1 and calls["by_endpoint"] == {"POST Soap/u/59.0": 1}
    newest = max(r["SystemModstamp"] for r in records(sb, "Account").values())
    [i] = account_ids(sf, 1)
    sf.Account.update(i, {"Risk_Score__c": 3})
    calls = inspect(sb, "calls")
    assert (calls["total"], calls["reads"], calls["writes"]) == (3, 2, 1)
    assert calls["by_endpoint"]["PATCH sobjects/Account/{id}"] == 1
    assert requests.delete(f"{sb.url}/__sandbox/calls", timeout=10).json()["total"] == 0
    touched, second = (requests.post(f"{sb.url}/__sandbox/touch", json={"object": "Account", "count": 4},
                                     timeout=10).json()["ids"] for _ in range(2))
    assert len(set(touched) | set(second)) == 8
    since = datetime.strptime(newest, "%Y-%m-%dT%H:%M:%S.%f%z")
    fresh = sf.query_all(format_soql("SELECT Id, LastModifiedById FROM Account WHERE SystemModstamp > {}", since))
    assert {r["Id"] for r in fresh["records"]} == set(touched) | set(second) | {i}
    humans = {u["Id"] for u in records(sb, "User").values() if u["Username"] != sf_username(sb)}
    assert all(r["LastModifiedById"] in humans for r in fresh["records"] if r["Id"] != i)
    assert requests.post(f"{sb.url}/__sandbox/reset", timeout=10).json() == {"reset": True}
    assert records(sb, "Account")[i]["Risk_Score__c"] is None


def sf_username(sb: SandboxServer) -> str:
    name: str = inspect(sb, "credentials")["username"]
    return name


def test_html_view_renders(sb: SandboxServer, sf: Salesforce) -> None:
    [i] = account_ids(sf, 1)
    sf.Account.update(i, {"Risk_Score__c": 99, "Risk_Tier__c": "critical", "Risk_Reasons__c": "Sanctions hit\nMore"})
    page = requests.get(f"{sb.url}/", timeout=10)
    assert page.status_code == 200 and "critical" in page.text and "Sanctions hit · More" in page.text
    detail = requests.get(f"{sb.url}/accounts/{i}", timeout=10).text
    deals = [d for d in records(sb, "Opportunity").values() if d["AccountId"] == i]
    assert len(deals) == 2 and all(html.escape(d["Name"][:20]) in detail for d in deals)
    assert html.escape(records(sb, "Account")[i]["Name"][:10]) in detail
    assert requests.get(f"{sb.url}/accounts/001000000000000AAA", timeout=10).status_code == 404


def test_generated_org_is_deterministic_and_realistic() -> None:
    with running_sandbox("salesforce", accounts=400, seed=9) as a, \
            running_sandbox("salesforce", accounts=400, seed=9) as b, \
            running_sandbox("salesforce", accounts=400, seed=10) as c:
        accounts = records(a, "Account")
        assert accounts == records(b, "Account") and records(a, "Task") == records(b, "Task")
        assert inspect(a, "credentials")["private_key"] == inspect(b, "credentials")["private_key"]
        assert [r["Name"] for r in accounts.values()] != [r["Name"] for r in records(c, "Account").values()]
    rows = list(accounts.values())
    assert all(r["Id"].startswith("001") and len(r["Id"]) == 18 for r in rows)
    assert all(r["Risk_Score__c"] is None and r["Risk_Watchlist__c"] is False for r in rows)
    overrides = [r for r in rows if r["Risk_Override_Tier__c"]]
    assert 1 <= len(overrides) <= 12 and all(r["Risk_Override_Until__c"] and r["Risk_Override_Reason__c"]
                                             for r in overrides)


# -- shapes against the recordings -------------------------------------------------------------------------


def test_query_page_matches_the_recorded_chain(sb: SandboxServer, wire: requests.Session) -> None:
    recorded = fixture("nango_salesforce_query_nextRecordsUrl_3pages.json")
    soql = "SELECT Id, Name, Description, LastModifiedDate, CreatedDate FROM Account ORDER BY LastModifiedDate ASC"
    first = wire.get(f"{sb.url}{API}/query", params={"q": soql}, headers={"Sforce-Query-Options": "batchSize=200"},
                     timeout=10)
    mine = [first.json()]
    mine.append(wire.get(f"{sb.url}{mine[0]['nextRecordsUrl']}", timeout=10).json())
    for real, ours in zip((recorded[0], recorded[2]), mine, strict=True):
        assert list(real["response"]["body"]) == list(ours)
        assert shape(real["response"]["body"]["records"][0]) == shape(ours["records"][0])
    assert re.fullmatch(r"api-usage=\d+/\d+", first.headers["Sforce-Limit-Info"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", mine[1]["records"][0]["CreatedDate"])


def test_describe_matches_the_recordings(sf: Salesforce) -> None:
    real = {n: fixture(f"GET_sobjects_{n}_describe.json")[0]["response"]["body"] for n in ("Account", "Opportunity")}
    top_keys = set(real["Opportunity"])  # the newer recording; the v48 Account one lacks three of these keys
    assert set(real["Account"]) < top_keys
    entry_keys = set(real["Account"]["fields"][0])
    for name in ("Account", "Opportunity", "Task", "User", "Topic", "TopicAssignment"):
        ours = getattr(sf, name).describe()
        assert set(ours) == top_keys and all(set(f) == entry_keys for f in ours["fields"]), name
        recorded = {f["name"]: f for f in real.get(name, {"fields": []})["fields"]}
        for f in ours["fields"]:
            assert f == recorded.get(f["name"], f)  # recorded standard fields are served as recorded
            kinds = {k: shape(v) for k, v in f.items() if v is not None}
            assert all(kinds[k] == shape(real["Account"]["fields"][0][k]) for k in kinds
                       if real["Account"]["fields"][0][k] is not None and k not in ("picklistValues", "referenceTo"))
    globals_ = fixture("GET_sobjects_Global_describe.json")[0]["response"]["body"]
    mine = sf.describe()
    assert set(mine) == set(globals_) and all(set(s) == set(globals_["sobjects"][0]) for s in mine["sobjects"])


def test_composite_results_match_the_recordings(sb: SandboxServer, sf: Salesforce) -> None:
    [update] = [i for i in fixture("TestUpdatesIntegrationTests.test_updates_task.json")
                if i["request"]["method"] == "PATCH"]
    ids = account_ids(sf, 6)
    records_ = [{**r, "Id": i} for r, i in zip(update["request"]["body"]["records"], ids, strict=True)]
    ours = sf.restful("composite/sobjects", method="PATCH", json={**update["request"]["body"], "records": records_})
    assert shape(ours) == shape(update["response"]["body"]) and [r["id"] for r in ours] == ids
    upserts = [i for i in fixture("TestUpsert.test_upsert__rest.json")
               if i["request"]["method"] == "PATCH" and "composite/sobjects/" in i["request"]["uri"]]
    tasks = [{"attributes": {"type": "Task"}, "Riskbridge_Key__c": f"k{n}", "Subject": "x"} for n in range(3)]
    first = sf.restful("composite/sobjects/Task/Riskbridge_Key__c", method="PATCH", json={"records": tasks[:2]})
    second = sf.restful("composite/sobjects/Task/Riskbridge_Key__c", method="PATCH", json={"records": tasks})
    assert shape(first) == shape(second) == shape(upserts[0]["response"]["body"])
    assert [r["created"] for r in second] == [False, False, True]
    [composite] = fixture("TestCountSObjects.test_count_sobjects__errors.json")
    subrequests = composite["request"]["body"]["compositeRequest"]
    res = sf.restful("composite", method="POST", json={"compositeRequest": [
        {**sub, "url": sub["url"].replace("vxx.0", "v59.0")} for sub in subrequests]})
    assert shape(res) == shape(composite["response"]["body"])
    assert [(r["httpStatusCode"], r["body"][0]["errorCode"] if r["httpStatusCode"] != 200 else r["body"]["totalSize"])
            for r in res["compositeResponse"]] == [(200, ACCOUNTS), (400, "INVALID_TYPE")]
