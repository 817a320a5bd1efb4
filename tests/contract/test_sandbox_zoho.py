"""Contract tests of the Zoho CRM v8 sandbox, driven over loopback with plain `requests` as a real client.

Every test logs in the way a client does (credentials from `/__sandbox/credentials`, a refresh-token
grant, then `Authorization: Zoho-oauthtoken …`). Time moves through the app's injectable `clock`;
nothing sleeps. Response shapes are checked against real recordings in `shared/fixtures/zoho/`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.sandbox.server import SandboxServer, make_app, running_sandbox
from connector.sandbox.zoho import ZohoApp

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "zoho"
TODAY = date(2026, 5, 14)
# a moment after every generated record and after any token minted on the real clock
LATER = float(int(max(time.time(), datetime(2026, 5, 20, tzinfo=UTC).timestamp()) + 86_400))


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class Zoho:
    """A minimal client speaking Zoho's wire protocol, as the connector's client will."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.creds = requests.get(server.url + "/__sandbox/credentials", timeout=5).json()
        self.http = requests.Session()
        self.api = self.creds["api_url"] + "/crm/v8"
        self.login()

    @property
    def app(self) -> ZohoApp:
        app = self.server.sandbox.app
        assert isinstance(app, ZohoApp)
        return app

    def grant(self, **override: str) -> requests.Response:
        params = {"grant_type": "refresh_token", "client_id": self.creds["client_id"],
                  "client_secret": self.creds["client_secret"], "refresh_token": self.creds["refresh_token"],
                  **override}
        return requests.post(self.creds["accounts_url"] + "/oauth/v2/token", params=params, timeout=5)

    def login(self) -> str:
        token = self.grant().json()["access_token"]
        self.http.headers["Authorization"] = f"Zoho-oauthtoken {token}"
        return token

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.http.get(self.api + path, timeout=10, **kw)

    def put(self, path: str, body: Any) -> requests.Response:
        return self.http.put(self.api + path, json=body, timeout=10)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.http.post(self.api + path, json=body, timeout=10, **kw)

    def inspect(self, what: str, method: str = "GET", body: Any = None) -> Any:
        return requests.request(method, f"{self.server.url}/__sandbox/{what}", json=body, timeout=10).json()

    def record(self, module: str, rid: str) -> dict[str, Any]:
        return next(r for r in self.inspect(f"records/{module}")["records"] if r["id"] == rid)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with running_sandbox("zoho", accounts=300, deals_per_account=2, seed=7, today=TODAY) as sb:
        yield sb


@pytest.fixture
def zoho(server: SandboxServer) -> Iterator[Zoho]:
    requests.post(server.url + "/__sandbox/reset", timeout=10)
    client = Zoho(server)
    yield client
    client.app.clock = time.time
    client.app.token_lifetime_s = 3600


@pytest.fixture(scope="module")
def big() -> Iterator[SandboxServer]:
    with running_sandbox("zoho", accounts=2300, deals_per_account=0, seed=3, today=TODAY) as sb:
        yield sb


def _error(code: str, resp: requests.Response, status: int = 400) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["code"] == code and body["status"] == "error" and isinstance(body["details"], dict), body
    return body


# ------------------------------------------------------------------------------------------------ OAuth

def test_refresh_grant_with_query_or_form_params(zoho: Zoho) -> None:
    body = zoho.grant().json()
    assert set(body) == {"access_token", "scope", "api_domain", "token_type", "expires_in"}
    assert body["access_token"].startswith("1000.") and body["token_type"] == "Bearer"
    assert body["api_domain"] == zoho.server.url and body["expires_in"] == 3600
    form = dict(grant_type="refresh_token", client_id=zoho.creds["client_id"],
                client_secret=zoho.creds["client_secret"], refresh_token=zoho.creds["refresh_token"])
    by_form = requests.post(zoho.creds["accounts_url"] + "/oauth/v2/token", data=form, timeout=5)
    assert by_form.status_code == 200 and "access_token" in by_form.json()
    resp = zoho.get("/Accounts", params={"fields": "Account_Name", "per_page": 1})
    reset = datetime.fromisoformat(resp.headers["x-accesstoken-reset"])
    assert resp.status_code == 200 and reset.utcoffset() is not None


def test_grant_errors_come_back_with_http_200(zoho: Zoho) -> None:
    bad_code = zoho.grant(refresh_token="1000.deadbeef.cafe")
    assert (bad_code.status_code, bad_code.json()) == (200, {"error": "invalid_code"})
    bad_client = zoho.grant(client_secret="nope")
    assert (bad_client.status_code, bad_client.json()) == (200, {"error": "invalid_client"})


