"""Creates, updates, upserts and deletes with Salesforce's validation and per-record results.

One `Writer.write` call is one DML statement: every record is validated against a staged copy of the
org, and only then are the successes committed (or none of them, with ``allOrNone``). Problems in the
request itself (an unknown field, JSON that does not deserialize) raise `RequestError`, which the REST
layer answers with the top-level error array; everything else is a per-record error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from connector.sandbox.sf_permissions import permission_problem
from connector.sandbox.sf_records import Record, stage_facts
from connector.sandbox.sf_store import Store
from connector.sandbox.sf_values import ValueProblem, coerce, normalize_id

__all__ = ["RecordError", "RecordResult", "RequestError", "WriteOp", "Writer", "error_message"]

_MESSAGES = {
    "UNABLE_TO_LOCK_ROW": "unable to obtain exclusive access to this record or 1 records: {id}",
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": "Risk fields cannot change while the account is under credit review",
    "ENTITY_IS_DELETED": "entity is deleted",
    "INVALID_CROSS_REFERENCE_KEY": "invalid cross reference id",
    "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY": "AccountTrigger: execution of BeforeUpdate caused by: "
                                            "System.NullPointerException: Attempt to de-reference a null object",
    "DUPLICATES_DETECTED": "Use one of these records?",
    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY": "insufficient access rights on cross-reference id",
}
_ROLLED_BACK = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the request was using "
                           "AllOrNone header", "fields": []}


def error_message(code: str, ident: str = "") -> str:
    """The message Salesforce sends with a per-record error code."""
    return _MESSAGES.get(code, code.replace("_", " ").lower()).format(id=ident)


class RequestError(Exception):
    """The whole request is rejected: HTTP `status` with ``[{"message", "errorCode", "fields"?}]``."""

    def __init__(self, code: str, message: str, status: int = 400, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.fields = code, message, status, fields

    def body(self) -> list[dict[str, Any]]:
        entry: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            entry["fields"] = self.fields
        return [entry]


class RecordError(Exception):
    """One record fails; the others go on."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None,
                 matches: list[str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.fields = code, message, fields or []
        self.matches = matches  # external id matched several records (single-record upsert answers 300)

    def json(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


@dataclass
class RecordResult:
    id: str | None
    errors: list[dict[str, Any]] = field(default_factory=list)
    created: bool | None = None
    matches: list[str] | None = None

    @property
    def success(self) -> bool:
        return not self.errors

    def json(self, upsert: bool = False) -> dict[str, Any]:
        if not self.success:
            return {"success": False, "errors": self.errors}
        out: dict[str, Any] = {"id": self.id, "success": True, "errors": []}
        if upsert:
            out["created"] = bool(self.created)
        return out


@dataclass
class WriteOp:
    kind: Literal["create", "update", "upsert"]
    obj: str
    values: dict[str, Any]
    id: Any = None
    ext_field: str | None = None
    ext_value: Any = None


class Writer:
    """Applies DML to a `Store` as the API user, consulting the fault injector's per-record errors."""

    def __init__(self, store: Store, record_error: Callable[[str], str | None]) -> None:
        self.store = store
        self.record_error = record_error
        self._stamp = ""

    def write(self, ops: list[WriteOp], *, all_or_none: bool = False, csv: bool = False,
              user_id: str | None = None) -> list[RecordResult]:
        user = user_id or self.store.integration_user_id
        with self.store.lock:
            self._stamp = self.store.now()  # one DML statement, one transaction time for every record
            staged: dict[str, tuple[str, Record]] = {}
            results: list[RecordResult] = []
            for op in ops:
                try:
                    rid, rec, created = self._one(op, staged, csv, user)
                except RecordError as exc:
                    results.append(RecordResult(None, [exc.json()], matches=exc.matches))
                    continue
                staged[rid] = (op.obj, rec)
                results.append(RecordResult(rid, [], created))
            if all_or_none and any(not r.success for r in results):
                for r in results:
                    if r.success:
                        r.id, r.errors = None, [dict(_ROLLED_BACK)]
                return results
            for obj, rec in staged.values():
                self.store.put(obj, rec)
            return results

    def delete(self, ids: list[str], *, all_or_none: bool = False, obj: str | None = None) -> list[RecordResult]:
        """Delete records by id (to the recycle bin: `queryAll` still sees them)."""
        with self.store.lock:
            results: list[RecordResult] = []
            doomed: list[tuple[str, Record]] = []
            for raw in ids:
                try:
                    kind, rec = self._existing(obj, raw)
                    if not self.store.schemas[kind].skeleton.get("deletable", True):
                        raise RecordError("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id")
                    if code := self.record_error(rec["Id"]):
                        raise RecordError(code, error_message(code, rec["Id"]))
                except RecordError as exc:
                    results.append(RecordResult(None, [exc.json()]))
                    continue
                doomed.append((kind, rec))
                results.append(RecordResult(rec["Id"]))
            if all_or_none and any(not r.success for r in results):
                for r in results:
                    if r.success:
                        r.id, r.errors = None, [dict(_ROLLED_BACK)]
                return results
            stamp = self.store.now()
            for kind, rec in doomed:
                s = self.store.schemas[kind]
                if kind == "Topic":
                    for a in self.store.rows("TopicAssignment"):
                        if a["TopicId"] == rec["Id"]:
                            self.store.remove("TopicAssignment", a["Id"])
                if not s.skeleton.get("undeletable", True) or "IsDeleted" not in s.fields:
                    self.store.remove(kind, rec["Id"])  # no recycle bin for this object: gone for queryAll too
                    continue
                self.store.put(kind, {**rec, "IsDeleted": True, "SystemModstamp": stamp,
                                      **({"LastModifiedDate": stamp} if "LastModifiedDate" in rec else {})})
            return results

    # -- one record ----------------------------------------------------------------------------------
    def _existing(self, obj: str | None, raw: Any) -> tuple[str, Record]:
        ident = normalize_id(raw) if isinstance(raw, str) else None
        kind = self.store.object_of(ident) if ident else None
        if ident is None or kind is None or (obj is not None and kind != obj):
            raise RecordError("MALFORMED_ID", f"malformed id {raw}")
        rec = self.store.get(kind, ident)
        if rec is None:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", error_message("INVALID_CROSS_REFERENCE_KEY"))
        if rec.get("IsDeleted"):
            raise RecordError("ENTITY_IS_DELETED", error_message("ENTITY_IS_DELETED"))
        return kind, rec

    def _changes(self, op: WriteOp, csv: bool) -> dict[str, Any]:
        schema = self.store.schemas[op.obj]
        changes: dict[str, Any] = {}
        for raw_name, raw_value in op.values.items():
            spec = schema.field(raw_name)
            if spec is None:
                raise RequestError("INVALID_FIELD", f"No such column '{raw_name}' on sobject of type {op.obj}")
            if spec.name == "Id":
                if op.kind == "create":
                    raise RecordError("INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"])
                continue
            try:
                changes[spec.name] = coerce(spec, raw_value, csv=csv)
            except ValueProblem as exc:
                if exc.code != "JSON_PARSER_ERROR":
                    raise RecordError(exc.code, exc.message, [spec.name]) from None
                if not csv:
                    raise RequestError(exc.code, exc.message) from None
                raise RecordError("INVALID_FIELD", f"Failed to deserialize field. Due to, '{raw_value}' is not a "
                                  f"valid value for the type xsd:{spec.type}", [spec.name]) from None
        return changes

    def _target(self, op: WriteOp, staged: dict[str, tuple[str, Record]]) -> Record | None:
        if op.kind == "create":
            return None
        if op.kind == "update":
            if op.id in (None, ""):
                raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call")
            _, rec = self._existing(op.obj, op.id)
            return staged.get(rec["Id"], (op.obj, rec))[1]
        assert op.ext_field is not None
        if op.ext_field == "Id":  # upsert on Id: a blank Id inserts
            return None if op.ext_value in (None, "") else self._target(WriteOp("update", op.obj, {}, id=op.ext_value),
                                                                        staged)
        if op.ext_value in (None, ""):
            raise RecordError("MISSING_ARGUMENT", f"{op.ext_field} not specified")
        ids = self.store.matches(op.obj, op.ext_field, str(op.ext_value))
        ids |= {i for i, (o, r) in staged.items() if o == op.obj and _same(r.get(op.ext_field), op.ext_value)}
        if len(ids) > 1:
            raise RecordError("DUPLICATE_EXTERNAL_ID", f"{op.ext_field}: more than one record found for external "
                              f"id field: {sorted(ids)}", [op.ext_field], matches=sorted(ids))
        if not ids:
            return None
        ident = ids.pop()
        return staged.get(ident, (op.obj, self.store.tables[op.obj][ident]))[1]

    def _one(self, op: WriteOp, staged: dict[str, tuple[str, Record]], csv: bool,
             user: str) -> tuple[str, Record, bool]:
        schema = self.store.schemas[op.obj]
        changes = self._changes(op, csv)
        if op.kind == "upsert" and op.ext_field and op.ext_field != "Id":
            changes.setdefault(op.ext_field, op.ext_value)
        existing = self._target(op, staged)
        creating = existing is None
        if existing is not None and (code := self.record_error(existing["Id"])):
            raise RecordError(code, error_message(code, existing["Id"]))
        if op.ext_value is not None and (code := self.record_error(str(op.ext_value))):
            raise RecordError(code, error_message(code, str(op.ext_value)))
        if not creating and not schema.updateable:
            raise RecordError("INVALID_TYPE_FOR_OPERATION", f"entity type {op.obj} does not support update")
        denied = [n for n in changes if not (schema.fields[n].createable if creating else schema.fields[n].updateable)
                  and not (op.kind == "upsert" and n == op.ext_field)]
        if denied:
            raise RecordError("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: "
                              f"{', '.join(denied)}. Please check the security settings of this field and verify "
                              "that it is read/write for your profile or permission set.", denied)
        rec = self._defaults(op.obj, user) if creating else dict(existing or {})
        rec.update(changes)
        missing = [n for n, s in schema.fields.items()
                   if not s.nillable and (s.createable or s.updateable) and rec.get(n) is None
                   and (creating or n in changes)]
        if missing:
            raise RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
        self._check_references(op.obj, changes, staged)
        self._derive(op.obj, rec, changes)
        self._check_unique(op.obj, rec, staged)
        if (problem := permission_problem(self.store, op.obj, rec, staged)) is not None:
            raise RecordError(*problem)
        stamp = self._stamp
        for name, value in (("LastModifiedDate", stamp), ("SystemModstamp", stamp), ("LastModifiedById", user)):
            if name in schema.fields:
                rec[name] = value
        return rec["Id"], rec, creating

    def _defaults(self, obj: str, user: str) -> Record:
        schema = self.store.schemas[obj]
        rec: Record = {"Id": self.store.new_id(obj)}
        for name, spec in schema.fields.items():
            if spec.defaulted and spec.default is not None:
                rec[name] = spec.default
            elif spec.type == "boolean":
                rec[name] = False
        stamp = self._stamp
        for name, value in (("CreatedDate", stamp), ("CreatedById", user), ("OwnerId", user),
                            ("CurrencyIsoCode", "USD"), ("TaskSubtype", "Task"), ("IsDeleted", False)):
            if name in schema.fields:
                rec[name] = value
        return rec

    def _check_references(self, obj: str, changes: Record, staged: dict[str, tuple[str, Record]]) -> None:
        schema = self.store.schemas[obj]
        for name, value in changes.items():
            spec = schema.fields[name]
            if spec.type != "reference" or value is None or name == "OwnerId" and value.startswith("00G"):
                continue
            kind = self.store.object_of(value)
            if kind is None:
                if all(t in self.store.schemas for t in spec.reference_to):
                    raise RecordError("FIELD_INTEGRITY_EXCEPTION",
                                      f"{spec.label}: id value of incorrect type: {value}", [name])
                continue  # a Contact, Lead or Group: objects this sandbox does not keep
            if kind not in spec.reference_to:
                raise RecordError("FIELD_INTEGRITY_EXCEPTION", f"{spec.label}: id value of incorrect type: {value}",
                                  [name])
            target = staged.get(value, (kind, self.store.get(kind, value)))[1]
            if target is None or target.get("IsDeleted"):
                raise RecordError("INVALID_CROSS_REFERENCE_KEY", error_message("INVALID_CROSS_REFERENCE_KEY"), [name])

    def _derive(self, obj: str, rec: Record, changes: Record) -> None:
        if obj == "Task":
            rec["IsClosed"] = rec.get("Status") == "Completed"
            rec["IsHighPriority"] = rec.get("Priority") == "High"
            what = rec.get("WhatId") or ""
            parent = self.store.get("Opportunity", what) if what.startswith("006") else None
            rec["AccountId"] = what if what.startswith("001") else parent.get("AccountId") if parent else None
        elif obj == "Opportunity" and "StageName" in changes:
            probability, closed, won, category = stage_facts(rec["StageName"])
            rec.update({"IsClosed": closed, "IsWon": won, "ForecastCategoryName": category})
            if "Probability" not in changes:
                rec["Probability"] = probability
        elif obj == "User":
            rec["Name"] = f"{rec.get('FirstName') or ''} {rec.get('LastName') or ''}".strip()
        elif obj == "TopicAssignment":
            rec["EntityKeyPrefix"] = rec["EntityId"][:3]
            rec["EntityType"] = self.store.object_of(rec["EntityId"])

    def _check_unique(self, obj: str, rec: Record, staged: dict[str, tuple[str, Record]]) -> None:
        schema = self.store.schemas[obj]
        unique = [n for n, s in schema.fields.items() if s.unique] + (["Name"] if obj == "Topic" else [])
        for name in unique:
            value = rec.get(name)
            if not isinstance(value, str):
                continue
            others = {i for i in self.store.matches(obj, name, value) if i != rec["Id"] and i not in staged}
            others |= {i for i, (o, r) in staged.items() if o == obj and i != rec["Id"] and _same(r.get(name), value)}
            if others:
                other = sorted(others)[0]
                raise RecordError("DUPLICATE_VALUE", f"duplicate value found: {name} duplicates value on record "
                                  f"with id: {other}", [name])
        if obj == "TopicAssignment":
            pair = (rec["TopicId"], rec["EntityId"])
            clash = self.store.assignment(*pair)
            staged_clash = any(o == obj and i != rec["Id"] and (r["TopicId"], r["EntityId"]) == pair
                               for i, (o, r) in staged.items())
            if (clash and clash != rec["Id"]) or staged_clash:
                raise RecordError("DUPLICATE_VALUE", "duplicate value found: <unknown> duplicates value on record "
                                  "with id: <unknown>")


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, str) and a.casefold() == str(b).casefold()
