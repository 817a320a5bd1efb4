"""Executing a `WritePlan` on Fxiaoke: one update per record, follow-ups created once, the watchlist option.

- **Updates**: the REST OpenAPI has no batch update, so each changed record is one `data/update` with only
  the changed fields and ``triggerWorkFlow``/``triggerApprovalFlow`` false (both default to true: a
  write-back would start approvals and notifications). Up to `concurrency` updates are in flight; the
  client's per-path limiter keeps them under the tenant's frequency limit.
- **Watchlist**: a select_many field offering `watchlist_option` is written by read-modify-write of its
  option list (`data/get` just before the update, so a user's other options survive); a true_or_false
  field takes the boolean.
- **Follow-ups** (`ActiveRecordObj` or a custom object): `data/create` is not idempotent and duplicates
  are accepted, so the connector-owned key field is looked up before any create, and a create whose
  answer was lost (timeout, dropped connection, 5xx) is never sent again blindly: the key is looked up
  first, and the create repeated only when no record carries it.

A record-level refusal becomes an `Outcome(ok=False, error="code: message [traceId …]")`; 30002
(`QuotaExhausted`) stops the apply and marks the result `stopped`; it, an auth or configuration refusal,
and a transient failure that outlives its retries (an outage) re-raise with ``exc.partial``.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from connector.crm.base import call_with_retry
from connector.crm.fxiaoke import data_prefix
from connector.crm.fxiaoke_paging import QUERY_LIMIT, condition
from connector.crm.fxiaoke_wire import FxiaokeFatal, wire_value
from connector.errors import QuotaExhausted, Retriable, RiskbridgeError
from connector.model import ApplyResult, FieldUpdate, Outcome, TagAdd, TagRemove, TaskCreate, WritePlan

if TYPE_CHECKING:
    from connector.crm.fxiaoke import FxiaokeClient

__all__ = ["apply_plan"]

log = logging.getLogger(__name__)

NO_TRIGGERS = {"triggerWorkFlow": False, "triggerApprovalFlow": False}


class _Stop(Exception):
    """Another worker hit a run-level stop; this op is not sent."""


def apply_plan(client: FxiaokeClient, plan: WritePlan) -> ApplyResult:
    result = ApplyResult()
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[RiskbridgeError] = []

    def run(key: str, op: Any) -> None:
        if stop.is_set():
            return
        try:
            outcome = _one(client, op)
        except FxiaokeFatal as exc:
            outcome = Outcome(key, False, error=exc.detail)
        except RiskbridgeError as exc:  # quota, configuration, auth, an outage outliving its retries: stop
            stop.set()
            with lock:
                errors.append(exc)
            return
        with lock:
            result.add(outcome)

    ops: list[tuple[str, Any]] = [(op.key, op) for op in plan.updates]
    with ThreadPoolExecutor(max_workers=client.conn.concurrency, thread_name_prefix="fxiaoke-write") as pool:
        list(pool.map(lambda item: run(*item), ops))
    if not errors:
        try:  # follow-ups and watchlist tags one at a time: each looks up before it writes
            _tasks(client, plan.tasks, result)
            tag_ops: list[TagAdd | TagRemove] = [*plan.tag_adds, *plan.tag_removes]
            for tag_op in tag_ops:
                run(tag_op.key, tag_op)
        except RiskbridgeError as exc:
            errors.append(exc)
    if errors:
        stop_error = next((e for e in errors if isinstance(e, QuotaExhausted)), errors[0])
        if isinstance(stop_error, QuotaExhausted):
            result.stopped = str(stop_error)
        stop_error.partial = result  # type: ignore[attr-defined]
        log.warning("apply stopped after %d of %d ops: %s", len(result.outcomes), len(plan), stop_error)
        raise stop_error
    log.info("apply: %d ops, %d failed", len(result.outcomes), len(result.failed))
    return result


def _one(client: FxiaokeClient, op: FieldUpdate | TagAdd | TagRemove) -> Outcome:
    api_name = client.objects.get(op.object, op.object)
    if isinstance(op, FieldUpdate):
        watch = client.watch_fields(api_name) if op.object == "accounts" else set()
        values = {name: wire_value(value) for name, value in op.values.items() if name not in watch}
        for name in watch & set(op.values):
            values[name] = _options(client, api_name, op.record_id, name, bool(op.values[name]))
    else:
        fields = sorted(client.watch_fields(api_name))
        if not fields:
            return Outcome(op.key, False, error="NO_TAG_API: Fxiaoke has no tag API; map the watchlist output "
                                                "to a select_many or true_or_false field")
        values = {fields[0]: _options(client, api_name, op.record_id, fields[0], isinstance(op, TagAdd))}
    body = {**NO_TRIGGERS}
    data = {"object_data": {"_id": op.record_id, "dataObjectApiName": api_name, **values}}
    answer = client.call(f"{data_prefix(api_name)}/update", data, f"update {api_name}", top=body)
    return Outcome(op.key, True, crm_id=str(answer.get("dataId") or op.record_id))


def _options(client: FxiaokeClient, api_name: str, record_id: str, field: str, on: bool) -> list[str]:
    """The field's current option list with the watchlist option added or removed (read just now)."""
    answer = client.call(f"{data_prefix(api_name)}/get", {"dataObjectApiName": api_name, "objectDataId": record_id},
                         f"read {api_name} watchlist")
    record = answer.get("data") if isinstance(answer.get("data"), dict) else {}
    assert isinstance(record, dict)
    current = record.get(field)
    options = [str(v) for v in current] if isinstance(current, list) else []
    option = client.conn.watchlist_option
    if on and option not in options:
        options.append(option)
    if not on:
        options = [v for v in options if v != option]
    return options


