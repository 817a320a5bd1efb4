"""Applying a `WritePlan` to Salesforce: sObject Collections, Bulk API 2.0, Task upserts, Topics.

Per-record failures become `Outcome(ok=False)`; a request the server rejects as a whole (a 400 on a
collections call) fails the ops it carried and the plan goes on. Stopping errors (`QuotaExhausted`,
`AuthError`, a `Retriable` that outlived its retries) carry what was done as ``exc.partial``.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from simple_salesforce import Salesforce
from simple_salesforce.bulk2 import SFBulk2Type
from simple_salesforce.exceptions import SalesforceOperationError
from simple_salesforce.format import quote_soql_value

from connector.crm.sf_errors import record_error
from connector.crm.sf_soql import csv_value, in_chunks, json_value, select
from connector.errors import Fatal, QuotaExhausted, RiskbridgeError
from connector.model import ApplyResult, FieldUpdate, ObjectKind, Outcome, TagAdd, TagRemove, TaskCreate, WritePlan

__all__ = ["COLLECTION_SIZE", "TASK_KEY_FIELD", "SalesforceApi", "apply_plan"]

log = logging.getLogger(__name__)
T = TypeVar("T")
Op = TypeVar("Op")

COLLECTION_SIZE = 200  # records per sObject Collections request (the API's maximum)
BULK_JOB_SIZE = 10_000  # records per Bulk API 2.0 job (one job per `update` call)
TASK_KEY_FIELD = "Riskbridge_Key__c"
_ALREADY = frozenset({"DUPLICATE_VALUE"})  # a TopicAssignment that exists already


class SalesforceApi(Protocol):
    """What the writer needs from `SalesforceClient`."""

    bulk_threshold: int
    bulk_wait: float
    topic_tag: bool
    topic_ids: dict[str, str]

    def call(self, what: str, fn: Callable[[Salesforce], T]) -> T: ...

    def restful(self, what: str, path: str, **kwargs: Any) -> Any: ...

    def ensure_budget(self, what: str) -> None: ...

    def object_name(self, kind: ObjectKind | str) -> str: ...

    def query_all(self, what: str, soql: str) -> list[dict[str, Any]]: ...


def _chunks(items: Sequence[Op], size: int) -> Iterator[Sequence[Op]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _id15(record_id: str | None) -> str:
    return (record_id or "")[:15]  # the case-sensitive 15-char id is a prefix of the 18-char one


def apply_plan(api: SalesforceApi, plan: WritePlan) -> ApplyResult:
    result = ApplyResult()
    try:
        by_object: dict[str, list[FieldUpdate]] = {}
        for op in plan.updates:
            by_object.setdefault(api.object_name(op.object), []).append(op)
        for obj, ops in by_object.items():
            if len(ops) >= api.bulk_threshold:
                _bulk_update(api, obj, ops, result)
            else:
                _collection_update(api, obj, ops, result)
        _upsert_tasks(api, plan.tasks, result)
        _tags(api, plan.tag_adds, plan.tag_removes, result)
    except RiskbridgeError as exc:
        if isinstance(exc, QuotaExhausted):
            result.stopped = str(exc)
        exc.partial = result  # type: ignore[attr-defined]
        log.warning("apply stopped after %d outcomes: %s", len(result.outcomes), exc)
        raise
    log.info("applied %d ops, %d failed", len(result.outcomes), len(result.failed))
    return result


def _rejected(ops: Sequence[FieldUpdate | TaskCreate | TagAdd | TagRemove], exc: Fatal,
              result: ApplyResult) -> None:
    code = exc.code or "REQUEST_REJECTED"
    text = str(exc)
    message = text.split(f"{code}: ", 1)[1] if f"{code}: " in text else text
    for op in ops:
        result.add(Outcome(op.key, ok=False, error=f"{code}: {message}"))


def _by_position(ops: Sequence[Any], results: Any, result: ApplyResult,
                 ok_codes: frozenset[str] = frozenset(), default_id: Callable[[Any], str | None] = lambda op: None,
                 ) -> None:
    """Per-record collections results, which come back in request order (failed ones may lack an id)."""
    if not isinstance(results, list) or len(results) != len(ops):
        for op in ops:
            result.add(Outcome(op.key, ok=False, error="UNEXPECTED_RESPONSE: result count does not match request"))
        return
    for op, res in zip(ops, results, strict=True):
        errors = res.get("errors") or []
        ok = bool(res.get("success")) or bool(errors and errors[0].get("statusCode") in ok_codes)
        result.add(Outcome(op.key, ok=ok, error=None if ok else record_error(errors),
                           crm_id=res.get("id") or default_id(op)))


def _collection_update(api: SalesforceApi, obj: str, ops: list[FieldUpdate], result: ApplyResult) -> None:
    for chunk in _chunks(ops, COLLECTION_SIZE):
        what = f"PATCH composite/sobjects ({len(chunk)} {obj})"
        api.ensure_budget(what)
        body = {"allOrNone": False, "records": [
            {"attributes": {"type": obj}, "id": op.record_id, **{k: json_value(v) for k, v in op.values.items()}}
            for op in chunk]}
        try:
            res = api.restful(what, "composite/sobjects", method="PATCH", json=body)
        except Fatal as exc:
            _rejected(chunk, exc, result)
            continue
        _by_position(chunk, res, result, default_id=lambda op: op.record_id)


def _bulk2(sf: Salesforce, obj: str) -> SFBulk2Type:
    # Each access builds a handler with the session's current token (handlers never refresh).
    handler: SFBulk2Type = getattr(sf.bulk2, obj)
    return handler


def _parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text))) if text.strip() else []


def _run_bulk_update(api: SalesforceApi, what: str, obj: str,
                     rows: list[dict[str, str]]) -> list[dict[str, Any]] | SalesforceOperationError:
    def run(sf: Salesforce) -> list[dict[str, Any]] | SalesforceOperationError:
        try:
            return list(_bulk2(sf, obj).update(records=rows, wait=api.bulk_wait))  # type: ignore[arg-type]
        except SalesforceOperationError as exc:  # job Failed/Aborted or upload refused: retrying won't help
            return exc

    return api.call(what, run)


def _bulk_results(api: SalesforceApi, obj: str, job_id: str, kind: str) -> list[dict[str, str]]:
    """A job's ``failed`` or ``successful`` results CSV as rows."""
    def run(sf: Salesforce) -> str:
        handler = _bulk2(sf, obj)
        return handler.get_failed_records(job_id) if kind == "failed" else handler.get_successful_records(job_id)

    return _parse_csv(api.call(f"bulk2 {kind} results {job_id}", run))


