"""Writing: record create/update/upsert/delete, tag actions and tag definitions.

Batch envelopes follow Zoho: one `data[]` entry per input record in input order; HTTP 200 (201 for
create) when all succeed, 207 when mixed, 400 when all fail. At most 100 records per call, else 400
`LIMIT_EXCEEDED`. Tag actions answer `{"data": [...], "success_count": "n", "locked_count": "m"}`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connector.sandbox.http import Request, Response, json_response
from connector.sandbox.zoho_fields import FIELDS, FieldError
from connector.sandbox.zoho_read import error
from connector.sandbox.zoho_store import WriteOp, ZohoStore

__all__ = ["TRIGGERS", "create_tags", "delete_records", "list_tags", "tag_action", "write_records"]

MAX_BATCH, MAX_TAG_IDS, MAX_TAG_NAME = 100, 500, 25
TRIGGERS = ("workflow", "approval", "blueprint", "pathfinder", "orchestration")
_DEFAULT_DUP = {"Accounts": ["Account_Name"], "Deals": ["Deal_Name"], "Tasks": ["Riskbridge_Key"],
                "Contacts": ["Email"], "Campaigns": ["Campaign_Name"]}


def _body(request: Request) -> tuple[Any, Response | None]:
    try:
        return request.json(), None
    except (ValueError, UnicodeDecodeError):
        return None, error(400, "INVALID_DATA", "body is not a valid JSON", {})


def _batch_status(results: list[dict[str, Any]], all_ok: int) -> int:
    ok = sum(1 for r in results if r.get("status") == "success")
    return all_ok if ok == len(results) else 400 if ok == 0 else 207


def write_records(store: ZohoStore, module: str, request: Request, op: WriteOp, record_id: str | None,
                  record_error: Callable[[str], str | None],
                  on_trigger: Callable[[str, list[str] | None], None]) -> Response:
    """PUT/POST records (and `/upsert`); `record_id` is set for the single-record `PUT /{module}/{id}`."""
    payload, bad = _body(request)
    if bad:
        return bad
    if not isinstance(payload, dict) or "data" not in payload:
        return error(400, "MANDATORY_NOT_FOUND", "required field not found",
                     {"api_name": "data", "json_path": "$.data"})
    items = payload["data"]
    if not isinstance(items, list) or not items:
        return error(400, "INVALID_DATA", "invalid data",
                     {"api_name": "data", "json_path": "$.data", "expected_data_type": "jsonarray"})
    if len(items) > MAX_BATCH:
        return json_response(400, {"data": [{"code": "LIMIT_EXCEEDED", "details": {"maximum_length": MAX_BATCH,
                                             "api_name": "data"}, "message": "count of records in your request "
                                             "exceeds the limit", "status": "error"}]})
    trigger = payload.get("trigger")
    if trigger is not None and (not isinstance(trigger, list) or any(t not in TRIGGERS for t in trigger)):
        return error(400, "INVALID_DATA", "invalid data", {"api_name": "trigger", "json_path": "$.trigger",
                                                           "supported_values": list(TRIGGERS)})
    # an org without the default's field (a bare org has no task key yet) checks nothing by default
    dup_fields = payload.get("duplicate_check_fields") or [f for f in _DEFAULT_DUP[module] if f in FIELDS[module]]
    if op == "upsert" and (not isinstance(dup_fields, list) or any(f not in FIELDS[module] for f in dup_fields)):
        return error(400, "INVALID_DATA", "invalid data", {"api_name": "duplicate_check_fields",
                                                           "json_path": "$.duplicate_check_fields"})
    if record_id is not None:
        if len(items) != 1 or not isinstance(items[0], dict):
            return error(400, "INVALID_DATA", "invalid data", {"api_name": "data", "json_path": "$.data"})
        items = [{**items[0], "id": record_id}]
    on_trigger(op, trigger)
    results = store.write(module, items, op, list(dup_fields), record_error)
    status = _batch_status(results, 201 if op == "create" else 200)
    return json_response(status, {"data": results})


def delete_records(store: ZohoStore, module: str, ids: list[str]) -> Response:
    if not ids:
        return error(400, "REQUIRED_PARAM_MISSING", "required param is missing", {"param_name": "ids"})
    if len(ids) > MAX_BATCH:
        return error(400, "LIMIT_EXCEEDED", "limit exceeded", {"limit": MAX_BATCH, "param_name": "ids"})
    results = []
    for rid in ids:
        if store.delete(module, rid):
            results.append({"code": "SUCCESS", "details": {"id": rid}, "message": "record deleted",
                            "status": "success"})
        else:
            results.append(FieldError("INVALID_DATA", "record not deleted", {"id": rid}).body())
    return json_response(_batch_status(results, 200), {"data": results})


def tag_action(store: ZohoStore, module: str, request: Request, record_id: str | None, add: bool,
               record_error: Callable[[str], str | None]) -> Response:
    """`POST /{module}/actions/add_tags|remove_tags` and the single-record `/{module}/{id}/actions/…`."""
    payload, bad = _body(request)
    if bad:
        return bad
    payload = payload if isinstance(payload, dict) else {}
    tags = payload.get("tags")
    if not isinstance(tags, list) or not tags:
        return error(400, "MANDATORY_NOT_FOUND", "required field not found",
                     {"api_name": "tags", "json_path": "$.tags"})
    names: list[str] = []
    for i, tag in enumerate(tags):
        name = tag.get("name") if isinstance(tag, dict) else None
        if name is None and isinstance(tag, dict) and tag.get("id"):
            name = next((d["name"] for d in store.tags[module].values() if d["id"] == str(tag["id"])), None)
        if not isinstance(name, str) or not name.strip():
            return error(400, "INVALID_DATA", "invalid data",
                         {"api_name": "name", "json_path": f"$.tags[{i}].name", "expected_data_type": "text"})
        if len(name) > MAX_TAG_NAME:
            return error(400, "INVALID_DATA", "invalid data", {"api_name": "name", "json_path": f"$.tags[{i}].name",
                                                               "maximum_length": MAX_TAG_NAME})
        names.append(name.strip())
    if record_id is not None:
        ids: list[Any] = [record_id]
    else:
        raw_ids = payload.get("ids")
        if raw_ids is None and request.arg("ids"):
            raw_ids = [i for part in request.query.get("ids", []) for i in part.split(",") if i]
        if not isinstance(raw_ids, list) or not raw_ids:
            return error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing",
                         {"param_name": "ids"})
        ids = raw_ids
    if len(ids) > MAX_TAG_IDS:
        return error(400, "LIMIT_EXCEEDED", "limit exceeded", {"limit": MAX_TAG_IDS, "param_name": "ids"})
    over_write = payload.get("over_write", request.arg("over_write", "false"))
    over_write = over_write if isinstance(over_write, bool) else str(over_write).lower() == "true"
    results, ok, locked = [], 0, 0
    for i, raw in enumerate(ids):
        rid = str(raw)
        if rid not in store.records[module]:
            results.append(FieldError("INVALID_DATA", "the id given seems to be invalid",
                                      {"api_name": "ids", "json_path": f"$.ids[{i}]"}).body())
            continue
        fault = record_error(rid)
        if fault:
            locked += fault == "RECORD_LOCKED"
            message = ("Sorry, you cannot perform this operation as the record is locked."
                       if fault == "RECORD_LOCKED" else "invalid data")
            results.append(FieldError(fault, message, {"api_name": "id", "json_path": f"$.ids[{i}]",
                                                       "id": rid}).body())
            continue
        details = store.retag(module, rid, names, over_write, add)
        ok += 1
        results.append({"code": "SUCCESS", "details": details, "message": "tags updated successfully",
                        "status": "success"})
    return json_response(200 if ok else 400, {"data": results, "wf_scheduler": False,
                                              "success_count": str(ok), "locked_count": str(locked)})


def list_tags(store: ZohoStore, module: str) -> Response:
    with store.lock:
        tags = sorted(store.tags[module].values(), key=lambda t: t["name"].lower())
        return json_response(200, {"tags": [dict(t) for t in tags],
                                   "info": {"record_limit": 20, "count": len(tags), "allowed_count": 500}})


def create_tags(store: ZohoStore, module: str, request: Request) -> Response:
    payload, bad = _body(request)
    if bad:
        return bad
    tags = payload.get("tags") if isinstance(payload, dict) else None
    if not isinstance(tags, list) or not tags:
        return error(400, "MANDATORY_NOT_FOUND", "required field not found",
                     {"api_name": "tags", "json_path": "$.tags"})
    results = []
    with store.lock:
        for i, tag in enumerate(tags):
            name = tag.get("name") if isinstance(tag, dict) else None
            path = f"$.tags[{i}].name"
            if not isinstance(name, str) or not name.strip():
                results.append({"code": "INVALID_DATA", "message": "Invalid data type", "status": "error",
                                "details": {"api_name": "name", "expected_data_type": "text", "json_path": path}})
            elif len(name) > MAX_TAG_NAME:
                results.append({"code": "INVALID_DATA", "message": "Invalid data", "status": "error",
                                "details": {"api_name": "name", "maximum_length": MAX_TAG_NAME, "json_path": path}})
            elif name.strip().lower() in store.tags[module]:
                results.append({"code": "DUPLICATE_DATA", "details": {
                    "api_name": "name", "json_path": path, "id": store.tags[module][name.strip().lower()]["id"]},
                    "message": "duplicate data", "status": "error"})
            else:
                created = store.define_tag(module, name.strip(), tag.get("color_code"))
                results.append({"code": "SUCCESS", "details": dict(created), "message": "tags created successfully",
                                "status": "success"})
    return json_response(_batch_status(results, 201), {"tags": results})
