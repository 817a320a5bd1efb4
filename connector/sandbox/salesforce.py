"""A wire-faithful Salesforce org for tests, the demo and benchmarks (`SandboxApp` for ``--crm salesforce``).

It speaks what simple-salesforce 1.12 sends: the OAuth token endpoint and SOAP login, REST under any
``/services/data/vNN.N/`` (query/queryAll with cursors, describe, limits, sObject rows, sObject
Collections, composite) and Bulk API 2.0. Responses follow the real recordings in
``shared/fixtures/salesforce``; every API response carries ``Sforce-Limit-Info``.

Modules: `sf_store` (records), `sf_dml` (writes), `soql` (queries), `sf_describe` (schema), `sf_rest`,
`sf_bulk`, `sf_auth` (login), `sf_records` (generated data), `sf_values` (ids and wire values).
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any
from urllib.parse import parse_qs, unquote

from connector.sandbox.faults import FaultInjector
from connector.sandbox.http import Request, Response, json_response
from connector.sandbox.sf_auth import Sessions, make_credentials
from connector.sandbox.sf_bulk import BulkApi
from connector.sandbox.sf_dml import RequestError, Writer
from connector.sandbox.sf_records import INTEGRATION_USER
from connector.sandbox.sf_rest import RestApi, error, not_found
from connector.sandbox.sf_store import WATCHLIST_TOPIC, Store
from connector.sandbox.sf_tooling import ToolingApi
from connector.sandbox.sf_values import normalize_id
from connector.sandbox.view import AccountPage, AccountRow, override_of

__all__ = ["SalesforceApp"]

API_VERSION = "59.0"
DEFAULT_DAILY_LIMIT = 100_000
_DATA = re.compile(r"^/services/data/v(\d{2,3}\.\d)(?:/(.*))?$")
_SOAP = re.compile(r"^/services/soap/u/(\d{2,3}\.\d)(?:/.*)?$", re.IGNORECASE)
_RELEASES = {52: "Summer '21", 53: "Winter '22", 54: "Spring '22", 55: "Summer '22", 56: "Winter '23",
             57: "Spring '23", 58: "Summer '23", 59: "Winter '24", 60: "Spring '24", 61: "Summer '24",
             62: "Winter '25", 63: "Spring '25", 64: "Summer '25"}
_UNAUTHORIZED = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
_COMPOSITE_REF = re.compile(r"@\{([A-Za-z0-9_]+)\.([A-Za-z0-9_.\[\]]+)\}")


def _segments(rest: str | None) -> list[str]:
    return [unquote(p) for p in (rest or "").split("/") if p]


class SalesforceApp:
    """One sandbox Salesforce org: generated records, its login, REST and Bulk APIs."""

    crm = "salesforce"

    def __init__(self, *, accounts: int, deals_per_account: int, seed: int, today: date,
                 faults: FaultInjector, org: str = "provisioned") -> None:
        self.base_url = "http://127.0.0.1"
        self.faults = faults
        self.store = Store(seed=seed, accounts=accounts, deals_per_account=deals_per_account, today=today, org=org)
        self.writer = Writer(self.store, faults.record_error)
        self.rest = RestApi(self.store, self.writer)
        self.tooling = ToolingApi(self.store)
        self.bulk = BulkApi(self.store, self.writer, seed)
        self.creds = make_credentials(seed, INTEGRATION_USER["Username"], self.store.integration_user_id)
        self.sessions = Sessions(self.creds)

    # -- wire ----------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        path = request.path
        if path.lower().rstrip("/") == "/services/oauth2/token":
            if request.method != "POST":
                return error(405, "METHOD_NOT_ALLOWED", "HTTP Method not allowed")
            return self.sessions.token_endpoint(request, self.base_url)
        if (m := _SOAP.match(path)) and request.method == "POST":
            return self.sessions.soap_login(request, self.base_url, m.group(1))
        if path.rstrip("/") == "/services/data":
            return json_response(200, [{"label": label, "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                                       for v, label in _RELEASES.items()])
        m = _DATA.match(path)
        if m is None:
            return not_found()
        user = self.sessions.user_of(request)
        if user is None:
            response = json_response(401, _UNAUTHORIZED, {"WWW-Authenticate": "Token"})
        else:
            try:
                response = self._api(request, m.group(1), _segments(m.group(2)), user)
            except RequestError as exc:
                response = json_response(exc.status, exc.body())
        response.headers["Sforce-Limit-Info"] = self._limit_info()
        return response

    def _api(self, request: Request, version: str, parts: list[str], user: str) -> Response:
        head = parts[0].lower() if parts else ""
        if not parts:
            names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs", "search", "tooling")
            return json_response(200, {n: f"/services/data/v{version}/{n}" for n in names})
        if head in ("query", "queryall") and request.method == "GET":
            return self.rest.query(request, version, head == "queryall", parts[1] if len(parts) > 1 else None)
        if head == "sobjects":
            return self.rest.sobjects(request, version, self.base_url, parts[1:], user)
        if head == "composite":
            if len(parts) > 1 and parts[1].lower() == "sobjects":
                return self.rest.collections(request, version, parts[2:], user)
            if len(parts) == 1 and request.method == "POST":
                return self._composite(request, version, user)
        if head == "jobs":
            return self.bulk.handle(request, version, parts[1:], user)
        if head == "tooling":
            return self.tooling.handle(request, version, parts[1:], user)
        if head == "limits" and request.method == "GET":
            return self._limits(request, parts[1:])
        return not_found()

    def _composite(self, request: Request, version: str, user: str) -> Response:
        """``POST composite``: up to 25 subrequests, later ones may use ``@{ref.field}`` from earlier ones."""
        try:
            subrequests = (request.json() or {}).get("compositeRequest") or []
        except ValueError:
            return error(400, "JSON_PARSER_ERROR", "Unexpected character in composite request")
        if len(subrequests) > 25:
            return error(400, "INVALID_BATCH_REQUEST", "Composite request can have at most 25 subrequests")
        bodies: dict[str, Any] = {}
        out: list[dict[str, Any]] = []
        for sub in subrequests:
            ref = str(sub.get("referenceId", ""))
            url = _COMPOSITE_REF.sub(lambda mm: str(_dig(bodies.get(mm.group(1)), mm.group(2))), str(sub.get("url")))
            raw_body = sub.get("body")
            body = b"" if raw_body is None else _COMPOSITE_REF.sub(
                lambda mm: str(_dig(bodies.get(mm.group(1)), mm.group(2))), json.dumps(raw_body)).encode()
            path, _, query = url.partition("?")
            inner = Request(method=str(sub.get("method", "GET")).upper(), path=path,
                            query=parse_qs(query, keep_blank_values=True),
                            headers=request.headers, body=body)
            m = _DATA.match(inner.path)
            try:
                res = self._api(inner, m.group(1), _segments(m.group(2)), user) if m else not_found()
            except RequestError as exc:
                res = json_response(exc.status, exc.body())
            parsed = json.loads(res.body) if res.body else None
            bodies[ref] = parsed
            out.append({"body": parsed, "httpHeaders": {}, "httpStatusCode": res.status, "referenceId": ref})
        return json_response(200, {"compositeResponse": out})

    def _limit(self) -> int:
        quota = self.faults.spec.quota_after
        return DEFAULT_DAILY_LIMIT if quota is None else quota

    def _limit_info(self) -> str:
        return f"api-usage={self.faults.calls}/{self._limit()}"

    def _limits(self, request: Request, parts: list[str]) -> Response:
        if parts and parts[0].lower() == "recordcount":
            names = [n for n in (request.arg("sObjects") or "").split(",") if n]
            found = [s for n in names if (s := self.store.schema(n)) is not None]
            return json_response(200, {"sObjects": [{"count": self.store.count(s.name), "name": s.name}
                                                    for s in found]})
        if parts:
            return not_found()
        limit = self._limit()
        fixed = {"ConcurrentAsyncGetReportInstances": 200, "ConcurrentSyncReportRuns": 20,
                 "DailyAsyncApexExecutions": 250_000, "DailyBulkApiBatches": 15_000,
                 "DailyBulkV2QueryFileStorageMB": 1_048_576, "DailyBulkV2QueryJobs": 10_000,
                 "DailyStreamingApiEvents": 1_000_000, "DataStorageMB": 1024, "FileStorageMB": 1024,
                 "HourlyODataCallout": 10_000, "SingleEmail": 5000}
        body: dict[str, Any] = {"DailyApiRequests": {"Max": limit, "Remaining": max(limit - self.faults.calls, 0)}}
        body.update({name: {"Max": n, "Remaining": n} for name, n in fixed.items()})
        return json_response(200, dict(sorted(body.items())))

    # -- SandboxApp: the core's hooks ----------------------------------------------------------------
    def classify(self, request: Request) -> tuple[str, bool]:
        method, path = request.method, request.path
        if path.lower().rstrip("/") == "/services/oauth2/token":
            return f"{method} oauth2/token", False
        if m := _SOAP.match(path):
            return f"{method} Soap/u/{m.group(1)}", False
        m = _DATA.match(path)
        if m is None:
            return ("GET versions" if path.rstrip("/") == "/services/data" else f"{method} {path}"), False
        parts = _segments(m.group(2))
        head = parts[0].lower() if parts else ""
        writes = method in ("POST", "PATCH", "PUT", "DELETE")
        if head in ("query", "queryall"):
            return f"{method} {parts[0]}" + ("/{locator}" if len(parts) > 1 else ""), False
        if head == "tooling":
            sub = parts[1].lower() if len(parts) > 1 else ""
            if sub == "query":
                return f"{method} tooling/query", False
            if sub == "sobjects" and len(parts) > 2:
                kind = "CustomField" if parts[2].lower() == "customfield" else parts[2]
                return f"{method} tooling/sobjects/{kind}" + ("/{id}" if len(parts) > 3 else ""), writes
            return f"{method} {'/'.join(parts)}", writes
        if head == "jobs":
            kind = parts[1].lower() if len(parts) > 1 else ""
            shape = "/".join(["jobs", kind, *(["{id}"] if len(parts) > 2 else []), *parts[3:4]])
            return f"{method} {shape}", writes and kind == "ingest"
        if head == "composite" and len(parts) == 1:
            try:
                subs = (request.json() or {}).get("compositeRequest") or []
            except ValueError:
                subs = []
            return f"{method} composite", any(str(s.get("method", "GET")).upper() != "GET" for s in subs)
        named = list(parts)
        pos = 1 if head == "sobjects" else 2 if head == "composite" else None
        if pos is not None and len(named) > pos:
            s = self.store.schema(named[pos])
            named[pos] = s.name if s else named[pos]
            rest = named[pos + 1:]
            if head == "composite":
                pass  # composite/sobjects/{Object}/{ExternalIdField}: both are names
            elif len(rest) == 1 and rest[0].lower() not in ("describe", "updated", "deleted"):
                named[pos + 1] = "{id}"
            elif len(rest) == 2 and head == "sobjects":
                named[pos + 2] = "{value}"
        return f"{method} {'/'.join(named)}", writes

    def records(self, obj: str) -> list[dict[str, Any]] | None:
        s = self.store.schema(obj)
        if s is None:
            return None
        topics = self.store.topics_by_entity() if s.name in ("Account", "Opportunity") else {}
        out = []
        for rec in self.store.rows(s.name, deleted=True):
            row = dict(rec)
            if s.name in ("Account", "Opportunity"):
                row["_topics"] = sorted(topics.get(rec["Id"], []))
            out.append(row)
        return out

    def touch(self, obj: str, count: int) -> list[str]:
        s = self.store.schema(obj)
        return [] if s is None else self.store.touch(s.name, count)

    def reset(self) -> None:
        self.store.reset()
        self.rest.reset()
        self.bulk.reset()
        self.tooling.reset()

    def org_info(self) -> dict[str, Any]:
        """``GET /__sandbox/org``: the variant, and where each canonical input lives in this org."""
        return {"variant": self.store.layout.variant, "fields": self.store.layout.field_map()}

    def credentials(self) -> dict[str, Any]:
        c = self.creds
        return {"consumer_key": c.consumer_key, "consumer_secret": c.consumer_secret, "username": c.username,
                "password": c.password, "security_token": c.security_token, "private_key": c.private_key,
                "instance_url": self.base_url, "login_url": self.base_url, "api_version": API_VERSION,
                "organization_id": c.org_id, "user_id": c.user_id}

    def expire_sessions(self) -> None:
        self.sessions.expire_all()

    def _with_limit(self, response: Response) -> Response:
        response.headers["Sforce-Limit-Info"] = self._limit_info()
        return response

    def rate_limited(self) -> Response:
        return self._with_limit(json_response(403, [{"message": "ConcurrentPerOrgLongTxn Limit exceeded.",
                                                     "errorCode": "REQUEST_LIMIT_EXCEEDED"}]))

    def quota_exhausted(self) -> Response:
        return self._with_limit(json_response(403, [{"message": "TotalRequests Limit exceeded.",
                                                     "errorCode": "REQUEST_LIMIT_EXCEEDED"}]))

    def server_error(self) -> Response:
        ticket = 1_000_000_000 + self.faults.calls * 7919 % 999_999_999
        return self._with_limit(json_response(500, [{"errorCode": "UNKNOWN_EXCEPTION", "message": (
            f"An unexpected error occurred. Please include this ErrorId if you contact support: "
            f"{ticket}-{self.faults.calls % 99_999} ({-ticket // 3})")}]))

    # -- the HTML list view --------------------------------------------------------------------------
    def _row(self, rec: dict[str, Any], users: dict[str, str], open_tasks: dict[str, int],
             topics: dict[str, list[str]]) -> AccountRow:
        reasons = rec.get("Risk_Reasons__c")
        return AccountRow(
            id=rec["Id"], name=rec.get("Name") or "", owner=users.get(rec.get("OwnerId") or "", ""),
            risk_score=rec.get("Risk_Score__c"), tier=rec.get("Risk_Tier__c"),
            reasons=" · ".join(reasons.splitlines()[:2]) if reasons else None,
            watchlist=bool(rec.get("Risk_Watchlist__c")) or WATCHLIST_TOPIC in topics.get(rec["Id"], []),
            open_tasks=open_tasks.get(rec["Id"], 0),
            override=override_of(rec.get("Risk_Override_Tier__c"), rec.get("Risk_Override_Reason__c"),
                                 rec.get("Risk_Override_Until__c")),
            terms=_whole(rec.get("Risk_Recommended_Terms__c")), credit_limit=_amount(rec.get("Risk_Credit_Limit__c")),
        )

    def _view_context(self) -> tuple[dict[str, str], dict[str, int], dict[str, list[str]]]:
        users = {u["Id"]: u.get("Name") or "" for u in self.store.rows("User")}
        open_tasks: dict[str, int] = {}
        for t in self.store.rows("Task"):
            if t.get("Status") != "Completed" and t.get("WhatId"):
                open_tasks[t["WhatId"]] = open_tasks.get(t["WhatId"], 0) + 1
        return users, open_tasks, self.store.topics_by_entity()

    def account_rows(self) -> list[AccountRow]:
        users, open_tasks, topics = self._view_context()
        return [self._row(r, users, open_tasks, topics) for r in self.store.rows("Account")]

    def account_page(self, account_id: str) -> AccountPage | None:
        ident = normalize_id(account_id)
        rec = self.store.get("Account", ident) if ident else None
        if rec is None or rec.get("IsDeleted"):
            return None
        users, open_tasks, topics = self._view_context()
        deals = [{"name": d.get("Name"), "amount": d.get("Amount"), "stage": d.get("StageName"),
                  "tier": d.get("Risk_Tier__c"), "score": d.get("Risk_Score__c"), "reasons": d.get("Risk_Reasons__c")}
                 for d in self.store.rows("Opportunity") if d.get("AccountId") == rec["Id"]]
        tasks = [{"subject": t.get("Subject"), "status": t.get("Status"), "priority": t.get("Priority"),
                  "due": t.get("ActivityDate"), "owner": users.get(t.get("OwnerId") or "", "")}
                 for t in self.store.rows("Task") if t.get("WhatId") == rec["Id"]]
        fields = {n: rec.get(n) for n in self.store.schemas["Account"].fields if n in rec and rec.get(n) is not None
                  and not n.endswith("Id") and n not in ("Name",)}
        return AccountPage(self._row(rec, users, open_tasks, topics), fields, deals, tasks)


def _whole(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _amount(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _dig(value: Any, path: str) -> Any:
    for part in re.findall(r"[^.\[\]]+", path):
        if isinstance(value, list) and part.isdigit():
            value = value[int(part)] if int(part) < len(value) else None
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value