def _bulk_update(api: SalesforceApi, obj: str, ops: list[FieldUpdate], result: ApplyResult) -> None:
    for chunk in _chunks(ops, BULK_JOB_SIZE):
        what = f"bulk2 update ({len(chunk)} {obj})"
        api.ensure_budget(what)
        rows = [{"Id": op.record_id, **{k: csv_value(v) for k, v in op.values.items()}} for op in chunk]
        try:
            jobs = _run_bulk_update(api, what, obj, rows)
        except Fatal as exc:
            _rejected(chunk, exc, result)
            continue
        if isinstance(jobs, SalesforceOperationError):
            error = f"BULK_JOB_FAILED: {' '.join(str(jobs).split())[:300]}"
            for op in chunk:
                result.add(Outcome(op.key, ok=False, error=error))
            continue
        _bulk_outcomes(api, obj, chunk, jobs, result)


def _bulk_outcomes(api: SalesforceApi, obj: str, chunk: Sequence[FieldUpdate], jobs: list[dict[str, Any]],
                   result: ApplyResult) -> None:
    """Failed rows from each job's failedResults (matched by ``sf__Id``); the others are ok only if the
    job processed them all, else only those in successfulResults."""
    failed: dict[str, str] = {}
    succeeded: set[str] | None = None
    for job in jobs:
        job_id = str(job["job_id"])
        if int(job.get("numberRecordsFailed", 0)):
            for row in _bulk_results(api, obj, job_id, "failed"):
                code, _, rest = (row.get("sf__Error") or "UNKNOWN_ERROR").partition(":")
                message = rest.rsplit(":", 1)[0] if rest.count(":") else rest
                failed[_id15(row.get("sf__Id") or row.get("Id"))] = f"{code}: {message}"
        if int(job.get("numberRecordsProcessed", 0)) < int(job.get("numberRecordsTotal", 0)):
            rows = _bulk_results(api, obj, job_id, "successful")
            succeeded = (succeeded or set()) | {_id15(r.get("sf__Id") or r.get("Id")) for r in rows}
    for op in chunk:
        key = _id15(op.record_id)
        if key in failed:
            result.add(Outcome(op.key, ok=False, error=failed[key], crm_id=op.record_id))
        elif succeeded is None or key in succeeded:
            result.add(Outcome(op.key, ok=True, crm_id=op.record_id))
        else:
            result.add(Outcome(op.key, ok=False, error="BULK_UNPROCESSED: the bulk job did not process this record",
                               crm_id=op.record_id))
    log.info("bulk2 update of %d %s: %d failed", len(chunk), obj, sum(1 for op in chunk if _id15(op.record_id) in failed))


def _task_record(op: TaskCreate) -> dict[str, Any]:
    record: dict[str, Any] = {
        "attributes": {"type": "Task"}, TASK_KEY_FIELD: op.key, "Subject": op.subject[:255], "WhatId": op.record_id,
        "ActivityDate": json_value(op.due), "Status": "Not Started", "Priority": op.priority,
        "Description": op.description[:32000],
    }
    if op.owner_id:
        record["OwnerId"] = op.owner_id
    return record


