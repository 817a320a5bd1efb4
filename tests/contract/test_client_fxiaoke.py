"""The Fxiaoke client against the Fxiaoke sandbox over loopback HTTP: what only this CRM asks of a client.

Deep paging past the 10,000-offset ceiling, a client-side limiter that keeps a full sync under the
per-path window (checked from the sandbox's own call timestamps), a lost create answer that must not
duplicate a follow-up, a daily quota (30002) that stops a run and lets it resume the next day, the
shared token cache, both auth styles, the legacy opportunity object, the boolean watchlist, and the
envelope's error codes.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.config import Config, FxiaokeConnection, load_config
from connector.crm.base import ObjectSpec, RetryPolicy
from connector.crm.fxiaoke import FxiaokeClient
from connector.crm.fxiaoke_rate import PathLimiter
from connector.crm.fxiaoke_wire import ConfigurationRefused, FxiaokeFatal, RateLimited, check_envelope, wire_value
from connector.errors import AuthError, ConfigError, QuotaExhausted
from connector.model import FieldUpdate, ObjectKind, TaskCreate, WritePlan
from connector.sandbox import running_sandbox
from connector.sandbox.fxiaoke_fields import CHINA_TZ
from connector.state import StateStore
from connector.sync import Sync
from tests.conftest import Org, lift_rate_limit, sandbox_config

NO_WAIT = RetryPolicy(attempts=4, sleep=lambda _s: None)


@pytest.fixture
def fx_org() -> Iterator[Org]:
    with running_sandbox("fxiaoke", accounts=30, deals_per_account=1, seed=11) as server:
        lift_rate_limit(server)
        yield Org(server, "fxiaoke")


def configure(org: Org, folder: Path, **connection: Any) -> Config:
    """A config for the sandbox; `connection` keys are written into its [connections.sandbox] table."""
    path = sandbox_config(folder / "config.toml", "fxiaoke", org.credentials())
    lines = path.read_text(encoding="utf-8").splitlines()
    for key, value in connection.items():
        line = f"{key} = {json.dumps(value)}"
        at = next((i for i, old in enumerate(lines) if old.startswith(f"{key} =")), None)
        if at is None:
            lines.insert(lines.index('crm = "fxiaoke"') + 1, line)
        else:
            lines[at] = line
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_config(path)


def client(config: Config, **kwargs: Any) -> FxiaokeClient:
    conn = config.connections["sandbox"]
    assert isinstance(conn, FxiaokeConnection)
    mapping = config.mappings["default"]
    return FxiaokeClient(conn, objects={k: mapping.object(k).object for k in mapping.kinds}, policy=NO_WAIT, **kwargs)


def spec(config: Config, kind: ObjectKind = "accounts", page_size: int = 2000) -> ObjectSpec:
    obj = config.mappings["default"].object(kind)
    return ObjectSpec(kind, obj.object, obj.cursor_field, obj.read_fields(), page_size, obj.parent_field)


def endpoint_calls(org: Org, name: str) -> int:
    return int(org.calls()["by_endpoint"].get(name, 0))


# --- paging -----------------------------------------------------------------------------------------


def read_everything(accounts: int, tmp_path: Path) -> None:
    with running_sandbox("fxiaoke", accounts=accounts, deals_per_account=0, seed=5) as server:
        lift_rate_limit(server)
        org = Org(server, "fxiaoke")
        config = configure(org, tmp_path)
        crm = client(config)
        org.reset_calls()
        rows = [r for page in crm.extract(spec(config), None) for r in page.rows]
        assert len(rows) == accounts and len({r["_id"] for r in rows}) == accounts
        # _id GT paging: one call per 100 rows plus the short last page, and never an offset past 0 (the
        # sandbox answers 10013 past 10,000, which would have failed the read).
        assert endpoint_calls(org, "POST crm/v2/data/query") == accounts // 100 + 1


def test_a_tenant_is_read_completely_by_id_paging(tmp_path: Path) -> None:
    read_everything(1_250, tmp_path)


@pytest.mark.slow
def test_a_25000_account_tenant_is_read_completely_past_the_offset_ceiling(tmp_path: Path) -> None:
    read_everything(25_000, tmp_path)


def test_an_unknown_field_fails_before_it_could_read_as_empty(fx_org: Org, tmp_path: Path) -> None:
    config = configure(fx_org, tmp_path)
    bad = spec(config)
    bad = ObjectSpec(bad.kind, bad.name, bad.cursor_field, (*bad.fields, "credit_limt__c"), bad.page_size)
    with pytest.raises(FxiaokeFatal, match="credit_limt__c"):
        list(client(config).extract(bad, None))


# --- the limiter --------------------------------------------------------------------------------------


def test_a_full_sync_never_exceeds_the_per_path_window(tmp_path: Path) -> None:
    """The tenant allows 8 calls per second per path; 40 record updates must queue, never be refused."""
    with running_sandbox("fxiaoke", accounts=20, deals_per_account=1, seed=11) as server:
        org = Org(server, "fxiaoke")
        requests.post(f"{org.url}/__sandbox/limits", json={"rate_limit": 8, "window_s": 1.0}, timeout=5)
        config = configure(org, tmp_path, rate_limit=8, rate_window_s=1.0)
        crm = client(config)
        report = Sync(config, client=crm, policy=NO_WAIT).run()
        assert report.status == "success", report.failures
        seen = requests.get(f"{org.url}/__sandbox/limits", timeout=5).json()
        assert seen["rejected"] == 0  # not one 30004
        assert max(seen["max_in_window"].values()) <= 8
        assert seen["max_in_window"]["/cgi/crm/v2/data/update"] == 8  # ... and the window was used, not idled
        assert crm.limiter.waits > 0 and crm.limiter.waited_s > 0


def test_the_limiter_spaces_calls_per_path_with_an_injected_clock() -> None:
    now = [0.0]
    limiter = PathLimiter(3, 10.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    waits = [limiter.acquire("/q") for _ in range(7)]
    assert waits == [0.0, 0.0, 0.0, 10.5, 0.0, 0.0, 10.5]  # a window of 10 s plus its wire margin
    assert limiter.acquire("/other") == 0.0  # each path has its own window
    assert now[0] == pytest.approx(21.0) and limiter.waits == 2 and limiter.waited_s == pytest.approx(21.0)


def test_a_30004_is_retried_after_a_wait(fx_org: Org, tmp_path: Path) -> None:
    config = configure(fx_org, tmp_path)
    waits: list[float] = []
    crm = FxiaokeClient(config.connections["sandbox"], policy=RetryPolicy(attempts=4, sleep=waits.append))  # type: ignore[arg-type]
    fx_org.faults(rate_limit={"every": 1, "times": 2, "path": "data/query"})
    rows = [r for page in crm.extract(spec(config), None) for r in page.rows]
    assert len(rows) == 30 and len(waits) == 2


# --- writes -------------------------------------------------------------------------------------------


def test_updates_send_only_changed_fields_with_triggers_off(fx_org: Org, tmp_path: Path) -> None:
    config = configure(fx_org, tmp_path)
    target = str(fx_org.records("AccountObj")[0]["_id"])
    result = client(config).apply(WritePlan(updates=[
        FieldUpdate("accounts", target, {"risk_score__c": (None, 72.5), "risk_tier__c": (None, "high")}, "u1")]))
    assert result.outcomes["u1"].ok
    writes = requests.get(f"{fx_org.url}/__sandbox/writes", timeout=5).json()["writes"]
    last = writes[-1]
    assert last["id"] == target and last["triggerWorkFlow"] is False and last["triggerApprovalFlow"] is False
    record = {str(r["_id"]): r for r in fx_org.records("AccountObj")}[target]
    assert record["risk_score__c"] == "72.5" and record["risk_tier__c"] == "high"


def test_the_watchlist_option_is_added_and_removed_without_touching_the_others(fx_org: Org, tmp_path: Path) -> None:
    config = configure(fx_org, tmp_path)
    target = str(fx_org.records("AccountObj")[1]["_id"])
    fx_org.fx_call("crm/v2/data/update", {"object_data": {"_id": target, "dataObjectApiName": "AccountObj",
                                                          "risk_watchlist__c": ["key_account"]}})
    crm = client(config)
    crm.apply(WritePlan(updates=[FieldUpdate("accounts", target, {"risk_watchlist__c": (False, True)}, "on")]))
    watch = {str(r["_id"]): r for r in fx_org.records("AccountObj")}[target]["risk_watchlist__c"]
    assert sorted(watch) == ["credit_watch", "key_account"]
    rows = [r for p in crm.fetch(spec(config), [target]) for r in p.rows]
    assert rows[0]["risk_watchlist__c"] is True  # the engine sees a yes/no, as on the other CRMs
    crm.apply(WritePlan(updates=[FieldUpdate("accounts", target, {"risk_watchlist__c": (True, False)}, "off")]))
    assert {str(r["_id"]): r for r in fx_org.records("AccountObj")}[target]["risk_watchlist__c"] == ["key_account"]


def test_a_boolean_watchlist_is_written_as_is(fx_org: Org, tmp_path: Path) -> None:
    config = configure(fx_org, tmp_path, watchlist_style="boolean")
    target = str(fx_org.records("AccountObj")[2]["_id"])
    client(config).apply(WritePlan(updates=[
        FieldUpdate("accounts", target, {"risk_on_watchlist__c": (None, True)}, "b")]))
    assert {str(r["_id"]): r for r in fx_org.records("AccountObj")}[target]["risk_on_watchlist__c"] is True


def task(record_id: str, owner: str, key: str = "rb-fx-1") -> TaskCreate:
    return TaskCreate(key=key, object="accounts", record_id=record_id, owner_id=owner, subject="信用风险升为高",
                      description="主要原因: 逾期60天以上", due=date.today() + timedelta(days=3), priority="High")


def test_a_lost_create_answer_is_looked_up_not_sent_again(fx_org: Org, tmp_path: Path) -> None:
    config = configure(fx_org, tmp_path)
    account = fx_org.records("AccountObj")[0]
    fx_org.faults(drop={"every": 1, "times": 1, "path": "data/create"})  # created, but the answer is lost
    fx_org.reset_calls()
    result = client(config).apply(WritePlan(tasks=[task(str(account["_id"]), account["owner"][0])]))
    assert result.outcomes["rb-fx-1"].ok and result.outcomes["rb-fx-1"].crm_id
    mine = [t for t in fx_org.records("ActiveRecordObj") if t.get("risk_alert_key__c") == "rb-fx-1"]
    assert len(mine) == 1 and mine[0]["account_id"] == account["_id"] and mine[0]["owner"] == account["owner"]
    assert endpoint_calls(fx_org, "POST crm/v2/data/create") == 1  # never sent twice
    fx_org.faults()
    again = client(config).apply(WritePlan(tasks=[task(str(account["_id"]), account["owner"][0])]))
    assert again.outcomes["rb-fx-1"].ok
    assert len([t for t in fx_org.records("ActiveRecordObj") if t.get("risk_alert_key__c") == "rb-fx-1"]) == 1


def test_a_custom_follow_up_object_lives_on_the_custom_prefix(fx_org: Org, tmp_path: Path) -> None:
    config = configure(fx_org, tmp_path, followup_object="object_RiskTask__c")
    account = fx_org.records("AccountObj")[3]
    fx_org.reset_calls()
    result = client(config).apply(WritePlan(tasks=[task(str(account["_id"]), account["owner"][0], "rb-fx-c")]))
    assert result.outcomes["rb-fx-c"].ok, result.outcomes["rb-fx-c"]
    made = [t for t in fx_org.records("object_RiskTask__c") if t.get("risk_alert_key__c") == "rb-fx-c"]
    assert [(t["name"], t["account__c"], t["content__c"]) for t in made] == \
        [("信用风险升为高", account["_id"], "主要原因: 逾期60天以上")]
    assert endpoint_calls(fx_org, "POST crm/custom/v2/data/create") == 1


# --- the daily quota ------------------------------------------------------------------------------------


def test_a_30002_mid_run_stops_cleanly_and_the_run_resumes_the_next_day(tmp_path: Path) -> None:
    beijing_noon = datetime.now(CHINA_TZ).replace(hour=12, minute=0, second=0, microsecond=0)
    with running_sandbox("fxiaoke", accounts=30, deals_per_account=1, seed=11) as server:
        lift_rate_limit(server)
        org = Org(server, "fxiaoke")
        app = server.sandbox.app
        clock = [beijing_noon.timestamp()]
        app.clock = lambda: clock[0]  # type: ignore[attr-defined]
        requests.post(f"{org.url}/__sandbox/limits", json={"daily_quota": 100}, timeout=5)
        for _ in range(85):  # the tenant's other integrations used most of today's packs already
            org.fx_call("crm/v2/data/query", {"dataObjectApiName": "AccountObj",
                                              "search_query_info": {"limit": 1, "offset": 0}})
        config = configure(org, tmp_path)
        stopped = Sync(config, policy=NO_WAIT, clock=lambda: beijing_noon.astimezone(UTC)).run()
        assert stopped.status == "partial" and stopped.stopped and "quota" in stopped.stopped.lower()
        store = StateStore(config.state_url)
        assert store.cursor("default", "deals") is None  # the cursor did not move past unwritten work
        written = [a for a in org.records("AccountObj") if a.get("risk_tier__c")]
        assert 0 < len(written) < 30
        clock[0] += 12 * 3600 + 1  # 00:00:01 the next day in Beijing: the packs are fresh
        tomorrow = (beijing_noon + timedelta(hours=12, seconds=2)).astimezone(UTC)
        resumed = Sync(config, policy=NO_WAIT, clock=lambda: tomorrow).run()
        assert resumed.status == "success", resumed.failures
        accounts = org.records("AccountObj")
        skipped = {s["id"] for s in resumed.skipped}
        assert all(a.get("risk_tier__c") for a in accounts if str(a["_id"]) not in skipped)
        assert store.cursor("default", "deals") is not None


def test_daily_quota_reserve_stops_the_run_before_the_tenant_does(fx_org: Org, tmp_path: Path) -> None:
    config = configure(fx_org, tmp_path, daily_quota=60, daily_quota_reserve=30)
    report = Sync(config, policy=NO_WAIT).run()
    assert report.status == "partial" and report.stopped and "daily_quota_reserve" in report.stopped
    assert fx_org.calls()["total"] <= 30 + 1  # the token call is free on the tenant's side


# --- tokens and auth -----------------------------------------------------------------------------------


def test_the_token_cache_is_shared_private_and_free_of_secrets(fx_org: Org, tmp_path: Path) -> None:
    config = configure(fx_org, tmp_path)
    conn = config.connections["sandbox"]
    assert isinstance(conn, FxiaokeConnection) and conn.token_cache
    first = client(config)
    first.check([spec(config)])
    cache = Path(conn.token_cache)
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600
    creds = fx_org.credentials()
    text = cache.read_text(encoding="utf-8")
    assert creds["app_secret"] not in text and creds["permanent_code"] not in text
    fx_org.reset_calls()
    second = client(config)  # another run or job: it reuses the token
    list(second.extract(spec(config), None))
    assert endpoint_calls(fx_org, "POST /oauth2.0/token") == 0 and second.tokens.fetch_count == 0


def test_refresh_is_single_flight_under_concurrent_callers(fx_org: Org, tmp_path: Path) -> None:
    config = configure(fx_org, tmp_path)
    crm = client(config)
    fx_org.reset_calls()
    threads = [threading.Thread(target=crm.tokens.grant) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert endpoint_calls(fx_org, "POST /oauth2.0/token") == 1


def test_20016_gets_a_new_token_and_repeats_the_call_once(fx_org: Org, tmp_path: Path) -> None:
    config = configure(fx_org, tmp_path)
    crm = client(config)
    crm.check([spec(config)])
    fx_org.server.sandbox.app.expire_sessions()  # type: ignore[attr-defined]
    fx_org.reset_calls()
    assert len([r for p in crm.extract(spec(config), None) for r in p.rows]) == 30
    calls = fx_org.calls()["by_endpoint"]
    assert calls["POST /oauth2.0/token"] == 1 and calls["POST crm/v2/data/query"] == 2  # refused once, repeated


def test_wrong_app_secret_is_an_auth_error_without_the_secret(fx_org: Org, tmp_path: Path) -> None:
    config = configure(fx_org, tmp_path)
    conn = config.connections["sandbox"]
    assert isinstance(conn, FxiaokeConnection)
    from pydantic import SecretStr

    conn.auth.app_secret = SecretStr("not-the-secret-at-all")
    with pytest.raises(AuthError) as err:
        client(config).check([spec(config)])
    assert "not-the-secret" not in str(err.value) and "10006" in str(err.value)


def test_legacy_style_reads_and_writes_with_the_body_trio(fx_org: Org, tmp_path: Path) -> None:
    creds = fx_org.credentials()
    config = configure(fx_org, tmp_path, auth_style="legacy")
    conn = config.connections["sandbox"]
    assert isinstance(conn, FxiaokeConnection)
    conn.operator_user_id = creds["operator_open_user_id"]
    conn.token_cache = None
    crm = client(config)
    rows = [r for p in crm.extract(spec(config), None) for r in p.rows]
    assert len(rows) == 30
    result = crm.apply(WritePlan(updates=[FieldUpdate("accounts", str(rows[0]["_id"]),
                                                      {"risk_tier__c": (None, "medium")}, "legacy")]))
    assert result.outcomes["legacy"].ok
    assert fx_org.calls()["by_endpoint"].get("POST corpAccessToken/get/V2") == 1


def test_the_opportunity_object_must_agree_with_the_mapping(fx_org: Org, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="opportunity_object is OpportunityObj"):
        configure(fx_org, tmp_path, opportunity_object="OpportunityObj")


# --- the envelope -----------------------------------------------------------------------------------------


def envelope(body: dict[str, Any], status: int = 200) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = json.dumps(body).encode()
    resp.headers["Content-Type"] = "application/json"
    return resp


@pytest.mark.parametrize(("code", "kind", "words"), [
    (30003, ConfigurationRefused, "quota pack"), (20021, ConfigurationRefused, "disabled"),
    (20022, ConfigurationRefused, "authorised"), (30002, QuotaExhausted, "daily"), (30004, RateLimited, "30004"),
    (14001, RateLimited, "14001"), (20014, FxiaokeFatal, "operator"),
])
def test_every_error_code_is_classified_with_its_trace_id(code: int, kind: type[Exception], words: str) -> None:
    with pytest.raises(kind) as err:
        check_envelope(envelope({"errorCode": code, "errorMessage": "x", "traceId": "E-O.1.2-abc"}), "query")
    assert words in str(err.value) and ("E-O.1.2-abc" in str(err.value) or code == 30002 and "abc" in str(err.value))


def test_http_200_with_a_nonzero_code_is_never_success() -> None:
    with pytest.raises(FxiaokeFatal):
        check_envelope(envelope({"errorCode": 10013, "errorMessage": "offset out of range 10000"}), "query")
    assert check_envelope(envelope({"errorCode": 0, "errorMessage": "OK", "data": {}}), "query")["errorCode"] == 0


def test_values_go_out_in_fxiaoke_formats() -> None:
    assert wire_value(72.5) == "72.5" and wire_value(30) == "30" and wire_value(True) is True
    assert wire_value(date(2024, 3, 1)) == 1709222400000  # midnight in Beijing
    assert wire_value(datetime(2024, 3, 1, tzinfo=UTC)) == 1709251200000
