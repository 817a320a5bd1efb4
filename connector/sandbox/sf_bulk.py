"""Bulk API 2.0 for the sandbox: ingest jobs (CSV in, per-row result CSVs out) and query jobs.

Ingest jobs run synchronously when they are closed, so the first poll already sees ``JobComplete``;
result CSVs come back in shuffled order, as Salesforce does not keep upload order. A query job runs its
SOQL when it is created, but reports ``UploadComplete``, then ``InProgress`` on its first poll and
``JobComplete`` from the second, as a real org takes a moment: clients must poll, and can abort it
before it completes. Results are CSV pages of ``maxRecords`` rows, with a header row on every page, nulls
as empty cells, and the next page's ``Sforce-Locator`` (``null`` after the last).
"""

from __future__ import annotations

import base64
import csv
import io
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from connector.sandbox.http import Request, Response, json_response
from connector.sandbox.sf_dml import RecordResult, RequestError, WriteOp, Writer
from connector.sandbox.sf_query import Compiled
from connector.sandbox.sf_records import Record
from connector.sandbox.sf_store import Store
from connector.sandbox.sf_values import IdFactory
from connector.sandbox.soql import SoqlError, compile_query

__all__ = ["BulkApi"]

_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
_INGEST_OPS = ("insert", "update", "upsert", "delete", "hardDelete")
_RESULTS = {"successfulresults": "success", "failedresults": "failed", "unprocessedrecords": "unprocessed"}
_JOBS_KEPT = 1000


def _job_error(status: int, message: str, code: str = "INVALIDJOB") -> Response:
    return json_response(status, [{"errorCode": code, "message": message}])


@dataclass
class _Job:
    info: dict[str, Any]
    query: Compiled | None = None
    rows: Sequence[Record] = field(default_factory=list)
    data: bytes | None = None
    header: list[str] = field(default_factory=list)
    results: dict[str, list[list[str]]] = field(default_factory=dict)
    polls: int = 0

    @property
    def delimiter(self) -> str:
        return _DELIMITERS.get(str(self.info.get("columnDelimiter", "COMMA")), ",")

    @property
    def line_ending(self) -> str:
        return "\r\n" if self.info.get("lineEnding") == "CRLF" else "\n"

    def csv_text(self, header: list[str], rows: list[list[str]]) -> bytes:
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=self.delimiter, lineterminator=self.line_ending, quoting=csv.QUOTE_ALL)
        writer.writerow(header)
        writer.writerows(rows)
        return buf.getvalue().encode("utf-8")