def test_a_refresh_token_mints_at_most_ten_tokens_per_ten_minutes(zoho: Zoho) -> None:
    clock = Clock(LATER)
    zoho.app.clock = clock
    for _ in range(10):
        assert "access_token" in zoho.grant().json()
        clock.now += 30
    blocked = zoho.grant()
    assert blocked.status_code == 400
    assert blocked.json()["error"] == "Access Denied" and "too many requests" in blocked.json()["error_description"]
    clock.now = LATER + 601
    assert "access_token" in zoho.grant().json()


def test_sixteenth_live_token_invalidates_the_oldest(zoho: Zoho) -> None:
    clock = Clock(LATER)
    zoho.app.clock = clock
    tokens = []
    for n in range(16):
        tokens.append(zoho.grant().json()["access_token"])
        clock.now += 61 if n % 10 < 9 else 600
    def status(token: str) -> int:
        return requests.get(zoho.api + "/Accounts", params={"fields": "Account_Name"}, timeout=5,
                            headers={"Authorization": f"Zoho-oauthtoken {token}"}).status_code
    assert status(tokens[0]) == 401 and status(tokens[-1]) == 200


def test_expired_token_gets_401_invalid_token(zoho: Zoho) -> None:
    clock = Clock(LATER)
    zoho.app.clock = clock
    zoho.app.token_lifetime_s = 120
    assert zoho.grant().json()["expires_in"] == 120
    zoho.login()
    assert zoho.get("/Accounts", params={"fields": "Account_Name"}).status_code == 200
    clock.now += 121
    expired = zoho.get("/Accounts", params={"fields": "Account_Name"})
    assert expired.status_code == 401
    assert expired.json() == {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token",
                              "status": "error"}
    no_header = requests.get(zoho.api + "/Accounts", params={"fields": "Account_Name"}, timeout=5)
    _error("AUTHENTICATION_FAILURE", no_header, 401)


def test_session_expiry_fault_kills_tokens_and_a_refresh_recovers(zoho: Zoho) -> None:
    zoho.inspect("faults", "POST", {"session_expiry_after": 3})
    zoho.login()
    codes = [zoho.get("/Deals", params={"fields": "Deal_Name"}).status_code for _ in range(3)]
    assert codes == [200, 200, 401]
    zoho.login()
    assert zoho.get("/Deals", params={"fields": "Deal_Name"}).status_code == 200


# ------------------------------------------------------------------------------------------------ reads

def test_fields_is_required_and_sort_by_is_checked(zoho: Zoho) -> None:
    missing = zoho.get("/Accounts")
    assert missing.json() == {"code": "REQUIRED_PARAM_MISSING", "details": {"param_name": "fields"},
                              "message": "required param is missing", "status": "error"}
    bad_sort = _error("INVALID_DATA", zoho.get("/Accounts", params={"fields": "Account_Name", "sort_by": "Name"}))
    assert bad_sort["details"]["supported_values"] == ["id", "Created_Time", "Modified_Time"]
    _error("INVALID_DATA", zoho.get("/Accounts", params={"fields": "Account_Name,Nope"}))
    _error("LIMIT_EXCEEDED", zoho.get("/Accounts", params={"fields": "Account_Name", "per_page": 201}))
    _error("INVALID_MODULE", zoho.get("/Leadz", params={"fields": "x"}))
    _error("INVALID_URL_PATTERN", zoho.get("/Accounts/1/2/3/4"), 404)


def test_only_requested_fields_come_back_with_id_and_zoho_value_formats(zoho: Zoho) -> None:
    resp = zoho.get("/accounts", params={"fields": "Account_Name,Owner,Modified_Time,Tag,Credit_Limit",
                                         "per_page": 50, "sort_by": "Modified_Time", "sort_order": "asc"})
    data = resp.json()["data"]
    assert all(set(r) == {"id", "Account_Name", "Owner", "Modified_Time", "Tag", "Credit_Limit"} for r in data)
    assert all(isinstance(r["id"], str) and len(r["id"]) == 19 and r["id"].isdigit() for r in data)
    assert all(set(r["Owner"]) == {"name", "id", "email"} and isinstance(r["Tag"], list) for r in data)
    stamps = [r["Modified_Time"] for r in data]
    assert all(s.endswith("+05:30") and "." not in s for s in stamps)
    assert [datetime.fromisoformat(s) for s in stamps] == sorted(datetime.fromisoformat(s) for s in stamps)
    picked = [data[3]["id"], data[7]["id"]]
    by_ids = zoho.get("/Accounts", params={"fields": "Account_Name", "ids": ",".join(picked)}).json()["data"]
    assert sorted(r["id"] for r in by_ids) == sorted(picked)


