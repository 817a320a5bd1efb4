"""The sandbox's REST data API: query/queryAll with cursors, describe, sObject rows and sObject Collections."""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from connector.sandbox.http import Request, Response, json_response
from connector.sandbox.sf_describe import ObjectSchema, global_payload
from connector.sandbox.sf_dml import RecordResult, RequestError, WriteOp, Writer
from connector.sandbox.sf_query import Compiled, Selected
from connector.sandbox.sf_records import Record
from connector.sandbox.sf_store import Store
from connector.sandbox.sf_values import IdFactory, normalize_id, parse_datetime
from connector.sandbox.soql import SoqlError, compile_query

__all__ = ["RestApi", "error", "not_found"]

_BATCH = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)
_MAX_COLLECTION = 200
_CURSORS_KEPT = 200


def error(status: int, code: str, message: str) -> Response:
    return json_response(status, [{"message": message, "errorCode": code}])


def not_found() -> Response:
    return json_response(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])


def _ext_not_found(name: str) -> Response:
    return json_response(404, [{"errorCode": "NOT_FOUND",
                                "message": f"Provided external ID field does not exist or is not accessible: {name}"}])


def _single_error(result: RecordResult) -> Response:
    err = result.errors[0]
    return json_response(400, [{"message": err["message"], "errorCode": err["statusCode"], "fields": err["fields"]}])


@dataclass
class _Cursor:
    query: Compiled
    rows: Sequence[Record]
    batch: int


