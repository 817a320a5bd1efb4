"""The sandbox's Tooling API: custom fields created with ``CustomField`` and found again with Tooling SOQL.

``POST tooling/sobjects/CustomField`` takes ``{"FullName": "Account.Risk_Score__c", "Metadata": {...}}`` as the
real API does, validates the Metadata by the Metadata API's rules for the field type, and adds the field to
the org: it is in ``sobjects/Account/describe`` at once and readable and writable in SOQL and DML. Custom
fields of tasks are created on ``Activity`` (``Activity.X__c``) and appear on Task, as in a real org.
``GET tooling/query?q=SELECT … FROM CustomField WHERE …`` lists every custom field of the org, those it
started with included; ``FullName`` and ``Metadata`` may be selected only for a single row.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from connector.sandbox.http import Request, Response, json_response
from connector.sandbox.sf_describe import FieldSpec, ObjectSchema
from connector.sandbox.sf_dml import RequestError
from connector.sandbox.sf_metadata import MetadataProblem, metadata_of, spec_from_metadata
from connector.sandbox.sf_store import Store
from connector.sandbox.sf_values import IdFactory, normalize_id
from connector.sandbox.soql import SoqlError, compile_query

__all__ = ["ToolingApi"]

_ONE_ROW_ONLY = ("When retrieving results with Metadata or FullName fields, the query qualificiations must "
                 "specify no more than one row for retrieval.")
_TABLE_OF = {"Task": "Activity"}  # activity custom fields belong to Activity, shared by Task and Event
_OBJECT_OF = {"activity": "Task"}


@dataclass
class _Field:
    """One custom field as the Tooling API knows it."""

    id: str
    obj: str
    spec: FieldSpec
    created: str
    created_by: str
    description: str | None = None

    @property
    def table(self) -> str:
        return _TABLE_OF.get(self.obj, self.obj)

    def row(self) -> dict[str, Any]:
        meta = metadata_of(self.spec, self.description)
        return {"Id": self.id, "DeveloperName": self.spec.name.removesuffix("__c"), "TableEnumOrId": self.table,
                "NamespacePrefix": None, "ManageableState": "unmanaged", "Description": self.description,
                "InlineHelpText": self.spec.help_text, "Length": self.spec.length or None,
                "Precision": self.spec.precision or None, "Scale": self.spec.scale if self.spec.precision else None,
                "FullName": f"{self.table}.{self.spec.name}", "Metadata": meta,
                "EntityDefinitionId": self.table, "CreatedDate": self.created, "CreatedById": self.created_by,
                "LastModifiedDate": self.created, "LastModifiedById": self.created_by}


def _tooling_schema() -> ObjectSchema:
    def f(name: str, type_: str, length: int = 0, **kw: Any) -> FieldSpec:
        return FieldSpec(name=name, type=type_, label=name, length=length, createable=False, updateable=False, **kw)

    specs = [f("Id", "id", 18, nillable=False), f("DeveloperName", "string", 40), f("TableEnumOrId", "string", 40),
             f("NamespacePrefix", "string", 15), f("ManageableState", "picklist", 40),
             f("Description", "textarea", 1000, filterable=False), f("InlineHelpText", "string", 510),
             f("Length", "int"), f("Precision", "int"), f("Scale", "int"), f("EntityDefinitionId", "string", 40),
             f("FullName", "string", 255, filterable=False, sortable=False),
             f("Metadata", "complexvalue", filterable=False, sortable=False),
             f("CreatedDate", "datetime"), f("CreatedById", "reference", 18), f("LastModifiedDate", "datetime"),
             f("LastModifiedById", "reference", 18)]
    return ObjectSchema("CustomField", "00N", "Custom Fields", {s.name: s for s in specs}, [], {})


_SCHEMAS = {"CustomField": _tooling_schema()}


class ToolingApi:
    """Routes ``/services/data/vXX.X/tooling/…`` for one sandbox org."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget created fields (the store's reset removed them) and number the org's own custom fields."""
        with self._lock:
            self._ids = IdFactory("00N", 3_000_000 + self.store.seed % 1000)
            epoch = min((u["CreatedDate"] for u in self.store.rows("User")), default="")
            admin = self.store.human_user_ids[0]
            self._fields: dict[str, _Field] = {}
            for obj, s in self.store.schemas.items():
                for spec in s.fields.values():
                    if spec.custom:
                        ident = self._ids()
                        self._fields[ident] = _Field(ident, obj, spec, epoch, admin)

    # -- routing -------------------------------------------------------------------------------------
    def handle(self, request: Request, version: str, parts: list[str], user: str) -> Response:
        head = parts[0].lower() if parts else ""
        if not parts and request.method == "GET":
            return json_response(200, {n: f"/services/data/v{version}/tooling/{n}"
                                       for n in ("sobjects", "query", "search", "executeAnonymous", "runTestsAsynchronous")})
        if head == "query" and request.method == "GET":
            return self._query(request, version)
        if head == "sobjects" and len(parts) >= 2 and parts[1].lower() == "customfield":
            if len(parts) == 2 and request.method == "POST":
                return self._create(request, version, user)
            if len(parts) == 3 and request.method == "GET":
                return self._get(parts[2], version)
            if len(parts) <= 3:
                allowed = "POST" if len(parts) == 2 else "GET"
                return _error(405, "METHOD_NOT_ALLOWED",
                              f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}")
        return _error(404, "NOT_FOUND", "The requested resource does not exist")

    # -- CustomField ---------------------------------------------------------------------------------
    def _create(self, request: Request, version: str, user: str) -> Response:
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise RequestError("JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None
        if not isinstance(body, dict):
            raise RequestError("JSON_PARSER_ERROR", "Cannot deserialize instance of CustomField from START_ARRAY value")
        full_name = body.get("FullName")
        metadata = body.get("Metadata")
        if not isinstance(full_name, str) or not full_name:
            return _error(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [FullName]", ["FullName"])
        if not isinstance(metadata, dict):
            return _error(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Metadata]", ["Metadata"])
        table, _, name = full_name.partition(".")
        obj = _OBJECT_OF.get(table.lower(), table)
        s = self.store.schema(obj)
        if s is None or not name or table.lower() == "task":
            where = "Activity" if table.lower() == "task" else table
            return _error(400, "FIELD_INTEGRITY_EXCEPTION",
                          f"Invalid fullName '{full_name}': no such object {where!r} for a custom field"
                          + (" (custom fields of tasks are created on Activity)" if where == "Activity" else ""),
                          ["FullName"])
        try:
            spec = spec_from_metadata(name, metadata)
        except MetadataProblem as exc:
            return _error(400, exc.code, exc.message, exc.fields)
        with self.store.lock:
            if (existing := s.field(name)) is not None:
                return _error(400, "DUPLICATE_DEVELOPER_NAME", f"There is already a field named "
                              f"{existing.name.removesuffix('__c')} on {_TABLE_OF.get(s.name, s.name)}.", ["FullName"])
            self.store.add_field(s.name, spec)
            stamp = self.store.now()
            with self._lock:
                ident = self._ids()
                description = metadata.get("description")
                self._fields[ident] = _Field(ident, s.name, spec, stamp, user,
                                             description if isinstance(description, str) else None)
        return json_response(201, {"id": ident, "success": True, "errors": [], "warnings": [], "infos": []})

    def _get(self, raw_id: str, version: str) -> Response:
        ident = normalize_id(raw_id)
        found = self._fields.get(ident or "")
        if found is None:
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        return json_response(200, {"attributes": _attributes(found.id, version), **found.row()})

    # -- Tooling SOQL --------------------------------------------------------------------------------
    def _query(self, request: Request, version: str) -> Response:
        soql = request.arg("q") or ""
        try:
            q = compile_query(soql, _SCHEMAS, lambda _ident: None)
        except SoqlError as exc:
            return _error(400, exc.code, exc.message)
        with self._lock:
            rows = [f.row() for f in self._fields.values()]
        rows = q.apply(rows)
        if q.count:
            return json_response(200, {"size": len(rows), "totalSize": len(rows), "done": True, "queryLocator": None,
                                       "entityTypeName": "CustomField", "records": []})
        if len(rows) > 1 and any(sel.spec.name in ("FullName", "Metadata") for sel in q.selected):
            return _error(400, "MALFORMED_QUERY", _ONE_ROW_ONLY)
        records = [{"attributes": _attributes(r["Id"], version), **{sel.spec.name: r.get(sel.spec.name)
                                                                     for sel in q.selected}} for r in rows]
        return json_response(200, {"size": len(records), "totalSize": len(records), "done": True,
                                   "queryLocator": None, "entityTypeName": "CustomField", "records": records})


def _attributes(ident: str, version: str) -> dict[str, str]:
    return {"type": "CustomField", "url": f"/services/data/v{version}/tooling/sobjects/CustomField/{ident}"}


def _error(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    entry: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        entry["fields"] = fields
    return json_response(status, [entry])