def test_paging_walks_page_then_page_token_past_2000(big: SandboxServer) -> None:
    zoho = Zoho(big)
    params = {"fields": "Account_Name,Modified_Time", "per_page": 200, "sort_by": "Modified_Time",
              "sort_order": "asc"}
    seen: list[str] = []
    info: dict[str, Any] = {}
    for page in range(1, 11):
        body = zoho.get("/Accounts", params={**params, "page": page}).json()
        info = body["info"]
        seen += [r["id"] for r in body["data"]]
        assert info["page"] == page and info["more_records"] is True
    assert set(info) >= {"per_page", "count", "page", "sort_by", "sort_order", "more_records", "next_page_token",
                         "previous_page_token", "page_token_expiry", "call", "email"}
    limit = zoho.get("/Accounts", params={**params, "page": 11})
    assert limit.json() == {"code": "DISCRETE_PAGINATION_LIMIT_EXCEEDED", "details": {"limit": 2000},
                            "message": "You can only get the first 2000 records without using page_token param",
                            "status": "error"}
    tokens = set()
    while info["more_records"]:
        token = info["next_page_token"]
        assert token not in tokens
        tokens.add(token)
        body = zoho.get("/Accounts", params={"fields": params["fields"], "per_page": 200, "page_token": token}).json()
        info = body["info"]
        seen += [r["id"] for r in body["data"]]
    assert len(seen) == len(set(seen)) == 2300 and info["next_page_token"] is None
    _error("AMBIGUITY_DURING_PROCESSING", zoho.get("/Accounts", params={**params, "page": 1, "page_token": token}))


def test_page_tokens_snapshot_the_order_and_expire(big: SandboxServer) -> None:
    zoho = Zoho(big)
    clock = Clock(LATER)
    zoho.app.clock = clock
    zoho.login()
    try:
        first = zoho.get("/Accounts", params={"fields": "Account_Name", "per_page": 200, "sort_by": "Modified_Time",
                                              "sort_order": "asc"}).json()
        token = first["info"]["next_page_token"]
        expiry = datetime.fromisoformat(first["info"]["page_token_expiry"]).timestamp()
        zoho.inspect("touch", "POST", {"object": "Accounts", "count": 50})  # reorders the live list
        clock.now += 10
        second = zoho.get("/Accounts", params={"fields": "Account_Name", "per_page": 200, "page_token": token})
        snapshot = zoho.app.tokens.resolve(token)
        assert snapshot is not None
        assert [r["id"] for r in second.json()["data"]] == snapshot[0].ids[200:400]
        clock.now = expiry + 1
        zoho.login()  # a day later the access token has long expired too
        expired = zoho.get("/Accounts", params={"fields": "Account_Name", "per_page": 200, "page_token": token})
        assert expired.json() == {"status": "error", "code": "EXPIRED_VALUE", "message": "Page token expired",
                                  "details": {"api_name": "page_token", "json_path": "$.query.page_token"}}
        _error("TOKEN_BOUND_DATA_MISMATCH", zoho.get("/Accounts", params={"fields": "Account_Name",
                                                                           "page_token": "bogus"}))
    finally:
        zoho.app.clock = time.time


def test_if_modified_since_gives_304_then_only_touched_records(zoho: Zoho) -> None:
    clock = Clock(LATER)
    zoho.app.clock = clock
    zoho.login()
    cutoff = datetime.fromtimestamp(LATER - 60, UTC).isoformat(timespec="seconds")
    params = {"fields": "Account_Name,Modified_Time,Modified_By", "sort_by": "Modified_Time", "sort_order": "asc"}
    nothing = zoho.get("/Accounts", params=params, headers={"If-Modified-Since": cutoff})
    assert nothing.status_code == 304 and nothing.content == b""
    touched = zoho.inspect("touch", "POST", {"object": "Accounts", "count": 4})["ids"]
    again = zoho.inspect("touch", "POST", {"object": "Accounts", "count": 4})["ids"]
    assert not set(touched) & set(again)
    changed = zoho.get("/Accounts", params=params, headers={"If-Modified-Since": cutoff}).json()["data"]
    assert sorted(r["id"] for r in changed) == sorted(touched + again)
    integration = zoho.get("/users", params={"type": "CurrentUser"}).json()["users"][0]["id"]
    assert all(r["Modified_By"]["id"] != integration for r in changed)
    _error("INVALID_DATA", zoho.get("/Accounts", params=params, headers={"If-Modified-Since": "yesterday"}))


