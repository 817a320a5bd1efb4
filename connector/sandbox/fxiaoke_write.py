"""`data/get`, `data/update`, `data/create` and `data/invalid` for the Fxiaoke sandbox.

Wire facts (docs/crm-fxiaoke.md §7): one record per update, `_id` and `dataObjectApiName` inside
`object_data`, only the fields sent change, `owner` cannot change here (changeOwner does that), and
`triggerWorkFlow` / `triggerApprovalFlow` default to true (the sandbox records what each write asked
for). Create answers a top-level `dataId` and is not idempotent: the same body twice makes two
records, as a C# author saw duplicate accounts accepted. Errors are envelopes without traceId here;
the app adds it. Codes the docs do not publish for these cases are plausible picks, marked below.
"""

from __future__ import annotations

from typing import Any

from connector.sandbox.fxiaoke_fields import FieldDef, FieldProblem, coerce
from connector.sandbox.fxiaoke_store import FxiaokeStore

__all__ = ["NO_DATA_PERMISSION", "NOT_FOUND", "RECORD_LOCKED", "change_owner", "create_record", "get_record", "invalidate_record", "update_record"]

NOT_FOUND = 201112008  # undocumented: the sandbox's pick for "数据不存在或已作废"
RECORD_LOCKED = 201112010  # undocumented: the sandbox's pick for "数据已锁定"
_FAULT_CODES = {"RECORD_LOCKED": RECORD_LOCKED, "LOCKED": RECORD_LOCKED, "NO_PERMISSION": 20014,
                "NOT_FOUND": NOT_FOUND}


NO_DATA_PERMISSION = {"errorCode": 20014, "errorMessage": "无此操作的数据权限",
                      "errorDescription": "the operator has no permission on this record"}


def _bad(message: str) -> dict[str, Any]:
    return {"errorCode": 10006, "errorMessage": message, "errorDescription": "缺少参数或参数不合法"}


def _missing(obj: str, rid: str) -> dict[str, Any]:
    return {"errorCode": NOT_FOUND, "errorMessage": f"数据不存在或已作废 ({obj} {rid})",
            "errorDescription": "data not found"}


def _denied(rec: dict[str, Any], user: str, admins: frozenset[str]) -> bool:
    """A non-admin operator may touch only the records it owns."""
    return user not in admins and "owner" in rec and user not in rec["owner"]


def get_record(store: FxiaokeStore, obj: str, data: dict[str, Any], user: str = "",
               admins: frozenset[str] = frozenset({""})) -> dict[str, Any]:
    rid = data.get("objectDataId")
    if not isinstance(rid, str) or not rid:
        return _bad("the parameter objectDataId is missing or illegal")
    with store.lock:
        rec = store.records[obj].get(rid)
        if rec is None or rec.get("is_deleted"):
            return _missing(obj, rid)
        if _denied(rec, user, admins):
            return dict(NO_DATA_PERMISSION)
        return {"errorCode": 0, "errorMessage": "OK", "errorDescription": "success", "data": dict(rec)}


def _fault(record_error: Any, rid: str) -> dict[str, Any] | None:
    code = record_error(rid)
    if not code:
        return None
    number = int(code) if str(code).lstrip("-").isdigit() else _FAULT_CODES.get(str(code), 10006)
    return {"errorCode": number, "errorMessage": f"record {rid}: {code}", "errorDescription": str(code)}


def _changes(store: FxiaokeStore, obj: str, item: dict[str, Any], creating: bool) -> dict[str, Any]:
    """The item's field values in stored form; raises FieldProblem naming every bad field."""
    layout = store.schema.fields[obj]
    problems: list[str] = []
    out: dict[str, Any] = {}
    for key, value in item.items():
        if key in ("_id", "dataObjectApiName", "object_describe_api_name") or key.endswith("__r"):
            continue
        fd = layout.get(key)
        if fd is None:
            problems.append(f"字段 {key} 不存在 (no field {key} on {obj})")
            continue
        if fd.read_only:
            continue  # system fields are output-only, as on the real service
        if key == "owner" and not creating:
            problems.append("负责人不能通过编辑接口修改，请使用 changeOwner (owner cannot change in update)")
            continue
        try:
            out[key] = coerce(fd, value, _known(store, fd))
        except FieldProblem as exc:
            problems.append(str(exc))
    if creating:
        for fd in layout.values():
            if fd.required and not fd.read_only and fd.api_name != "owner" and out.get(fd.api_name) is None:
                problems.append(f"必填字段 {fd.api_name} ({fd.label}) 为空")
    if problems:
        raise FieldProblem("; ".join(problems))
    return out


def _known(store: FxiaokeStore, fd: FieldDef) -> frozenset[str] | None:
    if fd.type == "employee":
        return frozenset(e.id for e in store.employees)
    if fd.type == "object_reference" and fd.target in store.records:
        return frozenset(store.records[fd.target])
    return None


