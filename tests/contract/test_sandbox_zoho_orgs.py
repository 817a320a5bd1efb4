"""Contract tests of the Zoho sandbox's org variants and the calls an admin's first install makes.

Driven over loopback with plain `requests`, as a real client: a `bare` org has no custom field anywhere
(metadata, records, COQL, search), a `renamed` org keeps its credit data under its own (often Chinese)
names, every variant holds the same values for a seed, and fields and tags created through the API
behave at once like the org's own. Also the org, module, user and search endpoints the official SDK
calls on its own. Shapes follow the v8 docs (zoho/crm-oas) and `shared/fixtures/zoho/`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.sandbox.server import SandboxServer, running_sandbox

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "zoho"
TODAY = date(2026, 5, 14)
SEED = 5
INPUTS = (
    "bureau_score", "bureau_rating", "internal_rating", "credit_limit", "payment_terms_days", "current_assets",
    "current_liabilities", "inventory", "total_assets", "total_liabilities", "net_income", "operating_cash_flow",
    "audit_opinion", "statement_date", "open_receivables", "overdue_amount", "max_days_past_due",
    "avg_days_late", "disputes_12m", "complaints_12m", "customer_since", "sanctions_hit", "insolvency",
)
MODULES = ("Accounts", "Deals", "Tasks", "Contacts", "Campaigns")
CJK = re.compile(r"[\u4e00-\u9fff]")


class Zoho:
    """Logs in as a client does and speaks the v8 wire protocol."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        creds = requests.get(server.url + "/__sandbox/credentials", timeout=5).json()
        grant = requests.post(creds["accounts_url"] + "/oauth/v2/token", timeout=5, params={
            "grant_type": "refresh_token", "client_id": creds["client_id"], "client_secret": creds["client_secret"],
            "refresh_token": creds["refresh_token"]}).json()
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Zoho-oauthtoken {grant['access_token']}"
        self.api = creds["api_url"] + "/crm/v8"

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.http.get(self.api + path, params=params, timeout=10)

    def post(self, path: str, body: Any, **params: Any) -> requests.Response:
        return self.http.post(self.api + path, json=body, params=params, timeout=10)

    def put(self, path: str, body: Any) -> requests.Response:
        return self.http.put(self.api + path, json=body, timeout=10)

    def coql(self, query: str) -> requests.Response:
        return self.post("/coql", {"select_query": query})

    def search(self, module: str, **params: Any) -> requests.Response:
        return self.get(f"/{module}/search", **params)

    def inspect(self, what: str, method: str = "GET") -> Any:
        return requests.request(method, f"{self.server.url}/__sandbox/{what}", timeout=10).json()

    def fields(self, module: str) -> dict[str, dict[str, Any]]:
        return {f["api_name"]: f for f in self.get("/settings/fields", module=module).json()["fields"]}

    def records(self, module: str) -> list[dict[str, Any]]:
        return list(self.inspect(f"records/{module}")["records"])


def _org(variant: str, seed: int = SEED, accounts: int = 120) -> Iterator[Zoho]:
    with running_sandbox("zoho", accounts=accounts, deals_per_account=2, seed=seed, today=TODAY, org=variant) as sb:
        yield Zoho(sb)


@pytest.fixture(scope="module")
def provisioned() -> Iterator[Zoho]:
    yield from _org("provisioned")


@pytest.fixture(scope="module")
def bare() -> Iterator[Zoho]:
    yield from _org("bare")


@pytest.fixture(scope="module")
def renamed() -> Iterator[Zoho]:
    yield from _org("renamed")


@pytest.fixture
def fresh_bare() -> Iterator[Zoho]:
    """A bare org of its own, for tests that change the org's fields."""
    yield from _org("bare", accounts=30)


def _error(code: str, resp: requests.Response, status: int = 400) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    assert body["code"] == code and body["status"] == "error", body
    return body


def _writes(zoho: Zoho) -> int:
    return int(zoho.inspect("calls")["writes"])


# ------------------------------------------------------------------------------------------ the variants