def test_empty_page_is_204_and_single_record_get(zoho: Zoho) -> None:
    empty = zoho.get("/Accounts", params={"fields": "Account_Name", "per_page": 200, "page": 3})
    assert empty.status_code == 204 and empty.content == b""
    rid = zoho.inspect("records/Accounts")["records"][0]["id"]
    one = zoho.get(f"/Accounts/{rid}").json()["data"]
    assert len(one) == 1 and one[0]["id"] == rid and "$state" in one[0]
    narrowed = zoho.get(f"/Accounts/{rid}", params={"fields": "Account_Name"}).json()["data"][0]
    assert set(narrowed) == {"id", "Account_Name"}
    assert zoho.get("/Accounts/4150868000999999999").status_code == 204


# ------------------------------------------------------------------------------------------------ writes

def test_put_answers_200_207_400_with_one_envelope_shape(zoho: Zoho) -> None:
    ids = [r["id"] for r in zoho.inspect("records/Accounts")["records"][:3]]
    ok = zoho.put("/Accounts", {"data": [{"id": i, "Risk_Score": 72.5, "Risk_Tier": "high"} for i in ids],
                                "trigger": []})
    assert ok.status_code == 200 and [d["details"]["id"] for d in ok.json()["data"]] == ids
    zoho.inspect("faults", "POST", {"record_errors": {ids[1]: "RECORD_LOCKED", ids[2]: "INVALID_DATA"}})
    mixed = zoho.put("/Accounts", {"data": [{"id": i, "Risk_Score": 10.0} for i in ids], "trigger": []})
    assert mixed.status_code == 207
    assert [d["code"] for d in mixed.json()["data"]] == ["SUCCESS", "RECORD_LOCKED", "INVALID_DATA"]
    assert mixed.json()["data"][1]["details"] == {"api_name": "id", "json_path": "$.data[1].id",
                                                  "action": "record_locking"}
    assert zoho.record("Accounts", ids[1])["Risk_Score"] == 72.5  # a failed record is left unchanged
    failed = zoho.put("/Accounts", {"data": [{"id": ids[1], "Risk_Score": 1.0},
                                             {"id": ids[0], "Not_A_Field": 1}]})
    assert failed.status_code == 400
    assert failed.json()["data"][1] == {"code": "INVALID_DATA", "details": {
        "api_name": "Not_A_Field", "json_path": "$.data[1].Not_A_Field"},
        "message": "the field api name given seems to be invalid", "status": "error"}
    assert {tuple(sorted(d)) for d in (*ok.json()["data"], *failed.json()["data"])} == {
        ("code", "details", "message", "status")}


def test_type_checks_and_write_stamps(zoho: Zoho) -> None:
    rid = zoho.inspect("records/Accounts")["records"][5]["id"]
    cases = [({"Max_Days_Past_Due": "12"}, "expected_data_type"), ({"Risk_Tier": "High"}, "supported_values"),
             ({"Risk_Watchlist": "yes"}, "expected_data_type"), ({"Risk_Override_Until": "01/02/2026"},
                                                                  "expected_data_type"),
             ({"Risk_Scored_At": "2026-05-14T10:00:00"}, "expected_data_type"), ({"Risk_Reasons": "x" * 1001},
                                                                                 "maximum_length")]
    for change, detail in cases:
        resp = zoho.put("/Accounts", {"data": [{"id": rid, **change}]})
        assert resp.status_code == 400 and detail in resp.json()["data"][0]["details"], (change, resp.text)
    good = zoho.put(f"/Accounts/{rid}", {"data": [{"Risk_Scored_At": "2026-05-14T10:00:00+00:00",
                                                    "Risk_Watchlist": True, "Risk_Tier": "critical"}]})
    assert good.status_code == 200
    details = good.json()["data"][0]["details"]
    integration = zoho.get("/users", params={"type": "CurrentUser"}).json()["users"][0]
    assert details["Modified_By"] == {"name": integration["full_name"], "id": integration["id"]}
    rec = zoho.record("Accounts", rid)
    assert rec["Risk_Scored_At"] == "2026-05-14T15:30:00+05:30" and rec["Modified_Time"] == details["Modified_Time"]


def test_at_most_100_records_per_call_and_trigger_is_recorded(zoho: Zoho) -> None:
    ids = [r["id"] for r in zoho.inspect("records/Accounts")["records"][:101]]
    over = zoho.put("/Accounts", {"data": [{"id": i, "Risk_Score": 1.0} for i in ids], "trigger": []})
    assert over.status_code == 400 and over.json()["data"][0]["code"] == "LIMIT_EXCEEDED"
    assert zoho.put("/Accounts", {"data": [{"id": ids[0], "Risk_Score": 1.0}], "trigger": []}).status_code == 200
    assert zoho.app.last_trigger == []
    zoho.put("/Accounts", {"data": [{"id": ids[0], "Risk_Score": 2.0}]})
    assert zoho.app.last_trigger is None
    zoho.put("/Accounts", {"data": [{"id": ids[0], "Risk_Score": 3.0}], "trigger": ["workflow"]})
    assert zoho.app.triggers[-1] == {"module": "Accounts", "op": "update", "trigger": ["workflow"]}
    _error("INVALID_DATA", zoho.put("/Accounts", {"data": [{"id": ids[0]}], "trigger": ["emails"]}))


