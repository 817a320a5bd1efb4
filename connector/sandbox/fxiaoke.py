"""A wire-faithful Fxiaoke (纷享销客) OpenAPI sandbox (docs/crm-fxiaoke.md §13).

`FxiaokeApp` implements `server.SandboxApp`. Every route is `POST` and answers HTTP 200 with the
envelope `{errorCode, errorMessage, errorDescription, traceId, …}`; success iff `errorCode == 0`:

    /oauth2.0/token                          new-style token; then headers authorization/x-fs-ea/x-fs-userid
    /cgi/corpAccessToken/get/V2              legacy token; then corpAccessToken/corpId/currentOpenUserId in body
    /cgi/user/getByMobile                    legacy: the operator's open user id
    /cgi/crm/v2/data/{query,get,update,create,invalid,changeOwner}   preset objects (AccountObj, NewOpportunityObj, …)
    /cgi/crm/custom/v2/data/{…the same…, findSimple}                custom objects (`…__c`) only
    /cgi/crm/v2/object/{list,describe}

Employee fields travel as plain ids (`["1000"]`) with new-style auth and as open ids (`FSUID_…`) with
legacy auth; `"convertUserId": true|false` at the top level overrides either default (⚠ the docs are
ambiguous; this is the sandbox's reading). Business calls pass the per-path limiter and the daily quota
(`fxiaoke_limits`). Tests replace `clock` to move time; `limits` holds the limiter's settings.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from connector.sandbox.faults import FaultInjector
from connector.sandbox.fxiaoke_auth import AuthContext, FxiaokeAuth
from connector.sandbox.fxiaoke_data import populate, user_edit
from connector.sandbox.fxiaoke_fields import describe_field
from connector.sandbox.fxiaoke_ids import filters_in, ids_in, ids_out
from connector.sandbox.fxiaoke_limits import (
    DEFAULT_DAILY_QUOTA,
    DEFAULT_RATE_LIMIT,
    DEFAULT_WINDOW_S,
    CallLimits,
    max_in_window,
)
from connector.sandbox.fxiaoke_org import OBJECT_LABELS, org_schema
from connector.sandbox.fxiaoke_query import QueryError, run_query
from connector.sandbox.fxiaoke_store import FxiaokeStore
from connector.sandbox.fxiaoke_view import account_page, account_rows, on_watchlist
from connector.sandbox.fxiaoke_write import (
    change_owner,
    create_record,
    get_record,
    invalidate_record,
    update_record,
)
from connector.sandbox.http import Request, Response, json_response
from connector.sandbox.view import AccountPage, AccountRow

__all__ = ["FxiaokeApp"]

log = logging.getLogger(__name__)

PRESET, CUSTOM = "/cgi/crm/v2/data/", "/cgi/crm/custom/v2/data/"
_ACTIONS = {"query", "get", "update", "create", "invalid", "changeOwner"}
_WRITES = {"update", "create", "invalid", "changeOwner"}
_OBJECT_ALIASES = {"accounts": "AccountObj", "tasks": "ActiveRecordObj"}


def _bad(message: str) -> dict[str, Any]:
    return {"errorCode": 10006, "errorMessage": message, "errorDescription": "缺少参数或参数不合法"}


class FxiaokeApp:
    """One Fxiaoke tenant on loopback: its data, its self-built app's credentials, and the OpenAPI."""

    crm = "fxiaoke"

    def __init__(self, *, accounts: int, deals_per_account: int, seed: int, today: date, faults: FaultInjector,
                 org: str = "provisioned", rate_limit: int = DEFAULT_RATE_LIMIT,
                 rate_window_s: float = DEFAULT_WINDOW_S, daily_quota: int | None = DEFAULT_DAILY_QUOTA,
                 deal_object: str = "NewOpportunityObj") -> None:
        org_schema(org, seed, deal_object)  # an unknown variant or object fails here, before anything starts
        self.org, self.seed, self.today, self.deal_object = org, seed, today, deal_object
        self.base_url = ""
        self.faults = faults
        self.clock: Callable[[], float] = time.time
        self._sizes = (accounts, deals_per_account)
        self.auth = FxiaokeAuth(seed=seed, clock=lambda: self.clock())
        self.limits = CallLimits(clock=lambda: self.clock(), rate_limit=rate_limit, window_s=rate_window_s,
                                 daily_quota=daily_quota)
        self._local = threading.local()
        # CRM admins see every record; any other operator only its own (the §14 "missed records" trap)
        self.admins: frozenset[str] = frozenset({"1000"})
        self._traces = 0
        self._errors = 0
        self.reset()

    # ------------------------------------------------------------ lifecycle

    def reset(self) -> None:
        schema = org_schema(self.org, self.seed, self.deal_object)
        store = FxiaokeStore(now=lambda: self.clock(), schema=schema, seed=self.seed)
        populate(store, seed=self.seed, accounts=self._sizes[0], deals_per_account=self._sizes[1], today=self.today)
        self.store = store
        self.auth.employees = {e.id: e.open_id for e in store.employees}
        self.auth.reset_limits()
        self.limits.reset()
        self._touch_rng = random.Random(self.seed * 31 + 7)
        self._touch_order: dict[str, tuple[list[str], int]] = {}

    @property
    def writes(self) -> list[dict[str, Any]]:
        """Every create/update with the trigger flags it asked for, oldest first."""
        return self.store.writes

    def credentials(self) -> dict[str, Any]:
        op = self.store.operator
        return self.auth.credentials(self.base_url, op.id, op.mobile)

    def org_info(self) -> dict[str, Any]:
        return self.store.schema.report()

    def expire_sessions(self) -> None:
        self.auth.expire_all()

    # ------------------------------------------------------------ what the core asks for

    def classify(self, request: Request) -> tuple[str, bool]:
        self._local.request = request
        path = request.path.rstrip("/")
        for prefix, name in ((PRESET, "crm/v2/data/"), (CUSTOM, "crm/custom/v2/data/")):
            if path.startswith(prefix):
                action = path[len(prefix):]
                return f"POST {name}{action}", action in _WRITES
        return f"{request.method} {path.removeprefix('/cgi/')}", False

    def _token_call(self) -> bool:
        request: Request | None = getattr(self._local, "request", None)
        return request is not None and request.path.rstrip("/") in ("/oauth2.0/token", "/cgi/corpAccessToken/get/V2")

    def rate_limited(self) -> Response:
        return self._reply({"errorCode": 30004, "errorMessage": "request frequency exceeded",
                            "errorDescription": "接口调用频率超限"})

    def quota_exhausted(self) -> Response:
        request: Request | None = getattr(self._local, "request", None)
        if request is not None and self._token_call():  # token calls do not spend the OpenAPI quota
            return self.handle(request)
        return self._reply(_QUOTA)

    def server_error(self) -> Response:
        self._errors += 1
        if self._errors % 2:
            return self._reply({"errorCode": -1, "errorMessage": "系统繁忙", "errorDescription": "system busy"})
        return self._reply({"errorCode": 50009, "errorMessage": "服务异常，请稍后重试", "errorDescription": "timeout"})

    def _reply(self, body: dict[str, Any], user: str = "-1000", ea: str | None = None) -> Response:
        """HTTP 200 and the envelope plus a traceId shaped like the gateway's (`E-O.<ea>.<user>-…`)."""
        self._traces += 1
        trace = f"E-O.{ea or self.auth.ea}.{user}-{self._traces:08x}{random.getrandbits(32):08x}"
        return json_response(200, {**body, "traceId": trace})

    # ------------------------------------------------------------ the API

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return self._reply(_bad("request body is not valid JSON"))
        if request.method != "POST":
            return self._reply(_bad(f"only POST is supported, not {request.method}"))
        if path == "/oauth2.0/token":
            return self._reply(self.auth.grant(body, "new"))
        if path == "/cgi/corpAccessToken/get/V2":
            return self._reply(self.auth.grant(body, "legacy"))
        if not path.startswith("/cgi/"):
            return self._reply({"errorCode": 10002, "errorMessage": f"no such interface {path}"})
        ctx = self.auth.check(request.headers, body, need_user=path != "/cgi/user/getByMobile")
        if not isinstance(ctx, AuthContext):
            return self._reply(ctx, ea="null")  # the gateway does not know the tenant yet
        verdict = self.limits.admit(path)
        if verdict == 30002:
            return self._reply(_QUOTA, ctx.user_id)
        if verdict == 30004:
            return self.rate_limited()
        payload = body if isinstance(body, dict) else {}
        try:
            answer = self._route(path, payload, ctx)
        except Exception:  # a sandbox bug must still answer in the gateway's envelope
            log.exception("fxiaoke sandbox error on %s", path)
            answer = {"errorCode": -2, "errorMessage": "系统错误", "errorDescription": "system error"}
        return self._reply(answer, ctx.user_id or "-1000")

    def _route(self, path: str, body: dict[str, Any], ctx: AuthContext) -> dict[str, Any]:
        if path == "/cgi/user/getByMobile":
            return self._by_mobile(body)
        if path == "/cgi/crm/v2/object/list":
            return self._object_list()
        if path == "/cgi/crm/v2/object/describe":
            return self._describe(body)
        custom = path.startswith(CUSTOM)
        if not custom and not path.startswith(PRESET):
            return {"errorCode": 10002, "errorMessage": f"no such interface {path}"}
        action = path[len(CUSTOM if custom else PRESET):]
        if custom and action == "findSimple":
            action = "query"
        if action not in _ACTIONS:
            return {"errorCode": 10002, "errorMessage": f"no such interface {path}"}
        data = body.get("data")
        if not isinstance(data, dict):
            return _bad("the parameter data is missing or illegal")
        item = data.get("object_data")
        obj = data.get("dataObjectApiName") or (item.get("dataObjectApiName") if isinstance(item, dict) else None)
        if not isinstance(obj, str) or obj not in self.store.schema.fields:
            return _bad(f"dataObjectApiName {obj!r} 对象不存在 (object not found)")
        if obj.endswith("__c") != custom:
            where = "/cgi/crm/custom/v2/data/*" if obj.endswith("__c") else "/cgi/crm/v2/data/*"
            return {"errorCode": 10006, "errorMessage": f"对象 {obj} 不支持此接口; use {where}",
                    "errorDescription": "object not supported on this path"}
        open_ids = bool(body.get("convertUserId", ctx.style == "legacy"))
        user = ctx.user_id or self.store.operator.id
        triggers = {"triggerWorkFlow": body.get("triggerWorkFlow", True) is not False,
                    "triggerApprovalFlow": body.get("triggerApprovalFlow", True) is not False}
        errors = self.faults.record_error
        if action == "query":
            return self._query(obj, body, data, open_ids, None if user in self.admins else user)
        if action == "get":
            answer = get_record(self.store, obj, data, user, self.admins)
            if body.get("includeNull") is True and isinstance(answer.get("data"), dict):
                answer["data"] = {**dict.fromkeys(self.store.schema.fields[obj]), **answer["data"]}
            if open_ids and isinstance(answer.get("data"), dict):
                answer["data"] = ids_out(answer["data"], self.store.schema.fields[obj], self.auth.employees)
            return answer
        if action == "invalid":
            return invalidate_record(self.store, obj, data, user)
        if action == "changeOwner":
            if open_ids and isinstance(data.get("Data"), list):
                layout = {"ownerId": self.store.schema.fields[obj]["owner"]}
                data = {**data, "Data": [ids_in(i, layout, self.auth.employees) if isinstance(i, dict) else i
                                         for i in data["Data"]]}
            return change_owner(self.store, obj, data, user)
        if isinstance(item, dict) and open_ids:
            data = {**data, "object_data": ids_in(item, self.store.schema.fields[obj], self.auth.employees)}
        if action == "update":
            return update_record(self.store, obj, data, user, triggers, errors, self.admins)
        return create_record(self.store, obj, data, user, triggers, errors)

    def _query(self, obj: str, body: dict[str, Any], data: dict[str, Any], open_ids: bool,
               only_owner: str | None) -> dict[str, Any]:
        count = data.get("find_explicit_total_num", True) is not False and body.get("returnTotalNum") != 3
        if body.get("returnTotalNum") in (1, 2) or body.get("need_return_count_num") is True:
            count = True
        layout = self.store.schema.fields[obj]
        if open_ids:
            data = filters_in(data, layout, self.auth.employees)
        try:
            page = run_query(self.store, obj, data, body.get("includeNull") is True, count, only_owner)
        except QueryError as exc:
            return exc.body
        if open_ids:
            page["dataList"] = [ids_out(rec, layout, self.auth.employees) for rec in page["dataList"]]
        return {"errorCode": 0, "errorMessage": "OK", "errorDescription": "success", "data": page}

    # ------------------------------------------------------------ metadata and users

    def _by_mobile(self, body: dict[str, Any]) -> dict[str, Any]:
        mobile = body.get("mobile")
        found = [e for e in self.store.employees if e.mobile == mobile]
        return {"errorCode": 0, "errorMessage": "success",
                "empList": [{"openUserId": e.open_id, "name": e.name, "mobile": e.mobile, "isStop": False}
                            for e in found]}

    def _object_list(self) -> dict[str, Any]:
        objects = [{"describeApiName": api, "describeDisplayName": OBJECT_LABELS.get(api, api),
                    "defineType": "custom" if api.endswith("__c") else "package",
                    "isActive": self.store.schema.is_active(api)} for api in self.store.schema.fields]
        return {"errorCode": 0, "errorMessage": "OK", "errorDescription": "success", "data": {"objects": objects}}

    def _describe(self, body: dict[str, Any]) -> dict[str, Any]:
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        api = (data or {}).get("apiName") or body.get("apiName")  # one SDK sends apiName at the top level
        layout = self.store.schema.fields.get(str(api))
        if layout is None:
            return _bad(f"apiName {api!r} 对象不存在 (object not found)")
        describe = {"api_name": api, "display_name": OBJECT_LABELS.get(str(api), api),
                    "define_type": "custom" if str(api).endswith("__c") else "package",
                    "is_active": self.store.schema.is_active(str(api)),
                    "fields": {name: describe_field(fd) for name, fd in layout.items()}}
        return {"errorCode": 0, "errorMessage": "OK", "errorDescription": "success", "data": {"describe": describe}}

    # ------------------------------------------------------------ inspection and the CRM view

    def inspect(self, what: str, request: Request) -> Response | None:
        """`/__sandbox/limits` (GET, or POST {rate_limit, window_s, daily_quota}) and `GET /__sandbox/writes`."""
        if what == "writes" and request.method == "GET":
            return json_response(200, {"writes": list(self.store.writes)})
        if what != "limits":
            return None
        limits = self.limits
        if request.method == "POST":
            try:
                update = request.json() or {}
                rate = int(update.get("rate_limit", limits.rate_limit))
                window = float(update.get("window_s", limits.window_s))
                quota = update.get("daily_quota", limits.daily_quota)
                quota = None if quota is None else int(quota)
            except (ValueError, TypeError, AttributeError) as exc:
                return json_response(400, {"error": "invalid limits", "detail": str(exc)})
            if rate < 1 or window <= 0 or (quota is not None and quota < 0):
                return json_response(400, {"error": "rate_limit >= 1, window_s > 0 and daily_quota >= 0 please"})
            limits.rate_limit, limits.window_s, limits.daily_quota = rate, window, quota
        elif request.method != "GET":
            return None
        calls = list(limits.accepted)
        body: dict[str, Any] = {"rate_limit": limits.rate_limit, "window_s": limits.window_s,
                                "daily_quota": limits.daily_quota, "used_today": limits.used_today,
                                "rejected": limits.rejected, "accepted": len(calls),
                                "max_in_window": max_in_window(calls, limits.window_s)}
        if request.arg("calls"):
            body["calls"] = [[at, path] for at, path in calls]
        return json_response(200, body)

    def _object(self, obj: str) -> str | None:
        name = self.store.schema.deal_object if obj.lower() == "deals" else _OBJECT_ALIASES.get(obj.lower(), obj)
        return name if name in self.store.schema.fields else None

    def records(self, obj: str) -> list[dict[str, Any]] | None:
        """`GET /__sandbox/records/<object>`: every record with every field of its layout (None when empty)."""
        name = self._object(obj)
        if name is None:
            return None
        empty = dict.fromkeys(self.store.schema.fields[name])  # inspection shows every field, as Zoho's does
        with self.store.lock:
            out = [{**empty, **json.loads(json.dumps(rec))} for rec in self.store.records[name].values()]
        if name == "AccountObj":
            for rec in out:
                rec["watchlist"] = on_watchlist(rec)
        return out

    def touch(self, obj: str, count: int) -> list[str]:
        """Edit `count` records the way a CRM user would; successive calls pick different records."""
        name = self._object(obj)
        if name is None:
            return []
        store, rng = self.store, self._touch_rng
        with store.lock:
            order, cursor = self._touch_order.get(name, ([], 0))
            if len(order) != len(store.records[name]):
                order = store.sorted_ids(name)[:]
                random.Random(f"{name}:{len(order)}").shuffle(order)
                cursor = 0
            picked = [order[(cursor + i) % len(order)] for i in range(min(count, len(order)))]
            self._touch_order[name] = (order, (cursor + len(picked)) % max(1, len(order)))
            for rid in picked:
                rec = store.records[name][rid]
                store.modify(name, rid, user_edit(store, name, rec, rng), (rec.get("owner") or ["1001"])[0])
        return picked

    def account_rows(self) -> list[AccountRow]:
        return account_rows(self.store)

    def account_page(self, account_id: str) -> AccountPage | None:
        return account_page(self.store, account_id)


_QUOTA = {"errorCode": 30002, "errorMessage": "今日OpenAPI调用次数已用完", "errorDescription": "daily quota exhausted"}