def update_record(store: FxiaokeStore, obj: str, data: dict[str, Any], user: str, triggers: dict[str, bool],
                  record_error: Any, admins: frozenset[str] | None = None) -> dict[str, Any]:
    item = data.get("object_data")
    if not isinstance(item, dict):
        return _bad("the parameter object_data is missing or illegal")
    rid = item.get("_id")
    if not isinstance(rid, str) or not rid:  # the real gateway answers a NullPointerException here
        return {"errorCode": -1, "errorMessage": "java.lang.NullPointerException", "errorDescription": "系统错误"}
    with store.lock:
        rec = store.records[obj].get(rid)
        if rec is None or rec.get("is_deleted"):
            return _missing(obj, rid)
        if admins is not None and _denied(rec, user, admins):
            return dict(NO_DATA_PERMISSION)
        fault = _fault(record_error, rid)
        if fault:
            return fault
        if rec.get("lock_status") == "1":
            return {"errorCode": RECORD_LOCKED, "errorMessage": "数据已锁定，不能编辑", "errorDescription": "record locked"}
        try:
            changes = _changes(store, obj, item, creating=False)
        except FieldProblem as exc:
            return _bad(str(exc))
        store.modify(obj, rid, changes, user)
        store.writes.append({"object": obj, "op": "update", "id": rid, **triggers, "fields": sorted(changes)})
        del store.writes[:-5000]
    return {"errorCode": 0, "errorMessage": "OK", "errorDescription": "success", "dataId": rid}


def create_record(store: FxiaokeStore, obj: str, data: dict[str, Any], user: str, triggers: dict[str, bool],
                  record_error: Any) -> dict[str, Any]:
    item = data.get("object_data")
    if not isinstance(item, dict):
        return _bad("the parameter object_data is missing or illegal")
    if item.get("dataObjectApiName") not in (None, obj):
        return _bad("object_data.dataObjectApiName does not match the object")
    with store.lock:
        for key in ("risk_alert_key__c", "name"):  # a fault may name the value a create carries
            fault = _fault(record_error, str(item.get(key))) if item.get(key) else None
            if fault:
                return fault
        try:
            changes = _changes(store, obj, item, creating=True)
        except FieldProblem as exc:
            return _bad(str(exc))
        fields = store.schema.fields[obj]
        if fields.get("name") is not None and fields["name"].type == "auto_number":
            changes["name"] = f"{store.next_auto_number():08d}"
        rec = store.insert(obj, changes, user)
        store.writes.append({"object": obj, "op": "create", "id": rec["_id"], **triggers, "fields": sorted(changes)})
        del store.writes[:-5000]
    return {"errorCode": 0, "errorMessage": "OK", "errorDescription": "success", "dataId": rec["_id"]}


def invalidate_record(store: FxiaokeStore, obj: str, data: dict[str, Any], user: str) -> dict[str, Any]:
    rid = data.get("object_data_id")
    if not isinstance(rid, str) or not rid:
        return _bad("the parameter object_data_id is missing or illegal")
    with store.lock:
        if rid not in store.records[obj]:
            return _missing(obj, rid)
        store.modify(obj, rid, {"life_status": "invalid"}, user)
    return {"errorCode": 0, "errorMessage": "OK", "errorDescription": "success", "dataId": rid}


def change_owner(store: FxiaokeStore, obj: str, data: dict[str, Any], user: str) -> dict[str, Any]:
    """`data/changeOwner`: `data.Data = [{objectDataId, ownerId}]`, the only way to move a record's owner.

    `ownerId` is a list (`["1000"]`) on one docs page and a string holding one (`"[1000]"`) on another ⚠;
    both are accepted. Nothing changes unless every item is valid.
    """
    items = data.get("Data")
    if not isinstance(items, list) or not items:
        return _bad("the parameter Data is missing or illegal")
    moves: list[tuple[str, str]] = []
    with store.lock:
        for item in items:
            rid = item.get("objectDataId") if isinstance(item, dict) else None
            owner = item.get("ownerId") if isinstance(item, dict) else None
            if isinstance(owner, str):
                owner = [v.strip().strip('"') for v in owner.strip("[]").split(",") if v.strip()]
            if not isinstance(rid, str) or rid not in store.records[obj]:
                return _missing(obj, str(rid))
            if not isinstance(owner, list) or len(owner) != 1 or store.employee(str(owner[0])) is None:
                return _bad(f"ownerId {item.get('ownerId')!r} is not one employee id")
            moves.append((rid, str(owner[0])))
        for rid, owner_id in moves:
            employee = store.employee(owner_id)
            store.modify(obj, rid, {"owner": [owner_id], "owner_department": employee.department if employee else ""},
                         user)
    return {"errorCode": 0, "errorMessage": "OK", "errorDescription": "success"}