def test_tasks_need_se_module_and_keep_their_key_unique(zoho: Zoho) -> None:
    account = zoho.inspect("records/Accounts")["records"][0]
    task = {"Subject": "Credit risk review", "What_Id": {"id": account["id"]}, "$se_module": "Accounts",
            "Status": "Not Started", "Priority": "High", "Due_Date": "2026-06-01", "Riskbridge_Key": "acc:1:high"}
    created = zoho.post("/Tasks", {"data": [task], "trigger": []})
    assert created.status_code == 201 and created.json()["data"][0]["message"] == "record added"
    stored = zoho.record("Tasks", created.json()["data"][0]["details"]["id"])
    assert stored["What_Id"] == {"name": account["Account_Name"], "id": account["id"]}
    assert stored["$se_module"] == "Accounts"
    bare = {k: v for k, v in task.items() if k != "$se_module"} | {"Riskbridge_Key": "k3"}
    missing = zoho.post("/Tasks", {"data": [bare]}).json()["data"][0]
    assert (missing["code"], missing["details"]["api_name"]) == ("MANDATORY_NOT_FOUND", "$se_module")
    no_subject = zoho.post("/Tasks", {"data": [{"Status": "Not Started"}]}).json()["data"][0]
    assert (no_subject["code"], no_subject["details"]["api_name"]) == ("MANDATORY_NOT_FOUND", "Subject")
    bad_status = zoho.post("/Tasks", {"data": [{**task, "Riskbridge_Key": "k4", "Status": "Open"}]})
    assert bad_status.json()["data"][0]["details"]["api_name"] == "Status"
    duplicate = zoho.post("/Tasks", {"data": [task]})
    assert duplicate.status_code == 400
    dup = duplicate.json()["data"][0]
    assert dup["code"] == "DUPLICATE_DATA" and dup["details"]["duplicate_record"]["id"] == stored["id"]
    upsert = zoho.post("/Tasks/upsert", {"data": [task, {**task, "Riskbridge_Key": "acc:2:high"}],
                                         "duplicate_check_fields": ["Riskbridge_Key"], "trigger": []})
    assert upsert.status_code == 200
    assert [(d["action"], d["duplicate_field"]) for d in upsert.json()["data"]] == [
        ("update", "Riskbridge_Key"), ("insert", None)]
    assert upsert.json()["data"][0]["details"]["id"] == stored["id"]


def test_add_and_remove_tags_keep_users_tags(zoho: Zoho) -> None:
    tagged = next(r for r in zoho.inspect("records/Accounts")["records"] if r["Tag"])
    user_tags = {t["name"] for t in tagged["Tag"]}
    plain = next(r["id"] for r in zoho.inspect("records/Accounts")["records"] if not r["Tag"])
    added = zoho.post("/Accounts/actions/add_tags", {"tags": [{"name": "credit-watchlist"}],
                                                     "ids": [tagged["id"], plain], "over_write": False})
    body = added.json()
    assert added.status_code == 200 and (body["success_count"], body["locked_count"]) == ("2", "0")
    assert body["data"][0]["message"] == "tags updated successfully"
    assert {t["name"] for t in body["data"][0]["details"]["tags"]} == user_tags | {"credit-watchlist"}
    assert zoho.record("Accounts", tagged["id"])["watchlist"] is True
    removed = zoho.post("/Accounts/actions/remove_tags", {"tags": [{"name": "credit-watchlist"}]},
                        params={"ids": f"{tagged['id']},{plain}"})
    assert removed.status_code == 200
    assert {t["name"] for t in zoho.record("Accounts", tagged["id"])["Tag"]} == user_tags
    zoho.post(f"/Accounts/{tagged['id']}/actions/add_tags", {"tags": [{"name": "credit-watchlist"}]},
              params={"over_write": "true"})
    assert [t["name"] for t in zoho.record("Accounts", tagged["id"])["Tag"]] == ["credit-watchlist"]
    zoho.inspect("faults", "POST", {"record_errors": {plain: "RECORD_LOCKED"}})
    locked = zoho.post("/Accounts/actions/add_tags", {"tags": [{"name": "credit-watchlist"}], "ids": [plain]})
    assert locked.status_code == 400 and locked.json()["locked_count"] == "1"
    _error("INVALID_DATA", zoho.post("/Accounts/actions/add_tags", {"tags": [{"name": "x" * 26}], "ids": [plain]}))