def test_bare_org_has_no_custom_field_anywhere(bare: Zoho) -> None:
    assert bare.inspect("org")["variant"] == "bare"
    for module in MODULES:
        custom = [name for name, f in bare.fields(module).items() if f["custom_field"]]
        assert custom == [], f"{module} has custom fields {custom}"
    accounts = bare.records("Accounts")
    one = bare.get(f"/Accounts/{accounts[0]['id']}").json()["data"][0]
    assert not any(k.startswith("Risk_") or k in ("Bureau_Score", "Credit_Limit") for k in one)
    # standard data is there, as a real org's would be
    assert len(accounts) == 120 and len(bare.records("Deals")) == 240
    for key in ("Account_Name", "Owner", "Industry", "Billing_Country", "Annual_Revenue", "Employees", "Rating"):
        assert sum(1 for r in accounts if r.get(key) not in (None, "")) >= 100, key
    assert "Riskbridge_Key" not in bare.fields("Tasks")
    assert all(t["name"] != "credit-watchlist" for t in bare.get("/settings/tags", module="Accounts").json()["tags"])
    # the CRM view still renders an org that has no risk fields at all
    assert requests.get(bare.server.url + "/", timeout=5).status_code == 200
    shown = next(r for r in accounts if (r["Industry"] or "").isalpha())
    page = requests.get(f"{bare.server.url}/accounts/{shown['id']}", timeout=5)
    assert page.status_code == 200 and shown["Industry"] in page.text


def test_bare_org_refuses_custom_fields_in_reads_coql_and_search(bare: Zoho) -> None:
    body = _error("INVALID_DATA", bare.get("/Accounts", fields="Account_Name,Bureau_Score"))
    assert body["details"]["api_name"] == "Bureau_Score"
    body = _error("INVALID_QUERY", bare.coql("select id, Credit_Limit from Accounts where id is not null"))
    assert body["details"]["column_name"] == "Credit_Limit"
    _error("INVALID_QUERY", bare.coql("select id from Accounts where Risk_Tier = 'high'"))
    body = _error("INVALID_QUERY", bare.search("Accounts", criteria="(Bureau_Score:equals:50)"))
    assert body["details"]["api_name"] == "Bureau_Score"
    rid = bare.records("Accounts")[0]["id"]
    result = bare.put("/Accounts", {"data": [{"id": rid, "Risk_Score": 1}]})
    assert result.status_code == 400  # the whole batch failed; the record says why
    item = result.json()["data"][0]
    assert item["code"] == "INVALID_DATA" and item["details"]["api_name"] == "Risk_Score"


def test_renamed_org_keeps_inputs_under_its_own_names_and_has_no_outputs(renamed: Zoho) -> None:
    org = renamed.inspect("org")
    assert org["variant"] == "renamed"
    where = org["fields"]["accounts"]
    assert set(INPUTS) <= set(where) and org["fields"]["deals"]["payment_terms_days"] != "Payment_Terms_Days"
    meta = renamed.fields("Accounts")
    inputs = {key: meta[where[key]] for key in INPUTS}
    assert all(f["custom_field"] for f in inputs.values())
    chinese = [f["field_label"] for f in inputs.values() if CJK.search(f["field_label"])]
    assert len(chinese) >= 6, chinese
    assert sum(1 for key in INPUTS if where[key] != "_".join(p.capitalize() for p in key.split("_"))) == len(INPUTS)
    assert {f["data_type"] for f in inputs.values()} >= {"currency", "integer", "boolean"}
    assert {f["data_type"] for f in inputs.values()} <= {"currency", "double", "integer", "date", "boolean",
                                                          "picklist", "text"}
    for module in MODULES:
        names = renamed.fields(module)
        assert not [n for n in names if n.startswith("Risk_") or n == "Riskbridge_Key"], module
    assert all(t["name"] != "credit-watchlist" for t in renamed.get("/settings/tags", module="Accounts").json()["tags"])
    # the data sits in those fields and can be read, queried and searched under their names
    credit = where["credit_limit"]
    rows = renamed.get("/Accounts", fields=f"Account_Name,{credit}").json()["data"]
    assert sum(1 for r in rows if isinstance(r[credit], int | float)) >= 100
    found = renamed.coql(f"select id, {credit} from Accounts where {credit} > 0 limit 5").json()["data"]
    assert len(found) == 5
    assert renamed.search("Accounts", criteria=f"({credit}:greater_than:0)").status_code == 200


