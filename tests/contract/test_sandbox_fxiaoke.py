"""Contract tests of the Fxiaoke (纷享销客) OpenAPI sandbox, driven over loopback with plain `requests`.

Each test logs in as a client does (credentials from `/__sandbox/credentials`, a token from
`/oauth2.0/token` or `/cgi/corpAccessToken/get/V2`) and checks shapes against docs/crm-fxiaoke.md.
Time moves through the app's injectable `clock`; nothing sleeps.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.config import load_config
from connector.sandbox.faults import FaultInjector
from connector.sandbox.fxiaoke import FxiaokeApp
from connector.sandbox.fxiaoke_fields import CHINA_TZ, FieldDef, FieldProblem, coerce
from connector.sandbox.fxiaoke_limits import max_in_window
from connector.sandbox.server import Sandbox, SandboxServer, running_sandbox

TODAY = date(2026, 5, 14)
# a moment after every generated record and after any token minted on the real clock
LATER = float(int(max(time.time(), datetime(2026, 5, 20, tzinfo=UTC).timestamp()) + 86_400))
QUERY, GET, UPDATE, CREATE = ("/cgi/crm/v2/data/" + a for a in ("query", "get", "update", "create"))
CUSTOM = "/cgi/crm/custom/v2/data/"


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class Fx:
    """A minimal client speaking Fxiaoke's wire protocol in either auth style."""

    def __init__(self, server: SandboxServer, style: str = "new") -> None:
        self.server, self.style = server, style
        self.url = server.url
        self.creds = requests.get(self.url + "/__sandbox/credentials", timeout=5).json()
        self.http = requests.Session()
        self.clock = Clock(LATER)
        self.app.clock = self.clock
        self.token = ""
        self.login()

    @property
    def app(self) -> FxiaokeApp:
        app = self.server.sandbox.app
        assert isinstance(app, FxiaokeApp)
        return app

    def grant(self, style: str | None = None, **override: str) -> dict[str, Any]:
        body = {"appId": self.creds["app_id"], "appSecret": self.creds["app_secret"],
                "permanentCode": self.creds["permanent_code"], **override}
        if (style or self.style) == "new":
            body.setdefault("grantType", "app_secret")
            return self.raw("/oauth2.0/token", body)
        return self.raw("/cgi/corpAccessToken/get/V2", body)

    def login(self) -> None:
        answer = self.grant()
        assert answer["errorCode"] == 0, answer
        self.token = answer["accessToken"] if self.style == "new" else answer["corpAccessToken"]

    def raw(self, path: str, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
        resp = self.http.post(f"{self.url}{path}?thirdTraceId=7c0e6f1e-3b9a-4d54-9a51-1c2a8f0b9d10", json=body,
                              headers=headers or {}, timeout=30)
        assert resp.status_code == 200  # the gateway answers every error with HTTP 200
        return dict(resp.json())

    def call(self, path: str, data: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
        body: dict[str, Any] = {**top}
        if data is not None:
            body["data"] = data
        if self.style == "new":
            headers = {"authorization": f"Bearer {self.token}", "x-fs-ea": self.creds["ea"],
                       "x-fs-userid": self.creds["operator_user_id"]}
            return self.raw(path, body, headers)
        body.update({"corpAccessToken": self.token, "corpId": self.creds["corp_id"],
                     "currentOpenUserId": self.creds["operator_open_user_id"]})
        return self.raw(path, body)

    def query(self, obj: str = "AccountObj", path: str = QUERY, top: dict[str, Any] | None = None,
              **info: Any) -> dict[str, Any]:
        data = {"dataObjectApiName": obj, "find_explicit_total_num": False,
                "search_query_info": {"limit": 100, "offset": 0, **info}}
        return self.call(path, data, **(top or {}))

    def rows(self, obj: str = "AccountObj", **info: Any) -> list[dict[str, Any]]:
        answer = self.query(obj, **info)
        assert answer["errorCode"] == 0, answer
        return list(answer["data"]["dataList"])

    def read_all(self, obj: str = "AccountObj", filters: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """`_id GT` deep paging, as docs/crm-fxiaoke.md §6 prescribes."""
        out: list[dict[str, Any]] = []
        while True:
            extra = [{"field_name": "_id", "operator": "GT", "field_values": [out[-1]["_id"]]}] if out else []
            page = self.rows(obj, filters=[*(filters or []), *extra], orders=[{"fieldName": "_id", "isAsc": True}])
            out += page
            if len(page) < 100:
                return out


def _gb32100_ok(code: str) -> bool:
    """The 18th character of a 统一社会信用代码 is its GB 32100-2015 check character."""
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [pow(3, i, 31) for i in range(17)]
    total = sum(chars.index(c) * w for c, w in zip(code[:17], weights, strict=True))
    return chars[(31 - total % 31) % 31] == code[17]


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with running_sandbox("fxiaoke", accounts=250, deals_per_account=2, seed=11, today=TODAY) as sb:
        yield sb


@pytest.fixture
def fx(server: SandboxServer) -> Fx:
    return Fx(server)


# ---------------------------------------------------------------- authentication


def test_new_style_token_is_reused_within_6600_s_and_dies_after_7200(fx: Fx) -> None:
    first = fx.grant()
    assert {"accessToken", "expiresIn", "appId", "ea", "openUserId", "traceId"} <= first.keys()
    assert first["errorCode"] == 0 and first["ea"] == fx.creds["ea"]
    fx.clock.now += 1000
    again = fx.grant()
    assert again["accessToken"] == first["accessToken"]
    assert again["expiresIn"] == first["expiresIn"] - 1000  # counts down: the remaining seconds
    fx.clock.now = LATER + 6700
    fresh = fx.grant()
    assert fresh["accessToken"] != first["accessToken"] and fresh["expiresIn"] == 7200
    fx.token = first["accessToken"]
    assert fx.query(limit=1)["errorCode"] == 0  # both live between 6,600 and 7,200 s
    fx.clock.now = LATER + 7201
    assert fx.query(limit=1)["errorCode"] == 20016
    fx.token = fresh["accessToken"]
    assert fx.query(limit=1)["errorCode"] == 0


def test_legacy_style_puts_the_token_trio_in_the_body(server: SandboxServer) -> None:
    fx = Fx(server, style="legacy")
    answer = fx.grant()
    assert answer["corpId"] == fx.creds["corp_id"] and answer["expiresIn"] <= 7200
    rows = fx.rows(limit=5)
    assert len(rows) == 5
    # legacy calls see employee fields as open user ids
    assert all(r["owner"][0].startswith("FSUID_") for r in rows)
    found = fx.call("/cgi/user/getByMobile", mobile=fx.creds["operator_mobile"])
    assert found["errorCode"] == 0 and found["empList"][0]["openUserId"] == fx.creds["operator_open_user_id"]


def test_new_style_uses_plain_employee_ids_unless_convert_user_id(fx: Fx) -> None:
    plain = fx.rows(limit=3)
    assert all(r["owner"][0].isdigit() for r in plain)
    converted = fx.query(limit=3, top={"convertUserId": True})["data"]["dataList"]
    assert [r["owner"][0] for r in converted] == [fx.app.auth.employees[r["owner"][0]] for r in plain]


def test_auth_errors_come_back_as_http_200_envelopes(fx: Fx) -> None:
    bad = fx.grant(appSecret="wrong")
    assert bad["errorCode"] == 10006 and bad["error"] == "非法请求" and "appSecret" in bad["errorMessage"]
    legacy = fx.grant("legacy", appSecret="wrong")
    assert legacy["errorCode"] == 10006 and "error" not in legacy
    none = fx.raw(QUERY, {"data": {"dataObjectApiName": "AccountObj"}})
    assert none["errorCode"] == 20017 and none["errorMessage"] == "corpAccessToken为必填项，不能为空"
    assert none["traceId"].startswith("E-O.null.-1000-")
    fake_new = fx.raw(QUERY, {"data": {}}, {"authorization": "Bearer FAKE", "x-fs-ea": fx.creds["ea"],
                                            "x-fs-userid": "1000"})
    fake_legacy = fx.raw(QUERY, {"corpAccessToken": "FAKE", "corpId": fx.creds["corp_id"],
                                 "currentOpenUserId": fx.creds["operator_open_user_id"], "data": {}})
    for answer in (fake_new, fake_legacy):
        assert answer["errorCode"] == 20016
        assert answer["errorMessage"] == "the cropId,cropAccessToken or authorization is error"


def test_forced_expiry_gives_20016_until_the_client_refreshes(fx: Fx) -> None:
    faults = fx.server.sandbox.faults
    faults.configure(faults.spec.model_validate({"session_expiry": {"every": 3, "times": 1, "path": "/cgi/crm"}}))
    assert fx.query(limit=1)["errorCode"] == 0
    assert fx.query(limit=1)["errorCode"] == 0
    assert fx.query(limit=1)["errorCode"] == 20016
    fx.login()
    assert fx.query(limit=1)["errorCode"] == 0
    fx.app.expire_sessions()  # what `session_expiry` and a refresh test's forced expiry do
    assert fx.query(limit=1)["errorCode"] == 20016


def test_token_endpoint_allows_ten_calls_a_minute(fx: Fx) -> None:
    fx.app.auth.reset_limits()
    answers = [fx.grant() for _ in range(11)]
    assert all(a["errorCode"] == 0 for a in answers[:10])
    assert answers[10]["errorCode"] == 14001 and "accessToken" not in answers[10]
    fx.clock.now += 61
    assert fx.grant()["errorCode"] == 0


# ---------------------------------------------------------------- query


def test_query_shape_projection_and_include_null(fx: Fx) -> None:
    answer = fx.query(limit=5)
    assert answer["errorCode"] == 0 and answer["traceId"].startswith("E-O.")
    assert set(answer["data"]) == {"dataList", "offset", "limit", "total"}
    assert answer["data"]["total"] == 0 and answer["data"]["limit"] == 5  # counting off
    counted = fx.call(QUERY, {"dataObjectApiName": "AccountObj", "search_query_info": {"limit": 5, "offset": 0}})
    assert counted["data"]["total"] == 250  # find_explicit_total_num defaults to true
    projected = fx.rows(limit=3, fieldProjection=["name", "risk_score__c"])
    assert all(set(r) == {"_id", "name"} for r in projected)  # empty fields are omitted
    with_null = fx.query(limit=3, fieldProjection=["name", "risk_score__c"], top={"includeNull": True})
    assert all(r["risk_score__c"] is None for r in with_null["data"]["dataList"])


def test_values_travel_in_fxiaoke_formats(fx: Fx) -> None:
    rows = fx.rows(limit=100)
    acc = next(r for r in rows if "credit_limit__c" in r and "statement_date__c" in r)
    assert isinstance(acc["credit_limit__c"], str) and acc["credit_limit__c"].endswith(".00")
    assert isinstance(acc["annual_revenue"], str) and acc["mc_currency"] == "CNY"
    assert isinstance(acc["last_modified_time"], int) and acc["last_modified_time"] > 10**12  # epoch ms
    assert isinstance(acc["statement_date__c"], int)
    assert isinstance(acc["owner"], list) and len(acc["owner"]) == 1
    assert all(isinstance(r.get("sanctions_hit__c", False), bool) for r in rows)
    industries = {o["value"]: o["label"] for o in fx.call("/cgi/crm/v2/object/describe", {"apiName": "AccountObj"})
                  ["data"]["describe"]["fields"]["industry"]["options"]}
    assert {"制造业", "批发零售", "建筑业"} <= set(industries.values())
    assert all(r["industry"] in industries for r in rows if "industry" in r)


def test_data_is_a_chinese_tenant_and_deterministic(fx: Fx) -> None:
    rows = fx.read_all()
    assert len(rows) == 250
    assert all(r["name"].endswith("公司") or r["name"].endswith("分公司）") for r in rows)
    domestic = [r for r in rows if r["country"] == "中国"]
    assert len(domestic) > 150 and all(r["province"] and r["city"] for r in domestic)
    codes = [r["uniform_social_credit_code"] for r in domestic]
    assert all(len(c) == 18 and c.startswith("91") for c in codes)
    assert all(_gb32100_ok(c) for c in codes)
    with running_sandbox("fxiaoke", accounts=250, deals_per_account=2, seed=11, today=TODAY, org="bare") as other:
        again = Fx(other).read_all()
    assert [(r["_id"], r["name"]) for r in again] == [(r["_id"], r["name"]) for r in rows]
    deals = fx.read_all("NewOpportunityObj")
    assert len(deals) == 500 and {d["account_id"] for d in deals} <= {r["_id"] for r in rows}
    assert fx.rows("ActiveRecordObj", limit=5)  # owners' own follow-ups exist


def test_filters_with_the_documented_operators(fx: Fx) -> None:
    everything = fx.read_all()

    def ids(*filters: dict[str, Any]) -> set[str]:
        return {r["_id"] for r in fx.read_all(filters=list(filters))}

    def f(name: str, op: str, *values: str) -> dict[str, Any]:
        return {"field_name": name, "operator": op, "field_values": list(values)}

    def where(pred: Any) -> set[str]:
        return {r["_id"] for r in everything if pred(r)}

    dpd = lambda r: float(r["max_days_past_due__c"]) if "max_days_past_due__c" in r else None  # noqa: E731
    assert ids(f("max_days_past_due__c", "GT", "30")) == where(lambda r: dpd(r) is not None and dpd(r) > 30)
    assert ids(f("max_days_past_due__c", "LTE", "5")) == where(lambda r: dpd(r) is not None and dpd(r) <= 5)
    assert ids(f("max_days_past_due__c", "BETWEEN", "10", "40")) == where(
        lambda r: dpd(r) is not None and 10 <= dpd(r) <= 40)
    assert ids(f("owner", "IN", "1001", "1002")) == where(lambda r: r["owner"][0] in ("1001", "1002"))
    assert ids(f("owner", "EQ", "1003")) == where(lambda r: r["owner"] == ["1003"])
    assert ids(f("industry", "NIN", "1", "2")) == where(lambda r: r.get("industry") not in ("1", "2"))
    assert ids(f("industry", "N", "1")) == where(lambda r: r.get("industry") != "1")  # N matches empty
    assert ids(f("name", "LIKE", "深圳")) == where(lambda r: "深圳" in r["name"])
    assert ids(f("bureau_score__c", "IS")) == where(lambda r: "bureau_score__c" not in r)
    assert ids(f("bureau_score__c", "ISN")) == where(lambda r: "bureau_score__c" in r)
    assert ids(f("risk_watchlist__c", "HASANYOF", "overdue")) == where(
        lambda r: "overdue" in r.get("risk_watchlist__c", []))
    mid = sorted(r["last_modified_time"] for r in everything)[125]
    assert ids(f("last_modified_time", "GTE", str(mid)), f("owner", "IN", "1001")) == where(
        lambda r: r["last_modified_time"] >= mid and r["owner"] == ["1001"])
    assert fx.query(filters=[f("nope__c", "EQ", "1")])["errorCode"] != 0


def test_orders_sort_typed_values(fx: Fx) -> None:
    rows = fx.rows(limit=50, orders=[{"fieldName": "annual_revenue", "isAsc": False}])
    revenues = [float(r["annual_revenue"]) for r in rows]
    assert revenues == sorted(revenues, reverse=True)


def test_limit_and_offset_rules_and_the_real_10013_body(fx: Fx) -> None:
    assert fx.query(limit=101)["errorCode"] != 0
    assert fx.query(limit=100, offset=50)["errorCode"] != 0  # offset must be a multiple of limit
    assert fx.query(limit=100, offset=10_000)["errorCode"] == 0
    past = fx.query(limit=100, offset=10_100)
    assert {k: past[k] for k in ("errorCode", "errorMessage", "errorDescription")} == {
        "errorCode": 10013, "errorMessage": "offset out of range 10000", "errorDescription": "offset 不能超过10000"}
    assert past["traceId"]


def test_id_gt_paging_reads_everything_once_in_id_order(fx: Fx) -> None:
    rows = fx.read_all()
    ids = [r["_id"] for r in rows]
    assert len(ids) == len(set(ids)) == 250 and ids == sorted(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert len(fx.app.limits.accepted) >= 3  # 100 + 100 + 50


# ---------------------------------------------------------------- get, update, create


def test_get_returns_the_record_map(fx: Fx) -> None:
    rid = fx.rows(limit=1)[0]["_id"]
    got = fx.call(GET, {"dataObjectApiName": "AccountObj", "objectDataId": rid})
    assert got["errorCode"] == 0 and got["data"]["_id"] == rid and "version" in got["data"]
    assert "risk_score__c" not in got["data"]  # empty fields are omitted ...
    full = fx.call(GET, {"dataObjectApiName": "AccountObj", "objectDataId": rid}, includeNull=True)
    assert full["data"]["risk_score__c"] is None  # ... unless includeNull
    missing = fx.call(GET, {"dataObjectApiName": "AccountObj", "objectDataId": "0" * 32})
    assert missing["errorCode"] not in (0, None)


def test_update_changes_one_record_and_bumps_version_and_time(fx: Fx) -> None:
    before = fx.rows(limit=1)[0]
    fx.clock.now += 5
    answer = fx.call(UPDATE, {"object_data": {"_id": before["_id"], "dataObjectApiName": "AccountObj",
                                              "risk_score__c": "72.5", "risk_tier__c": "high", "risk_recommended_terms__c": 30,
                                              "risk_watchlist__c": ["credit_watch"]}},
                     triggerWorkFlow=False, triggerApprovalFlow=False)
    assert answer["errorCode"] == 0 and answer["dataId"] == before["_id"]
    after = fx.call(GET, {"dataObjectApiName": "AccountObj", "objectDataId": before["_id"]})["data"]
    assert after["version"] == before["version"] + 1
    assert after["last_modified_time"] == int(fx.clock.now * 1000) > before["last_modified_time"]
    assert after["risk_score__c"] == "72.5" and after["risk_recommended_terms__c"] == "30"
    assert after["name"] == before["name"] and after["credit_limit__c"] == before.get("credit_limit__c")
    assert fx.app.writes[-1] == {"object": "AccountObj", "op": "update", "id": before["_id"], "triggerWorkFlow": False,
                                 "triggerApprovalFlow": False, "fields": ["risk_recommended_terms__c", "risk_score__c",
                                                                         "risk_tier__c", "risk_watchlist__c"]}
    fx.call(UPDATE, {"object_data": {"_id": before["_id"], "dataObjectApiName": "AccountObj", "risk_tier__c": "low"}})
    assert fx.app.writes[-1]["triggerWorkFlow"] is True  # the flags default to true


def test_update_refuses_bad_values_owner_and_unknown_fields(fx: Fx) -> None:
    rid = fx.rows(limit=1)[0]["_id"]

    def update(**fields: Any) -> dict[str, Any]:
        return fx.call(UPDATE, {"object_data": {"_id": rid, "dataObjectApiName": "AccountObj", **fields}})

    assert update(risk_tier__c="very high")["errorCode"] != 0
    assert update(risk_watchlist__c="credit_watch")["errorCode"] != 0  # select_many takes a list
    assert update(owner=["1002"])["errorCode"] != 0  # owner changes only through changeOwner
    assert update(no_such_field__c="x")["errorCode"] != 0
    assert update(risk_scored_at__c="2026-05-01")["errorCode"] != 0  # times are epoch ms
    assert fx.call(UPDATE, {"object_data": {"dataObjectApiName": "AccountObj", "risk_tier__c": "low"}})[
        "errorCode"] != 0  # _id outside object_data: the real gateway's NullPointerException
    version = fx.call(GET, {"dataObjectApiName": "AccountObj", "objectDataId": rid})["data"]["version"]
    assert update(risk_tier__c="critical", risk_scored_at__c=1_780_000_000_000)["errorCode"] == 0
    assert fx.call(GET, {"dataObjectApiName": "AccountObj", "objectDataId": rid})["data"]["version"] == version + 1


def test_create_is_not_idempotent(fx: Fx) -> None:
    account = fx.rows(limit=1)[0]
    follow_up = {"dataObjectApiName": "ActiveRecordObj", "owner": account["owner"], "account_id": account["_id"],
                 "active_record_content": "信用风险升为高: 最长逾期 95 天",
                 "related_object_data": [{"describe_api_name": "AccountObj", "id": account["_id"]}],
                 "risk_alert_key__c": f"acc:{account['_id']}:high:2026-05"}
    first = fx.call(CREATE, {"object_data": follow_up}, triggerWorkFlow=False, triggerApprovalFlow=False)
    second = fx.call(CREATE, {"object_data": follow_up}, triggerWorkFlow=False, triggerApprovalFlow=False)
    assert first["errorCode"] == second["errorCode"] == 0 and first["dataId"] != second["dataId"]
    key = {"field_name": "risk_alert_key__c", "operator": "EQ", "field_values": [follow_up["risk_alert_key__c"]]}
    assert {r["_id"] for r in fx.rows("ActiveRecordObj", filters=[key])} == {first["dataId"], second["dataId"]}
    assert fx.call(CREATE, {"object_data": {"dataObjectApiName": "ActiveRecordObj"}})["errorCode"] != 0  # required


# ---------------------------------------------------------------- metadata and custom objects


def test_describe_and_object_list(fx: Fx) -> None:
    described = fx.call("/cgi/crm/v2/object/describe", {"apiName": "AccountObj"}, includeDetail=False)
    fields = described["data"]["describe"]["fields"]
    assert fields["risk_tier__c"]["type"] == "select_one" and fields["risk_tier__c"]["define_type"] == "custom"
    assert [o["value"] for o in fields["risk_tier__c"]["options"]] == ["low", "medium", "high", "critical"]
    assert fields["risk_watchlist__c"]["type"] == "select_many"
    assert fields["risk_on_watchlist__c"]["type"] == "true_or_false"
    assert fields["name"]["define_type"] == "package" and fields["name"]["is_required"] is True
    assert fields["uniform_social_credit_code"]["label"] == "统一社会信用代码"
    top_level = fx.call("/cgi/crm/v2/object/describe", apiName="ActiveRecordObj")  # one SDK's placement
    assert "risk_alert_key__c" in top_level["data"]["describe"]["fields"]
    objects = {o["describeApiName"]: o for o in fx.call("/cgi/crm/v2/object/list", includeNull=False)["data"]["objects"]}
    assert objects["NewOpportunityObj"]["isActive"] is True and objects["OpportunityObj"]["isActive"] is False
    assert objects["object_RiskTask__c"]["defineType"] == "custom"


def test_custom_objects_live_only_on_the_custom_prefix(fx: Fx) -> None:
    account = fx.rows(limit=1)[0]["_id"]
    task = {"dataObjectApiName": "object_RiskTask__c", "name": "跟进逾期", "account__c": account, "status__c": "open",
            "owner": ["1001"], "risk_alert_key__c": f"acc:{account}:high"}
    assert fx.call(CREATE, {"object_data": task})["errorCode"] != 0
    created = fx.call(CUSTOM + "create", {"object_data": task})
    assert created["errorCode"] == 0 and created["dataId"]
    assert fx.query("object_RiskTask__c")["errorCode"] != 0
    found = fx.query("object_RiskTask__c", path=CUSTOM + "query")["data"]["dataList"]
    assert [r["_id"] for r in found] == [created["dataId"]]
    assert fx.query("AccountObj", path=CUSTOM + "query")["errorCode"] != 0


# ---------------------------------------------------------------- limits and faults


def test_per_path_rate_limit_answers_30004_and_slides(fx: Fx) -> None:
    fx.app.limits.reset()
    answers = [fx.query(limit=1)["errorCode"] for _ in range(61)]
    assert answers[:60] == [0] * 60 and answers[60] == 30004
    assert fx.call(GET, {"dataObjectApiName": "AccountObj", "objectDataId": fx.app.store.sorted_ids("AccountObj")[0]})["errorCode"] == 0  # another path has its own window
    fx.clock.now += 20.001
    assert fx.query(limit=1)["errorCode"] == 0
    assert max_in_window(list(fx.app.limits.accepted), 20.0)["/cgi/crm/v2/data/query"] == 60


def test_rate_limit_is_configurable(fx: Fx) -> None:
    fx.app.limits.reset()
    fx.app.limits.rate_limit, fx.app.limits.window_s = 5, 1.0
    assert [fx.query(limit=1)["errorCode"] for _ in range(6)] == [0, 0, 0, 0, 0, 30004]
    fx.clock.now += 1.5
    assert fx.query(limit=1)["errorCode"] == 0


def test_daily_quota_answers_30002_until_beijing_midnight(fx: Fx) -> None:
    day = datetime.fromtimestamp(LATER, tz=CHINA_TZ).date() + timedelta(days=1)
    beijing_noon = datetime(day.year, day.month, day.day, 12, tzinfo=CHINA_TZ).timestamp()
    fx.clock.now = beijing_noon
    fx.login()
    fx.app.limits.reset()
    fx.app.limits.daily_quota = 3
    assert [fx.query(limit=1)["errorCode"] for _ in range(4)] == [0, 0, 0, 30002]
    assert fx.grant()["errorCode"] == 0  # token calls do not spend the quota
    fx.clock.now = beijing_noon + 12 * 3600 + 1  # 00:00:01 the next day in Beijing
    fx.login()
    assert fx.query(limit=1)["errorCode"] == 0


def test_injected_faults_use_fxiaoke_codes(fx: Fx) -> None:
    faults = fx.server.sandbox.faults
    faults.configure(faults.spec.model_validate({"error_500": {"every": 1, "times": 2}}))
    assert {fx.query(limit=1)["errorCode"], fx.query(limit=1)["errorCode"]} == {-1, 50009}
    faults.configure(faults.spec.model_validate({"rate_limit": {"every": 1, "times": 1}}))
    assert fx.query(limit=1)["errorCode"] == 30004
    faults.configure(faults.spec.model_validate({"quota": {"every": 1, "path": "data/update"}}))
    rid = fx.rows(limit=1)[0]["_id"]
    assert fx.call(UPDATE, {"object_data": {"_id": rid, "dataObjectApiName": "AccountObj", "risk_tier__c": "low"}})[
        "errorCode"] == 30002
    faults.configure(faults.spec.model_validate({"record_errors": {rid: "RECORD_LOCKED"}}))
    locked = fx.call(UPDATE, {"object_data": {"_id": rid, "dataObjectApiName": "AccountObj", "risk_tier__c": "low"}})
    assert locked["errorCode"] not in (0, None) and locked["traceId"]


# ---------------------------------------------------------------- inspection, view and org variants


def test_inspection_touch_and_html_view(fx: Fx) -> None:
    before = {r["_id"]: r for r in fx.read_all()}
    touched = requests.post(fx.url + "/__sandbox/touch", json={"object": "AccountObj", "count": 5}, timeout=5).json()
    assert len(touched["ids"]) == 5
    since = {"field_name": "last_modified_time", "operator": "GTE", "field_values": [str(int(fx.clock.now * 1000))]}
    changed = fx.read_all(filters=[since])
    assert {r["_id"] for r in changed} == set(touched["ids"])
    assert all(r["version"] == before[r["_id"]]["version"] + 1 for r in changed)
    records = requests.get(fx.url + "/__sandbox/records/AccountObj", timeout=5).json()
    assert records["count"] == 250 and "watchlist" in records["records"][0]
    page = requests.get(fx.url + "/", timeout=5)
    assert page.status_code == 200 and "fxiaoke sandbox" in page.text and "客户名称" in page.text
    detail = requests.get(fx.url + f"/accounts/{touched['ids'][0]}", timeout=5)
    assert detail.status_code == 200 and "行业" in detail.text


@pytest.mark.parametrize("variant", ["bare", "renamed"])
def test_bare_and_renamed_tenants(variant: str) -> None:
    with running_sandbox("fxiaoke", accounts=40, deals_per_account=1, seed=11, today=TODAY, org=variant) as sb:
        fx = Fx(sb)
        fields = fx.call("/cgi/crm/v2/object/describe", {"apiName": "AccountObj"})["data"]["describe"]["fields"]
        custom = {k: v for k, v in fields.items() if k.endswith("__c")}
        org = requests.get(sb.url + "/__sandbox/org", timeout=5).json()
        assert org["variant"] == variant
        assert not any(k.startswith("risk_") for k in custom)
        objects = {o["describeApiName"] for o in fx.call("/cgi/crm/v2/object/list")["data"]["objects"]}
        assert "object_RiskTask__c" not in objects
        if variant == "bare":
            assert custom == {} and "bureau_score" not in org["fields"]["accounts"]
            return
        where = org["fields"]["accounts"]
        assert all(where[k].startswith("field_") for k in ("bureau_score", "max_days_past_due", "audit_opinion"))
        assert custom[where["max_days_past_due"]]["label"] == "最长逾期天数"
        rows = fx.read_all()
        assert sum(where["max_days_past_due"] in r for r in rows) > 20


def test_limits_and_writes_are_inspectable_over_http(fx: Fx) -> None:
    fx.app.limits.reset()
    assert requests.post(fx.url + "/__sandbox/limits", json={"rate_limit": 3, "window_s": 20}, timeout=5).ok
    assert [fx.query(limit=1)["errorCode"] for _ in range(4)] == [0, 0, 0, 30004]
    seen = requests.get(fx.url + "/__sandbox/limits", params={"calls": 1}, timeout=5).json()
    assert seen["rejected"] == 1 and seen["max_in_window"] == {"/cgi/crm/v2/data/query": 3}
    assert [path for _at, path in seen["calls"]] == ["/cgi/crm/v2/data/query"] * 3
    assert requests.post(fx.url + "/__sandbox/limits", json={"rate_limit": 0}, timeout=5).status_code == 400
    requests.post(fx.url + "/__sandbox/limits", json={"rate_limit": 60}, timeout=5)
    rid = fx.rows(limit=1)[0]["_id"]
    fx.call(UPDATE, {"object_data": {"_id": rid, "dataObjectApiName": "AccountObj", "risk_tier__c": "low"}},
            triggerWorkFlow=False)
    writes = requests.get(fx.url + "/__sandbox/writes", timeout=5).json()["writes"]
    assert writes[-1]["id"] == rid and writes[-1]["triggerWorkFlow"] is False and writes[-1]["triggerApprovalFlow"]


def test_sandbox_serve_fxiaoke_writes_a_config_the_connector_loads(tmp_path: Path) -> None:
    config_path = tmp_path / "fx.toml"
    proc = subprocess.Popen([sys.executable, "-m", "connector.cli", "sandbox", "serve", "--crm", "fxiaoke",
                             "--accounts", "20", "--deals-per-account", "1", "--rate-limit", "7",
                             "--write-config", str(config_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"sandbox fxiaoke listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        url = match.group(1)
        assert requests.get(f"{url}/__sandbox/limits", timeout=5).json()["rate_limit"] == 7
        connection = load_config(config_path).connections["sandbox"]
        creds = requests.get(f"{url}/__sandbox/credentials", timeout=5).json()
        assert connection.crm == "fxiaoke" and connection.host == url
        assert connection.auth.app_id == creds["app_id"]
        assert "<table>" in requests.get(f"{url}/", timeout=5).text
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, _err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    refused = subprocess.run([sys.executable, "-m", "connector.cli", "sandbox", "serve", "--crm", "zoho",
                              "--rate-limit", "5"], capture_output=True, text=True, timeout=30, check=False)
    assert refused.returncode == 2 and "fxiaoke only" in refused.stderr


@pytest.mark.slow
def test_a_25000_account_tenant_reads_completely_by_id_but_not_by_offset() -> None:
    with running_sandbox("fxiaoke", accounts=25_000, deals_per_account=0, seed=5, today=TODAY) as sb:
        fx = Fx(sb)
        fx.app.limits.rate_limit = 1_000_000  # this test is about paging, not the window
        started = time.perf_counter()
        rows = fx.read_all()
        elapsed = time.perf_counter() - started
        assert len({r["_id"] for r in rows}) == 25_000
        assert elapsed < 60, f"reading 25,000 accounts took {elapsed:.1f} s"
        by_offset = [fx.query(limit=100, offset=offset)["errorCode"] for offset in (9_900, 10_000, 10_100)]
        assert by_offset == [0, 0, 10013]  # offset paging would silently miss 14,900 accounts


def test_a_tenant_on_the_legacy_opportunity_object() -> None:
    app = FxiaokeApp(accounts=30, deals_per_account=2, seed=11, today=TODAY, faults=FaultInjector(),
                     deal_object="OpportunityObj")
    server = SandboxServer(Sandbox(app)).start()
    try:
        fx = Fx(server)
        objects = {o["describeApiName"]: o["isActive"] for o in fx.call("/cgi/crm/v2/object/list")["data"]["objects"]}
        assert objects["OpportunityObj"] is True and objects["NewOpportunityObj"] is False
        deals = fx.read_all("OpportunityObj")
        assert len(deals) == 60 and not fx.rows("NewOpportunityObj")
        assert all({"expected_deal_closed_date", "oppo_stage_id", "biz_status"} <= d.keys() for d in deals)
        fields = fx.call("/cgi/crm/v2/object/describe", {"apiName": "OpportunityObj"})["data"]["describe"]["fields"]
        assert {"risk_score__c", "payment_terms_days__c"} <= fields.keys()
        org = requests.get(server.url + "/__sandbox/org", timeout=5).json()
        assert org["deal_object"] == "OpportunityObj" and org["fields"]["deals"]["stage"] == "oppo_stage_id"
        assert len(requests.post(server.url + "/__sandbox/touch", json={"object": "deals", "count": 3},
                                 timeout=5).json()["ids"]) == 3
    finally:
        server.stop()


def test_write_values_are_stored_in_wire_form() -> None:
    money = FieldDef("credit_limit__c", "信用额度", "currency", decimal_places=2)
    day = FieldDef("statement_date__c", "财报日期", "date")
    many = FieldDef("risk_watchlist__c", "风险关注", "select_many", options=(("credit_watch", "信用观察"),))
    assert coerce(money, 1200) == coerce(money, "1200") == "1200.00"
    assert coerce(money, None) is None and coerce(money, "") is None  # clears the field
    noon_utc = int(datetime(2026, 5, 14, 12, 0, tzinfo=UTC).timestamp() * 1000)
    assert coerce(day, noon_utc) == int(datetime(2026, 5, 14, tzinfo=CHINA_TZ).timestamp() * 1000)
    assert coerce(many, ["credit_watch", "credit_watch"]) == ["credit_watch"]
    for fd, bad in ((money, "12,00"), (money, True), (day, "2026-05-14"), (many, ["overdue"])):
        with pytest.raises(FieldProblem):
            coerce(fd, bad)


def test_max_in_window_finds_the_busiest_window_per_path() -> None:
    calls = [(0.0, "/a"), (5.0, "/a"), (19.9, "/a"), (20.0, "/a"), (20.5, "/b"), (39.95, "/a")]
    assert max_in_window(calls, 20.0) == {"/a": 3, "/b": 1}


def test_a_non_admin_operator_sees_only_its_own_records(fx: Fx) -> None:
    everyone = fx.read_all()
    fx.creds["operator_user_id"] = "1002"  # a sales rep instead of the CRM admin
    mine = fx.read_all()
    assert 0 < len(mine) < len(everyone)  # the result shrinks without any error
    assert {r["_id"] for r in mine} == {r["_id"] for r in everyone if r["owner"] == ["1002"]}
    other = next(r["_id"] for r in everyone if r["owner"] != ["1002"])
    denied = fx.call(UPDATE, {"object_data": {"_id": other, "dataObjectApiName": "AccountObj", "risk_tier__c": "low"}})
    assert denied["errorCode"] == 20014 and denied["errorMessage"] == "无此操作的数据权限"
    assert fx.call(GET, {"dataObjectApiName": "AccountObj", "objectDataId": other})["errorCode"] == 20014
    own = fx.call(UPDATE, {"object_data": {"_id": mine[0]["_id"], "dataObjectApiName": "AccountObj",
                                           "risk_tier__c": "low"}})
    assert own["errorCode"] == 0


def test_change_owner_is_the_only_way_to_move_a_record(fx: Fx) -> None:
    rec = fx.rows(limit=1)[0]
    new_owner = "1005" if rec["owner"] != ["1005"] else "1006"
    path = "/cgi/crm/v2/data/changeOwner"
    moved = fx.call(path, {"dataObjectApiName": "AccountObj", "Data": [{"objectDataId": rec["_id"],
                                                                        "ownerId": [new_owner]}]})
    assert moved["errorCode"] == 0
    after = fx.call(GET, {"dataObjectApiName": "AccountObj", "objectDataId": rec["_id"]})["data"]
    assert after["owner"] == [new_owner] and after["version"] == rec["version"] + 1
    as_text = fx.call(path, {"dataObjectApiName": "AccountObj", "Data": [{"objectDataId": rec["_id"],
                                                                          "ownerId": "[1000]"}]})
    assert as_text["errorCode"] == 0  # the other documented form of ownerId
    assert fx.call(path, {"dataObjectApiName": "AccountObj", "Data": [{"objectDataId": rec["_id"],
                                                                       "ownerId": ["9999"]}]})["errorCode"] != 0
    legacy = Fx(fx.server, style="legacy")
    open_id = legacy.app.auth.employees["1003"]
    assert legacy.call(path, {"dataObjectApiName": "AccountObj", "Data": [{"objectDataId": rec["_id"],
                                                                           "ownerId": [open_id]}]})["errorCode"] == 0
    assert legacy.app.store.records["AccountObj"][rec["_id"]]["owner"] == ["1003"]