def test_tag_definitions(zoho: Zoho) -> None:
    listed = zoho.get("/settings/tags", params={"module": "Accounts"}).json()
    assert "credit-watchlist" in {t["name"] for t in listed["tags"]} and listed["info"]["count"] >= 2
    dup = zoho.post("/settings/tags", {"tags": [{"name": "credit-watchlist", "color_code": "#F17574"}]},
                    params={"module": "Accounts"})
    assert dup.status_code == 400 and dup.json()["tags"][0]["code"] == "DUPLICATE_DATA"
    new = zoho.post("/settings/tags", {"tags": [{"name": "credit-watchlist", "color_code": "#F17574"}]},
                    params={"module": "Deals"})
    assert new.status_code == 201 and new.json()["tags"][0]["details"]["name"] == "credit-watchlist"
    _error("REQUIRED_PARAM_MISSING", zoho.get("/settings/tags"))


def test_field_metadata_covers_every_field(zoho: Zoho) -> None:
    fields = {f["api_name"]: f for f in zoho.get("/settings/fields", params={"module": "Accounts"}).json()["fields"]}
    for name in ("Account_Name", "Annual_Revenue", "Bureau_Score", "Max_Days_Past_Due", "Risk_Score", "Risk_Tier",
                 "Risk_Reasons", "Risk_Watchlist", "Risk_Scored_At", "Risk_Override_Tier", "Risk_Override_Until"):
        assert name in fields, name
    assert {"api_name", "field_label", "data_type", "json_type", "custom_field", "read_only", "field_read_only",
            "length", "decimal_place", "pick_list_values", "id", "unique"} <= set(fields["Risk_Tier"])
    assert [v["actual_value"] for v in fields["Risk_Tier"]["pick_list_values"]][1:] == ["low", "medium", "high",
                                                                                          "critical"]
    assert (fields["Risk_Score"]["data_type"], fields["Risk_Score"]["json_type"]) == ("double", "double")
    assert fields["Risk_Score"]["custom_field"] and not fields["Risk_Score"]["read_only"]
    assert fields["Modified_Time"]["read_only"] and fields["Annual_Revenue"]["data_type"] == "currency"
    tasks = {f["api_name"]: f for f in zoho.get("/settings/fields", params={"module": "tasks"}).json()["fields"]}
    assert tasks["Riskbridge_Key"]["unique"] and tasks["What_Id"]["data_type"] == "lookup"
    deals = {f["api_name"] for f in zoho.get("/settings/fields", params={"module": "Deals"}).json()["fields"]}
    assert {"Account_Name", "Stage", "Closing_Date", "Risk_Flags", "Payment_Terms_Days"} <= deals


def test_coql_subset(zoho: Zoho) -> None:
    def coql(query: str) -> requests.Response:
        return zoho.post("/coql", {"select_query": query})

    rows = coql("select Account_Name, Owner, Modified_Time from Accounts where Modified_Time > "
                "'2020-01-01T00:00:00+00:00' and (Industry in ('Retail', 'Construction') or Credit_Limit >= 100000) "
                "order by Modified_Time asc, id asc limit 5, 20").json()
    assert rows["info"]["count"] == len(rows["data"]) <= 20 and rows["data"]
    assert set(rows["data"][0]) == {"Account_Name", "Owner", "Modified_Time", "id"}
    assert set(rows["data"][0]["Owner"]) == {"id"}
    stamps = [datetime.fromisoformat(r["Modified_Time"]) for r in rows["data"]]
    assert stamps == sorted(stamps)
    by_id = coql(f"select Deal_Name, Account_Name.Account_Name from Deals where Account_Name = "
                 f"'{rows['data'][0]['id']}'").json()["data"]
    assert {r["Account_Name.Account_Name"] for r in by_id} == {rows["data"][0]["Account_Name"]}
    parents = [rows["data"][0]["id"], rows["data"][1]["id"]]
    children = coql(f"select Deal_Name, Account_Name from Deals where Account_Name.id in ('{parents[0]}', "
                    f"'{parents[1]}') order by id asc").json()["data"]
    assert {r["Account_Name"]["id"] for r in children} == set(parents) and len(children) == 4
    assert coql("select id from Accounts where Account_Name = 'no such firm'").status_code == 204
    _error("SYNTAX_ERROR", coql("select from Accounts where id = '1'"))
    assert coql("select id from Accounts").json()["details"] == {"clause": "where"}
    _error("LIMIT_EXCEEDED", coql("select id from Accounts where id is not null limit 2001"))
    _error("INVALID_MODULE", coql("select id from Leadz where id is not null"))
    _error("INVALID_QUERY", coql("select Nope from Accounts where id is not null"))
    _error("INVALID_QUERY", coql("select id from Accounts where Account_Name > 'a'"))


