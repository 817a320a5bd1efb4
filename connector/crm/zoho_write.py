"""Applying a `WritePlan` to Zoho CRM v8 (docs/crm-zoho.md §5): record updates, task upserts, tags.

    update    PUT {module} {"data": […], "trigger": […]}                                          100 records/call
    tasks     POST Tasks/upsert  duplicate_check_fields ["Riskbridge_Key"]                        100 tasks/call
    tags      POST {module}/actions/add_tags|remove_tags  over_write false                        100 ids/call

The update and task calls of a plan go out on `lanes` (``write_concurrency`` at a time, each lane on its
own session) and their outcomes are merged in request order. Per-record failures, and a batch request
refused as a whole (4xx), become `Outcome(ok=False, error="CODE: message (field)")`; an exception out
of `apply` carries the outcomes recorded so far as `exc.partial`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from connector.crm.concurrency import Lanes
from connector.crm.zoho_wire import Reply, ZohoFatal, is_success, record_error, wire_value
from connector.errors import AuthError, QuotaExhausted, RiskbridgeError
from connector.model import ApplyResult, ObjectKind, Outcome, TagAdd, TagRemove, TaskCreate, WritePlan

__all__ = ["BATCH", "TASK_KEY", "TASKS", "ZohoWriter"]

log = logging.getLogger(__name__)

BATCH = 100  # records per write call
TASKS = "Tasks"
TASK_KEY = "Riskbridge_Key"


class _Call(Protocol):
    def __call__(self, method: str, path: str, what: str, *, params: dict[str, Any] | None = None,
                 body: Any = None, headers: dict[str, str] | None = None, batch: bool = False) -> Reply: ...


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclass
class ZohoWriter:
    """The write side of one `ZohoClient`: its retried `call`, module names, workflow triggers, lanes."""

    call: _Call
    module: Callable[[ObjectKind | str], str]
    trigger: list[str]
    lanes: Lanes
    tags_defined: set[tuple[str, str]] = field(default_factory=set)

    def apply(self, plan: WritePlan) -> ApplyResult:
        result = ApplyResult()
        try:
            # Fields before tasks: a task never points at a risk its record does not show yet, and the quota
            # running out on the tasks leaves the fields written.
            for calls in ([*self._update_calls(plan)], [*self._task_calls(plan.tasks)]):
                self.lanes.run(calls, lambda done: result.outcomes.update(done.outcomes))
            self._apply_tags(plan.tag_adds, "add_tags", result)
            self._apply_tags(plan.tag_removes, "remove_tags", result)
        except RiskbridgeError as exc:
            if isinstance(exc, QuotaExhausted):
                result.stopped = str(exc)
            exc.partial = result  # type: ignore[attr-defined]
            log.warning("apply stopped after %d of %d ops: %s", len(result.outcomes), len(plan), exc)
            raise
        log.info("apply: %d ops, %d failed", len(result.outcomes), len(result.failed))
        return result

    def _batch(self, method: str, path: str, what: str, body: dict[str, Any], keys: list[str],
               result: ApplyResult, ids: list[str] | None = None, positions: list[int] | None = None) -> None:
        """One batch write; records each op key's outcome, matched by record id, else by position.

        `ids[i]` is the record op `keys[i]` is about, `positions[i]` the index of its entry in the request.
        """
        try:
            reply = self.call(method, path, what, body=body, batch=True)
        except ZohoFatal as exc:  # the request as a whole was refused: every op in it failed
            for key in keys:
                result.add(Outcome(key, False, error=exc.detail))
            return
        entries = [e for e in ((reply.body or {}).get("data") or []) if isinstance(e, dict)]
        by_id: dict[str, dict[str, Any]] = {}
        for item in entries:
            details = item.get("details")
            if isinstance(details, dict) and details.get("id") and ids is not None:
                by_id.setdefault(str(details["id"]), item)
        for index, key in enumerate(keys):
            at = positions[index] if positions is not None else index
            entry: dict[str, Any] | None = by_id.get(ids[index]) if ids is not None else None
            if entry is None and at < len(entries):
                entry = entries[at]
            if entry is None:
                result.add(Outcome(key, False, error="NO_RESULT: Zoho returned no result for this record"))
            elif is_success(entry):
                found = entry.get("details")
                crm_id = str(found["id"]) if isinstance(found, dict) and found.get("id") else None
                result.add(Outcome(key, True, crm_id=crm_id))
            else:
                result.add(Outcome(key, False, error=record_error(entry)))

    def _written(self, method: str, path: str, what: str, body: dict[str, Any], keys: list[str],
                 ids: list[str] | None = None) -> ApplyResult:
        """One batch write on whichever lane runs it; its outcomes."""
        done = ApplyResult()
        self._batch(method, path, what, body, keys, done, ids=ids)
        return done

    def _update_calls(self, plan: WritePlan) -> list[Callable[[], ApplyResult]]:
        calls: list[Callable[[], ApplyResult]] = []
        for kind in dict.fromkeys(u.object for u in plan.updates):
            module = self.module(kind)
            ops = [u for u in plan.updates if u.object == kind]
            for chunk in _chunks(ops, BATCH):
                data = [{"id": u.record_id, **{k: wire_value(v) for k, v in u.values.items()}} for u in chunk]
                calls.append(partial(self._written, "PUT", module, f"update {module}",
                                     {"data": data, "trigger": list(self.trigger)},
                                     [u.key for u in chunk], ids=[u.record_id for u in chunk]))
        return calls

    def _task_calls(self, tasks: list[TaskCreate]) -> list[Callable[[], ApplyResult]]:
        calls: list[Callable[[], ApplyResult]] = []
        for chunk in _chunks(tasks, BATCH):
            data = []
            for task in chunk:
                record: dict[str, Any] = {
                    "Subject": task.subject, "What_Id": {"id": task.record_id}, "$se_module": self.module(task.object),
                    "Due_Date": wire_value(task.due), "Status": "Not Started", "Priority": task.priority,
                    "Description": task.description, TASK_KEY: task.key,
                }
                if task.owner_id:
                    record["Owner"] = {"id": task.owner_id}
                data.append(record)
            body = {"data": data, "duplicate_check_fields": [TASK_KEY], "trigger": list(self.trigger)}
            calls.append(partial(self._written, "POST", f"{TASKS}/upsert", "upsert tasks", body, [t.key for t in chunk]))
        return calls

    def _apply_tags(self, ops: list[TagAdd] | list[TagRemove], action: str, result: ApplyResult) -> None:
        groups: dict[tuple[str, str], list[TagAdd | TagRemove]] = {}
        for op in ops:
            groups.setdefault((self.module(op.object), op.tag), []).append(op)
        for (module, tag), group in groups.items():
            if action == "add_tags":
                self._define_tag(module, tag)
            for chunk in _chunks(group, BATCH):
                ids = [op.record_id for op in chunk]
                unique = list(dict.fromkeys(ids))
                body: dict[str, Any] = {"tags": [{"name": tag}], "ids": unique}
                if action == "add_tags":
                    body["over_write"] = False  # never replace the tags users set
                self._batch("POST", f"{module}/actions/{action}", f"{action} {module}", body,
                            [op.key for op in chunk], result, ids=ids, positions=[unique.index(i) for i in ids])

    def _define_tag(self, module: str, tag: str) -> None:
        """Create the tag definition once; DUPLICATE_DATA means it exists already."""
        if (module, tag) in self.tags_defined:
            return
        try:
            self.call("POST", "settings/tags", f"define tag in {module}", params={"module": module},
                       body={"tags": [{"name": tag}]})
        except ZohoFatal as exc:
            if exc.code != "DUPLICATE_DATA":
                log.warning("could not define tag %r in %s (%s); adding it to records anyway", tag, module, exc.detail)
        except AuthError as exc:
            if "OAUTH_SCOPE_MISMATCH" not in str(exc):
                raise
            log.warning("no scope to define tags (ZohoCRM.settings.tags.ALL); adding %r to records anyway", tag)
        self.tags_defined.add((module, tag))