class RestApi:
    """Routes ``/services/data/vXX.X/{query,queryAll,sobjects,composite}/…`` for one sandbox org."""

    def __init__(self, store: Store, writer: Writer) -> None:
        self.store, self.writer = store, writer
        self.schema_time = datetime.now(UTC).replace(microsecond=0)
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._cursor_ids = IdFactory("01g", 1)
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._cursors.clear()

    # -- rendering -----------------------------------------------------------------------------------
    def render(self, obj: str, rec: Record, selected: list[Selected] | None, version: str) -> dict[str, Any]:
        """A record as the API sends it: ``attributes`` first, then the fields in the order asked."""
        out: dict[str, Any] = {"attributes": _attributes(obj, rec["Id"], version)}
        if selected is None:
            for name in self.store.schemas[obj].fields:
                out[name] = rec.get(name)
            return out
        for sel in selected:
            if sel.via is None:
                out[sel.spec.name] = rec.get(sel.spec.name)
                continue
            assert sel.relationship is not None
            parent_id = rec.get(sel.via.name)
            parent = self.store.lookup(parent_id)
            if parent is None:
                out.setdefault(sel.relationship, None)
                continue
            nested = out.get(sel.relationship)
            if nested is None:
                kind = self.store.object_of(parent["Id"])
                nested = {"attributes": _attributes(str(kind), parent["Id"], version)}
                out[sel.relationship] = nested
            nested[sel.spec.name] = parent.get(sel.spec.name)
        return out

    # -- query ---------------------------------------------------------------------------------------
    def query(self, request: Request, version: str, include_deleted: bool, locator: str | None) -> Response:
        asked = self._batch_size(request)
        if locator:
            cursor_id, _, offset_text = locator.rpartition("-")
            with self._lock:
                cursor = self._cursors.get(cursor_id)
                if cursor is not None:
                    self._cursors.move_to_end(cursor_id)
            if cursor is None or not offset_text.isdigit():
                return error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            return self._page(cursor_id, cursor, int(offset_text), version, asked or cursor.batch)
        soql = request.arg("q") or ""
        try:
            q = compile_query(soql, self.store.schemas, self.store.lookup)
        except SoqlError as exc:
            return error(400, exc.code, exc.message)
        rows: Sequence[Record]
        if q.candidate_ids is not None:
            found = (self.store.get(q.sobject, i) for i in dict.fromkeys(q.candidate_ids))
            rows = q.apply(sorted((r for r in found if r is not None and (include_deleted or not r.get("IsDeleted"))),
                                  key=lambda r: r["Id"]))  # the same (id) order a scan gives
        else:
            rows = self.store.select(q, deleted=include_deleted)
        if q.count:
            if q.count_field is None:
                return json_response(200, {"totalSize": len(rows), "done": True, "records": []})
            n = sum(1 for r in rows if r.get(q.count_field) is not None)
            return json_response(200, {"totalSize": 1, "done": True, "records": [
                {"attributes": {"type": "AggregateResult"}, "expr0": n}]})
        batch = asked or 2000
        if sum(1 for s in q.selected if s.spec.long_text and s.spec.custom) >= 2:
            batch = min(batch, 200)  # Salesforce caps pages with two or more custom long text fields
        cursor = _Cursor(q, rows, batch)
        cursor_id = ""
        if len(rows) > batch:
            with self._lock:
                cursor_id = self._cursor_ids()
                self._cursors[cursor_id] = cursor
                while len(self._cursors) > _CURSORS_KEPT:
                    self._cursors.popitem(last=False)
        return self._page(cursor_id, cursor, 0, version, batch)

    def _page(self, cursor_id: str, cursor: _Cursor, offset: int, version: str, batch: int) -> Response:
        q = cursor.query
        chunk = cursor.rows[offset:offset + batch]
        end = offset + len(chunk)
        body: dict[str, Any] = {"totalSize": len(cursor.rows), "done": end >= len(cursor.rows)}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{cursor_id}-{end}"
        body["records"] = [self.render(q.sobject, r, q.selected, version) for r in chunk]
        return json_response(200, body)

    @staticmethod
    def _batch_size(request: Request) -> int | None:
        """``Sforce-Query-Options: batchSize=N``, held to Salesforce's 200..2000."""
        m = _BATCH.search(request.header("sforce-query-options") or "")
        return None if m is None else max(200, min(2000, int(m.group(1))))

    # -- describe ------------------------------------------------------------------------------------
    def _not_modified(self, request: Request) -> bool:
        since = request.header("if-modified-since")
        if not since:
            return False
        changed = max(self.schema_time, self.store.schema_changed or self.schema_time)
        try:
            return parsedate_to_datetime(since) >= changed
        except (TypeError, ValueError):
            return False

    def describe(self, request: Request, version: str, instance: str, obj: str | None) -> Response:
        if self._not_modified(request):
            return Response(304)
        schemas = self.store.schemas
        payload = global_payload(version, instance, schemas) if obj is None else schemas[obj].payload(version, instance)
        return Response(200, payload, {"Content-Type": "application/json;charset=UTF-8"})

    def sobject_info(self, s: ObjectSchema, version: str, instance: str) -> Response:
        entries = json.loads(global_payload(version, instance, self.store.schemas))["sobjects"]
        entry = next(e for e in entries if e["name"] == s.name)
        return json_response(200, {"objectDescribe": entry, "recentItems": []})

    # -- sObject rows ------------------------------------------------------------------------------------
    def sobjects(self, request: Request, version: str, instance: str, parts: list[str], user: str) -> Response:
        if not parts:
            return self.describe(request, version, instance, None) if request.method == "GET" else _method(request)
        s = self.store.schema(parts[0])
        if s is None:
            return not_found()
        obj, method, rest = s.name, request.method, parts[1:]
        if not rest:
            if method == "GET":
                return self.sobject_info(s, version, instance)
            if method != "POST":
                return _method(request)
            body = _json_object(request)
            result = self.writer.write([WriteOp("create", obj, body)], user_id=user)[0]
            return json_response(201, result.json()) if result.success else _single_error(result)
        if rest[0].lower() == "describe" and len(rest) == 1:
            return self.describe(request, version, instance, obj) if method == "GET" else _method(request)
        if rest[0].lower() in ("updated", "deleted") and len(rest) == 1 and method == "GET":
            return self._replication(request, obj, rest[0].lower() == "deleted")
        if len(rest) == 1:
            return self._row(request, s, rest[0], version, user)
        if len(rest) == 2:
            return self._by_external_id(request, s, rest[0], rest[1], version, user)
        return not_found()

    def _row(self, request: Request, s: ObjectSchema, raw_id: str, version: str, user: str) -> Response:
        ident = normalize_id(raw_id)
        rec = self.store.get(s.name, ident) if ident and ident.startswith(s.prefix) else None
        if ident is None or not ident.startswith(s.prefix):
            return _ext_not_found(raw_id)
        if rec is None or rec.get("IsDeleted"):
            return not_found() if request.method == "GET" or rec is None else \
                error(404, "ENTITY_IS_DELETED", "entity is deleted")
        if request.method == "GET":
            return self._get(request, s, rec, version)
        if request.method == "PATCH":
            result = self.writer.write([WriteOp("update", s.name, _json_object(request), id=ident)], user_id=user)[0]
            return Response(204) if result.success else _single_error(result)
        if request.method == "DELETE":
            result = self.writer.delete([ident], obj=s.name)[0]
            return Response(204) if result.success else _single_error(result)
        return _method(request)

    def _get(self, request: Request, s: ObjectSchema, rec: Record, version: str) -> Response:
        wanted = [f.strip() for f in (request.arg("fields") or "").split(",") if f.strip()]
        selected = None
        if wanted:
            selected = []
            for name in wanted:
                spec = s.field(name)
                if spec is None:
                    return error(400, "INVALID_FIELD", f"No such column '{name}' on entity '{s.name}'. If you are "
                                 "attempting to use a custom field, be sure to append the '__c' after the custom "
                                 "field name. Please reference your WSDL or the describe call for the appropriate "
                                 "names.")
                selected.append(Selected(spec))
        return json_response(200, self.render(s.name, rec, selected, version))

    def _by_external_id(self, request: Request, s: ObjectSchema, field_name: str, value: str, version: str,
                        user: str) -> Response:
        spec = s.field(field_name)
        if spec is None or not (spec.external_id or spec.id_lookup):
            return _ext_not_found(field_name)
        if request.method == "GET":
            ids = sorted(self.store.matches(s.name, spec.name, value)) if spec.name != "Id" else [value]
            recs = [r for r in (self.store.get(s.name, i) for i in ids) if r is not None and not r.get("IsDeleted")]
            if len(recs) > 1:
                return json_response(300, [f"/services/data/v{version}/sobjects/{s.name}/{r['Id']}" for r in recs])
            return self._get(request, s, recs[0], version) if recs else not_found()
        if request.method != "PATCH":
            return _method(request)
        op = WriteOp("upsert", s.name, _json_object(request), ext_field=spec.name, ext_value=value)
        result = self.writer.write([op], user_id=user)[0]
        if result.matches:
            return json_response(300, [f"/services/data/v{version}/sobjects/{s.name}/{i}" for i in result.matches])
        if not result.success:
            return _single_error(result)
        return json_response(201 if result.created else 200, result.json(upsert=True))

    def _replication(self, request: Request, obj: str, deleted: bool) -> Response:
        start, end = parse_datetime(request.arg("start") or ""), parse_datetime(request.arg("end") or "")
        if start is None or end is None:
            return error(400, "INVALID_REPLICATION_DATE", "start and end must be valid dateTime values")
        lo, hi = start.strftime("%Y-%m-%dT%H:%M:%S"), end.strftime("%Y-%m-%dT%H:%M:%S")
        rows = [r for r in self.store.scan(obj, deleted=True) if lo <= r["SystemModstamp"][:19] <= hi
                and bool(r.get("IsDeleted")) == deleted]
        latest = end.strftime("%Y-%m-%dT%H:%M:00.000+0000")
        if deleted:
            return json_response(200, {"deletedRecords": [{"id": r["Id"], "deletedDate": r["SystemModstamp"]}
                                                          for r in rows],
                                       "earliestDateAvailable": start.strftime("%Y-%m-%dT%H:%M:00.000+0000"),
                                       "latestDateCovered": latest})
        return json_response(200, {"ids": [r["Id"] for r in rows], "latestDateCovered": latest})

    # -- sObject Collections -------------------------------------------------------------------------------
    def collections(self, request: Request, version: str, parts: list[str], user: str) -> Response:
        method = request.method
        if method == "DELETE" and not parts:
            ids = [i for i in (request.arg("ids") or "").split(",") if i]
            if len(ids) > _MAX_COLLECTION:
                return _too_many()
            all_or_none = (request.arg("allOrNone") or "false").lower() == "true"
            return json_response(200, [r.json() for r in self.writer.delete(ids, all_or_none=all_or_none)])
        if method == "GET" and len(parts) == 1:
            s = self.store.schema(parts[0])
            if s is None:
                return not_found()
            fields = [f for f in (request.arg("fields") or "Id").split(",") if f]
            selected = [Selected(spec) for f in fields if (spec := s.field(f)) is not None]
            if len(selected) != len(fields):
                return error(400, "INVALID_FIELD", f"No such column on entity '{s.name}'")
            out = []
            for raw in (request.arg("ids") or "").split(","):
                rec = self.store.get(s.name, raw) if raw else None
                out.append(None if rec is None or rec.get("IsDeleted") else self.render(s.name, rec, selected, version))
            return json_response(200, out)
        body = _json_object(request)
        records = body.get("records")
        if not isinstance(records, list):
            raise RequestError("JSON_PARSER_ERROR", "Cannot deserialize instance of sObject list: records missing")
        if len(records) > _MAX_COLLECTION:
            return _too_many()
        all_or_none = bool(body.get("allOrNone", False))
        ext: tuple[ObjectSchema, str] | None = None
        if method == "PATCH" and len(parts) == 2:
            s = self.store.schema(parts[0])
            spec = s.field(parts[1]) if s else None
            if s is None or spec is None or not (spec.external_id or spec.id_lookup):
                return _ext_not_found(parts[1])
            ext = (s, spec.name)
        elif parts or method not in ("POST", "PATCH"):
            return _method(request) if not parts else not_found()
        ops = [self._collection_op(method, rec, ext) for rec in records]
        results = self.writer.write(ops, all_or_none=all_or_none, user_id=user)
        return json_response(200, [r.json(upsert=ext is not None) for r in results])

    def _collection_op(self, method: str, rec: Any, ext: tuple[ObjectSchema, str] | None) -> WriteOp:
        if not isinstance(rec, dict):
            raise RequestError("JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from a non-object value")
        attrs = rec.get("attributes") or {}
        type_name = attrs.get("type") if isinstance(attrs, dict) else None
        s = self.store.schema(type_name) if isinstance(type_name, str) else None
        if s is None:
            raise RequestError("INVALID_TYPE", "Must send a concrete entity type." if not type_name else
                               f"sObject type '{type_name}' is not supported.")
        values = {k: v for k, v in rec.items() if k != "attributes" and k.lower() != "id"}
        ident = next((v for k, v in rec.items() if k.lower() == "id"), None)
        if ext is not None:
            s_ext, name = ext
            value = next((v for k, v in rec.items() if k.lower() == name.lower()), None)
            if name == "Id":
                value = ident
            return WriteOp("upsert", s_ext.name, values, ext_field=name, ext_value=value)
        if method == "POST":
            if ident is not None:
                values["Id"] = ident  # rejected per record below as a non-createable field
            return WriteOp("create", s.name, values)
        return WriteOp("update", s.name, values, id=ident)


def _attributes(obj: str, ident: str, version: str) -> dict[str, str]:
    return {"type": obj, "url": f"/services/data/v{version}/sobjects/{obj}/{ident}"}


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError("JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise RequestError("JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from START_ARRAY value")
    return body


def _too_many() -> Response:
    return error(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")


def _method(request: Request) -> Response:
    return error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed. Allowed are GET,PATCH,DELETE")
