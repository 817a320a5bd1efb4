"""Zoho CRM Bulk Read API (v8) in the sandbox: create an export job, poll it, download its zipped CSV.

Routes (need `Authorization: Zoho-oauthtoken …` whose scope holds ZohoCRM.bulk.read or ZohoCRM.bulk.ALL;
without it 401 OAUTH_SCOPE_MISMATCH):

    POST /crm/bulk/v8/read                  {"query": {"module": {"api_name": …}, "fields": […],
                                              "criteria": {…}, "page": 1}, "callback": {…}, "file_type": "csv"}
    GET  /crm/bulk/v8/read/{job_id}         state ADDED -> IN PROGRESS -> COMPLETED, then `result`
    GET  /crm/bulk/v8/read/{job_id}/result  {job_id}.zip holding one {job_id}.csv
    GET  /crm/v8/{module}/actions/count     {"count": N} (the REST "record count" call, 1 credit)

Wire facts (Zoho v8 docs bulk-read/create-job, job-details, download-result, limitations;
zoho/crm-oas v8.0/bulk_read.json):
- create answers 201 `{"data": [{"status": "success", "code": "ADDED_SUCCESSFULLY", "message": "Added
  successfully.", "details": {"id", "operation": "read", "state": "ADDED", "created_by", "created_time"}}],
  "info": {}}`; a callback, when given, must be `{"url": …, "method": "post"}` (the sandbox never calls out);
- a job's `result` is `{"page", "count", "download_url", "per_page", "more_records"}`; one job exports at
  most 200,000 records (`page: 2` starts at record 200,001); `more_records` says another page exists;
- the zip is `{job_id}.zip` with the result as `{job_id}.csv`: a header of the requested API names in the
  requested order (the record id as `Id`), one row per record; lookups and owners as the related record's
  id, booleans `true`/`false`, datetimes ISO 8601 with the org's offset, empty values as empty cells,
  multi-select picklists joined by `;`, tags by `,`;
- at most 10 downloads a minute (then 429); the sandbox also caps jobs not yet completed (`max_active`,
  429 TOO_MANY_REQUESTS), as Zoho refuses more concurrent bulk jobs than an org's plan allows.

The sandbox knobs (tests set them on `ZohoApp.bulk`): `delay_s` (a job is ADDED for the first half of it,
IN PROGRESS for the second, COMPLETED after, by the app's injectable clock), `per_page` (records per
export page), `max_active`, `downloads_per_minute`. The rows are read when the job completes.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import zipfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.sandbox.http import Request, Response, json_response
from connector.sandbox.zoho_fields import FIELDS, MODULES, SYSTEM_KEYS, fmt_dt, make_id, parse_dt
from connector.sandbox.zoho_read import error
from connector.sandbox.zoho_store import ZohoStore

__all__ = ["BULK_SCOPES", "BulkReads", "count_records", "csv_cell"]

BULK_SCOPES = ("zohocrm.bulk.read", "zohocrm.bulk.all")
PER_PAGE = 200_000
_MODULE_BY_LOWER = {m.lower(): m for m in MODULES}
_COMPARATORS = ("equal", "not_equal", "greater_than", "greater_equal", "less_than", "less_equal", "between",
                "in", "not_in", "contains", "not_contains", "starts_with", "ends_with")


def csv_cell(value: Any) -> str:
    """One value as Zoho's bulk read CSV writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return str(value.get("id") or "")
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):  # Tag: [{"name", "id"}]
            return ",".join(str(v.get("name") or "") for v in value)
        return ";".join(str(v) for v in value)
    if isinstance(value, int | float):
        return json.dumps(value)
    return str(value)


@dataclass
class _Job:
    id: str
    module: str
    fields: list[str]
    criteria: dict[str, Any] | None
    page: int
    created: float
    by: dict[str, str]
    callback: dict[str, Any] | None
    zipped: bytes | None = None
    count: int = 0
    more: bool = False


