"""Bulk API 2.0 query for large Salesforce reads: one job, polled with a short backoff, read page by page.

A backfill of a million records through REST ``queryMore`` costs one call per 2,000 rows and holds a
server cursor for the whole run; a Bulk query job runs server-side and hands back CSV pages by
``Sforce-Locator``. simple-salesforce's ``bulk2`` query waits with ``time.sleep`` (not injectable) and
retries nothing per page, so the few calls are made here, each through `SalesforceClient.call`.

CSV cells are text. `typed_row` turns them into the values the REST path yields for the same record, from
the object's describe types, so the mapping never sees where a row came from:

    ""                       -> None      (Bulk CSV writes a null as an empty cell)
    boolean "true"/"false"   -> bool
    int                      -> int;     double, currency, percent -> float
    datetime "…Z"            -> "…+0000" (REST's form)
    "Owner.Name" column      -> {"Owner": {"Name": …}}, or None when every cell of it is empty
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from connector.errors import Fatal

if TYPE_CHECKING:
    from connector.crm.salesforce import SalesforceClient

__all__ = ["BulkQuery", "Backoff", "typed_row"]

log = logging.getLogger(__name__)

_NUMERIC = frozenset({"double", "currency", "percent"})
_DONE = "JobComplete"
_DEAD = ("Failed", "Aborted")


class Backoff:
    """Poll intervals: start short (a small job is done at once), grow by `factor`, cap at `cap`."""

    def __init__(self, first: float = 0.25, factor: float = 1.6, cap: float = 10.0) -> None:
        self.first, self.factor, self.cap = first, factor, cap

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(self.cap, delay * self.factor)


def _cell(value: str, kind: str) -> Any:
    if value == "":
        return None
    if kind == "boolean":
        return value.lower() == "true"
    if kind == "int":
        try:
            return int(value)
        except ValueError:
            return int(float(value))
    if kind in _NUMERIC:
        return float(value)
    if kind == "datetime" and value.endswith("Z"):
        return value[:-1] + "+0000"
    return value


def typed_row(header: list[str], cells: list[str], types: dict[str, str]) -> dict[str, Any]:
    """One CSV row as the REST JSON record (``attributes`` already stripped) for the same fields."""
    row: dict[str, Any] = {}
    for name, raw in zip(header, cells, strict=False):
        if "." not in name:
            row[name] = _cell(raw, types.get(name.lower(), "string"))
            continue
        parent, child = name.split(".", 1)
        current = row.get(parent)
        if raw == "":
            row.setdefault(parent, None)
            if isinstance(current, dict):
                current[child] = None
            continue
        if not isinstance(current, dict):  # a parent seen empty so far: its earlier fields were null
            current = {h.split(".", 1)[1]: None for h in header if h.startswith(parent + ".")}
            row[parent] = current
        current[child] = raw
    return row


class BulkQuery:
    """One Bulk API 2.0 query job of `client`: create, wait for ``JobComplete``, then pages of typed rows.

    `wait` sleeps between polls (the client's retry sleep: injected in tests). `page_records` is the
    ``maxRecords`` of each results call: memory is bounded by it, not by the size of the result. The rows
    of a page are typed `batch_records` at a time (the engine's batch): a page's CSV text is a few MB, its
    rows as dicts ten times that, and a read-ahead holds the next page meanwhile.
    """

    def __init__(self, client: SalesforceClient, *, page_records: int = 10_000, batch_records: int | None = None,
                 wait: Callable[[float], None] | None = None, backoff: Backoff | None = None,
                 max_polls: int = 2_000) -> None:
        self.client = client
        self.page_records = max(1, page_records)
        self.batch_records = max(1, batch_records or self.page_records)
        self.wait = wait or client.policy.sleep
        self.backoff = backoff or Backoff()
        self.max_polls = max_polls
        self.job_id: str | None = None

    def _url(self, sf: Any, tail: str = "") -> str:
        return f"{sf.bulk2_url}query{tail}"

    def _start(self, soql: str) -> str:
        body = {"operation": "query", "query": soql, "contentType": "CSV", "columnDelimiter": "COMMA",
                "lineEnding": "LF"}
        info = self.client.call("bulk query: create job", lambda sf: sf._call_salesforce(
            "POST", self._url(sf), name="bulk query", json=body).json())
        job_id = str(info["id"])
        self.job_id = job_id
        log.info("Bulk API 2.0 query job %s created (%s)", job_id, info.get("object"))
        return job_id

    def _await(self, job_id: str) -> dict[str, Any]:
        delays = self.backoff.delays()
        for _ in range(self.max_polls):
            info: dict[str, Any] = self.client.call("bulk query: poll job", lambda sf: sf._call_salesforce(
                "GET", self._url(sf, f"/{job_id}"), name="bulk query").json())
            state = info.get("state")
            if state == _DONE:
                return info
            if state in _DEAD:
                raise Fatal(f"Bulk API 2.0 query job {job_id} ended {state}: "
                            f"{info.get('errorMessage') or 'no message'}", code="BULK_QUERY_FAILED")
            self.wait(next(delays))
        raise Fatal(f"Bulk API 2.0 query job {job_id} not complete after {self.max_polls} polls",
                    code="BULK_QUERY_TIMEOUT")

    def _abort(self, job_id: str) -> None:
        try:
            self.client.call("bulk query: abort job", lambda sf: sf._call_salesforce(
                "PATCH", self._url(sf, f"/{job_id}"), name="bulk query", json={"state": "Aborted"}))
        except Exception as exc:  # best effort: the job expires on its own after 7 days
            log.warning("could not abort Bulk API 2.0 query job %s: %s", job_id, exc)

    def _results(self, job_id: str, locator: str | None) -> tuple[str, str | None]:
        params: dict[str, str | int] = {"maxRecords": self.page_records}
        if locator:
            params["locator"] = locator
        response = self.client.call("bulk query: results", lambda sf: sf._call_salesforce(
            "GET", self._url(sf, f"/{job_id}/results"), name="bulk query", params=params))
        response.encoding = "utf-8"  # RFC 4180 text/csv defaults to ASCII in requests; Salesforce sends UTF-8
        following = response.headers.get("Sforce-Locator")
        return response.text, (None if following in (None, "", "null") else following)

    def rows(self, soql: str, types: dict[str, str]) -> Iterator[list[dict[str, Any]]]:
        """The results of `soql` as typed rows, `batch_records` at a time; `types` maps lower-case field names
        to describe types."""
        job_id = self._start(soql)
        try:
            info = self._await(job_id)
        except BaseException as exc:  # a job still running holds one of the org's query slots: free it
            if not (isinstance(exc, Fatal) and exc.code == "BULK_QUERY_FAILED"):
                self._abort(job_id)
            raise
        log.info("Bulk API 2.0 query job %s complete: %s records", job_id, info.get("numberRecordsProcessed"))
        locator: str | None = None
        seen: set[str] = set()
        while True:
            text, following = self._results(job_id, locator)
            reader = csv.reader(io.StringIO(text, newline=""))
            header = next(reader, [])
            batch: list[dict[str, Any]] = []
            for cells in reader:
                if cells:
                    batch.append(typed_row(header, cells, types))
                if len(batch) >= self.batch_records:
                    yield batch
                    batch = []
            if batch:
                yield batch
            if following is None:
                return
            if following in seen:
                raise Fatal(f"Salesforce returned the same Bulk query locator twice: {following}",
                            code="LOCATOR_REPEATED")
            seen.add(following)
            locator = following
