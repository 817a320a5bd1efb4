"""Applying a `WritePlan` to Salesforce: sObject Collections, Bulk API 2.0, Task upserts, Topics.

Field updates, then task upserts, go out as sObject Collections calls of 200 records, `api.lanes.width`
at a time (`concurrency`); outcomes are merged in request order. In a large run (`api.bulk_run` is
set and a read showed `bulk_threshold` records or more) every field update goes into the run's one
Bulk API 2.0 job per object instead (`sf_bulk_write.BulkRun`) and gets a deferred outcome: the engine
settles the jobs when the run has planned its last batch. Outside one, an object with `bulk_threshold`
updates or more in one plan goes through a job of its own, started first and settled after the plan's
other writes, so it runs while they are sent. Tasks and topic assignments always use Collections.

Per-record failures become `Outcome(ok=False)`; a request the server rejects as a whole (a 400 on a
collections call) fails the ops it carried and the plan goes on. Stopping errors (`QuotaExhausted`,
`AuthError`, a `Retriable` that outlived its retries) start no further call, let the calls in flight
finish, and carry every outcome known as ``exc.partial``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, Protocol, TypeVar

from simple_salesforce import Salesforce
from simple_salesforce.format import quote_soql_value

from connector.crm.concurrency import Lanes
from connector.crm.sf_bulk_write import BulkRun, IngestJob
from connector.crm.sf_errors import record_error
from connector.crm.sf_soql import in_chunks, json_value, select
from connector.errors import Fatal, QuotaExhausted, RiskbridgeError
from connector.model import ApplyResult, FieldUpdate, ObjectKind, Outcome, TagAdd, TagRemove, TaskCreate, WritePlan

__all__ = ["COLLECTION_SIZE", "TASK_KEY_FIELD", "SalesforceApi", "apply_plan"]

log = logging.getLogger(__name__)
T = TypeVar("T")
Op = TypeVar("Op")

COLLECTION_SIZE = 200  # records per sObject Collections request (the API's maximum)
TASK_KEY_FIELD = "Riskbridge_Key__c"
_ALREADY = frozenset({"DUPLICATE_VALUE"})  # a TopicAssignment that exists already


class SalesforceApi(Protocol):
    """What the writer needs from `SalesforceClient`."""

    bulk_threshold: int
    bulk_run: BulkRun | None
    bulk_wait: float
    bulk_sleep: Callable[[float], None]
    topic_tag: bool
    topic_ids: dict[str, str]
    lanes: Lanes

    def call(self, what: str, fn: Callable[[Salesforce], T]) -> T: ...

    def restful(self, what: str, path: str, **kwargs: Any) -> Any: ...

    def ensure_budget(self, what: str, in_flight: int = 0) -> None: ...

    def object_name(self, kind: ObjectKind | str) -> str: ...

    def query_all(self, what: str, soql: str) -> list[dict[str, Any]]: ...


def _chunks(items: Sequence[Op], size: int) -> Iterator[Sequence[Op]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _id15(record_id: str | None) -> str:
    return (record_id or "")[:15]  # the case-sensitive 15-char id is a prefix of the 18-char one


class _Budget:
    """`ensure_budget` before each call, counting the calls other lanes have in flight as spent: the
    allowance a response reports does not yet include them."""

    def __init__(self, api: SalesforceApi) -> None:
        self.api = api
        self._in_flight = 0
        self._lock = threading.Lock()

    @contextmanager
    def call(self, what: str) -> Iterator[None]:
        with self._lock:
            self.api.ensure_budget(what, self._in_flight)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1


def apply_plan(api: SalesforceApi, plan: WritePlan) -> ApplyResult:
    result = ApplyResult()
    try:
        by_object: dict[tuple[ObjectKind, str], list[FieldUpdate]] = {}
        for op in plan.updates:
            by_object.setdefault((op.object, api.object_name(op.object)), []).append(op)
        run = api.bulk_run if api.bulk_run is not None and api.bulk_run.large else None
        jobs: list[IngestJob] = []
        budget = _Budget(api)
        calls: list[Callable[[], ApplyResult]] = []
        for (kind, obj), ops in by_object.items():
            if run is not None:
                run.add(api, kind, obj, ops, result)
            elif len(ops) >= api.bulk_threshold:
                job = _own_job(api, kind, obj, ops, result)
                if job is not None:
                    jobs.append(job)
            else:
                calls += [partial(_collection_update, api, budget, obj, chunk) for chunk in _chunks(ops, COLLECTION_SIZE)]
        tasks = [partial(_upsert_tasks, api, budget, chunk) for chunk in _chunks(plan.tasks, COLLECTION_SIZE)]
        # Fields before tasks: a task never points at a risk its record does not show yet, and the quota
        # running out on the tasks leaves the fields written.
        for lane_calls in (calls, tasks):
            api.lanes.run(lane_calls, lambda done: result.outcomes.update(done.outcomes))
        _tags(api, plan.tag_adds, plan.tag_removes, result)
        for job in jobs:
            for outcomes in job.settle(api):
                result.outcomes.update((o.key, o) for o in outcomes)
    except RiskbridgeError as exc:
        if isinstance(exc, QuotaExhausted):
            result.stopped = str(exc)
        exc.partial = result  # type: ignore[attr-defined]
        log.warning("apply stopped after %d outcomes: %s", len(result.outcomes), exc)
        raise
    log.info("applied %d ops, %d failed", len(result.outcomes), len(result.failed))
    return result


def _own_job(api: SalesforceApi, kind: ObjectKind, obj: str, ops: Sequence[FieldUpdate],
             result: ApplyResult) -> IngestJob | None:
    """A job for this plan's updates of one object, uploaded and closed; None (ops failed) if refused."""
    try:
        job = IngestJob.create(api, kind, obj)
    except Fatal as exc:
        _rejected(ops, exc, result)
        return None
    for op in ops:
        job.spool.add(op, job.spool.line(op)[0])
    job.upload(api)
    return job


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


