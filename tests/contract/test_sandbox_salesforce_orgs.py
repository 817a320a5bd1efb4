"""Contract tests of the Salesforce sandbox's org variants and provisioning calls, over loopback HTTP.

Three orgs from one seed (provisioned, bare, renamed) are driven by the real simple-salesforce client: their
describe, their records and SOQL, the Tooling API ``CustomField`` create and query, and the permission set
objects a ``provision --apply`` writes. Each test that changes an org resets it first.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date, datetime
from email.utils import format_datetime
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from connector.crm.transport import session_for
from connector.sandbox import SandboxServer, make_app, running_sandbox
from connector.sandbox.salesforce import SalesforceApp

ACCOUNTS = 120
SEED = 11
TOOLING = "/services/data/v59.0/tooling"
DATA = "/services/data/v59.0"
_REALISTIC_TYPES = {"currency", "double", "percent", "date", "boolean", "picklist", "string"}


# -- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def orgs() -> Iterator[dict[str, SandboxServer]]:
    with running_sandbox("salesforce", accounts=ACCOUNTS, deals_per_account=2, seed=SEED) as provisioned, \
            running_sandbox("salesforce", accounts=ACCOUNTS, deals_per_account=2, seed=SEED, org="bare") as bare, \
            running_sandbox("salesforce", accounts=ACCOUNTS, deals_per_account=2, seed=SEED, org="renamed") as renamed:
        yield {"provisioned": provisioned, "bare": bare, "renamed": renamed}


@pytest.fixture()
def login(orgs: dict[str, SandboxServer]) -> Iterator[Callable[[str], Salesforce]]:
    """Log in to an org (reset first) with simple-salesforce's SOAP login, as the connector's sessions do."""
    sessions: list[requests.Session] = []

    def open_org(variant: str) -> Salesforce:
        sb = orgs[variant]
        requests.post(f"{sb.url}/__sandbox/reset", timeout=10).raise_for_status()
        creds = requests.get(f"{sb.url}/__sandbox/credentials", timeout=10).json()
        sessions.append(session_for(sb.url))
        return Salesforce(username=creds["username"], password=creds["password"],
                          security_token=creds["security_token"], session=sessions[-1], domain="login")
    yield open_org
    for session in sessions:
        session.close()


def _org_info(sb: SandboxServer) -> dict[str, Any]:
    info: dict[str, Any] = requests.get(f"{sb.url}/__sandbox/org", timeout=10).json()
    return info


def _calls(sb: SandboxServer) -> dict[str, Any]:
    calls: dict[str, Any] = requests.get(f"{sb.url}/__sandbox/calls", timeout=10).json()
    return calls


def _raw(sf: Salesforce, method: str, path: str, **kw: Any) -> requests.Response:
    """A call with the client's own session and token, keeping the status and body whatever they are."""
    url = f"https://{sf.sf_instance}{path}"
    headers = {**sf.headers, **kw.pop("headers", {})}
    return sf.session.request(method, url, headers=headers, timeout=10, **kw)


def _create_field(sf: Salesforce, full_name: str, metadata: dict[str, Any]) -> requests.Response:
    return _raw(sf, "POST", f"{TOOLING}/sobjects/CustomField", json={"FullName": full_name, "Metadata": metadata})