def _upsert_tasks(api: SalesforceApi, tasks: list[TaskCreate], result: ApplyResult) -> None:
    path = f"composite/sobjects/Task/{TASK_KEY_FIELD}"
    for chunk in _chunks(tasks, COLLECTION_SIZE):
        what = f"PATCH {path} ({len(chunk)} tasks)"
        api.ensure_budget(what)
        body = {"allOrNone": False, "records": [_task_record(op) for op in chunk]}
        try:
            res = api.restful(what, path, method="PATCH", json=body)
        except Fatal as exc:
            _rejected(chunk, exc, result)
            continue
        _by_position(chunk, res, result)


def _topic_id(api: SalesforceApi, tag: str, create: bool) -> str | None:
    """The Topic named `tag`, created once per run when `create` says so."""
    if tag in api.topic_ids:
        return api.topic_ids[tag]
    soql = select("Topic", ["Id", "Name"], f"Name IN {next(in_chunks([tag], 1))}")
    rows = api.query_all("query Topic", soql)
    if not rows and create:
        api.ensure_budget("create Topic")
        try:
            created = api.restful("create Topic", "sobjects/Topic/", method="POST", json={"Name": tag})
            rows = [{"Id": created["id"]}] if isinstance(created, dict) and created.get("id") else []
        except Fatal as exc:
            if exc.code != "DUPLICATE_VALUE":  # created meanwhile (or by a retried POST): read it back
                raise
        rows = rows or api.query_all("query Topic", soql)
    if not rows:
        return None
    api.topic_ids[tag] = str(rows[0]["Id"])
    return api.topic_ids[tag]


def _tags(api: SalesforceApi, adds: list[TagAdd], removes: list[TagRemove], result: ApplyResult) -> None:
    if not adds and not removes:
        return
    if not api.topic_tag:
        ops: list[TagAdd | TagRemove] = [*adds, *removes]
        for op in ops:
            result.add(Outcome(op.key, ok=False, error="TOPICS_DISABLED: Salesforce Topic tags are not enabled"))
        return
    for tag in dict.fromkeys(op.tag for op in adds):
        topic = _topic_id(api, tag, create=True)
        assert topic is not None
        for chunk in _chunks([op for op in adds if op.tag == tag], COLLECTION_SIZE):
            what = f"POST composite/sobjects ({len(chunk)} TopicAssignment)"
            api.ensure_budget(what)
            body = {"allOrNone": False, "records": [
                {"attributes": {"type": "TopicAssignment"}, "TopicId": topic, "EntityId": op.record_id}
                for op in chunk]}
            try:
                res = api.restful(what, "composite/sobjects", method="POST", json=body)
            except Fatal as exc:
                _rejected(chunk, exc, result)
                continue
            _by_position(chunk, res, result, ok_codes=_ALREADY)
    for tag in dict.fromkeys(op.tag for op in removes):
        to_remove = [op for op in removes if op.tag == tag]
        topic = _topic_id(api, tag, create=False)
        if topic is None:  # no such topic: nothing is assigned
            for op in to_remove:
                result.add(Outcome(op.key, ok=True))
            continue
        for part in _chunks(to_remove, COLLECTION_SIZE):
            _untag(api, topic, part, result)


def _untag(api: SalesforceApi, topic: str, ops: Sequence[TagRemove], result: ApplyResult) -> None:
    assigned: dict[str, list[str]] = {}
    for quoted in in_chunks([op.record_id for op in ops], COLLECTION_SIZE):
        soql = select("TopicAssignment", ["Id", "EntityId"],
                      f"TopicId = {quote_soql_value(topic)} AND EntityId IN {quoted}")
        for row in api.query_all("query TopicAssignment", soql):
            assigned.setdefault(_id15(row.get("EntityId")), []).append(str(row["Id"]))
    ids = [a for op in ops for a in assigned.get(_id15(op.record_id), [])]
    errors: dict[str, str] = {}
    if ids:
        what = f"DELETE composite/sobjects ({len(ids)} TopicAssignment)"
        api.ensure_budget(what)
        params = {"ids": ",".join(ids), "allOrNone": "false"}
        try:
            res = api.restful(what, "composite/sobjects", method="DELETE", params=params)
        except Fatal as exc:
            _rejected(ops, exc, result)
            return
        if not isinstance(res, list) or len(res) != len(ids):
            res = [{"success": False, "errors": [{"statusCode": "UNEXPECTED_RESPONSE",
                                                  "message": "result count does not match request"}]}] * len(ids)
        for assignment, item in zip(ids, res, strict=True):
            errs = item.get("errors") or []
            if not item.get("success") and not (errs and errs[0].get("statusCode") == "ENTITY_IS_DELETED"):
                errors[assignment] = record_error(errs)
    for op in ops:
        failed = [errors[a] for a in assigned.get(_id15(op.record_id), []) if a in errors]
        result.add(Outcome(op.key, ok=not failed, error=failed[0] if failed else None))