def _collection_update(api: SalesforceApi, budget: _Budget, obj: str, chunk: Sequence[FieldUpdate]) -> ApplyResult:
    """One PATCH of up to 200 records (on whichever lane runs it); its outcomes."""
    done = ApplyResult()
    what = f"PATCH composite/sobjects ({len(chunk)} {obj})"
    body = {"allOrNone": False, "records": [
        {"attributes": {"type": obj}, "id": op.record_id, **{k: json_value(v) for k, v in op.values.items()}}
        for op in chunk]}
    with budget.call(what):
        try:
            res = api.restful(what, "composite/sobjects", method="PATCH", json=body)
        except Fatal as exc:
            _rejected(chunk, exc, done)
            return done
    _by_position(chunk, res, done, default_id=lambda op: op.record_id)
    return done


def _task_record(op: TaskCreate) -> dict[str, Any]:
    record: dict[str, Any] = {
        "attributes": {"type": "Task"}, TASK_KEY_FIELD: op.key, "Subject": op.subject[:255], "WhatId": op.record_id,
        "ActivityDate": json_value(op.due), "Status": "Not Started", "Priority": op.priority,
        "Description": op.description[:32000],
    }
    if op.owner_id:
        record["OwnerId"] = op.owner_id
    return record


def _upsert_tasks(api: SalesforceApi, budget: _Budget, chunk: Sequence[TaskCreate]) -> ApplyResult:
    """One upsert of up to 200 tasks on their external id; its outcomes."""
    done = ApplyResult()
    path = f"composite/sobjects/Task/{TASK_KEY_FIELD}"
    what = f"PATCH {path} ({len(chunk)} tasks)"
    body = {"allOrNone": False, "records": [_task_record(op) for op in chunk]}
    with budget.call(what):
        try:
            res = api.restful(what, path, method="PATCH", json=body)
        except Fatal as exc:
            _rejected(chunk, exc, done)
            return done
    _by_position(chunk, res, done)
    return done


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
