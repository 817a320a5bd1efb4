"""Zoho CRM v8 client: a thin `requests.Session` client implementing `connector.crm.base.CRMClient`.

Why not an SDK: see docs/crm-zoho.md §1. Calls used (paths under ``{api_url}/crm/v8``):

    backfill  GET {module}/actions/count, then Bulk Read (zoho_bulk) when a full read reaches bulk_read_threshold
    rows      POST coql  "select id, Modified_Time, … order by Modified_Time asc, id asc"      2,000 rows/call
    listing   GET {module}?fields=…&sort_by=Modified_Time&page_token=… (rows with Tag; zoho_listing) 200 rows/call
    by id     GET {module}?ids=…&fields=…  (retries, accounts scored again)                         100 ids/call
    update    PUT {module} {"data": […], "trigger": []}                                           100 records/call
    tasks     POST Tasks/upsert  duplicate_check_fields ["Riskbridge_Key"]                        100 tasks/call
    tags      POST {module}/actions/add_tags|remove_tags  over_write false                        100 ids/call
    metadata  GET settings/fields?module=…, GET users?type=CurrentUser; POST settings/tags?module=… once a tag

Every call is retried per `RetryPolicy`; a 429 whose body names the day's credits, or any 429 that
outlives every attempt, is `QuotaExhausted`. A 401 INVALID_TOKEN gets a new token and repeats the call
once. Per-record failures, and a batch request refused as a whole (4xx), become
`Outcome(ok=False, error="CODE: message (field)")`; an exception out of `apply` carries the outcomes
recorded so far as `exc.partial`. Reading in order, immune to edits: `zoho_paging`; OAuth: `zoho_auth`;
writing (on `write_concurrency` lanes): `zoho_write`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import requests

from connector.config import ZohoConnection
from connector.crm.base import Capabilities, FieldInfo, ObjectSpec, RetryPolicy, call_with_retry
from connector.crm.concurrency import Lanes, SessionPerThread, in_lane
from connector.crm.transport import session_for
from connector.crm.zoho_auth import ZohoTokens
from connector.crm.zoho_bulk import BulkRead
from connector.crm.zoho_listing import Listing
from connector.crm.zoho_paging import COQL_LIMIT, KeysetWalk
from connector.crm.zoho_wire import (
    TRANSPORT_ERRORS,
    Reply,
    TokenInvalid,
    ZohoFatal,
    classify,
    coql_list,
    if_modified_since,
)
from connector.crm.zoho_write import TASK_KEY, TASKS, ZohoWriter
from connector.errors import AuthError, Retriable
from connector.model import ApplyResult, Cursor, ObjectKind, Page, WritePlan

__all__ = ["ZohoClient"]

log = logging.getLogger(__name__)

BATCH = 100  # records per write call, ids per read-by-id call
COQL_IN = 50  # values per COQL `in`
COQL_COLUMNS = 50  # fields per COQL select, id included


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _pages(batches: Iterator[list[dict[str, Any]]], size: int) -> Iterator[Page]:
    """The rows of `batches` as pages of `size` (the engine may write between pages)."""
    size, out = max(1, size), []
    for rows in batches:
        out += rows
        while len(out) >= size:
            yield Page(out[:size])
            out = out[size:]
    if out:
        yield Page(out)


class ZohoClient:
    """One Zoho CRM org. One sync run at a time; within `apply`, the update and task calls of a batch go
    out on ``conn.write_concurrency`` lanes, each with its own session (the token source is thread-safe)."""

    def __init__(self, conn: ZohoConnection, *, objects: dict[str, str] | None = None,
                 policy: RetryPolicy | None = None, clock: Callable[[], float] = time.time) -> None:
        self._conn = conn
        self._policy = policy or RetryPolicy()
        self._clock = clock
        self._objects: dict[str, str] = {"accounts": "Accounts", "deals": "Deals", **(objects or {})}
        _accounts_url, api_url = conn.urls
        self._session = session_for(api_url, timeout=(min(10.0, conn.timeout_s), conn.timeout_s))
        self._lane_sessions = SessionPerThread(
            lambda: session_for(api_url, timeout=(min(10.0, conn.timeout_s), conn.timeout_s)))
        self.lanes = Lanes(conn.write_concurrency, "zoho")
        self._counting = threading.Lock()
        self._accepted: set[str] = set()  # access tokens Zoho answered other than 401 (a handful per run)
        self._calls = 0
        self._credits_remaining: int | None = None
        self._arrays: dict[str, set[str]] = {}  # per module read by `check`: fields COQL cannot select
        self._tokens = ZohoTokens(conn, self._send, clock)
        self.bulk_run_rows = 10_000  # rows a Bulk Read backfill sorts in memory at a time (`zoho_bulk`)
        self._writer = ZohoWriter(call=self._call, module=self._module, trigger=list(conn.trigger), lanes=self.lanes)

    def __repr__(self) -> str:
        return f"ZohoClient(api_url={self.api_url!r}, calls={self._calls})"

    @property
    def api_calls(self) -> int:
        return self._calls

    @property
    def api_usage(self) -> tuple[int, int] | None:
        return None  # Zoho reports neither credits used nor the org's allowance

    @property
    def credits_remaining(self) -> int | None:
        """`X-API-CREDITS-REMAINING` of the latest response; Zoho sends it once half the day's credits are spent."""
        return self._credits_remaining

    @property
    def api_url(self) -> str:
        return self._tokens.api_url

    def close(self) -> None:
        self.lanes.close()
        self._lane_sessions.close()
        self._session.close()

    # -- HTTP -----------------------------------------------------------------------------------------

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Every HTTP request of this client, token mints included: counted, transport errors classified."""
        with self._counting:
            self._calls += 1
        session = self._lane_sessions.get() if in_lane() else self._session
        try:
            resp = session.request(method, url, **kwargs)
        except TRANSPORT_ERRORS as exc:
            raise Retriable(f"{method} {url.split('?', 1)[0]}: {type(exc).__name__}") from None
        log.debug("%s %s -> %s", method, url.split("?", 1)[0], resp.status_code)
        remaining = resp.headers.get("X-API-CREDITS-REMAINING")
        if remaining is not None and remaining.strip().isdigit():
            if self._credits_remaining is None:
                log.info("Zoho API credits: %s left for the org's rolling 24 hours", remaining.strip())
            self._credits_remaining = int(remaining)
        return resp

    def _call(self, method: str, path: str, what: str, *, params: dict[str, Any] | None = None,
              body: Any = None, headers: dict[str, str] | None = None, batch: bool = False,
              root: str = "crm/v8", download: Callable[[requests.Response], Any] | None = None) -> Reply:
        """One API call with retries; a 401 INVALID_TOKEN refreshes the token once and repeats it.

        With `download`, the body is streamed and a 200 answer's `Reply.body` is what `download` makes of it.
        """

        def attempt(token: str) -> Reply:
            resp = self._send(method, f"{self.api_url}/{root}/{path}", params=params, json=body,
                              headers={**(headers or {}), "Authorization": f"Zoho-oauthtoken {token}"},
                              **({"stream": True} if download is not None else {}))
            if resp.status_code != 401:
                self._accepted.add(token)
            if download is not None and resp.status_code == 200:
                return Reply(200, download(resp))
            return classify(resp, what, self._clock, batch=batch)

        def once() -> Reply:
            token, fresh = self._tokens.token_minting()
            # On a lane, a fresh token can die before this call's turn (other lanes use it up when tokens
            # are short-lived); a wrong data centre was already caught by `check` on the caller's thread.
            patience = 10 if in_lane() else 1
            while True:  # ends: each pass returns, raises, or rejects a token this call did not mint
                try:
                    return attempt(token)
                except TokenInvalid:
                    # A token minted for this call and never accepted: the data centre is wrong. One that
                    # another lane used meanwhile has merely expired (or been revoked) since.
                    if fresh and token not in self._accepted:
                        patience -= 1
                    if patience == 0:
                        raise AuthError(f"{what}: Zoho rejected a freshly minted access token; check that "
                                        "accounts_url and api_url belong to the org's data centre") from None
                    log.info("%s: access token rejected (INVALID_TOKEN); getting a new one", what)
                    self._tokens.invalidate(token)
                    token, fresh = self._tokens.token_minting()

        return call_with_retry(once, self._policy, what, exhaust_as_quota=lambda exc: exc.status == 429)

    def request(self, method: str, path: str, what: str, *, params: dict[str, Any] | None = None,
                body: Any = None, root: str = "crm/v8") -> Reply:
        """One call under ``/{root}/`` (``/crm/v8/`` unless told) with this client's retries and token handling."""
        return self._call(method, path, what, params=params, body=body, root=root)

    def _module(self, kind: ObjectKind | str) -> str:
        return self._objects.get(kind, kind)

    @staticmethod
    def _select(spec: ObjectSpec, *, with_tag: bool) -> list[str]:
        names = [n for n in (*spec.fields, spec.cursor_field) if n != "id"]
        if with_tag and spec.kind == "accounts":
            names.append("Tag")  # the engine reads the watchlist tag from it
        return list(dict.fromkeys(names))

    # -- metadata -------------------------------------------------------------------------------------

    def check(self, specs: list[ObjectSpec]) -> Capabilities:
        # The first token of a run is fetched here, outside `_call`: it gets the same retries as any call.
        call_with_retry(self._tokens.token, self._policy, "Zoho token refresh")
        for spec in specs:
            self._objects[spec.kind] = spec.name
        caps = Capabilities()
        for module in dict.fromkeys([*(s.name for s in specs), TASKS]):
            reply = self._call("GET", "settings/fields", f"fields of {module}", params={"module": module})
            fields = (reply.body or {}).get("fields") or []
            caps.fields[module] = {
                str(f["api_name"]): FieldInfo(
                    name=str(f["api_name"]), type=str(f.get("data_type") or ""),
                    updateable=not f.get("read_only") and not f.get("field_read_only"),
                    external_id=bool(f.get("unique")))
                for f in fields if isinstance(f, dict) and f.get("api_name")
            }
            self._arrays[module] = {str(f["api_name"]) for f in fields if isinstance(f, dict) and f.get("api_name")
                                    and (f.get("json_type") == "jsonarray" or f.get("api_name") == "Tag")}
        caps.user_id = self._current_user()
        log.info("Zoho check: %s", ", ".join(f"{m} {len(f)} fields" for m, f in caps.fields.items()))
        return caps

    def _current_user(self) -> str | None:
        """The integration user's id (its writes show as Modified_By); None without the users scope."""
        try:
            reply = self._call("GET", "users", "current user", params={"type": "CurrentUser"})
        except ZohoFatal as exc:
            log.info("cannot read the current user (%s)", exc.detail)
            return None
        except AuthError as exc:
            if "OAUTH_SCOPE_MISMATCH" not in str(exc):
                raise
            log.info("no ZohoCRM.users.READ scope: cannot tell riskbridge's own writes by Modified_By")
            return None
        users = (reply.body or {}).get("users") or []
        return str(users[0]["id"]) if users and isinstance(users[0], dict) and users[0].get("id") else None

    # -- reading --------------------------------------------------------------------------------------

    def extract(self, spec: ObjectSpec, cursor: Cursor | None) -> Iterator[Page]:
        """Rows in (Modified_Time, id) order: by COQL, 2,000 a call, when COQL can select every field read;
        else (the accounts' `Tag`, a multi-select field) by listing, 200 a call (`zoho_listing`).

        A full read of a module holding `bulk_read_threshold` records or more is exported through the Bulk
        Read API (`zoho_bulk`). The export holds every record as it was when the job ran, after the pass
        began; an edit since has a later stamp than the engine's cursor (capped at the run's start), so the
        next incremental read meets it."""
        self._objects[spec.kind] = spec.name
        names = self._select(spec, with_tag=True)
        walk = self._keyset(spec, cursor, names) if self._coql_reads(spec.name, names) else None
        listing = None if walk is not None else Listing(
            self._call, spec.name, names, spec.cursor_field, cursor.ts if cursor is not None else None,
            seen=cursor.seen if cursor is not None else lambda _ts, _id: False,
            ties=len(cursor.ids) if cursor is not None else 0)
        threshold = self._conn.bulk_read_threshold
        first: Reply | None = None
        if cursor is None and threshold:
            # The walk's first call tells whether the module fills a page; only then is it worth a count.
            first = self._coql_page(walk) if walk is not None else listing.first() if listing is not None else None
            bulk = BulkRead(self._call, self._policy.sleep, spec, names, run_rows=self.bulk_run_rows)
            if first is not None and bulk.wanted(first, threshold):
                yield from bulk.pages()
                return
        if walk is not None:
            yield from self._walk(spec, cursor, walk, first)
        elif listing is not None:
            yield from _pages(listing.rows(first), spec.page_size)
            log.info("read %s: %d calls listing %s (%d rows read again)", spec.name, listing.calls, spec.name,
                     listing.dropped)

    def _coql_reads(self, module: str, names: list[str]) -> bool:
        """Whether COQL can carry these fields of `module`: known metadata, no array field, ≤ 50 columns."""
        arrays = self._arrays.get(module)
        return arrays is not None and len(names) < COQL_COLUMNS and not arrays.intersection(names)

    def _keyset(self, spec: ObjectSpec, cursor: Cursor | None, names: list[str]) -> KeysetWalk:
        # A batch's rows a call, 200 to 2,000: 1 credit for 200 rows, 3 for 2,000 (200-row GETs would cost 10).
        return KeysetWalk(spec.name, spec.cursor_field, cursor.ts if cursor is not None else None,
                          limit=max(200, spec.page_size), columns=tuple(names))

    def _coql_page(self, walk: KeysetWalk) -> Reply:
        return self._call("POST", "coql", f"read {walk.module}", body={"select_query": walk.query()})

    def _walk(self, spec: ObjectSpec, cursor: Cursor | None, walk: KeysetWalk,
              first: Reply | None = None) -> Iterator[Page]:
        """Rows by a COQL keyset on (Modified_Time, id) (`zoho_paging`): an edit gives a row a later key, so
        the walk meets it again ahead and drops it if handed out already (our own write-backs)."""
        handed: set[str] = set()
        again = 0

        def rows() -> Iterator[list[dict[str, Any]]]:
            nonlocal again, first
            while not walk.finished:
                reply = first or self._coql_page(walk)
                first = None
                body = reply.body if isinstance(reply.body, dict) else {}
                data = [r for r in body.get("data") or [] if isinstance(r, dict)]
                keys = walk.keys(data)
                info = body.get("info") if isinstance(body.get("info"), dict) else None
                walk.advance(keys, info.get("more_records") if info else None)
                out = []
                for row, (record_id, ts) in zip(data, keys, strict=True):
                    if record_id in handed or (cursor is not None and cursor.seen(ts, record_id)):
                        again += 1  # the last run's boundary rows, or a row written since it was handed out
                        continue
                    handed.add(record_id)
                    out.append(row)
                yield out

        yield from _pages(rows(), spec.page_size)
        log.info("read %s: %d rows in %d COQL calls (%d read before or already handed out)",
                 spec.name, len(handed), walk.calls, again)

    def fetch(self, spec: ObjectSpec, ids: list[str]) -> Iterator[Page]:
        self._objects[spec.kind] = spec.name
        fields = ",".join(self._select(spec, with_tag=True))
        out: list[dict[str, Any]] = []
        for chunk in _chunks(list(dict.fromkeys(ids)), BATCH):
            reply = self._call("GET", spec.name, f"read {spec.name} by id",
                               params={"ids": ",".join(chunk), "fields": fields})
            out += [r for r in ((reply.body or {}).get("data") or []) if isinstance(r, dict)]
            while len(out) >= spec.page_size:
                yield Page(out[:spec.page_size])
                out = out[spec.page_size:]
        if out:
            yield Page(out)

    def deleted(self, spec: ObjectSpec, since: datetime) -> list[str]:
        """`GET {module}/deleted?type=all` with If-Modified-Since, page by page (200 per page)."""
        ids: list[str] = []
        page = 1
        while True:
            reply = self._call("GET", f"{spec.name}/deleted", f"deleted {spec.name}",
                               params={"type": "all", "page": page, "per_page": 200},
                               headers={"If-Modified-Since": if_modified_since(since)})
            body = reply.body or {}
            ids += [str(r["id"]) for r in body.get("data") or [] if isinstance(r, dict) and r.get("id")]
            if not (body.get("info") or {}).get("more_records"):
                return ids
            page += 1

    def _coql(self, query: str, what: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        offset = 0
        while True:
            reply = self._call("POST", "coql", what,
                               body={"select_query": f"{query} limit {COQL_LIMIT} offset {offset}"})
            body = reply.body if isinstance(reply.body, dict) else {}
            data = [r for r in body.get("data") or [] if isinstance(r, dict)]
            rows += data
            info = body.get("info") if isinstance(body.get("info"), dict) else {}
            more = info.get("more_records") if info else len(data) >= COQL_LIMIT
            if not data or not more:
                return rows
            offset += len(data)

    def open_task_keys(self, keys: list[str]) -> set[str]:
        open_keys: set[str] = set()
        for chunk in _chunks(sorted(set(keys)), COQL_IN):
            rows = self._coql(f"select {TASK_KEY}, Status from {TASKS} where {TASK_KEY} in {coql_list(chunk)}",
                              "open riskbridge tasks")
            open_keys |= {str(r[TASK_KEY]) for r in rows if r.get(TASK_KEY) and r.get("Status") != "Completed"}
        return open_keys

    # -- writing --------------------------------------------------------------------------------------

    def apply(self, plan: WritePlan) -> ApplyResult:
        return self._writer.apply(plan)
