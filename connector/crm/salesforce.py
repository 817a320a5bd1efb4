"""The Salesforce client, on simple-salesforce 1.12.x.

Every HTTP call goes through `SalesforceClient.call`: one `call_with_retry` per call, one re-login when
the session has expired (then the same call again, with its headers), and the library's failures
classified into riskbridge's exception tree (`sf_errors`). The library's own traps are worked around
here rather than patched (docs/crm-salesforce.md §11):

- https-only URLs: the session comes from `transport.session_for`, which routes a loopback sandbox;
- no timeouts: that session sets a default (connect, read) timeout on every request;
- re-login recursion and lost headers: the client logs in with `SalesforceLogin` and uses the token as
  a plain session, so the library never re-logs in by itself;
- bulk2 handlers hold the token they were built with: ``sf.bulk2.<Object>`` is re-read on each attempt;
- ``api_usage`` is not tracked on every path: a session response hook reads ``Sforce-Limit-Info``.

Module map: `sf_auth` (login), `sf_errors` (classification), `sf_soql` (SOQL and values),
`sf_bulk_query` (Bulk API 2.0 reads of large backfills), `sf_write` (apply).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession

from connector.config import SalesforceConnection
from connector.crm.base import Capabilities, FieldInfo, ObjectSpec, RetryPolicy, call_with_retry
from connector.crm.concurrency import Lanes, SessionPerThread, in_lane
from connector.crm.sf_auth import Credentials, login
from connector.crm.sf_bulk_query import BulkQuery
from connector.crm.sf_bulk_write import UPLOAD_LIMIT, BulkRun, settle_left
from connector.crm.sf_errors import classify, parse_limit_info
from connector.crm.sf_soql import (
    QueryPager,
    batch_size_header,
    field_list,
    in_chunks,
    select,
    soql_datetime,
    split_rows,
)
from connector.crm.sf_write import TASK_KEY_FIELD, apply_plan
from connector.crm.transport import is_loopback_http, session_for
from connector.errors import AuthError, ConnectionFailed, Fatal, QuotaExhausted, Retriable
from connector.model import ApplyResult, Cursor, ObjectKind, Outcome, Page, WritePlan

__all__ = ["SalesforceClient"]

log = logging.getLogger(__name__)
T = TypeVar("T")

FETCH_CHUNK = 300  # ids per ``WHERE Id IN (...)``
DEFAULT_OBJECTS: dict[str, str] = {"accounts": "Account", "deals": "Opportunity"}
_SOAP_USER = re.compile(r"<userId>([A-Za-z0-9]{15,18})</userId>")


class SalesforceClient:
    """A `CRMClient` for one Salesforce org.

    `objects` maps an `ObjectKind` to the sObject name when the engine applies a plan before any
    `extract`/`check` told the client (defaults: Account, Opportunity). After `defer_writes`, a run
    whose read reports at least `bulk_threshold` records (a backfill) sends its field updates through
    one Bulk API 2.0 job per object (`sf_bulk_write.BulkRun`, at most `bulk_upload_bytes` of CSV a
    job), settled by `settle_writes`; a plan applied outside such a run sends an object's updates
    through a job of its own when there are at least `bulk_threshold` of them. `topic_tag` enables
    watchlist Topics (TagAdd/TagRemove). `bulk_wait` is the first Bulk API poll delay in seconds (it
    doubles up to a cap), `bulk_sleep` the wait itself (injected by tests). Collections calls of one
    batch go out on ``conn.write_concurrency`` lanes, each with its own session (`concurrency`).
    A full read (no cursor) of at least ``conn.bulk_query_threshold`` records goes through a Bulk API 2.0
    query job (`sf_bulk_query`, polled with the retry policy's sleep) instead of REST ``queryMore``;
    `bulk_query_page` is its ``maxRecords``.
    """

    def __init__(self, conn: SalesforceConnection, *, objects: dict[str, str] | None = None,
                 policy: RetryPolicy | None = None, bulk_threshold: int = 2000, topic_tag: bool = False,
                 bulk_wait: float = 0.25, bulk_sleep: Callable[[float], None] = time.sleep,
                 bulk_query_page: int = 10_000, bulk_upload_bytes: int = UPLOAD_LIMIT) -> None:
        self.conn = conn
        self.policy = policy or RetryPolicy()
        self.bulk_threshold = bulk_threshold
        self.bulk_upload_bytes = bulk_upload_bytes
        self.bulk_run: BulkRun | None = None  # the run-wide jobs, once `defer_writes` is called
        self.topic_tag = topic_tag
        self.bulk_wait = bulk_wait
        self.bulk_sleep = bulk_sleep
        self.lanes = Lanes(conn.write_concurrency, "salesforce")
        self.bulk_query_page = bulk_query_page
        self._types: dict[str, dict[str, str]] = {}  # object -> lower-case field name -> describe type
        self.topic_ids: dict[str, str] = {}  # tag name -> Topic id, learned once per run
        self._objects = {**DEFAULT_OBJECTS, **(objects or {})}
        self._creds = Credentials.resolve(conn)
        route = next((u for u in (conn.instance_url, conn.login_url) if is_loopback_http(u)), conn.instance_url)
        self._session = self._new_session(route)
        self._lane_sessions = SessionPerThread(lambda: self._new_session(route))
        self._lane_sf = threading.local()  # a lane's own `Salesforce` on its own session, per token
        self._counting = threading.Lock()  # lanes' responses arrive on several threads at once
        self._latest = threading.local()  # Retry-After of this thread's latest response
        self._sf: Salesforce | None = None
        self._calls = 0
        self._usage: tuple[int, int] | None = None
        self._user_id: str | None = None

    def __repr__(self) -> str:
        return f"SalesforceClient(instance_url={self.conn.instance_url!r}, auth={self.conn.auth.method!r})"

    # -- accounting -------------------------------------------------------------------------------

    @property
    def api_calls(self) -> int:
        """HTTP responses received from Salesforce so far, logins included."""
        return self._calls

    @property
    def api_usage(self) -> tuple[int, int] | None:
        """(used, limit) of the org's daily API requests, as last reported."""
        return self._usage

    @property
    def user_id(self) -> str | None:
        """The integration user's id, learned from the login response (None before the first call)."""
        return self._user_id

    def _new_session(self, route: str) -> requests.Session:
        session = session_for(route, timeout=(min(10.0, self.conn.timeout_s), self.conn.timeout_s))
        session.hooks["response"].append(self._on_response)
        return session

    @property
    def _retry_after(self) -> float | None:
        return getattr(self._latest, "retry_after", None)

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        usage = parse_limit_info(response.headers.get("Sforce-Limit-Info"))
        with self._counting:
            self._calls += 1
            if usage is not None:
                self._usage = usage
        self._latest.retry_after = None
        if response.status_code >= 400:
            with contextlib.suppress(ValueError):
                self._latest.retry_after = float(response.headers.get("Retry-After", ""))
        elif response.status_code == 200 and self._user_id is None:
            self._learn_user(response)

    def _learn_user(self, response: requests.Response) -> None:
        """The integration user's id from a login response (no extra call)."""
        path = response.request.path_url if response.request is not None else ""
        if "/services/oauth2/token" in path:
            try:
                identity = response.json().get("id") or ""
            except (ValueError, AttributeError):
                return
            self._user_id = str(identity).rstrip("/").rsplit("/", 1)[-1] or None
        elif "/services/Soap/u/" in path:
            match = _SOAP_USER.search(response.text)
            self._user_id = match.group(1) if match else None

    def ensure_budget(self, what: str, in_flight: int = 0) -> None:
        """Raise `QuotaExhausted` before a write batch when only the reserve is left, counting the
        `in_flight` calls other lanes have sent and not yet heard back from as spent."""
        if self._usage is None:
            return
        used, limit = self._usage
        used += in_flight
        if limit - used <= self.conn.api_reserve:
            raise QuotaExhausted(f"{what}: {limit - used} API requests left of {limit}; "
                                 f"{self.conn.api_reserve} are reserved for other integrations")

    # -- calls ------------------------------------------------------------------------------------

    def _login(self) -> Salesforce:
        try:
            session = call_with_retry(lambda: login(self.conn, self._creds, self._session), self.policy, "login")
        except Retriable as exc:
            raise ConnectionFailed(f"cannot reach Salesforce to log in: {exc}") from None
        self._sf = Salesforce(session_id=session.token.get_secret_value(), instance=session.instance,
                              session=self._session, version=self.conn.api_version)
        return self._sf

    def call(self, what: str, fn: Callable[[Salesforce], T]) -> T:
        """Run one HTTP call `fn(sf)`: retried per policy, re-logged-in once if the session expired."""

        def attempt() -> T:
            relogged = False
            while True:
                sf = self._sf or self._login()
                if in_lane():
                    sf = self._lane(sf)
                try:
                    return fn(sf)
                except SalesforceExpiredSession:
                    if relogged:
                        raise AuthError(f"{what}: session refused again right after a new login") from None
                    relogged = True
                    log.info("%s: session expired or revoked; logging in again", what)
                    self._sf = None
                except Exception as exc:
                    mapped = classify(exc, what, self._retry_after)
                    if mapped is None:
                        raise
                    raise mapped from exc

        return call_with_retry(attempt, self.policy, what)

    def _lane(self, sf: Salesforce) -> Salesforce:
        """This lane's `Salesforce` for the current token, on the lane's own keep-alive session."""
        mine: Salesforce | None = getattr(self._lane_sf, "sf", None)
        if mine is None or mine.session_id != sf.session_id:
            mine = Salesforce(session_id=sf.session_id, instance=sf.sf_instance, session=self._lane_sessions.get(),
                              version=self.conn.api_version)
            self._lane_sf.sf = mine
        return mine

    def query_pages(self, what: str, soql: str, page_size: int = 2000) -> Iterator[list[dict[str, Any]]]:
        """Each server page of a SOQL query, ``attributes`` stripped; every page fetch retried on its own."""
        headers = batch_size_header(page_size)
        log.debug("%s: %s", what, soql)
        yield from self._follow(what, self.call(what, lambda sf: sf.query(soql, headers=dict(headers))), headers)

    def _follow(self, what: str, first: Any, headers: dict[str, str]) -> Iterator[list[dict[str, Any]]]:
        """The pages of a query from its `first` response on, following ``nextRecordsUrl``."""
        pager = QueryPager()
        yield pager.advance(first)
        while not pager.finished:
            yield pager.advance(self._next_page(f"{what} (next page)", str(pager.next_url), headers))

    def _next_page(self, what: str, url: str, headers: dict[str, str]) -> Any:
        return self.call(what, lambda sf: sf.query_more(url, identifier_is_url=True, headers=dict(headers)))

    def restful(self, what: str, path: str, **kwargs: Any) -> Any:
        """One REST call under `base_url` (``composite/sobjects``, ``sobjects/X/describe``...)."""
        return self.call(what, lambda sf: sf.restful(path, **kwargs))

    def query_all(self, what: str, soql: str) -> list[dict[str, Any]]:
        return [row for rows in self.query_pages(what, soql) for row in rows]

    def object_name(self, kind: ObjectKind | str) -> str:
        name = self._objects.get(kind)
        if name is None:
            raise Fatal(f"no Salesforce object known for {kind!r}", code="UNKNOWN_OBJECT")
        return name

    def _remember(self, spec: ObjectSpec) -> None:
        self._objects[spec.kind] = spec.name

    # -- CRMClient --------------------------------------------------------------------------------

    def check(self, specs: list[ObjectSpec]) -> Capabilities:
        """Log in, describe each spec's object and Task, and read the daily API allowance."""
        caps = Capabilities()
        for spec in specs:
            self._remember(spec)
        for obj in dict.fromkeys([*(s.name for s in specs), "Task"]):
            try:
                described = self.restful(f"describe {obj}", f"sobjects/{obj}/describe")
            except Fatal as exc:
                if exc.status != 404:
                    raise
                log.warning("Salesforce has no object %s visible to the integration user", obj)
                continue
            self._types[obj] = {str(f["name"]).lower(): str(f.get("type", ""))
                                for f in (described or {}).get("fields", [])}
            caps.fields[obj] = {
                f["name"]: FieldInfo(name=f["name"], type=str(f.get("type", "")), updateable=bool(f.get("updateable")),
                                     external_id=bool(f.get("externalId")))
                for f in (described or {}).get("fields", [])
            }
        try:
            limits = self.call("limits", lambda sf: sf.limits()) or {}
        except Fatal as exc:  # the user may lack "View Setup": Sforce-Limit-Info still tracks usage
            log.warning("cannot read Salesforce limits (%s); using Sforce-Limit-Info only", exc)
            limits = {}
        daily = limits.get("DailyApiRequests") or {}
        if "Max" in daily and "Remaining" in daily:
            self._usage = (int(daily["Max"]) - int(daily["Remaining"]), int(daily["Max"]))
        if self._usage is not None:
            caps.api_used, caps.api_limit = self._usage
        caps.user_id = self._user_id
        log.info("Salesforce check: %d objects described, API usage %s", len(caps.fields), self._usage)
        return caps

    def extract(self, spec: ObjectSpec, cursor: Cursor | None) -> Iterator[Page]:
        """Rows with ``cursor_field >= cursor.ts`` (floored to the second), by (cursor_field, Id)."""
        self._remember(spec)
        fields = field_list(spec.fields, "Id", spec.cursor_field)
        where = f"{spec.cursor_field} >= {soql_datetime(cursor.ts)}" if cursor is not None else None
        soql = select(spec.name, fields, where, f"{spec.cursor_field}, Id")
        read = 0
        what, headers = f"query {spec.name}", batch_size_header(spec.page_size)
        log.debug("%s: %s", what, soql)
        first = self.call(what, lambda sf: sf.query(soql, headers=dict(headers)))
        total = int((first or {}).get("totalSize") or 0)
        # Rows at the cursor's instant that the last run saw come back (`>=`) and are dropped by the engine: a
        # bulk write stamps thousands of rows alike, and their echo is no reason for a bulk job.
        fresh = total - (len(cursor.ids) if cursor is not None else 0)
        if self.bulk_run is not None and not self.bulk_run.large and fresh >= self.bulk_threshold:
            log.info("%d %s rows to read: this run's field updates, if any, go through one Bulk API 2.0 job per object "
                     "(threshold %d)",
                     fresh, spec.name, self.bulk_threshold)
            self.bulk_run.large = True
        threshold = self.conn.bulk_query_threshold
        if cursor is None and 0 < threshold <= total:
            # The REST page's totalSize decided it at no extra call; its rows come again from the job.
            # ORDER BY stays: the engine saves the cursor after each page, so rows must come in cursor order.
            log.info("full read of %d %s rows: Bulk API 2.0 query (threshold %d)", total, spec.name, threshold)
            pages = BulkQuery(self, page_records=max(spec.page_size, self.bulk_query_page),
                              batch_records=spec.page_size).rows(soql, self.field_types(spec.name))
        else:
            pages = self._follow(what, first, headers)
        for rows in pages:
            read += len(rows)
            for chunk in split_rows(rows, spec.page_size):
                yield Page(chunk)
        log.info("extracted %d %s rows", read, spec.name)

    def field_types(self, obj: str) -> dict[str, str]:
        """Lower-case field name -> describe type of `obj`, from `check` or one describe call."""
        if obj not in self._types:
            described = self.restful(f"describe {obj}", f"sobjects/{obj}/describe") or {}
            self._types[obj] = {str(f["name"]).lower(): str(f.get("type", "")) for f in described.get("fields", [])}
        return self._types[obj]

    def _by_values(self, spec: ObjectSpec, field: str, values: list[str]) -> Iterator[Page]:
        self._remember(spec)
        fields = field_list(spec.fields, "Id", spec.cursor_field, *([field] if field != "Id" else []))
        for chunk in in_chunks(values, FETCH_CHUNK):
            soql = select(spec.name, fields, f"{field} IN {chunk}", "Id")
            for rows in self.query_pages(f"query {spec.name} by {field}", soql, spec.page_size):
                for page_rows in split_rows(rows, spec.page_size):
                    yield Page(page_rows)

    def fetch(self, spec: ObjectSpec, ids: list[str]) -> Iterator[Page]:
        return self._by_values(spec, "Id", ids)

    def deleted(self, spec: ObjectSpec, since: datetime) -> list[str]:
        """`sobjects/{X}/deleted/`: the delete log answers for 15 days at most; an older cursor reads those."""
        now = datetime.now(UTC)
        start = max(since, now - timedelta(days=14))
        if start > since:
            log.warning("%s: deletions before %s are past Salesforce's 15-day delete log; run --full to prune them",
                        spec.name, start.date())
        body = self.restful(f"deleted {spec.name}", f"sobjects/{spec.name}/deleted/", params={
            "start": start.replace(microsecond=0).isoformat(), "end": now.replace(microsecond=0).isoformat()})
        return [str(r["id"]) for r in (body or {}).get("deletedRecords", []) if r.get("id")]

    def open_task_keys(self, keys: list[str]) -> set[str]:
        found: set[str] = set()
        for chunk in in_chunks(keys, FETCH_CHUNK):
            soql = select("Task", [TASK_KEY_FIELD], f"{TASK_KEY_FIELD} IN {chunk} AND IsClosed = false")
            found.update(str(r[TASK_KEY_FIELD]) for r in self.query_all("query open tasks", soql)
                         if r.get(TASK_KEY_FIELD))
        return found & set(keys)

    def apply(self, plan: WritePlan) -> ApplyResult:
        """Execute the plan; one `Outcome` per op key. On `QuotaExhausted` (or any other stop) the
        outcomes so far travel on the exception as ``exc.partial``."""
        return apply_plan(self, plan)

    def defer_writes(self, journal: Callable[[ObjectKind, str], None]) -> None:
        """Let a large run take its field updates into run-wide Bulk API 2.0 jobs; `journal(kind, job id)`
        hears of each job as it is created, before any of its rows is reported taken."""
        self.bulk_run = BulkRun(journal, self.bulk_upload_bytes)

    def settle_writes(self) -> Iterator[list[Outcome]]:
        """Upload and close the run-wide jobs, wait for them to end, and yield their rows' outcomes in chunks."""
        if self.bulk_run is not None:
            yield from self.bulk_run.settle(self)

    def settle_left(self, job_ids: list[str]) -> dict[str, str]:
        """End the jobs a dead run left (`sf_bulk_write.settle_left`); record id -> failure of their failed rows."""
        return settle_left(self, job_ids)

    def close(self) -> None:
        if self.bulk_run is not None:
            self.bulk_run.close()
        self.lanes.close()
        self._lane_sessions.close()
        self._session.close()