class BulkApi:
    """Routes ``/services/data/vXX.X/jobs/{ingest,query}/…``."""

    def __init__(self, store: Store, writer: Writer, seed: int) -> None:
        self.store, self.writer, self.seed = store, writer, seed
        self._jobs: dict[str, _Job] = {}
        self._ids = IdFactory("750", 1 + seed % 1000 * 1000)
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._jobs.clear()

    def handle(self, request: Request, version: str, parts: list[str], user: str) -> Response:
        if not parts or parts[0].lower() not in ("ingest", "query"):
            return _job_error(404, "The requested resource does not exist", "NOT_FOUND")
        kind, method = parts[0].lower(), request.method
        if len(parts) == 1:
            if method == "POST":
                return self._create(request, kind, version, user)
            if method == "GET":
                infos = [j.info for j in list(self._jobs.values()) if j.info["jobType"].endswith(kind.title())]
                return json_response(200, {"done": True, "records": infos, "nextRecordsUrl": None})
            return _job_error(405, f"HTTP Method '{method}' not allowed", "METHOD_NOT_ALLOWED")
        job = self._jobs.get(parts[1])
        if job is None or not job.info["jobType"].endswith(kind.title()):
            return _job_error(404, "The requested resource does not exist", "NOT_FOUND")
        tail = parts[2].lower() if len(parts) > 2 else ""
        if not tail:
            if method == "GET":
                if job.query is not None:
                    self._progress(job)
                return json_response(200, job.info)
            if method == "PATCH":
                return self._set_state(request, job)
            if method == "DELETE":
                with self._lock:
                    self._jobs.pop(job.info["id"], None)
                return Response(204)
        elif kind == "ingest" and tail == "batches" and method == "PUT":
            if job.info["state"] != "Open" or job.data is not None:
                return _job_error(400, "Found multiple contents for job. Please create a new job to upload data.")
            job.data = request.body
            return Response(201)
        elif kind == "ingest" and tail in _RESULTS and method == "GET":
            which = _RESULTS[tail]
            header = job.header if which == "unprocessed" else \
                (["sf__Id", "sf__Created"] if which == "success" else ["sf__Id", "sf__Error"]) + job.header
            return Response(200, job.csv_text(header, job.results.get(which, [])), {"Content-Type": "text/csv"})
        elif kind == "query" and tail == "results" and method == "GET":
            return self._query_results(request, job)
        return _job_error(404, "The requested resource does not exist", "NOT_FOUND")

    # -- jobs ----------------------------------------------------------------------------------------
    def _create(self, request: Request, kind: str, version: str, user: str) -> Response:
        try:
            body = request.json() or {}
        except ValueError:
            return _job_error(400, "Invalid JSON", "JSON_PARSER_ERROR")
        operation = body.get("operation")
        stamp = self.store.now()
        with self._lock:
            job_id = self._ids()
        info: dict[str, Any] = {"id": job_id, "operation": operation, "object": body.get("object"),
                                "createdById": user, "createdDate": stamp, "systemModstamp": stamp,
                                "state": "Open", "concurrencyMode": "Parallel", "contentType": "CSV",
                                "apiVersion": float(version), "lineEnding": body.get("lineEnding", "LF"),
                                "columnDelimiter": body.get("columnDelimiter", "COMMA")}
        if body.get("columnDelimiter", "COMMA") not in _DELIMITERS or info["lineEnding"] not in ("LF", "CRLF"):
            return _job_error(400, "Invalid columnDelimiter or lineEnding")
        job = _Job(info)
        if kind == "query":
            if operation not in ("query", "queryAll"):
                return _job_error(400, f"Invalid operation: {operation}")
            try:
                q = compile_query(str(body.get("query") or ""), self.store.schemas, self.store.lookup)
            except SoqlError as exc:
                return _job_error(400, exc.message, exc.code)
            if q.count:
                return _job_error(400, "Aggregate Relationships not supported in Bulk Query with CSV content type")
            job.query = q
            job.rows = self.store.select(q, deleted=operation == "queryAll")
            info.update({"object": q.sobject, "state": "UploadComplete", "jobType": "V2Query"})
            response = dict(info)
        else:
            s = self.store.schema(str(body.get("object") or ""))
            if s is None:
                return _job_error(400, f"sObject type '{body.get('object')}' is not supported", "NOT_FOUND")
            if operation not in _INGEST_OPS:
                return _job_error(400, f"Invalid operation: {operation}")
            ext_name = body.get("externalIdFieldName")
            if operation == "upsert":
                spec = s.field(str(ext_name or ""))
                if spec is None or not (spec.external_id or spec.id_lookup):
                    return _job_error(400, f"The field {ext_name} is not an External ID field on {s.name}")
                info["externalIdFieldName"] = spec.name
            info.update({"object": s.name, "jobType": "V2Ingest",
                         "contentUrl": f"services/data/v{version}/jobs/ingest/{job_id}/batches"})
            response = dict(info)
        with self._lock:
            self._jobs[job_id] = job
            while len(self._jobs) > _JOBS_KEPT:
                self._jobs.pop(next(iter(self._jobs)))
        return json_response(200, response)

    def _set_state(self, request: Request, job: _Job) -> Response:
        try:
            state = (request.json() or {}).get("state")
        except ValueError:
            return _job_error(400, "Invalid JSON", "JSON_PARSER_ERROR")
        current = job.info["state"]
        if state == "Aborted" and current in ("Open", "UploadComplete", "InProgress"):
            job.info["state"] = "Aborted"
        elif state == "UploadComplete" and current == "Open" and job.info["jobType"] == "V2Ingest":
            if job.data is None:
                job.info.update({"state": "Failed", "errorMessage": "No batches were found for this job"})
            else:
                job.info["state"] = "UploadComplete"
                response = json_response(200, dict(job.info))
                self._process(job)
                return response
        else:
            return _job_error(400, f"Invalid state transition from {current} to {state}", "INVALIDJOB")
        job.info["systemModstamp"] = self.store.now()
        return json_response(200, job.info)

    def _progress(self, job: _Job) -> None:
        """A query job polled: ``InProgress`` the first time, ``JobComplete`` after (unless aborted)."""
        with self._lock:
            job.polls += 1
            if job.info["state"] not in ("UploadComplete", "InProgress"):
                return
            if job.polls == 1:
                job.info.update({"state": "InProgress", "systemModstamp": self.store.now()})
            else:
                job.info.update({"state": "JobComplete", "numberRecordsProcessed": len(job.rows), "retries": 0,
                                 "totalProcessingTime": 25 + len(job.rows) // 400, "systemModstamp": self.store.now()})

    def _process(self, job: _Job) -> None:
        text = (job.data or b"").decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=job.delimiter))
        job.header = rows[0] if rows else []
        body = [r for r in rows[1:] if r]  # csv yields [] only for a blank line; a row of empty cells is a record
        s = self.store.schemas[job.info["object"]]
        operation = job.info["operation"]
        unknown = [h for h in job.header if s.field(h) is None]
        if unknown or not job.header or (operation in ("delete", "hardDelete") and
                                         [h.lower() for h in job.header] != ["id"]):
            message = (f"InvalidBatch : Field name not found : {unknown[0]}" if unknown else
                       "InvalidBatch : The 'delete' batch must contain only the Id field")
            job.results = {"unprocessed": body}
            job.info.update({"state": "Failed", "errorMessage": message, "numberRecordsProcessed": 0,
                             "numberRecordsFailed": 0, "retries": 0, "totalProcessingTime": 10,
                             "apiActiveProcessingTime": 0, "apexProcessingTime": 0})
            return
        cols = [s.field(h).name for h in job.header]  # type: ignore[union-attr]
        cells = [dict(zip(cols, r, strict=False)) for r in body]
        if operation in ("delete", "hardDelete"):
            results = self.writer.delete([c.get("Id", "") for c in cells], obj=s.name)
        else:
            ops = [self._op(operation, s.name, c, job.info.get("externalIdFieldName")) for c in cells]
            try:
                results = self.writer.write(ops, csv=True, user_id=job.info["createdById"])
            except RequestError as exc:  # cannot happen for CSV input, but never crash a job
                results = [RecordResult(None, [{"statusCode": exc.code, "message": exc.message, "fields": []}])
                           for _ in ops]
        success, failed = [], []
        for raw, cell, result in zip(body, cells, results, strict=True):
            if result.success:
                success.append([result.id or "", "true" if result.created else "false", *raw])
            else:
                err = result.errors[0]
                where = ",".join(err["fields"])
                failed.append([cell.get("Id", ""), f"{err['statusCode']}:{err['message']}:{where} --"
                               if where else f"{err['statusCode']}:{err['message']}:--", *raw])
        rng = random.Random(f"{self.seed}-{job.info['id']}")
        rng.shuffle(success)
        rng.shuffle(failed)
        job.results = {"success": success, "failed": failed, "unprocessed": []}
        job.info.update({"state": "JobComplete", "numberRecordsProcessed": len(body),
                         "numberRecordsFailed": len(failed), "retries": 0, "totalProcessingTime": 40 + len(body) // 20,
                         "apiActiveProcessingTime": 30 + len(body) // 25, "apexProcessingTime": 0,
                         "systemModstamp": self.store.now()})

    @staticmethod
    def _op(operation: str, obj: str, cell: dict[str, str], ext_field: str | None) -> WriteOp:
        values = {k: v for k, v in cell.items() if v != "" and k != "Id"}  # an empty cell leaves the field alone
        if operation == "insert":
            return WriteOp("create", obj, values)
        if operation == "update":
            return WriteOp("update", obj, values, id=cell.get("Id"))
        assert ext_field is not None
        return WriteOp("upsert", obj, values, ext_field=ext_field,
                       ext_value=cell.get(ext_field) or None)

    # -- query results -------------------------------------------------------------------------------
    def _query_results(self, request: Request, job: _Job) -> Response:
        q = job.query
        assert q is not None
        if job.info["state"] != "JobComplete":
            return _job_error(400, f"Job {job.info['id']} is not complete: its state is {job.info['state']}",
                              "INVALIDJOBSTATE")
        locator = request.arg("locator") or ""
        try:
            offset = int(base64.b64decode(locator).decode()) if locator and locator != "null" else 0
        except ValueError:
            return _job_error(400, f"Invalid locator: {locator}", "INVALIDLOCATOR")
        try:
            size = int(request.arg("maxRecords") or 0) or max(1, len(job.rows))
            if size < 1:
                raise ValueError(size)
        except ValueError:
            return _job_error(400, "maxRecords must be a positive integer", "INVALIDQUERYPARAMETER")
        chunk = job.rows[offset:offset + size]
        end = offset + len(chunk)
        header = [f"{s.relationship}.{s.spec.name}" if s.relationship else s.spec.name for s in q.selected]
        rows = [[_cell(self._value(r, s)) for s in q.selected] for r in chunk]
        next_locator = base64.b64encode(str(end).encode()).decode() if end < len(job.rows) else "null"
        return Response(200, job.csv_text(header, rows), {"Content-Type": "text/csv",
                                                           "Sforce-Locator": next_locator,
                                                           "Sforce-NumberOfRecords": str(len(chunk))})

    def _value(self, rec: Record, sel: Any) -> Any:
        if sel.via is None:
            return rec.get(sel.spec.name)
        parent = self.store.lookup(rec.get(sel.via.name))
        return None if parent is None else parent.get(sel.spec.name)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value)
    if len(text) == 28 and text.endswith("+0000") and text[10] == "T":
        return text[:-5] + "Z"  # Bulk CSV writes datetimes with Z
    return text