@dataclass
class BulkReads:
    """The org's bulk read jobs and the knobs tests turn."""

    store: ZohoStore
    clock: Callable[[], float]
    delay_s: float = 0.0
    per_page: int = PER_PAGE
    max_active: int = 10
    downloads_per_minute: int = 10
    jobs: dict[str, _Job] = field(default_factory=dict)
    _downloads: deque[float] = field(default_factory=deque)
    _seq: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def route(self, request: Request, rest: list[str]) -> Response:
        """`rest`: the path after /crm/bulk/v8/."""
        if rest == ["read"] and request.method == "POST":
            return self.create(request)
        if len(rest) == 2 and rest[0] == "read" and request.method == "GET":
            return self.details(rest[1])
        if len(rest) == 3 and rest[0] == "read" and rest[2] == "result" and request.method == "GET":
            return self.result(rest[1])
        return error(404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one")

    # ------------------------------------------------------------ create

    def create(self, request: Request) -> Response:
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return error(400, "INVALID_DATA", "body", {"expected_data_type": "jsonobject"})
        query = body.get("query")
        if not isinstance(query, dict):
            return error(400, "MANDATORY_NOT_FOUND", "required field not found",
                         {"api_name": "query", "json_path": "$.query"})
        module_ref = query.get("module")
        name = module_ref.get("api_name") if isinstance(module_ref, dict) else module_ref
        module = _MODULE_BY_LOWER.get(str(name or "").lower())
        if module is None:
            return error(400, "INVALID_MODULE", "the module name given seems to be invalid",
                         {"api_name": "module", "json_path": "$.query.module"})
        known = FIELDS[module].keys() | SYSTEM_KEYS[module].keys() | {"id", "Id"}
        fields = query.get("fields") or [n for n in FIELDS[module] if n != "id"]
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            return error(400, "INVALID_DATA", "invalid data", {"api_name": "fields", "json_path": "$.query.fields"})
        for index, name in enumerate(fields):
            if name not in known:
                return error(400, "INVALID_DATA", "the field api name given seems to be invalid",
                             {"api_name": name, "json_path": f"$.query.fields[{index}]"})
        criteria = query.get("criteria")
        if criteria is not None:
            bad = _check_criteria(criteria, known, "$.query.criteria")
            if bad is not None:
                return bad
        page = query.get("page", 1)
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            return error(400, "INVALID_DATA", "invalid data", {"api_name": "page", "json_path": "$.query.page"})
        callback = body.get("callback")
        if callback is not None and (not isinstance(callback, dict) or callback.get("method") != "post"
                                     or not str(callback.get("url") or "").startswith(("http://", "https://"))):
            return error(400, "INVALID_DATA", "invalid data", {"api_name": "callback", "json_path": "$.callback"})
        if body.get("file_type", "csv") != "csv":  # ics is for Events only
            return error(400, "INVALID_DATA", "invalid data", {"api_name": "file_type", "json_path": "$.file_type"})
        now = self.clock()
        with self._lock:
            if sum(1 for j in self.jobs.values() if j.zipped is None and not self._done(j, now)) >= self.max_active:
                return error(429, "TOO_MANY_REQUESTS", "too many bulk read jobs are in progress; try again after "
                             "some time", {"max_active_jobs": self.max_active})
            self._seq += 1
            job = _Job(make_id(900_000 + self._seq), module, [f for f in fields if f not in ("id", "Id")],
                       criteria, page, now, self.store.integration.ref(email=False), callback)
            self.jobs[job.id] = job
        details = {"id": job.id, "operation": "read", "state": "ADDED", "created_by": job.by,
                   "created_time": fmt_dt(now)}
        return json_response(201, {"data": [{"status": "success", "code": "ADDED_SUCCESSFULLY",
                                             "message": "Added successfully.", "details": details}], "info": {}})

    # ------------------------------------------------------------ poll and download

    def _done(self, job: _Job, now: float) -> bool:
        return now >= job.created + self.delay_s

    def _state(self, job: _Job, now: float) -> str:
        if self._done(job, now):
            return "COMPLETED"
        return "ADDED" if now < job.created + self.delay_s / 2 else "IN PROGRESS"

    def details(self, job_id: str) -> Response:
        job = self.jobs.get(job_id)
        if job is None:
            return error(400, "INVALID_DATA", "the given job id seems to be invalid", {"api_name": "job_id"})
        now = self.clock()
        state = self._state(job, now)
        if state == "COMPLETED" and job.zipped is None:
            self._export(job)
        query: dict[str, Any] = {"module": {"api_name": job.module}, "page": job.page}
        if job.fields:
            query["fields"] = job.fields
        if job.criteria is not None:
            query["criteria"] = job.criteria
        entry: dict[str, Any] = {"id": job.id, "operation": "read", "state": state, "query": query,
                                 "created_by": job.by, "created_time": fmt_dt(job.created), "file_type": "csv"}
        if job.callback is not None:
            entry["callback"] = job.callback
        if state == "COMPLETED":
            entry["result"] = {"page": job.page, "count": job.count, "per_page": self.per_page,
                               "download_url": f"/crm/bulk/v8/read/{job.id}/result", "more_records": job.more}
        return json_response(200, {"data": [entry]})

    def result(self, job_id: str) -> Response:
        job = self.jobs.get(job_id)
        if job is None:
            return error(400, "INVALID_DATA", "the given job id seems to be invalid", {"api_name": "job_id"})
        now = self.clock()
        if not self._done(job, now):
            return error(400, "INVALID_REQUEST", "the job is not completed yet", {"state": self._state(job, now)})
        with self._lock:
            while self._downloads and self._downloads[0] <= now - 60:
                self._downloads.popleft()
            if len(self._downloads) >= self.downloads_per_minute:
                return error(429, "TOO_MANY_REQUESTS", "too many download requests; try again after a minute", {})
            self._downloads.append(now)
        if job.zipped is None:
            self._export(job)
        assert job.zipped is not None
        return Response(200, job.zipped, {"Content-Type": "application/zip",
                                          "Content-Disposition": f"attachment; filename=\"{job.id}.zip\""})

    def _export(self, job: _Job) -> None:
        """Read the job's page of matching records now, as Zoho does when it processes the job. Only that
        page is copied, and the CSV is written straight into the zip."""
        layout = FIELDS[job.module]
        start, end = (job.page - 1) * self.per_page, job.page * self.per_page
        chunk: list[dict[str, Any]] = []
        matched = 0
        with self.store.lock:
            live = self.store.records[job.module]
            for rid in sorted(live):
                if job.criteria is not None and not _matches(job.criteria, self.store.full(job.module, live[rid]),
                                                             layout):
                    continue
                if start <= matched < end:
                    chunk.append(self.store.full(job.module, live[rid]))
                matched += 1
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive, \
                io.TextIOWrapper(archive.open(f"{job.id}.csv", "w"), encoding="utf-8", newline="") as text:
            out = csv.writer(text, lineterminator="\r\n")
            out.writerow(["Id", *job.fields])
            for rec in chunk:
                out.writerow([rec["id"], *(csv_cell(rec.get(f)) for f in job.fields)])
        job.zipped, job.count, job.more = buffer.getvalue(), len(chunk), matched > end


# ---------------------------------------------------------------- criteria


def _check_criteria(node: Any, known: set[str] | Any, path: str) -> Response | None:
    if not isinstance(node, dict):
        return error(400, "INVALID_DATA", "invalid data", {"json_path": path})
    if "group" in node:
        if node.get("group_operator") not in ("and", "or") or not isinstance(node["group"], list) or \
                len(node["group"]) < 2:
            return error(400, "AMBIGUOUS_GROUP_IN_CRITERIA", "the group in the criteria is ambiguous",
                         {"group_operator": node.get("group_operator"), "json_path": path})
        for index, child in enumerate(node["group"]):
            bad = _check_criteria(child, known, f"{path}.group[{index}]")
            if bad is not None:
                return bad
        return None
    ref = node.get("field")
    name = ref.get("api_name") if isinstance(ref, dict) else ref
    if not isinstance(name, str) or name.split(".", 1)[0] not in known:
        return error(400, "INVALID_DATA", "the field api name given seems to be invalid",
                     {"api_name": str(name), "json_path": f"{path}.field"})
    if node.get("comparator") not in _COMPARATORS:
        return error(400, "FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED", "the comparator is not supported for "
                     "this field", {"api_name": name, "comparator": node.get("comparator"), "json_path": path})
    if "value" not in node:
        return error(400, "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "value", "json_path": path})
    return None


def _comparable(value: Any, dt: str) -> Any:
    if isinstance(value, dict):
        value = value.get("id")
    if value is None or value == "":
        return None
    if dt == "datetime":
        return parse_dt(str(value)) if not isinstance(value, datetime) else value
    if dt in ("integer", "double", "currency", "percent", "bigint"):
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if dt == "boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    return str(value)


def _matches(node: dict[str, Any], rec: dict[str, Any], layout: Any) -> bool:
    if "group" in node:
        results = (_matches(child, rec, layout) for child in node["group"])
        return all(results) if node["group_operator"] == "and" else any(results)
    ref = node["field"]
    name = str(ref.get("api_name") if isinstance(ref, dict) else ref)
    fd = layout.get(name.split(".", 1)[0]) if hasattr(layout, "get") else None
    dt = "datetime" if name in ("Modified_Time", "Created_Time") else (fd.data_type if fd is not None else "text")
    have = _comparable(rec.get("id") if name in ("id", "Id") else rec.get(name), dt)
    comparator, raw = node["comparator"], node["value"]
    wanted = [_comparable(v, dt) for v in raw] if isinstance(raw, list) else _comparable(raw, dt)
    if comparator == "equal":
        return have == wanted
    if comparator == "not_equal":
        return have != wanted
    if comparator in ("in", "not_in"):
        found = have in (wanted if isinstance(wanted, list) else [wanted])
        return found if comparator == "in" else not found
    if have is None:
        return False
    if comparator == "between":
        return isinstance(wanted, list) and len(wanted) == 2 and None not in wanted and wanted[0] <= have <= wanted[1]
    if comparator in ("contains", "not_contains", "starts_with", "ends_with"):
        text, part = str(have).lower(), str(wanted).lower()
        hit = {"contains": part in text, "not_contains": part not in text,
               "starts_with": text.startswith(part), "ends_with": text.endswith(part)}
        return hit[comparator]
    if wanted is None or isinstance(wanted, list):
        return False
    try:
        return {"greater_than": have > wanted, "greater_equal": have >= wanted,
                "less_than": have < wanted, "less_equal": have <= wanted}[comparator]
    except TypeError:
        return False


def count_records(store: ZohoStore, module: str) -> Response:
    """`GET /crm/v8/{module}/actions/count`: the number of records in the module."""
    with store.lock:
        return json_response(200, {"count": len(store.records[module])})