def test_deleted_records(zoho: Zoho) -> None:
    assert zoho.get("/Deals/deleted").status_code == 204
    rid = zoho.inspect("records/Deals")["records"][0]["id"]
    assert zoho.http.delete(f"{zoho.api}/Deals/{rid}", timeout=5).status_code == 200
    gone = zoho.get("/Deals/deleted", params={"type": "all"}).json()["data"]
    assert gone[0]["id"] == rid and set(gone[0]) == {"deleted_by", "id", "display_name", "type", "created_by",
                                                     "deleted_time"}


# ------------------------------------------------------------------------------------------------ faults

def test_every_fault_kind_has_its_wire_response(zoho: Zoho) -> None:
    def read() -> requests.Response:
        return zoho.get("/Accounts", params={"fields": "Account_Name", "per_page": 1})

    zoho.inspect("faults", "POST", {"rate_limit": {"every": 1, "times": 1}})
    limited = read()
    assert limited.status_code == 429 and limited.json()["code"] == "TOO_MANY_REQUESTS"
    assert set(limited.json()) == {"code", "details", "message", "status"} and read().status_code == 200
    zoho.inspect("faults", "POST", {"error_500": {"every": 1, "times": 1}})
    assert read().json() == {"code": "INTERNAL_ERROR", "details": {}, "message": "Internal Server Error",
                             "status": "error"}
    zoho.inspect("faults", "POST", {"error_503": {"every": 1, "times": 1}})
    unavailable = read()
    assert unavailable.status_code == 503 and unavailable.headers["Content-Type"].startswith("text/html")
    zoho.inspect("faults", "POST", {"drop": {"every": 1, "times": 1}})
    with pytest.raises(requests.exceptions.RequestException):
        read()
    zoho.inspect("faults", "POST", {"latency_ms": 40})
    assert read().elapsed >= timedelta(milliseconds=40)
    zoho.inspect("faults", "POST", {"quota_after": 4})
    assert [read().status_code for _ in range(3)] == [200, 200, 200]
    assert read().headers["X-API-CREDITS-REMAINING"] == "0"
    spent = read()
    assert spent.status_code == 429 and spent.json()["code"] == "TOO_MANY_REQUESTS"
    assert spent.headers["X-API-CREDITS-REMAINING"] == "0" and spent.json()["message"] != limited.json()["message"]
    assert "access_token" in zoho.grant().json()  # Zoho Accounts does not spend CRM credits


# ------------------------------------------------------------------------------------------------ inspection

def test_inspection_api(zoho: Zoho) -> None:
    accounts = zoho.inspect("records/accounts")
    assert accounts["count"] == 300 and {"Tag", "watchlist", "Risk_Score"} <= set(accounts["records"][0])
    assert requests.get(zoho.server.url + "/__sandbox/records/Leads", timeout=5).status_code == 404
    zoho.inspect("calls", "DELETE")
    zoho.get("/Accounts", params={"fields": "Account_Name"})
    zoho.put("/Accounts", {"data": [{"id": accounts["records"][0]["id"], "Risk_Score": 5.0}]})
    calls = zoho.inspect("calls")
    assert (calls["total"], calls["reads"], calls["writes"]) == (2, 1, 1)
    assert calls["by_endpoint"] == {"GET Accounts": 1, "PUT Accounts": 1}
    assert zoho.inspect("calls", "DELETE")["total"] == 0
    assert zoho.inspect("faults", "POST", {"latency_ms": 0, "seed": 4})["seed"] == 4
    assert zoho.inspect("faults")["seed"] == 4
    first = zoho.inspect("touch", "POST", {"object": "Deals", "count": 3})["ids"]
    second = zoho.inspect("touch", "POST", {"object": "Deals", "count": 3})["ids"]
    assert len(set(first + second)) == 6
    deal = zoho.record("Deals", first[0])
    assert deal["Modified_By"]["id"] != zoho.get("/users", params={"type": "CurrentUser"}).json()["users"][0]["id"]
    zoho.inspect("reset", "POST")
    assert zoho.record("Accounts", accounts["records"][0]["id"]) == accounts["records"][0]
    assert set(zoho.inspect("credentials")) == {"client_id", "client_secret", "refresh_token", "accounts_url",
                                                "api_url"}