def _field(describe: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((f for f in describe["fields"] if f["name"] == name), None)


def _all(sf: Salesforce, soql: str) -> list[dict[str, Any]]:
    return list(sf.query_all(soql)["records"])


# -- org variants ----------------------------------------------------------------------------------
def test_bare_org_has_standard_objects_and_data_but_no_custom_field(login: Callable[[str], Salesforce],
                                                                    orgs: dict[str, SandboxServer]) -> None:
    sf = login("bare")
    for obj in ("Account", "Opportunity", "Task", "User"):
        described = getattr(sf, obj).describe()
        custom = [f["name"] for f in described["fields"] if f["custom"] or f["name"].endswith("__c")]
        assert custom == [], (obj, custom)
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert {"Account", "Opportunity", "Task", "User", "PermissionSet", "FieldPermissions"} <= names

    accounts = _all(sf, "SELECT Id, Name, OwnerId, Industry, BillingCountry, AnnualRevenue, NumberOfEmployees, "
                        "Rating, CurrencyIsoCode FROM Account")
    assert len(accounts) == ACCOUNTS
    for key in ("Name", "OwnerId", "BillingCountry", "AnnualRevenue", "CurrencyIsoCode"):
        assert all(a[key] for a in accounts), key
    assert sum(1 for a in accounts if a["Industry"]) > ACCOUNTS * 0.9
    assert sum(1 for a in accounts if a["NumberOfEmployees"]) > ACCOUNTS * 0.9
    assert {a["Rating"] for a in accounts} >= {"Hot", "Warm", "Cold"}
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == ACCOUNTS * 2

    one = sf.Account.get(accounts[0]["Id"])
    assert not [k for k in one if k.endswith("__c")]
    stored = requests.get(f"{orgs['bare'].url}/__sandbox/records/Task", timeout=10).json()["records"]
    assert stored and not [k for r in stored for k in r if k.endswith("__c")]


def test_bare_org_answers_a_query_of_a_custom_field_with_invalid_field(login: Callable[[str], Salesforce]) -> None:
    sf = login("bare")
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id, Credit_Limit__c FROM Account")
    assert caught.value.status == 400
    error = caught.value.content[0]
    assert error["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Credit_Limit__c' on entity 'Account'" in error["message"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Account.update(sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"], {"Risk_Score__c": 10})
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_renamed_org_holds_inputs_under_its_own_names_and_no_riskbridge_field(
        login: Callable[[str], Salesforce], orgs: dict[str, SandboxServer]) -> None:
    sf = login("renamed")
    info = _org_info(orgs["renamed"])
    assert info["variant"] == "renamed"
    account_fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    custom = {n: f for n, f in account_fields.items() if f["custom"]}
    provisioned = {f["name"]: f for f in sf_describe(login, "provisioned", "Account")["fields"]}
    for canonical, api in info["fields"]["accounts"].items():
        assert api in account_fields, (canonical, api)
        if api.endswith("__c"):
            assert api not in provisioned, (canonical, api)  # the org's own name, not riskbridge's
            assert custom[api]["type"] in _REALISTIC_TYPES
            assert custom[api]["label"] and custom[api]["label"] != api
    assert len([a for a in info["fields"]["accounts"].values() if a.endswith("__c")]) == 23
    assert not [n for n in custom if n.startswith(("Risk_", "Riskbridge"))]
    assert {f["type"] for f in custom.values()} >= {"currency", "double", "boolean", "date", "picklist", "percent"}
    picklists = [f for f in custom.values() if f["type"] == "picklist"]
    assert picklists and all(f["picklistValues"] for f in picklists)
    deal_api = info["fields"]["deals"]["payment_terms_days"]
    assert _field(sf.Opportunity.describe(), deal_api) is not None
    task_custom = [f["name"] for f in sf.Task.describe()["fields"] if f["custom"]]
    assert task_custom == []
    row = sf.query(f"SELECT Id, {', '.join(sorted(custom))} FROM Account LIMIT 5")["records"]
    assert len(row) == 5


def sf_describe(login: Callable[[str], Salesforce], variant: str, obj: str) -> dict[str, Any]:
    described: dict[str, Any] = getattr(login(variant), obj).describe()
    return described


def test_renamed_names_are_drawn_with_the_seed() -> None:
    def names(seed: int) -> dict[str, str]:
        app = make_app("salesforce", accounts=1, deals_per_account=0, seed=seed, org="renamed")
        assert isinstance(app, SalesforceApp)
        info = app.org_info()
        return dict(info["fields"]["accounts"])
    assert names(4) == names(4)
    assert len({tuple(sorted(names(seed).items())) for seed in range(1, 7)}) > 1
    with pytest.raises(ValueError, match="provisioned, bare, renamed"):
        make_app("salesforce", org="staging")


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _day(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%Y.%m.%d", "%b %d, %Y"):
        try:
            return datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
    return None


def _same(provisioned: Any, renamed: Any, kind: str) -> bool:
    if kind in ("double", "currency", "percent"):
        return _number(provisioned) == _number(renamed)
    if kind == "date":
        return _day(provisioned) == _day(renamed)
    if kind == "boolean":
        return bool(provisioned) == bool(renamed)
    return (provisioned is None and renamed is None) or str(_number(provisioned) or provisioned) == \
        str(_number(renamed) or renamed)


def test_same_seed_gives_the_same_companies_and_values_in_every_variant(
        login: Callable[[str], Salesforce], orgs: dict[str, SandboxServer]) -> None:
    standard = "Id, Name, OwnerId, Industry, BillingCountry, AnnualRevenue, NumberOfEmployees, Rating, CurrencyIsoCode"
    by_variant = {v: {r["Id"]: r for r in _all(login(v), f"SELECT {standard} FROM Account")} for v in orgs}
    assert by_variant["provisioned"] == by_variant["bare"] == by_variant["renamed"]
    deals = "Id, AccountId, Name, Amount, StageName, CloseDate, Probability, IsClosed, IsWon, OwnerId"
    deal_rows = {v: _all(login(v), f"SELECT {deals} FROM Opportunity ORDER BY Id") for v in orgs}
    assert deal_rows["provisioned"] == deal_rows["bare"] == deal_rows["renamed"]

    prov_map = _org_info(orgs["provisioned"])["fields"]
    ren_map = _org_info(orgs["renamed"])["fields"]
    for objects, sobject in (("accounts", "Account"), ("deals", "Opportunity")):
        custom = sorted(k for k, api in ren_map[objects].items() if api.endswith("__c"))
        kinds = {f["name"]: f["type"] for f in sf_describe(login, "renamed", sobject)["fields"]}
        prov = {r["Id"]: r for r in _all(login("provisioned"), f"SELECT Id, {', '.join(prov_map[objects][k] for k in custom)} "
                                                               f"FROM {sobject}")}
        ren = {r["Id"]: r for r in _all(login("renamed"), f"SELECT Id, {', '.join(ren_map[objects][k] for k in custom)} "
                                                           f"FROM {sobject}")}
        assert prov.keys() == ren.keys()
        for key in custom:
            p_name, r_name = prov_map[objects][key], ren_map[objects][key]
            kind = kinds[r_name]
            pairs = [(prov[i][p_name], ren[i][r_name]) for i in prov]
            agree = sum(1 for p, r in pairs if _same(p, r, kind))
            # A Number field holds no "n/a" and a picklist no value outside its list: those few become empty.
            lost = sum(1 for p, r in pairs if p is not None and r is None)
            assert agree + lost == len(pairs), (key, [(p, r) for p, r in pairs if not _same(p, r, kind)][:5])
            assert lost <= max(2, len(pairs) * 0.03), (key, lost)


def test_org_endpoint_of_the_provisioned_org_names_riskbridge_fields(orgs: dict[str, SandboxServer]) -> None:
    info = _org_info(orgs["provisioned"])
    assert info["variant"] == "provisioned"
    assert info["fields"]["accounts"]["credit_limit"] == "Credit_Limit__c"
    assert info["fields"]["accounts"]["override_tier"] == "Risk_Override_Tier__c"
    assert info["fields"]["deals"]["payment_terms_days"] == "Payment_Terms_Days__c"
    assert _org_info(orgs["bare"])["fields"]["accounts"] == {
        "name": "Name", "owner_id": "OwnerId", "country": "BillingCountry", "industry": "Industry",
        "currency": "CurrencyIsoCode", "annual_revenue": "AnnualRevenue"}


def test_touch_edits_the_org_own_fields(login: Callable[[str], Salesforce], orgs: dict[str, SandboxServer]) -> None:
    """A credit clerk's edit lands in the renamed org's input fields; a bare org gets a sales rep's edit."""
    sf = login("renamed")
    url = orgs["renamed"].url
    inputs = sorted({api for api in _org_info(orgs["renamed"])["fields"]["accounts"].values() if api.endswith("__c")})
    soql = f"SELECT Id, SystemModstamp, {', '.join(inputs)} FROM Account"
    before = {r["Id"]: r for r in _all(sf, soql)}
    ids = requests.post(f"{url}/__sandbox/touch", json={"object": "Account", "count": 5}, timeout=10).json()["ids"]
    after = {r["Id"]: r for r in _all(sf, soql)}
    assert len(ids) == 5
    for ident in ids:
        changed = [k for k in inputs if after[ident][k] != before[ident][k]]
        assert changed, ident
        assert after[ident]["SystemModstamp"] > before[ident]["SystemModstamp"]
    assert all(after[i] == before[i] for i in before if i not in ids)

    login("bare")
    bare = orgs["bare"].url
    edited = requests.post(f"{bare}/__sandbox/touch", json={"object": "Account", "count": 4}, timeout=10).json()["ids"]
    assert len(edited) == 4
    rows = {r["Id"]: r for r in requests.get(f"{bare}/__sandbox/records/Account", timeout=10).json()["records"]}
    assert not [k for i in edited for k in rows[i] if k.endswith("__c")]


# -- Tooling API: CustomField ----------------------------------------------------------------------
def test_custom_field_create_shows_in_describe_and_takes_writes(login: Callable[[str], Salesforce],
                                                                orgs: dict[str, SandboxServer]) -> None:
    sf = login("bare")
    sb = orgs["bare"]
    before = format_datetime(datetime.now().astimezone(), usegmt=False)
    requests.delete(f"{sb.url}/__sandbox/calls", timeout=10)
    resp = _create_field(sf, "Account.Risk_Score__c", {
        "label": "Risk Score", "type": "Number", "precision": 5, "scale": 1, "externalId": False,
        "inlineHelpText": "0-100, higher is riskier. Written by riskbridge.", "description": "riskbridge output"})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["success"] is True and body["errors"] == [] and re.fullmatch(r"00N[0-9A-Za-z]{15}", body["id"])
    tier = sf.toolingexecute("sobjects/CustomField", method="POST", data={
        "FullName": "Account.Risk_Tier__c", "Metadata": {
            "label": "Risk Tier", "type": "Picklist", "valueSet": {"restricted": True, "valueSetDefinition": {
                "value": [{"fullName": t, "label": t.title(), "default": t == "low"}
                          for t in ("low", "medium", "high", "critical")]}}}})
    assert tier["success"] is True
    key = _create_field(sf, "Activity.Riskbridge_Key__c", {
        "label": "Riskbridge Key", "type": "Text", "length": 120, "externalId": True, "unique": True})
    assert key.status_code == 201, key.text
    flag = _create_field(sf, "Account.Risk_Watchlist__c", {"label": "Risk Watchlist", "type": "Checkbox",
                                                           "defaultValue": "false"})
    reasons = _create_field(sf, "Account.Risk_Reasons__c", {"label": "Risk Reasons", "type": "LongTextArea",
                                                             "length": 1000, "visibleLines": 4})
    assert flag.status_code == 201 and reasons.status_code == 201

    described = sf.Account.describe()
    score = _field(described, "Risk_Score__c")
    assert score is not None
    assert (score["type"], score["precision"], score["scale"], score["custom"], score["updateable"]) == \
        ("double", 5, 1, True, True)
    assert score["inlineHelpText"] == "0-100, higher is riskier. Written by riskbridge."
    tier_field = _field(described, "Risk_Tier__c")
    assert tier_field is not None and tier_field["restrictedPicklist"] is True
    assert [(p["value"], p["label"], p["defaultValue"]) for p in tier_field["picklistValues"]] == [
        ("low", "Low", True), ("medium", "Medium", False), ("high", "High", False), ("critical", "Critical", False)]
    tier_meta = sf.toolingexecute(f"sobjects/CustomField/{tier['id']}")["Metadata"]
    assert tier_meta["valueSet"]["restricted"] is True
    assert [v["fullName"] for v in tier_meta["valueSet"]["valueSetDefinition"]["value"]] == [
        "low", "medium", "high", "critical"]
    assert _raw(sf, "GET", f"{TOOLING}/sobjects/CustomField/00N000000000000AAA").status_code == 404
    watch = _field(described, "Risk_Watchlist__c")
    assert watch is not None and (watch["type"], watch["nillable"], watch["defaultValue"]) == ("boolean", False, False)
    long_text = _field(described, "Risk_Reasons__c")
    assert long_text is not None and (long_text["type"], long_text["length"], long_text["filterable"]) == \
        ("textarea", 1000, False)
    task_key = _field(sf.Task.describe(), "Riskbridge_Key__c")
    assert task_key is not None
    assert (task_key["type"], task_key["length"], task_key["externalId"], task_key["unique"], task_key["idLookup"]) == \
        ("string", 120, True, True, True)
    # A client that cached the describe before the change is told it changed.
    assert _raw(sf, "GET", f"{DATA}/sobjects/Account/describe",
                headers={"If-Modified-Since": before}).status_code == 200

    account = sf.query("SELECT Id, Risk_Score__c, Risk_Watchlist__c FROM Account LIMIT 1")["records"][0]
    assert account["Risk_Score__c"] is None and account["Risk_Watchlist__c"] is False
    sf.Account.update(account["Id"], {"Risk_Score__c": 42.46, "Risk_Tier__c": "high", "Risk_Watchlist__c": True,
                                      "Risk_Reasons__c": "Invoices 60+ days past due"})
    again = sf.query(f"SELECT Risk_Score__c, Risk_Tier__c, Risk_Watchlist__c FROM Account "
                     f"WHERE Id = '{account['Id']}'")["records"][0]
    assert (again["Risk_Score__c"], again["Risk_Tier__c"], again["Risk_Watchlist__c"]) == (42.5, "high", True)
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Account.update(account["Id"], {"Risk_Tier__c": "severe"})
    assert caught.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert sf.Task.upsert("Riskbridge_Key__c/esc-1", {"Subject": "Review credit", "WhatId": account["Id"]}) == 201
    assert sf.Task.upsert("Riskbridge_Key__c/esc-1", {"Subject": "Review credit"}) == 200  # updated (API 46+)

    calls = _calls(sb)["by_endpoint"]
    assert calls["POST tooling/sobjects/CustomField"] == 5
    assert calls["GET sobjects/Account/describe"] >= 1


def test_tooling_query_finds_created_and_existing_custom_fields(login: Callable[[str], Salesforce],
                                                                 orgs: dict[str, SandboxServer]) -> None:
    sf = login("bare")
    created = _create_field(sf, "Account.Risk_Model_Version__c", {"label": "Risk Model Version", "type": "Text",
                                                                  "length": 40}).json()
    query = ("SELECT Id, DeveloperName, TableEnumOrId FROM CustomField WHERE TableEnumOrId = 'Account' "
             "AND DeveloperName IN ('Risk_Model_Version', 'Risk_Score')")
    requests.delete(f"{orgs['bare'].url}/__sandbox/calls", timeout=10)
    found = sf.toolingexecute(f"query/?q={query}")
    assert found["totalSize"] == 1 and found["done"] is True and found["entityTypeName"] == "CustomField"
    record = found["records"][0]
    assert (record["Id"], record["DeveloperName"], record["TableEnumOrId"]) == \
        (created["id"], "Risk_Model_Version", "Account")
    assert record["attributes"]["type"] == "CustomField"
    calls = _calls(orgs["bare"])
    assert calls["by_endpoint"] == {"GET tooling/query": 1} and calls["writes"] == 0

    one = sf.toolingexecute(f"sobjects/CustomField/{created['id']}")
    assert one["FullName"] == "Account.Risk_Model_Version__c"
    assert one["Metadata"]["type"] == "Text" and one["Metadata"]["length"] == 40

    renamed = login("renamed")
    api = _org_info(orgs["renamed"])["fields"]["accounts"]["credit_limit"]
    rows = renamed.toolingexecute("query/?q=SELECT Id, DeveloperName FROM CustomField WHERE TableEnumOrId = 'Account'")
    assert api.removesuffix("__c") in {r["DeveloperName"] for r in rows["records"]}
    too_many = _raw(renamed, "GET", f"{TOOLING}/query/", params={
        "q": "SELECT Id, FullName FROM CustomField WHERE TableEnumOrId = 'Account'"})
    assert too_many.status_code == 400 and too_many.json()[0]["errorCode"] == "MALFORMED_QUERY"
    assert renamed.toolingexecute("query/?q=SELECT Id FROM CustomField WHERE TableEnumOrId = 'Task'")["size"] == 0


def test_duplicate_custom_field_is_refused_as_salesforce_does(login: Callable[[str], Salesforce]) -> None:
    sf = login("bare")
    meta = {"label": "Risk Score", "type": "Number", "precision": 5, "scale": 1}
    assert _create_field(sf, "Account.Risk_Score__c", meta).status_code == 201
    again = _create_field(sf, "Account.risk_score__c", meta)
    assert again.status_code == 400
    assert again.json()[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"
    assert "Risk_Score" in again.json()[0]["message"]
    assert [f["name"] for f in sf.Account.describe()["fields"]].count("Risk_Score__c") == 1
    provisioned = login("provisioned")
    existing = _create_field(provisioned, "Account.Credit_Limit__c", {"label": "Credit Limit", "type": "Currency",
                                                                      "precision": 16, "scale": 2})
    assert existing.status_code == 400 and existing.json()[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"


@pytest.mark.parametrize(("full_name", "metadata", "code", "words"), [
    ("Account.Risk_Flags__c", {"label": "Flags", "type": "Text"}, "FIELD_INTEGRITY_EXCEPTION", "'length'"),
    ("Account.Risk_Flags__c", {"label": "Flags", "type": "Text", "length": 300}, "FIELD_INTEGRITY_EXCEPTION",
     "between 1 and 255"),
    ("Account.Risk_Reasons__c", {"label": "Reasons", "type": "LongTextArea", "length": 1000},
     "FIELD_INTEGRITY_EXCEPTION", "'visibleLines'"),
    ("Account.Risk_Score__c", {"label": "Score", "type": "Number"}, "FIELD_INTEGRITY_EXCEPTION", "'precision'"),
    ("Account.Risk_Score__c", {"label": "Score", "type": "Number", "precision": 3, "scale": 5},
     "FIELD_INTEGRITY_EXCEPTION", "scale"),
    ("Account.Risk_Watchlist__c", {"label": "Watchlist", "type": "Checkbox"}, "FIELD_INTEGRITY_EXCEPTION",
     "'defaultValue'"),
    ("Account.Risk_Tier__c", {"label": "Tier", "type": "Picklist"}, "FIELD_INTEGRITY_EXCEPTION", "valueSet"),
    ("Account.Risk_Score__c", {"label": "Score", "type": "Integer", "precision": 3}, "JSON_PARSER_ERROR",
     "FieldType"),
    ("Account.Risk_Until__c", {"label": "Until", "type": "Date", "externalId": True}, "FIELD_INTEGRITY_EXCEPTION",
     "externalId"),
    ("Account.Risk__Score__c", {"label": "Score", "type": "Number", "precision": 3}, "FIELD_INTEGRITY_EXCEPTION",
     "two consecutive underscores"),
    ("Account.Risk_Score", {"label": "Score", "type": "Number", "precision": 3}, "FIELD_INTEGRITY_EXCEPTION",
     "Field Name"),
    ("Account.Risk_Score__c", {"type": "Number", "precision": 3}, "FIELD_INTEGRITY_EXCEPTION", "'label'"),
    ("Task.Riskbridge_Key__c", {"label": "Key", "type": "Text", "length": 120}, "FIELD_INTEGRITY_EXCEPTION",
     "Activity"),
    ("Invoice__c.Risk_Score__c", {"label": "Score", "type": "Number", "precision": 3}, "FIELD_INTEGRITY_EXCEPTION",
     "Invoice__c"),
])
def test_invalid_metadata_gets_a_400_and_creates_nothing(login: Callable[[str], Salesforce],
                                                        orgs: dict[str, SandboxServer], full_name: str,
                                                        metadata: dict[str, Any], code: str, words: str) -> None:
    sf = login("bare")
    resp = _create_field(sf, full_name, metadata)
    assert resp.status_code == 400, resp.text
    error = resp.json()[0]
    assert error["errorCode"] == code and words in error["message"], error
    for obj in ("Account", "Task"):
        assert not [f["name"] for f in getattr(sf, obj).describe()["fields"] if f["custom"]]
    assert sf.toolingexecute("query/?q=SELECT Id FROM CustomField")["size"] == 0


def test_reset_removes_created_fields(login: Callable[[str], Salesforce]) -> None:
    sf = login("bare")
    assert _create_field(sf, "Account.Risk_Score__c", {"label": "Risk Score", "type": "Number", "precision": 5,
                                                       "scale": 1}).status_code == 201
    sf = login("bare")
    assert _field(sf.Account.describe(), "Risk_Score__c") is None


# -- permission sets ---------------------------------------------------------------------------------
def test_permission_set_field_permissions_and_assignment_round_trip(login: Callable[[str], Salesforce],
                                                                     orgs: dict[str, SandboxServer]) -> None:
    sf = login("bare")
    sb = orgs["bare"]
    for name, meta in (("Risk_Score__c", {"type": "Number", "precision": 5, "scale": 1}),
                       ("Risk_Model_Version__c", {"type": "Text", "length": 40})):
        assert _create_field(sf, f"Account.{name}", {"label": name[:-3].replace("_", " "), **meta}).status_code == 201
    described = {f["name"] for f in sf.PermissionSet.describe()["fields"]}
    assert {"Id", "Name", "Label", "Description", "IsOwnedByProfile"} <= described
    assert {f["name"] for f in sf.FieldPermissions.describe()["fields"]} >= {
        "ParentId", "SobjectType", "Field", "PermissionsRead", "PermissionsEdit"}
    assert {f["name"] for f in sf.PermissionSetAssignment.describe()["fields"]} >= {"AssigneeId", "PermissionSetId"}

    requests.delete(f"{sb.url}/__sandbox/calls", timeout=10)
    ps = sf.PermissionSet.create({"Name": "Riskbridge_Integration", "Label": "Riskbridge Integration",
                                  "Description": "Read on inputs, edit on outputs."})
    assert ps["success"] and ps["id"].startswith("0PS")
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.PermissionSet.create({"Name": "Riskbridge_Integration", "Label": "Again"})
    assert caught.value.content[0]["errorCode"] == "DUPLICATE_VALUE"
    found = sf.query("SELECT Id, Name FROM PermissionSet WHERE Name = 'Riskbridge_Integration'")["records"]
    assert [r["Id"] for r in found] == [ps["id"]]

    read = sf.FieldPermissions.create({"ParentId": ps["id"], "SobjectType": "Account",
                                       "Field": "Account.Risk_Score__c", "PermissionsRead": True,
                                       "PermissionsEdit": False})
    assert read["success"] and read["id"].startswith("01k")
    sf.FieldPermissions.create({"ParentId": ps["id"], "SobjectType": "Account", "Field": "Account.Risk_Model_Version__c",
                                "PermissionsRead": True, "PermissionsEdit": True})
    sf.FieldPermissions.update(read["id"], {"PermissionsEdit": True})
    rows = sf.query(f"SELECT Id, Field, PermissionsRead, PermissionsEdit FROM FieldPermissions "
                    f"WHERE ParentId = '{ps['id']}' ORDER BY Field")["records"]
    assert [(r["Field"], r["PermissionsRead"], r["PermissionsEdit"]) for r in rows] == [
        ("Account.Risk_Model_Version__c", True, True), ("Account.Risk_Score__c", True, True)]

    refusals = [
        ({"Field": "Account.Risk_Score__c", "PermissionsRead": True}, "DUPLICATE_VALUE"),
        ({"Field": "Account.No_Such__c", "PermissionsRead": True}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"Field": "Account.Name", "PermissionsRead": True}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"Field": "Account.AnnualRevenue", "PermissionsRead": False, "PermissionsEdit": True},
         "FIELD_INTEGRITY_EXCEPTION"),
    ]
    for values, code in refusals:
        with pytest.raises(SalesforceMalformedRequest) as caught:
            sf.FieldPermissions.create({"ParentId": ps["id"], "SobjectType": "Account", **values})
        assert caught.value.content[0]["errorCode"] == code, values
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.FieldPermissions.create({"ParentId": ps["id"], "SobjectType": "Invoice__c", "Field": "Invoice__c.X__c",
                                    "PermissionsRead": True})
    assert caught.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"

    user = requests.get(f"{sb.url}/__sandbox/credentials", timeout=10).json()["user_id"]
    assignment = sf.PermissionSetAssignment.create({"AssigneeId": user, "PermissionSetId": ps["id"]})
    assert assignment["success"] and assignment["id"].startswith("0Pa")
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.PermissionSetAssignment.create({"AssigneeId": user, "PermissionSetId": ps["id"]})
    assert caught.value.content[0] == {"errorCode": "DUPLICATE_VALUE", "fields": [], "message":
                                       "duplicate value found: <unknown> duplicates value on record with id: <unknown>"}
    assigned = sf.query(f"SELECT Id, AssigneeId FROM PermissionSetAssignment WHERE PermissionSetId = '{ps['id']}' "
                        f"AND AssigneeId = '{user}'")["records"]
    assert [r["Id"] for r in assigned] == [assignment["id"]]

    calls = _calls(sb)["by_endpoint"]
    assert calls["POST sobjects/PermissionSet"] == 2
    assert calls["POST sobjects/FieldPermissions"] == 7
    assert calls["PATCH sobjects/FieldPermissions/{id}"] == 1
    assert calls["POST sobjects/PermissionSetAssignment"] == 2


def test_reads_of_a_provisioned_org_are_not_writes(login: Callable[[str], Salesforce],
                                                   orgs: dict[str, SandboxServer]) -> None:
    """A second `provision --apply` asserts on this: metadata reads count as reads, never writes."""
    sf = login("provisioned")
    sb = orgs["provisioned"]
    requests.delete(f"{sb.url}/__sandbox/calls", timeout=10)
    sf.Account.describe()
    sf.toolingexecute("query/?q=SELECT Id, DeveloperName FROM CustomField WHERE TableEnumOrId = 'Account'")
    sf.query("SELECT Id FROM PermissionSet WHERE Name = 'Riskbridge_Integration'")
    calls = _calls(sb)
    assert calls["writes"] == 0 and calls["reads"] == 3


# -- the CLI ------------------------------------------------------------------------------------------
def test_serve_takes_an_org_variant_and_refuses_an_unknown_one() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "connector.cli", "sandbox", "serve", "--crm", "salesforce",
                             "--org", "renamed", "--accounts", "10", "--deals-per-account", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"sandbox salesforce listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        info = requests.get(f"{match.group(1)}/__sandbox/org", timeout=5).json()
        assert info["variant"] == "renamed" and info["fields"]["accounts"]["name"] == "Name"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    assert proc.returncode == 0
    bad = subprocess.run([sys.executable, "-m", "connector.cli", "sandbox", "serve", "--crm", "salesforce",
                          "--org", "staging"], capture_output=True, text=True, timeout=30, check=False)
    assert bad.returncode == 2 and "provisioned, bare, renamed" in bad.stderr
