"""Fxiaoke (纷享销客) OpenAPI v2 client: a thin `requests` client implementing `connector.crm.base.CRMClient`.

Calls (all ``POST {host}{path}?thirdTraceId=<uuid4>``; custom objects, ``…__c``, on ``/cgi/crm/custom/v2``):

    read      /cgi/crm/v2/data/query   last_modified_time GTE cursor − 1 s, `_id GT` paging   100 rows/call
    by id     /cgi/crm/v2/data/query   _id IN [...]                                           100 ids/call
    update    /cgi/crm/v2/data/update  one record per call (no batch API), only changed fields,
                                       triggerWorkFlow/triggerApprovalFlow false
    follow-up /cgi/crm/v2/data/query   key field IN [...], then data/create for the missing ones
    metadata  /cgi/crm/v2/object/describe

Every call takes a slot from a per-path limiter first (`fxiaoke_rate`), so the tenant's frequency limit
(default 60 calls per 20 s per path) is not hit in normal running; a 30004 that happens anyway is
retried per `RetryPolicy`. 20016 fetches a new token and repeats the call once; 30002 is
`QuotaExhausted`. Envelope and codes: `fxiaoke_wire`; tokens: `fxiaoke_auth`; paging: `fxiaoke_paging`;
writes: `fxiaoke_write`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from connector.config import FxiaokeConnection
from connector.crm.base import Capabilities, FieldInfo, ObjectSpec, RetryPolicy, call_with_retry
from connector.crm.fxiaoke_auth import FxiaokeTokens
from connector.crm.fxiaoke_paging import QUERY_LIMIT, IdWalk, condition
from connector.crm.fxiaoke_rate import PathLimiter, shared_limiter
from connector.crm.fxiaoke_wire import (
    TRANSPORT_ERRORS,
    FxiaokeFatal,
    RateLimited,
    TokenInvalid,
    check_envelope,
    rows_of,
)
from connector.crm.transport import session_for
from connector.errors import AuthError, QuotaExhausted, Retriable
from connector.model import ApplyResult, Cursor, Page, WritePlan
from connector.transforms import Unconvertible, parse_datetime

__all__ = ["FxiaokeClient", "data_prefix"]

log = logging.getLogger(__name__)

OVERLAP = timedelta(seconds=1)  # re-read a second before the cursor: the engine drops what it saw


def data_prefix(api_name: str) -> str:
    """Custom objects live on a parallel path; custom fields on standard objects do not."""
    return "/cgi/crm/custom/v2/data" if api_name.endswith("__c") else "/cgi/crm/v2/data"


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class FxiaokeClient:
    """One Fxiaoke tenant. Reads are sequential; `apply` writes from a small thread pool."""

    def __init__(self, conn: FxiaokeConnection, *, objects: dict[str, str] | None = None,
                 policy: RetryPolicy | None = None, clock: Callable[[], float] = time.time,
                 limiter: PathLimiter | None = None) -> None:
        self.conn = conn
        self.policy = policy or RetryPolicy()
        self.objects: dict[str, str] = {"accounts": "AccountObj", "deals": conn.opportunity_object, **(objects or {})}
        self.host = conn.host.rstrip("/")
        self.limiter = limiter or shared_limiter(self.host, conn.auth.app_id, conn.rate_limit, conn.rate_window_s)
        self._session = session_for(self.host, timeout=(min(10.0, conn.timeout_s), conn.timeout_s))
        self._calls = 0
        self._count_lock = threading.Lock()
        self.tokens = FxiaokeTokens(conn, self._post, clock)
        self._describes: dict[str, dict[str, dict[str, Any]]] = {}
        self.failures: list[str] = []  # "what: code: message [traceId]" of every failed call, for the report

    def __repr__(self) -> str:
        return f"FxiaokeClient(host={self.host!r}, calls={self._calls})"

    @property
    def api_calls(self) -> int:
        return self._calls

    @property
    def api_usage(self) -> tuple[int, int] | None:
        return None  # Fxiaoke reports neither the calls used nor the packs bought

    def close(self) -> None:
        self._session.close()

    # -- HTTP -----------------------------------------------------------------------------------------

    def _post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> requests.Response:
        """Every HTTP request of this client, token calls included: rate-limited, counted, traced."""
        self.limiter.acquire(path)
        with self._count_lock:
            self._calls += 1
            if self.conn.daily_quota is not None and self._calls > self.conn.daily_quota - self.conn.daily_quota_reserve:
                raise QuotaExhausted(f"this run used the {self.conn.daily_quota - self.conn.daily_quota_reserve} "
                                     "calls daily_quota - daily_quota_reserve allows; the rest is left for other "
                                     "integrations")
        url = f"{self.host}{path}?thirdTraceId={uuid.uuid4()}"
        try:
            resp = self._session.post(url, json=body, headers=headers or {})
        except TRANSPORT_ERRORS as exc:
            raise Retriable(f"POST {path}: {type(exc).__name__}") from None
        log.debug("POST %s -> %s", path, resp.status_code)
        return resp

    def call(self, path: str, data: dict[str, Any] | None, what: str, *, top: dict[str, Any] | None = None,
             retry: bool = True) -> dict[str, Any]:
        """One business call with the token, its 20016 recovery and (unless `retry` is False) retries."""

        def once() -> dict[str, Any]:
            # 20016: a new token and a repeat. Writes share one token across threads, so the token a call
            # repeats with may be another thread's that died meanwhile too: a call gets two new tokens
            # before its 20016 counts as refused credentials.
            grant = self.tokens.grant()
            for attempt in range(3):
                body: dict[str, Any] = dict(top or {})
                if data is not None:
                    body["data"] = data
                headers: dict[str, str] = {}
                if self.tokens.style == "token":
                    headers = {"authorization": f"Bearer {grant.token}", "x-fs-ea": grant.tenant,
                               "x-fs-userid": self.conn.operator_user_id}
                else:
                    body.update(corpAccessToken=grant.token, corpId=grant.tenant,
                                currentOpenUserId=self.conn.operator_user_id)
                try:
                    return check_envelope(self._post(path, body, headers), what)
                except TokenInvalid:
                    if attempt == 2:
                        error = AuthError(f"{what}: Fxiaoke refused three tokens in a row (20016); check "
                                          "auth_style, host and operator_user_id")
                        self._record(error)
                        raise error from None
                    log.info("%s: token rejected (20016); getting a new one and repeating the call", what)
                    self.tokens.invalidate(grant.token)
                    grant = self.tokens.grant()
                except RateLimited as exc:
                    # Another process or job on the tenant filled the window: wait for part of it to slide
                    # (the backoff of other errors is far shorter than a 20 s window).
                    exc.retry_after = self.conn.rate_window_s / 2
                    self._record(exc)
                    raise
                except Exception as exc:
                    self._record(exc)
                    raise
            raise AssertionError("unreachable")

        if not retry:
            return once()
        return call_with_retry(once, self.policy, what)

    def _record(self, exc: Exception) -> None:
        with self._count_lock:
            self.failures.append(str(exc))
        log.info("%s", exc)

    # -- metadata -------------------------------------------------------------------------------------

    def describe(self, api_name: str) -> dict[str, dict[str, Any]]:
        """Field api name -> describe entry (`type`, `label`, `options`, …), cached for this client."""
        if api_name not in self._describes:
            body = self.call("/cgi/crm/v2/object/describe", {"apiName": api_name, "includeDetail": False},
                             f"describe {api_name}", top={"includeDetail": False})
            data = body.get("data") if isinstance(body.get("data"), dict) else {}
            assert isinstance(data, dict)
            describe = data.get("describe") if isinstance(data.get("describe"), dict) else data
            fields = describe.get("fields") if isinstance(describe, dict) else None
            if isinstance(fields, list):
                fields = {str(f.get("api_name")): f for f in fields if isinstance(f, dict)}
            self._describes[api_name] = {str(k): v for k, v in (fields or {}).items() if isinstance(v, dict)}
        return self._describes[api_name]

    def check(self, specs: list[ObjectSpec]) -> Capabilities:
        call_with_retry(self.tokens.grant, self.policy, "Fxiaoke token")
        for spec in specs:
            self.objects[spec.kind] = spec.name
        caps = Capabilities(user_id=self.conn.operator_user_id)
        for api_name in dict.fromkeys([*(s.name for s in specs), self.conn.followup_object]):
            fields = self.describe(api_name)
            caps.fields[api_name] = {
                name: FieldInfo(name=name, type=str(f.get("type") or ""),
                                updateable=not f.get("is_readonly") and f.get("type") not in ("formula", "count"))
                for name, f in fields.items()}
        log.info("Fxiaoke check: %s", ", ".join(f"{o} {len(f)} fields" for o, f in caps.fields.items()))
        return caps

    def watch_fields(self, api_name: str) -> set[str]:
        """select_many fields offering the watchlist option: written by read-modify-write of their list."""
        if self.conn.watchlist_style != "select_many":
            return set()
        option = self.conn.watchlist_option
        return {name for name, f in self.describe(api_name).items() if f.get("type") == "select_many" and any(
            isinstance(o, dict) and str(o.get("value")) == option for o in f.get("options") or [])}

    # -- reading --------------------------------------------------------------------------------------

    def query(self, api_name: str, filters: list[dict[str, Any]], projection: list[str], what: str,
              limit: int = QUERY_LIMIT) -> Iterator[list[dict[str, Any]]]:
        """Every row matching `filters`, page by page, by `_id GT` deep paging; each `_id` once."""
        walk = IdWalk(filters, projection, limit)
        seen: set[str] = set()
        while not walk.finished:
            body = self.call(f"{data_prefix(api_name)}/query",
                             {"dataObjectApiName": api_name, "find_explicit_total_num": False,
                              "search_query_info": walk.query_info()}, what, top={"returnTotalNum": 3})
            rows = rows_of(body)
            walk.advance(rows)
            fresh = [r for r in rows if str(r["_id"]) not in seen]
            seen.update(str(r["_id"]) for r in fresh)
            if fresh:
                yield fresh

    def _projection(self, spec: ObjectSpec) -> list[str]:
        """The fields to read, each checked against describe: Fxiaoke omits a field it does not know from
        its answer exactly as it omits an empty one, so a misspelt field would read as empty forever."""
        names = list(dict.fromkeys(["_id", *(f.split(".", 1)[0] for f in spec.fields), spec.cursor_field,
                                    "life_status"]))
        known = self.describe(spec.name)
        unknown = [n for n in names if n not in known and n != "_id"]
        if unknown:
            raise FxiaokeFatal(f"read {spec.name}: no field {', '.join(map(repr, unknown))} on {spec.name} "
                               "(object/describe does not list it); fix the mapping", code=0,
                               detail=f"unknown field(s) {', '.join(unknown)}")
        return names

    def _normalise(self, spec: ObjectSpec, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Drop invalidated rows; a watchlist select_many reads as a boolean (is our option on the list)."""
        watch = self.watch_fields(spec.name) & set(spec.fields) if spec.kind == "accounts" else set()
        out = []
        for row in rows:
            if row.get("life_status") == "invalid" or row.get("is_deleted") is True:
                continue
            for name in watch:
                value = row.get(name)
                row[name] = isinstance(value, list) and self.conn.watchlist_option in [str(v) for v in value]
            out.append(row)
        return out

    def extract(self, spec: ObjectSpec, cursor: Cursor | None) -> Iterator[Page]:
        """Rows changed since the cursor (less a second), read by `_id`, handed out in (modstamp, id) order.

        `_id` paging returns rows in id order, the engine wants them in modification order: the rows of
        one read are sorted before they are handed out (an incremental read is small; a full read holds
        the object's rows in memory once)."""
        self.objects[spec.kind] = spec.name
        filters = [] if cursor is None else [condition(spec.cursor_field, "GTE", [_ms(cursor.ts - OVERLAP)])]
        rows: list[dict[str, Any]] = []
        for page in self.query(spec.name, filters, self._projection(spec), f"read {spec.name}"):
            rows += self._normalise(spec, page)

        def order(row: dict[str, Any]) -> tuple[datetime, str]:
            try:
                return parse_datetime(row.get(spec.cursor_field)), str(row["_id"])
            except Unconvertible:
                return datetime.min.replace(tzinfo=UTC), str(row["_id"])

        rows.sort(key=order)
        log.info("read %s: %d rows", spec.name, len(rows))
        size = max(1, spec.page_size)
        for chunk in _chunks(rows, size):
            yield Page(chunk)

    def fetch(self, spec: ObjectSpec, ids: list[str]) -> Iterator[Page]:
        self.objects[spec.kind] = spec.name
        out: list[dict[str, Any]] = []
        for chunk in _chunks(list(dict.fromkeys(ids)), QUERY_LIMIT):
            for page in self.query(spec.name, [condition("_id", "IN", chunk)], self._projection(spec),
                                   f"read {spec.name} by id"):
                out += self._normalise(spec, page)
            while len(out) >= spec.page_size:
                yield Page(out[:spec.page_size])
                out = out[spec.page_size:]
        if out:
            yield Page(out)

    def deleted(self, spec: ObjectSpec, since: datetime) -> list[str]:
        """Records invalidated (作废) since `since`; whether polls show them is undocumented ⚠, so ask."""
        filters = [condition(spec.cursor_field, "GTE", [_ms(since - OVERLAP)]),
                   condition("life_status", "EQ", ["invalid"])]
        return [str(r["_id"]) for page in self.query(spec.name, filters, ["_id"], f"invalidated {spec.name}")
                for r in page]

    def open_task_keys(self, keys: list[str]) -> set[str]:
        """Follow-up records with these keys that exist and were not invalidated (a follow-up has no
        completed state: an owner closes one by invalidating it)."""
        found: set[str] = set()
        key_field = self.conn.followup_key_field
        for chunk in _chunks(sorted(set(keys)), QUERY_LIMIT):
            for page in self.query(self.conn.followup_object, [condition(key_field, "IN", chunk)],
                                   ["_id", key_field, "life_status"], "open follow-ups"):
                found |= {str(r[key_field]) for r in page if r.get(key_field) and r.get("life_status") != "invalid"}
        return found & set(keys)

    # -- writing --------------------------------------------------------------------------------------

    def apply(self, plan: WritePlan) -> ApplyResult:
        from connector.crm.fxiaoke_write import apply_plan

        return apply_plan(self, plan)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