def test_renamed_names_are_drawn_with_the_seed() -> None:
    maps = []
    for seed in (SEED, SEED, SEED + 1, SEED + 2):
        with running_sandbox("zoho", accounts=5, deals_per_account=1, seed=seed, today=TODAY, org="renamed") as sb:
            maps.append(requests.get(sb.url + "/__sandbox/org", timeout=5).json()["fields"])
    assert maps[0] == maps[1]
    assert maps[2] != maps[0] or maps[3] != maps[0]


def _norm(value: Any) -> Any:
    """Compare values across field types: numbers as floats, dates as ISO dates, the rest as text."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%Y.%m.%d", "%b %d, %Y"):
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return text


def test_same_seed_same_companies_and_values_in_every_variant(provisioned: Zoho, bare: Zoho, renamed: Zoho) -> None:
    prov, ren, bar = (z.records("Accounts") for z in (provisioned, renamed, bare))
    assert [r["id"] for r in prov] == [r["id"] for r in ren] == [r["id"] for r in bar]
    standard = ("Account_Name", "Owner", "Industry", "Billing_Country", "Currency", "Annual_Revenue", "Employees",
                "Rating", "Phone", "Created_Time", "Modified_Time")
    for p, r, b in zip(prov, ren, bar, strict=True):
        assert {k: p[k] for k in standard} == {k: r[k] for k in standard} == {k: b[k] for k in standard}
    where_p = provisioned.inspect("org")["fields"]["accounts"]
    where_r = renamed.inspect("org")["fields"]["accounts"]
    compared = same = 0
    for p, r in zip(prov, ren, strict=True):
        for key in INPUTS:
            want, got = _norm(p.get(where_p[key])), _norm(r.get(where_r[key]))
            if want is None and got in (None, False):
                continue
            compared += 1
            # a typed field cannot hold a clerk's "n/a": only then may the renamed org hold nothing
            same += want == got
            assert want == got or (got is None and isinstance(want, str)), (key, want, got)
    assert compared > 1500 and same / compared > 0.99
    deals_p = {d["id"]: d for d in provisioned.records("Deals")}
    terms = renamed.inspect("org")["fields"]["deals"]["payment_terms_days"]
    assert all(d[terms] == deals_p[d["id"]]["Payment_Terms_Days"] for d in renamed.records("Deals"))


# ------------------------------------------------------------------------------- creating fields and tags

def _risk_fields() -> list[dict[str, Any]]:
    return [
        {"field_label": "Risk Score", "data_type": "double", "length": 5, "decimal_place": 1,
         "tooltip": {"name": "static_text", "value": "0-100, higher is riskier"}},
        {"field_label": "Risk Tier", "data_type": "picklist",
         "pick_list_values": [{"display_value": t.title(), "actual_value": t} for t in ("low", "medium", "high")]},
        {"field_label": "Risk Reasons", "data_type": "textarea", "length": 1000},
        {"field_label": "Risk Scored At", "data_type": "datetime"},
        {"field_label": "Risk Watchlist", "data_type": "boolean"},
    ]


def test_created_fields_show_at_once_and_are_readable_writable_queryable(fresh_bare: Zoho) -> None:
    zoho = fresh_bare
    writes = _writes(zoho)
    resp = zoho.post("/settings/fields", {"fields": _risk_fields()}, module="Accounts")
    assert resp.status_code == 201, resp.text
    results = resp.json()["fields"]
    assert [r["code"] for r in results] == ["SUCCESS"] * 5 and all(r["message"] == "field created" for r in results)
    assert _writes(zoho) == writes + 1
    meta = zoho.fields("Accounts")
    score, tier, reasons = meta["Risk_Score"], meta["Risk_Tier"], meta["Risk_Reasons"]
    assert score["id"] == results[0]["details"]["id"] and score["custom_field"] is True
    assert (score["data_type"], score["length"], score["decimal_place"]) == ("double", 5, 1)
    assert score["tooltip"] == {"name": "static_text", "value": "0-100, higher is riskier"}
    assert [p["actual_value"] for p in tier["pick_list_values"]] == ["-None-", "low", "medium", "high"]
    assert (reasons["data_type"], reasons["length"]) == ("textarea", 1000)
    single = zoho.get(f"/settings/fields/{score['id']}", module="Accounts").json()["fields"]
    assert [f["api_name"] for f in single] == ["Risk_Score"]

    rid = zoho.records("Accounts")[0]["id"]
    update = zoho.put("/Accounts", {"data": [{"id": rid, "Risk_Score": 71.26, "Risk_Tier": "high",
                                              "Risk_Reasons": "Invoices 60+ days past due",
                                              "Risk_Scored_At": "2026-05-14T10:00:00+00:00", "Risk_Watchlist": True}]})
    assert update.status_code == 200 and update.json()["data"][0]["code"] == "SUCCESS", update.text
    row = zoho.get(f"/Accounts/{rid}").json()["data"][0]
    assert (row["Risk_Score"], row["Risk_Tier"], row["Risk_Watchlist"]) == (71.3, "high", True)
    assert row["Risk_Scored_At"] == "2026-05-14T15:30:00+05:30"
    other = zoho.get("/Accounts", fields="Risk_Tier,Risk_Score", per_page=200).json()["data"]
    assert {r["id"]: r["Risk_Tier"] for r in other}[rid] == "high" and sum(r["Risk_Tier"] is None for r in other) == 29
    found = zoho.coql("select id, Risk_Score from Accounts where Risk_Tier = 'high'").json()["data"]
    assert found == [{"id": rid, "Risk_Score": 71.3}]
    assert [r["id"] for r in zoho.search("Accounts", criteria="(Risk_Tier:equals:high)").json()["data"]] == [rid]
    bad = zoho.put("/Accounts", {"data": [{"id": rid, "Risk_Tier": "critical"}]}).json()["data"][0]
    assert bad["code"] == "INVALID_DATA" and bad["details"]["supported_values"] == ["low", "medium", "high"]


def test_field_creation_errors(fresh_bare: Zoho) -> None:
    zoho = fresh_bare
    first = zoho.post("/settings/fields", {"fields": [{"field_label": "Credit Limit", "data_type": "currency"}]},
                      module="Accounts")
    assert first.status_code == 201
    again = zoho.post("/settings/fields", {"fields": [{"field_label": "credit limit", "data_type": "currency"}]},
                      module="Accounts")
    assert again.status_code == 400
    assert again.json()["fields"] == [{"code": "DUPLICATE_DATA", "message": "duplicate data", "status": "error",
                                       "details": {"api_name": "field_label", "json_path": "$.fields[0].field_label"}}]
    standard = zoho.post("/settings/fields", {"fields": [{"field_label": "Industry", "data_type": "text"}]},
                         module="Accounts").json()["fields"][0]
    assert standard["code"] == "DUPLICATE_DATA"
    mixed = zoho.post("/settings/fields", {"fields": [
        {"field_label": "DSO Days", "data_type": "double"}, {"field_label": "Odd", "data_type": "hologram"},
        {"data_type": "text"}, {"field_label": "Too long", "data_type": "text", "length": 300},
        {"field_label": "Grade", "data_type": "picklist"}]}, module="Accounts")
    assert mixed.status_code == 207
    codes = [(r["code"], r["details"].get("api_name")) for r in mixed.json()["fields"]]
    assert codes == [("SUCCESS", None), ("INVALID_DATA", "data_type"), ("MANDATORY_NOT_FOUND", "field_label"),
                     ("INVALID_DATA", "length"), ("MANDATORY_NOT_FOUND", "pick_list_values")]
    assert "DSO_Days" in zoho.fields("Accounts") and "Odd" not in zoho.fields("Accounts")
    too_many = zoho.post("/settings/fields", {"fields": [{"field_label": f"F{i}", "data_type": "text"}
                                                         for i in range(26)]}, module="Accounts")
    _error("LIMIT_EXCEEDED", too_many)
    _error("INVALID_MODULE", zoho.post("/settings/fields", {"fields": []}, module="Leadz"))
    _error("REQUIRED_PARAM_MISSING", zoho.post("/settings/fields", {"fields": []}))
    # a label with no Latin letters still gets an API name, and the same label twice a suffix-free error
    chinese = zoho.post("/settings/fields", {"fields": [{"field_label": "风险评分", "data_type": "integer"}]},
                        module="Deals")
    assert chinese.status_code == 201
    assert [f["api_name"] for f in zoho.fields("Deals").values() if f["field_label"] == "风险评分"] == ["field"]


def test_created_unique_task_key_refuses_duplicates_and_drives_upsert(fresh_bare: Zoho) -> None:
    zoho = fresh_bare
    made = zoho.post("/settings/fields", {"fields": [{"field_label": "Riskbridge Key", "data_type": "text",
                                                      "length": 120, "unique": {"case_sensitive": False}}]},
                     module="Tasks")
    assert made.status_code == 201
    assert zoho.fields("Tasks")["Riskbridge_Key"]["unique"] == {"casesensitive": False}
    rid = zoho.records("Accounts")[0]["id"]
    task = {"Subject": "Review credit", "Riskbridge_Key": "acc-1:critical", "What_Id": {"id": rid},
            "$se_module": "Accounts"}
    created = zoho.post("/Tasks/upsert", {"data": [task], "duplicate_check_fields": ["Riskbridge_Key"]}).json()
    assert created["data"][0]["action"] == "insert"
    again = zoho.post("/Tasks/upsert", {"data": [task], "duplicate_check_fields": ["Riskbridge_Key"]}).json()
    assert again["data"][0]["action"] == "update"
    assert again["data"][0]["details"]["id"] == created["data"][0]["details"]["id"]
    dup = zoho.post("/Tasks", {"data": [{"Subject": "Copy", "Riskbridge_Key": "acc-1:critical"}]})
    assert dup.status_code == 400 and dup.json()["data"][0]["code"] == "DUPLICATE_DATA"


def test_tag_creation_and_a_second_install_writes_nothing(fresh_bare: Zoho) -> None:
    zoho = fresh_bare
    made = zoho.post("/settings/tags", {"tags": [{"name": "credit-watchlist"}]}, module="Accounts")
    assert made.status_code == 201 and made.json()["tags"][0]["code"] == "SUCCESS"
    assert "credit-watchlist" in [t["name"] for t in zoho.get("/settings/tags", module="Accounts").json()["tags"]]
    dup = zoho.post("/settings/tags", {"tags": [{"name": "Credit-Watchlist"}]}, module="Accounts")
    assert dup.status_code == 400 and dup.json()["tags"][0]["code"] == "DUPLICATE_DATA"
    assert zoho.post("/settings/fields", {"fields": _risk_fields()[:2]}, module="Accounts").status_code == 201
    calls = zoho.inspect("calls")["by_endpoint"]
    assert calls["POST settings/tags"] == 2 and calls["POST settings/fields"] == 1
    # what a second `provision --apply` does first: read metadata and tags; none of it is a write
    zoho.inspect("calls", "DELETE")
    for module in ("Accounts", "Deals", "Tasks"):
        zoho.get("/settings/fields", module=module)
    zoho.get("/settings/tags", module="Accounts")
    zoho.get("/settings/modules")
    zoho.get("/org")
    log = zoho.inspect("calls")
    assert log["writes"] == 0 and log["by_endpoint"]["GET settings/fields"] == 3


# ------------------------------------------------------------------------------------------- search

def test_search_equals_finds_an_existing_account_name(provisioned: Zoho) -> None:
    target = provisioned.records("Accounts")[7]
    name = target["Account_Name"]
    escaped = name.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").replace(",", "\\,")
    resp = provisioned.search("Accounts", criteria=f"(Account_Name:equals:{escaped})")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert target["id"] in [r["id"] for r in body["data"]]
    assert body["info"] == {"per_page": 200, "count": len(body["data"]), "page": 1, "sort_by": "id",
                            "sort_order": "desc", "more_records": False}
    full = next(r for r in body["data"] if r["id"] == target["id"])
    assert full["Account_Name"] == name and "Owner" in full and "$approval_state" in full
    narrowed = provisioned.search("Accounts", criteria=f"(Account_Name:equals:{escaped})", fields="Account_Name")
    assert set(narrowed.json()["data"][0]) == {"id", "Account_Name"}
    assert provisioned.search("Accounts", criteria="(Account_Name:equals:No Such Firm Anywhere)").status_code == 204


def test_search_operators_groups_and_paging(provisioned: Zoho) -> None:
    accounts = provisioned.records("Accounts")
    revenue = sorted(r["Annual_Revenue"] for r in accounts)
    mid = revenue[len(revenue) // 2]
    above = provisioned.search("Accounts", criteria=f"(Annual_Revenue:greater_than:{mid})", per_page=200).json()
    assert above["info"]["count"] == sum(1 for v in revenue if v > mid)
    band = provisioned.search("Accounts", criteria=f"(Annual_Revenue:between:{revenue[10]},{revenue[20]})").json()
    assert band["info"]["count"] == sum(1 for v in revenue if revenue[10] <= v <= revenue[20])
    stem = accounts[0]["Account_Name"].split()[0]
    starts = provisioned.search("Accounts", criteria=f"(Account_Name:starts_with:{stem})").json()["data"]
    assert {r["id"] for r in starts} == {r["id"] for r in accounts if r["Account_Name"].lower().startswith(stem.lower())}
    industries = ("Retail", "Energy")
    both = provisioned.search("Accounts", criteria=f"((Industry:in:{','.join(industries)}) and "
                                                   f"(Annual_Revenue:less_equal:{mid}))").json()
    want = {r["id"] for r in accounts if r["Industry"] in industries and r["Annual_Revenue"] <= mid}
    assert {r["id"] for r in both.get("data", [])} == want
    either = provisioned.search("Accounts", criteria="((Industry:equals:Retail) or (Industry:equals:Energy))").json()
    assert {r["id"] for r in either["data"]} == {r["id"] for r in accounts if r["Industry"] in industries}
    flagged = provisioned.search("Accounts", criteria="(Sanctions_Hit:equals:false)", per_page=50, page=2).json()
    assert flagged["info"]["page"] == 2 and flagged["info"]["count"] == 50 and flagged["info"]["more_records"]
    owner = accounts[0]["Owner"]["id"]
    mine = provisioned.search("Accounts", criteria=f"(Owner:equals:{owner})").json()["data"]
    assert {r["id"] for r in mine} == {r["id"] for r in accounts if r["Owner"]["id"] == owner}
    _error("LIMIT_REACHED", provisioned.search("Accounts", criteria="(Sanctions_Hit:equals:false)", page=11))
    ordered = provisioned.search("Accounts", criteria="(Sanctions_Hit:equals:false)", sort_by="Modified_Time",
                                 sort_order="asc").json()
    stamps = [(datetime.fromisoformat(r["Modified_Time"]), r["id"]) for r in ordered["data"]]
    assert ordered["info"]["sort_by"] == "Modified_Time" and stamps == sorted(stamps)


def test_search_by_email_phone_and_word(provisioned: Zoho) -> None:
    contact = provisioned.records("Contacts")[3]
    by_mail = provisioned.search("Contacts", email=contact["Email"].upper()).json()["data"]
    assert contact["id"] in [r["id"] for r in by_mail]
    account = provisioned.records("Accounts")[4]
    digits = re.sub(r"\D", "", account["Phone"])[-7:]
    by_phone = provisioned.search("Accounts", phone=digits).json()["data"]
    assert account["id"] in [r["id"] for r in by_phone]
    word = account["Account_Name"].split()[0]
    assert account["id"] in [r["id"] for r in provisioned.search("Accounts", word=word).json()["data"]]
    assert provisioned.search("Accounts", email="nobody@nowhere.example").status_code == 204


def test_search_errors(provisioned: Zoho) -> None:
    body = _error("EXPECTED_PARAM_MISSING", provisioned.search("Accounts"))
    assert body["details"]["param_names"] == ["criteria", "email", "phone", "word"]
    body = _error("INVALID_QUERY", provisioned.search("Accounts", criteria="(Annual_Revenue:starts_with:12)"))
    assert body["details"]["operator"] == "starts_with"
    _error("INVALID_QUERY", provisioned.search("Accounts", criteria="(Annual_Revenue:greater_than:lots)"))
    _error("INVALID_QUERY", provisioned.search("Accounts", criteria="Account_Name:equals:x"))
    _error("INVALID_QUERY", provisioned.search("Accounts", criteria="(Modified_Time:greater_than:2024-01-01)"))
    eleven = " and ".join(f"(Account_Name:equals:x{i})" for i in range(11))
    _error("CRITERIA_LIMIT_EXCEEDED", provisioned.search("Accounts", criteria=f"({eleven})"))
    _error("INVALID_DATA", provisioned.search("Accounts", word="a"))
    _error("INVALID_DATA", provisioned.search("Accounts", phone="call me"))
    _error("INVALID_MODULE", provisioned.search("Leadz", word="acme"))


# ------------------------------------------------------------------------ what the SDK asks for by itself

def test_org_modules_and_users(provisioned: Zoho) -> None:
    org = provisioned.get("/org").json()["org"]
    assert len(org) == 1 and {"id", "company_name", "time_zone", "currency", "currency_locale", "iso_code",
                              "primary_zuid", "license_details"} <= set(org[0])
    modules = provisioned.get("/settings/modules").json()["modules"]
    served = {m["api_name"] for m in modules if m["api_supported"]}
    assert served == set(MODULES) and {"Home", "Feeds"} <= {m["api_name"] for m in modules}
    deals = provisioned.get("/settings/modules/Deals").json()["modules"]
    assert [m["api_name"] for m in deals] == ["Deals"] and deals[0]["display_field"] == "Deal_Name"
    body = _error("INVALID_MODULE", provisioned.get("/settings/modules/Leadz"))
    assert body["details"] == {"resource_path_index": 2}
    me = provisioned.get("/users", type="CurrentUser").json()["users"][0]
    single = provisioned.get(f"/users/{me['id']}").json()["users"]
    assert single == [me]
    _error("INVALID_DATA", provisioned.get("/users/4150868000000999999"))
    calls = provisioned.inspect("calls")["by_endpoint"]
    assert {"GET org", "GET settings/modules", "GET settings/modules/{api_name}", "GET users/{id}"} <= set(calls)


def test_contacts_and_campaigns_that_deal_lookups_point_at(provisioned: Zoho) -> None:
    lookups = {f["api_name"]: f["lookup"]["module"]["api_name"]
               for f in provisioned.fields("Deals").values() if f["data_type"] == "lookup"}
    assert lookups == {"Account_Name": "Accounts", "Contact_Name": "Contacts", "Campaign_Source": "Campaigns"}
    ids = {f["lookup"]["module"]["id"] for f in provisioned.fields("Deals").values() if f["data_type"] == "lookup"}
    assert len(ids) == 3
    for module, name in (("Contacts", "Full_Name"), ("Campaigns", "Campaign_Name")):
        meta = provisioned.fields(module)
        assert name in meta and not any(f["custom_field"] for f in meta.values())
        listing = provisioned.get(f"/{module}", fields=f"{name},Owner").json()
        assert listing["info"]["count"] > 0 and all(r[name] for r in listing["data"])
        one = provisioned.get(f"/{module}/{listing['data'][0]['id']}").json()["data"][0]
        assert one[name] == listing["data"][0][name]
    contact = provisioned.records("Contacts")[0]
    account = contact["Account_Name"]["id"]
    assert account in {r["id"] for r in provisioned.records("Accounts")}
    rows = provisioned.coql(f"select Full_Name, Email from Contacts where Account_Name = '{account}'").json()["data"]
    assert contact["Full_Name"] in [r["Full_Name"] for r in rows]


def test_contacts_take_writes_and_a_bare_org_upserts_tasks_without_a_key(fresh_bare: Zoho) -> None:
    zoho = fresh_bare
    account = zoho.records("Accounts")[2]
    made = zoho.post("/Contacts", {"data": [{"First_Name": "Ada", "Last_Name": "Lovelace",
                                             "Email": "ada.lovelace@analytical.example",
                                             "Account_Name": {"id": account["id"]}}]})
    assert made.status_code == 201, made.text
    cid = made.json()["data"][0]["details"]["id"]
    contact = zoho.get(f"/Contacts/{cid}").json()["data"][0]
    assert contact["Full_Name"] == "Ada Lovelace"
    assert contact["Account_Name"] == {"name": account["Account_Name"], "id": account["id"]}
    assert [r["id"] for r in zoho.search("Contacts", email="ada.lovelace@analytical.example").json()["data"]] == [cid]
    missing = zoho.post("/Contacts", {"data": [{"First_Name": "No", "Email": "x@y.example"}]}).json()["data"][0]
    assert missing["code"] == "MANDATORY_NOT_FOUND" and missing["details"]["api_name"] == "Last_Name"
    # a bare org has no task key, so an upsert without duplicate_check_fields simply inserts
    task = {"Subject": "Call about overdue invoices", "What_Id": {"id": account["id"]}, "$se_module": "Accounts"}
    first = zoho.post("/Tasks/upsert", {"data": [task]}).json()["data"][0]
    second = zoho.post("/Tasks/upsert", {"data": [task]}).json()["data"][0]
    assert first["action"] == second["action"] == "insert" and first["details"]["id"] != second["details"]["id"]
    touched = requests.post(
        f"{zoho.server.url}/__sandbox/touch", json={"object": "Contacts", "count": 3}, timeout=5).json()
    assert len(touched["ids"]) == 3
    for rid in touched["ids"]:
        row = zoho.get(f"/Contacts/{rid}").json()["data"][0]
        assert "Status" not in row and row["Title"]


def test_label_clashes_reset_and_unknown_variants(fresh_bare: Zoho) -> None:
    zoho = fresh_bare
    for label in ("Risk Score", "Risk-Score", "Risk Score (0-100)"):
        assert zoho.post("/settings/fields", {"fields": [{"field_label": label, "data_type": "double"}]},
                         module="Accounts").status_code == 201
    names = {f["field_label"]: name for name, f in zoho.fields("Accounts").items() if f["custom_field"]}
    assert names == {"Risk Score": "Risk_Score", "Risk-Score": "Risk_Score1", "Risk Score (0-100)": "Risk_Score_0_100"}
    zoho.inspect("reset", "POST")  # back to the org as it started: the created fields are gone
    assert not any(f["custom_field"] for f in zoho.fields("Accounts").values())
    with pytest.raises(ValueError, match="provisioned, bare, renamed"), \
            running_sandbox("zoho", accounts=1, org="half-done"):
        pass


def test_a_user_has_the_recorded_shape(provisioned: Zoho) -> None:
    recording = FIXTURES / "nango_get-user.test.json"
    if not recording.is_file():
        pytest.skip(f"recordings not found at {FIXTURES}")
    api = json.loads(recording.read_text(encoding="utf-8"))["api"]
    recorded = next(iter(next(iter(api.values())).values()))["response"]["users"][0]
    me = provisioned.get("/users", type="CurrentUser").json()["users"][0]
    ours = provisioned.get(f"/users/{me['id']}").json()["users"][0]
    assert set(recorded) <= set(ours), sorted(set(recorded) - set(ours))
    for key, value in recorded.items():
        if value is not None and ours[key] is not None:
            assert type(value) is type(ours[key]), key


@pytest.mark.parametrize("variant", ["bare", "renamed"])
def test_user_edits_land_in_the_org_s_own_fields(variant: str) -> None:
    with running_sandbox("zoho", accounts=20, deals_per_account=1, seed=SEED, today=TODAY, org=variant) as sb:
        zoho = Zoho(sb)
        where = zoho.inspect("org")["fields"]["accounts"]
        watched = ["Employees"] if variant == "bare" else [where[k] for k in ("max_days_past_due", "disputes_12m")]
        before = {r["id"]: r for r in zoho.records("Accounts")}
        ids = requests.post(f"{sb.url}/__sandbox/touch", json={"object": "Accounts", "count": 5}, timeout=5).json()["ids"]
        after = {r["id"]: r for r in zoho.records("Accounts")}
        for rid in ids:
            assert after[rid]["Modified_Time"] != before[rid]["Modified_Time"]
            assert any(after[rid][f] != before[rid][f] for f in watched), rid
        assert all(after[r] == before[r] for r in before if r not in ids)