def _existing(client: FxiaokeClient, keys: list[str]) -> dict[str, str]:
    """Key -> follow-up record id, for the keys some follow-up already carries."""
    key_field, found = client.conn.followup_key_field, {}
    for start in range(0, len(keys), QUERY_LIMIT):
        chunk = keys[start:start + QUERY_LIMIT]
        for page in client.query(client.conn.followup_object, [condition(key_field, "IN", chunk)],
                                 ["_id", key_field], "look up follow-ups"):
            found.update({str(r[key_field]): str(r["_id"]) for r in page if r.get(key_field)})
    return found


def _followup(client: FxiaokeClient, task: TaskCreate) -> dict[str, Any]:
    """The follow-up record: ActiveRecordObj's documented fields, or, on a tenant's own custom object, the
    fields its describe offers (a lookup to the record, a due date, a long text for the description)."""
    obj, key_field = client.conn.followup_object, client.conn.followup_key_field
    about = client.objects.get(task.object, task.object)
    record: dict[str, Any] = {"dataObjectApiName": obj, key_field: task.key}
    if task.owner_id:
        record["owner"] = [task.owner_id]
    if obj == "ActiveRecordObj":
        record["active_record_content"] = f"{task.subject}\n{task.description}".strip()
        record["related_object_data"] = [{"describe_api_name": about, "id": task.record_id}]
        if about == "AccountObj":
            record["account_id"] = task.record_id
        elif about == "NewOpportunityObj":
            record["new_opportunity_id"] = task.record_id
        return record
    record["name"] = task.subject[:100]
    fields = client.describe(obj)
    lookup = next((n for n, f in fields.items() if f.get("type") == "object_reference"
                   and f.get("target_api_name") == about), None)
    if lookup is not None:
        record[lookup] = task.record_id
    elif "related_object_data" in fields:
        record["related_object_data"] = [{"describe_api_name": about, "id": task.record_id}]
    due = next((n for n, f in fields.items() if f.get("type") == "date" and "due" in n.lower()), None)
    if due is not None:
        record[due] = wire_value(task.due)
    text = next((n for n, f in fields.items() if f.get("type") == "long_text" and n != key_field), None)
    if text is not None:
        record[text] = task.description
    return record


def _tasks(client: FxiaokeClient, tasks: list[TaskCreate], result: ApplyResult) -> None:
    if not tasks:
        return
    existing = _existing(client, list(dict.fromkeys(t.key for t in tasks)))
    for task in tasks:
        if task.key in existing:
            result.add(Outcome(task.key, True, crm_id=existing[task.key]))
            continue
        result.add(_create_once(client, task))
        if result.outcomes[task.key].crm_id:
            existing[task.key] = str(result.outcomes[task.key].crm_id)


def _create_once(client: FxiaokeClient, task: TaskCreate) -> Outcome:
    """Create one follow-up; after an answer that may have been lost, look the key up before trying again."""
    obj = client.conn.followup_object
    path = f"{data_prefix(obj)}/create"
    attempt = 0
    while True:
        attempt += 1
        try:
            answer = client.call(path, {"object_data": _followup(client, task)}, f"create {obj}",
                                 top=dict(NO_TRIGGERS), retry=False)
            return Outcome(task.key, True, crm_id=str(answer.get("dataId") or "") or None)
        except FxiaokeFatal as exc:
            return Outcome(task.key, False, error=exc.detail)
        except Retriable as exc:
            # The create may have happened: only the key can tell. (A refusal such as 30004 created
            # nothing, but looking up is cheap and the same rule keeps this simple.)
            found = call_with_retry(lambda: _existing(client, [task.key]), client.policy, "look up follow-up")
            if task.key in found:
                log.info("create %s for %s: the answer was lost but the record exists", obj, task.key)
                return Outcome(task.key, True, crm_id=found[task.key])
            if attempt >= client.policy.attempts:
                raise
            wait = client.policy.wait_for(attempt, exc.retry_after)
            log.warning("create follow-up task (%s) failed (%s); its key is not in the CRM: retry %d/%d in %.1fs",
                        obj, exc, attempt, client.policy.attempts - 1, wait)
            client.policy.sleep(wait)
