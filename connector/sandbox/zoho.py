"""A wire-faithful Zoho CRM v8 sandbox: Zoho Accounts OAuth plus the record, tag, metadata and COQL APIs.

`ZohoApp` implements `server.SandboxApp`; the accounts (OAuth) URL and the API URL are both the
sandbox's base URL. Routes (all but the token grant need `Authorization: Zoho-oauthtoken …`):

    POST /oauth/v2/token                              refresh-token grant (zoho_auth)
    GET|PUT|POST|DELETE /crm/v8/{module}              list, update ≤100, create ≤100, delete by ids
    POST /crm/v8/{module}/upsert                      duplicate_check_fields
    GET  /crm/v8/{module}/deleted
    GET|PUT|DELETE /crm/v8/{module}/{id}
    POST /crm/v8/{module}[/{id}]/actions/add_tags|remove_tags
    GET  /crm/v8/{module}/search?criteria=|email=|phone=|word=     (zoho_search)
    GET|POST /crm/v8/settings/fields?module=, GET /crm/v8/settings/fields/{id}   (zoho_settings)
    GET|POST /crm/v8/settings/tags?module=
    GET  /crm/v8/settings/modules[/{api_name}], GET /crm/v8/org, GET /crm/v8/users[/{id}]
    POST /crm/v8/coql
    GET  /crm/v8/{module}/actions/count; POST /crm/bulk/v8/read, GET …/read/{id}[/result]   (zoho_bulk)

Modules are Accounts, Deals, Tasks, Contacts and Campaigns (case-insensitive). `org` picks the org
variant (`zoho_org`: provisioned, bare or renamed). Tests may replace `clock` to move time.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from connector.sandbox import coql
from connector.sandbox.data import touch_account
from connector.sandbox.faults import FaultInjector
from connector.sandbox.http import Request, Response, json_response
from connector.sandbox.view import AccountPage, AccountRow
from connector.sandbox.zoho_auth import TOO_MANY_TOKENS, ZohoAuth
from connector.sandbox.zoho_bulk import BULK_SCOPES, BulkReads, count_records
from connector.sandbox.zoho_data import INPUT_FIELDS, WATCHLIST_TAG, populate
from connector.sandbox.zoho_fields import MODULES, STAGES, FieldDef, fmt_dt, serving
from connector.sandbox.zoho_org import field_value, org_schema
from connector.sandbox.zoho_read import PageTokens, error, get_deleted, get_record, list_records
from connector.sandbox.zoho_search import search_records
from connector.sandbox.zoho_settings import (
    create_fields,
    get_field,
    get_module,
    get_org,
    get_user,
    list_fields,
    list_modules,
    user_entry,
)
from connector.sandbox.zoho_store import WriteOp, ZohoStore
from connector.sandbox.zoho_view import account_page, account_rows
from connector.sandbox.zoho_write import create_tags, delete_records, list_tags, tag_action, write_records

__all__ = ["ZohoApp"]

log = logging.getLogger(__name__)

_MODULE_BY_LOWER = {m.lower(): m for m in MODULES}
_STAGE_PROBABILITY = dict(zip(STAGES, (10, 20, 40, 60, 70, 75, 90, 100, 0, 0), strict=True))
_EXTRA_HEADERS = {"clientversion": "13385089", "content-disposition": "attachment; filename=response.json"}
_NOT_FOUND = {"code": "INVALID_URL_PATTERN", "details": {},
              "message": "Please check if the URL trying to access is a correct one", "status": "error"}
_BAD_METHOD = {"code": "INVALID_REQUEST_METHOD", "details": {},
               "message": "The http request method type is not a valid one", "status": "error"}


class ZohoApp:
    """One Zoho org on loopback: its data, its OAuth client, and the v8 REST API over them."""

    crm = "zoho"

    def __init__(self, *, accounts: int, deals_per_account: int, seed: int, today: date, faults: FaultInjector,
                 token_lifetime_s: int = 3600, org: str = "provisioned") -> None:
        org_schema(org, seed)  # an unknown variant fails here, before anything starts
        self.org = org
        self.base_url = ""
        self.faults = faults
        self.clock: Callable[[], float] = time.time
        self.seed, self.today = seed, today
        self._sizes = (accounts, deals_per_account)
        self.auth = ZohoAuth(seed=seed, clock=lambda: self.clock(), lifetime_s=token_lifetime_s)
        self.tokens = PageTokens()
        self.triggers: list[dict[str, Any]] = []  # every write's `trigger` value, newest last
        self._local = threading.local()
        self.reset()

    # ------------------------------------------------------------ lifecycle and configuration

    def reset(self) -> None:
        store = ZohoStore(now=lambda: self.clock(), schema=org_schema(self.org, self.seed))
        populate(store, seed=self.seed, accounts=self._sizes[0], deals_per_account=self._sizes[1], today=self.today)
        self.store = store
        self.bulk = BulkReads(store, clock=lambda: self.clock())
        self.tokens.clear()
        self.auth.reset_limits()
        self.triggers = []
        self._touch_rng = random.Random(self.seed * 31 + 5)

    @property
    def token_lifetime_s(self) -> int:
        return self.auth.lifetime_s

    @token_lifetime_s.setter
    def token_lifetime_s(self, value: int) -> None:
        self.auth.lifetime_s = value

    @property
    def last_trigger(self) -> list[str] | None:
        """The `trigger` of the latest write (None when it was omitted: all automation runs)."""
        return self.triggers[-1]["trigger"] if self.triggers else None

    def credentials(self) -> dict[str, Any]:
        return self.auth.credentials(self.base_url)

    def org_info(self) -> dict[str, Any]:
        """The `GET /__sandbox/org` body: the variant and, per object, canonical input -> API name."""
        with self.store.lock:
            return self.store.schema.report()

    def expire_sessions(self) -> None:
        self.auth.expire_all()

    # ------------------------------------------------------------ what the core asks for

    def classify(self, request: Request) -> tuple[str, bool]:
        self._local.request = request
        parts = [p for p in request.path.split("/") if p]
        method = request.method
        if parts[:3] == ["oauth", "v2", "token"]:
            return "POST oauth/v2/token", False
        if parts[:3] == ["crm", "bulk", "v8"]:
            return f"{method} bulk/" + "/".join(p if i != 1 else "{job_id}" for i, p in enumerate(parts[3:6])), False
        if parts[:2] != ["crm", "v8"] or len(parts) < 3:
            return f"{method} other", False
        rest = parts[2:]
        module = _MODULE_BY_LOWER.get(rest[0].lower(), rest[0])
        if rest[0] in ("settings", "coql", "users", "org"):
            name = "/".join(rest[:2])
            if rest[0] == "users" and len(rest) > 1:
                name = "users/{id}"
            elif len(rest) > 2:  # settings/fields/{id}, settings/modules/{api_name}
                name += "/{id}" if rest[2].isdigit() else "/{api_name}"
        elif len(rest) == 1 or rest[1] in ("upsert", "deleted", "actions", "search"):
            name = "/".join([module, *rest[1:3]])
        else:
            name = "/".join([module, "{id}", *rest[2:4]])
        is_write = method in ("PUT", "DELETE") or (method == "POST" and rest[0] not in ("coql",))
        return f"{method} {name}", is_write

    def _on_token_endpoint(self) -> Request | None:
        request: Request | None = getattr(self._local, "request", None)
        return request if request is not None and request.path.rstrip("/") == "/oauth/v2/token" else None

    def rate_limited(self) -> Response:
        if self._on_token_endpoint():
            return json_response(400, TOO_MANY_TOKENS)
        return json_response(429, {"code": "TOO_MANY_REQUESTS", "details": {},
                                   "message": "too many requests. please try again after some time",
                                   "status": "error"})

    def quota_exhausted(self) -> Response:
        token_request = self._on_token_endpoint()
        if token_request is not None:  # Zoho Accounts does not spend CRM API credits
            return self.auth.grant(token_request, self.base_url)
        return json_response(429, {"code": "TOO_MANY_REQUESTS", "details": {},
                                   "message": "You have exceeded the API credits allowed for your organization "
                                              "in the last 24 hours", "status": "error"},
                             {"X-API-CREDITS-REMAINING": "0"})

    def server_error(self) -> Response:
        return json_response(500, {"code": "INTERNAL_ERROR", "details": {}, "message": "Internal Server Error",
                                   "status": "error"})

    # ------------------------------------------------------------ the API

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if path == "/oauth/v2/token":
            if request.method != "POST":
                return json_response(400, _BAD_METHOD)
            return self.auth.grant(request, self.base_url)
        bulk = path.startswith("/crm/bulk/v8/")
        if not path.startswith("/crm/v8/") and not bulk:
            return json_response(404, _NOT_FOUND)
        denied, headers = self.auth.check(request, BULK_SCOPES if bulk else ())
        if denied:
            return denied
        try:
            with serving(self.store.schema.fields):  # the shared reader sees this org's layouts
                parts = [p for p in path.split("/") if p]
                response = self.bulk.route(request, parts[3:]) if bulk else self._route(request, parts[2:])
        except Exception:  # a sandbox bug must still answer in Zoho's error shape
            log.exception("zoho sandbox error on %s %s", request.method, request.path)
            response = self.server_error()
        response.headers.update(headers)
        if response.body and "Content-Disposition" not in response.headers:  # a bulk zip names its own file
            response.headers.update(_EXTRA_HEADERS)
        quota = self.faults.spec.quota_after
        if quota and self.faults.calls * 2 >= quota:  # Zoho shows the header once half is spent
            response.headers["X-API-CREDITS-REMAINING"] = str(max(0, quota - self.faults.calls))
        return response

    def _route(self, request: Request, rest: list[str]) -> Response:
        method = request.method
        head = rest[0] if rest else ""
        if head == "coql" and len(rest) == 1:
            return self._coql(request) if method == "POST" else json_response(400, _BAD_METHOD)
        if head == "org" and len(rest) == 1:
            return get_org(self.store) if method == "GET" else json_response(400, _BAD_METHOD)
        if head == "users" and len(rest) <= 2:
            if method != "GET":
                return json_response(400, _BAD_METHOD)
            return self._users(request) if len(rest) == 1 else get_user(self.store, rest[1])
        if head == "settings" and rest[1:2] == ["modules"] and len(rest) <= 3:
            if method != "GET":
                return json_response(400, _BAD_METHOD)
            return list_modules() if len(rest) == 2 else get_module(rest[2])
        if head == "settings" and (rest[1:] in (["fields"], ["tags"]) or (len(rest) == 3 and rest[1] == "fields")):
            return self._settings(request, rest)
        module = _MODULE_BY_LOWER.get(head.lower())
        if module is None:
            if len(rest) > 4 or head in ("settings", "coql", "users", "org"):
                return json_response(404, _NOT_FOUND)
            return error(400, "INVALID_MODULE", "the module name given seems to be invalid",
                         {"resource_path_index": 0})
        return self._module_route(request, module, rest[1:])

    def _settings(self, request: Request, rest: list[str]) -> Response:
        """`settings/fields[/{id}]` and `settings/tags`, which all name their module in `?module=`."""
        method = request.method
        module = _MODULE_BY_LOWER.get((request.arg("module") or "").lower())
        if not request.arg("module"):
            return error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing",
                         {"param": "module"})
        if module is None:
            return error(400, "INVALID_MODULE", "the module name given seems to be invalid", {})
        if rest[1] == "fields":
            if len(rest) == 3:
                return get_field(self.store, module, rest[2]) if method == "GET" else json_response(400, _BAD_METHOD)
            if method == "POST":
                return create_fields(self.store, module, request)
            return list_fields(self.store, module) if method == "GET" else json_response(400, _BAD_METHOD)
        if method == "GET":
            return list_tags(self.store, module)
        return create_tags(self.store, module, request) if method == "POST" else json_response(400, _BAD_METHOD)

    def _module_route(self, request: Request, module: str, rest: list[str]) -> Response:
        method, errors = request.method, self.faults.record_error
        if not rest:
            if method == "GET":
                return list_records(self.store, self.tokens, module, request, self.clock())
            if method in ("PUT", "POST"):
                op: WriteOp = "update" if method == "PUT" else "create"
                return write_records(self.store, module, request, op, None, errors, self._note_trigger(module))
            if method == "DELETE":
                ids = [i for part in request.query.get("ids", []) for i in part.split(",") if i]
                return delete_records(self.store, module, ids)
        elif rest == ["upsert"]:
            if method == "POST":
                return write_records(self.store, module, request, "upsert", None, errors, self._note_trigger(module))
        elif rest == ["deleted"]:
            if method == "GET":
                return get_deleted(self.store, module, request)
        elif rest == ["search"]:
            if method == "GET":
                return search_records(self.store, module, request)
        elif rest == ["actions", "count"]:
            if method == "GET":
                return count_records(self.store, module)
        elif len(rest) == 2 and rest[0] == "actions" and rest[1] in ("add_tags", "remove_tags"):
            if method == "POST":
                return tag_action(self.store, module, request, None, rest[1] == "add_tags", errors)
        elif len(rest) == 3 and rest[1] == "actions" and rest[2] in ("add_tags", "remove_tags"):
            if method == "POST":
                return tag_action(self.store, module, request, rest[0], rest[2] == "add_tags", errors)
        elif len(rest) == 1:
            if method == "GET":
                return get_record(self.store, module, rest[0], request)
            if method == "PUT":
                return write_records(self.store, module, request, "update", rest[0], errors,
                                     self._note_trigger(module))
            if method == "DELETE":
                return delete_records(self.store, module, [rest[0]])
        else:
            return json_response(404, _NOT_FOUND)
        return json_response(400, _BAD_METHOD)

    def _note_trigger(self, module: str) -> Callable[[str, list[str] | None], None]:
        def note(op: str, trigger: list[str] | None) -> None:
            self.triggers.append({"module": module, "op": op, "trigger": trigger})
            del self.triggers[:-1000]
        return note

    def _coql(self, request: Request) -> Response:
        try:
            payload = request.json()
        except (ValueError, UnicodeDecodeError):
            payload = None
        query = payload.get("select_query") if isinstance(payload, dict) else None
        if not isinstance(query, str) or not query.strip():
            return error(400, "MANDATORY_NOT_FOUND", "mandatory key not found", {"api_name": "select_query"})
        try:
            parsed = coql.parse(query)
            module = _MODULE_BY_LOWER.get(parsed.module.lower())
            if module is None:
                raise coql.CoqlError("INVALID_MODULE", "the given module is not supported in api")
            with self.store.lock:
                records = list(self.store.records[module].values())
                rows, more = coql.run(parsed, records, self.store.schema.fields[module], self._resolve,
                                      self.store.schema.template(module))
        except coql.CoqlError as exc:
            return json_response(400, exc.body())
        if not rows:
            return Response(204, b"", {})
        return json_response(200, {"data": rows, "info": {"count": len(rows), "more_records": more}})

    def _resolve(self, fd: FieldDef, ref: dict[str, Any], sub: str) -> Any:
        if sub in ref:
            return ref[sub]
        target = fd.lookup if fd.lookup in MODULES else None
        rec = self.store.records[target].get(ref.get("id", "")) if target else None
        return None if rec is None else rec.get(sub)

    def _users(self, request: Request) -> Response:
        kind = request.arg("type", "AllUsers")
        people = [self.store.integration] if kind == "CurrentUser" else [*self.store.users, self.store.integration]
        users = [user_entry(u, self.store.integration) for u in people]
        return json_response(200, {"users": users, "info": {"per_page": 200, "count": len(users), "page": 1,
                                                            "more_records": False}})

    # ------------------------------------------------------------ inspection and the CRM view

    def _module(self, obj: str) -> str | None:
        return _MODULE_BY_LOWER.get(obj.lower())

    def records(self, obj: str) -> list[dict[str, Any]] | None:
        module = self._module(obj)
        if module is None:
            return None
        with self.store.lock:
            out = [self.store.full(module, r) for r in self.store.records[module].values()]
        if module in ("Accounts", "Deals"):
            for rec in out:
                rec["watchlist"] = any(t["name"] == WATCHLIST_TAG for t in rec["Tag"])
        return out

    def touch(self, obj: str, count: int) -> list[str]:
        """Edit `count` records the way a CRM user would; successive calls pick different records."""
        module = self._module(obj)
        if module is None:
            return []
        store, rng = self.store, self._touch_rng
        with store.lock:
            ids = store.pick_for_touch(module, count)
            for rid in ids:
                rec = store.records[module][rid]
                self._edit_like_a_user(module, rec, rng)
                owner = store.user((rec.get("Owner") or {}).get("id", ""))
                human = owner if owner and owner is not store.integration else store.users[rng.randrange(
                    len(store.users))]
                store.stamp(module, rec, human)
        return ids

    def _edit_like_a_user(self, module: str, rec: dict[str, Any], rng: random.Random) -> None:
        if module == "Accounts":
            where, layout = self.store.schema.canonical["accounts"], self.store.schema.fields["Accounts"]
            if "disputes_12m" not in where:  # no credit fields in this org: a clerk edits a standard one
                staff = int(rec.get("Employees") or 0)
                rec["Employees"] = staff + rng.randint(1, 40) if staff < 25 or rng.random() < 0.6 else staff - 1
                return
            canon = {k: rec.get(where[k]) for k in INPUT_FIELDS if k in where}
            before = dict(canon)
            touch_account(rng, canon)
            for key, value in canon.items():
                if value != before.get(key):
                    rec[where[key]] = field_value(layout[where[key]], value)
        elif module == "Deals":
            stage = rec.get("Stage") or STAGES[0]
            if rec.get("Amount") is not None and (rng.random() < 0.5 or stage.startswith("Closed")):
                rec["Amount"] = int(round(rec["Amount"] * rng.uniform(0.75, 1.4), -2)) or 100
            else:
                nxt = STAGES[min(STAGES.index(stage) + 1, 7)] if stage in STAGES else STAGES[0]
                rec.update({"Stage": nxt, "Probability": _STAGE_PROBABILITY[nxt]})
            if rec.get("Amount") is not None and rec.get("Probability") is not None:
                rec["Expected_Revenue"] = round(rec["Amount"] * rec["Probability"] / 100, 2)
        elif module == "Contacts":
            rec["Title"] = rng.choice(("CFO", "Finance Director", "Head of Procurement", "Controller"))
        elif module == "Campaigns":
            rec["Status"] = rng.choice(("Planning", "Active", "Inactive", "Complete"))
        else:
            order = ("Not Started", "In Progress", "Completed")
            status = rec.get("Status")
            rec["Status"] = order[(order.index(status) + 1) % 3] if status in order else "In Progress"
            rec["Closed_Time"] = fmt_dt(self.clock()) if rec["Status"] == "Completed" else None

    def account_rows(self) -> list[AccountRow]:
        return account_rows(self.store)

    def account_page(self, account_id: str) -> AccountPage | None:
        return account_page(self.store, account_id)