def test_html_view_renders(zoho: Zoho) -> None:
    rid = zoho.inspect("records/Accounts")["records"][0]["id"]
    zoho.put("/Accounts", {"data": [{"id": rid, "Risk_Score": 88.0, "Risk_Tier": "critical",
                                     "Risk_Reasons": "Invoices 60+ days past due"}]})
    zoho.post("/Accounts/actions/add_tags", {"tags": [{"name": "credit-watchlist"}], "ids": [rid]})
    listing = requests.get(zoho.server.url + "/", timeout=5)
    assert listing.status_code == 200 and "Invoices 60+ days past due" in listing.text
    assert "credit-watchlist" in listing.text
    page = requests.get(f"{zoho.server.url}/accounts/{rid}", timeout=5)
    assert page.status_code == 200 and "critical" in page.text
    assert requests.get(f"{zoho.server.url}/accounts/nope", timeout=5).status_code == 404


def test_same_seed_same_org() -> None:
    def snapshot(seed: int) -> list[dict[str, Any]]:
        app = make_app("zoho", accounts=120, deals_per_account=1, seed=seed, today=TODAY)
        return [*(app.records("Accounts") or []), *(app.records("Deals") or []), *(app.records("Tasks") or [])]

    assert snapshot(11) == snapshot(11) and snapshot(11) != snapshot(12)


def test_org_has_overrides_user_tags_and_the_watchlist_tag(big: SandboxServer) -> None:
    records = requests.get(big.url + "/__sandbox/records/Accounts", timeout=10).json()["records"]
    overrides = [r for r in records if r["Risk_Override_Tier"]]
    expired = [r for r in overrides if r["Risk_Override_Until"] < TODAY.isoformat()]
    assert 5 <= len(overrides) <= 60 and 0 < len(expired) < len(overrides)
    assert any(r["Tag"] for r in records) and not any(r["watchlist"] for r in records)
    assert all(r["Risk_Score"] is None and r["Risk_Tier"] is None for r in records)


# ------------------------------------------------------------------------------------------------ shapes

def _recorded(name: str) -> dict[str, Any]:
    if not FIXTURES.is_dir():
        pytest.skip(f"recordings not found at {FIXTURES}")
    api = json.loads((FIXTURES / name).read_text(encoding="utf-8"))["api"]
    return next(iter(next(iter(api.values())).values()))


def _kind(value: Any) -> str:
    return {bool: "bool", int: "number", float: "number", str: "str", list: "list", dict: "dict"}.get(
        type(value), "null")


def _assert_same_shape(recorded: dict[str, Any], ours: dict[str, Any], where: str) -> None:
    missing = set(recorded) - set(ours)
    assert not missing, f"{where}: missing keys {sorted(missing)}"
    for key, value in recorded.items():
        if value is None or ours[key] is None:
            continue
        assert _kind(value) == _kind(ours[key]), f"{where}.{key}: {value!r} vs {ours[key]!r}"
        if isinstance(value, dict):
            _assert_same_shape(value, ours[key], f"{where}.{key}")


@pytest.mark.parametrize(("fixture", "module"), [("nango_accounts.test.json", "Accounts"),
                                                 ("nango_deals.test.json", "Deals"),
                                                 ("nango_tasks.test.json", "Tasks")])
def test_records_have_the_recorded_shape(zoho: Zoho, fixture: str, module: str) -> None:
    recorded = _recorded(fixture)["response"]
    rid = zoho.inspect(f"records/{module}")["records"][0]["id"]
    ours = zoho.get(f"/{module}/{rid}").json()["data"][0]
    for record in recorded["data"]:
        _assert_same_shape(record, ours, module)
    listing = zoho.get(f"/{module}", params={"fields": "Owner,Modified_Time"})
    assert set(recorded["info"]) <= set(listing.json()["info"])


@pytest.mark.parametrize(("fixture", "call"), [
    ("nango_create-task.test.json", "create"), ("nango_update-account.test.json", "update"),
    ("nango_upsert-records.test.json", "upsert")])
def test_write_envelopes_have_the_recorded_shape(zoho: Zoho, fixture: str, call: str) -> None:
    recorded = _recorded(fixture)
    rid = zoho.inspect("records/Accounts")["records"][0]["id"]
    sends: dict[str, Callable[[], requests.Response]] = {
        "create": lambda: zoho.post("/Tasks", {"data": [{"Subject": "Test Task"}]}),
        "update": lambda: zoho.put(f"/Accounts/{rid}", {"data": [{"Phone": "555-123-4567"}]}),
        "upsert": lambda: zoho.post("/Tasks/upsert", {"data": [{"Subject": "T", "Riskbridge_Key": "new-key"}]}),
    }
    resp = sends[call]()
    assert resp.status_code == recorded["status"]
    assert set(resp.json()) == set(recorded["response"])
    want, got = recorded["response"]["data"][0], resp.json()["data"][0]
    assert set(want) == set(got) and set(want["details"]) == set(got["details"])
    _assert_same_shape(want, got, call)
    assert set(want["details"]["Modified_By"]) == set(got["details"]["Modified_By"]) == {"name", "id"}
