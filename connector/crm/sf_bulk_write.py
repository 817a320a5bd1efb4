"""Field updates of a backfill through one Bulk API 2.0 ingest job per object (docs/crm-salesforce.md §9).

A job pays off only for large batches: it costs about five calls (create, upload, close, poll, failed
results) however many rows it carries, where sObject Collections cost one call per 200 records, but
Salesforce processes it asynchronously, seconds to minutes later. So `sf_write` starts the job first
(`start_update`: rows spooled to a temporary file so memory stays bounded, uploaded once, since Bulk
2.0 takes one upload per job), sends the batch's other writes meanwhile, and only then settles the
job (`BulkUpdate.settle`), polling with a backoff that starts below a second. The outcomes are known
before `apply` returns, so the engine records the cursor only over writes that succeeded.

Results: ``failedResults`` rows carry ``sf__Id`` and ``sf__Error`` ("CODE:message:fields"); a record
is ok if the job processed every row and it is not among them, else only if ``successfulResults``
lists it; anything else was not processed (``unprocessedrecords``) and fails for this run.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, TypeVar

from simple_salesforce import Salesforce
from simple_salesforce.util import call_salesforce

from connector.crm.sf_soql import csv_value
from connector.errors import Fatal
from connector.model import ApplyResult, FieldUpdate, Outcome

__all__ = ["BulkApi", "BulkUpdate", "start_update"]

log = logging.getLogger(__name__)
T = TypeVar("T")

POLL_CAP = 5.0  # seconds between polls at most
POLL_GIVE_UP = 3600.0  # a job still running after an hour fails its rows for this run (they are retried)
_DONE = frozenset({"JobComplete", "Failed", "Aborted"})


class BulkApi(Protocol):
    bulk_wait: float
    bulk_sleep: Callable[[float], None]

    def call(self, what: str, fn: Callable[[Salesforce], T]) -> T: ...

    def restful(self, what: str, path: str, **kwargs: Any) -> Any: ...

    def ensure_budget(self, what: str, in_flight: int = 0) -> None: ...


def _id15(record_id: str | None) -> str:
    return (record_id or "")[:15]  # the case-sensitive 15-char id is a prefix of the 18-char one


def _spool(ops: Sequence[FieldUpdate], spool: IO[bytes]) -> None:
    """The rows as one CSV: ``Id`` then every field any op sets; an empty cell leaves a field alone."""
    fields = list(dict.fromkeys(name for op in ops for name in op.values))
    text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["Id", *fields])
    for op in ops:
        writer.writerow([op.record_id, *(csv_value(op.values[f]) if f in op.values else "" for f in fields)])
    text.flush()
    text.detach()  # the spool stays open for the upload


def _upload(sf: Salesforce, job_id: str, spool: IO[bytes]) -> None:
    spool.seek(0)  # a retried upload sends the whole file again
    headers = {"Authorization": f"Bearer {sf.session_id}", "Content-Type": "text/csv", "Accept": "application/json"}
    call_salesforce(url=f"{sf.bulk2_url}ingest/{job_id}/batches", method="PUT", session=sf.session,
                    headers=headers, data=spool)


def _fail(ops: Sequence[FieldUpdate], error: str, result: ApplyResult) -> None:
    for op in ops:
        result.add(Outcome(op.key, ok=False, error=error, crm_id=op.record_id))


def _refused(exc: Fatal) -> str:
    code = exc.code or "REQUEST_REJECTED"
    text = str(exc)
    return f"{code}: {text.split(f'{code}: ', 1)[1] if f'{code}: ' in text else text}"


def start_update(api: BulkApi, obj: str, ops: Sequence[FieldUpdate], spool: IO[bytes],
                 result: ApplyResult) -> BulkUpdate | None:
    """Create the job, upload every row once and close it; None (ops failed) if Salesforce refused it."""
    api.ensure_budget(f"bulk2 update ({len(ops)} {obj})")
    _spool(ops, spool)
    try:
        job = api.restful(f"bulk2 create update job ({obj})", "jobs/ingest", method="POST", json={
            "object": obj, "operation": "update", "contentType": "CSV", "lineEnding": "LF",
            "columnDelimiter": "COMMA"})
    except Fatal as exc:
        _fail(ops, _refused(exc), result)
        return None
    job_id = str(job["id"])
    try:
        api.call(f"bulk2 upload {job_id} ({len(ops)} {obj})", lambda sf: _upload(sf, job_id, spool))
        api.restful(f"bulk2 close {job_id}", f"jobs/ingest/{job_id}", method="PATCH",
                    json={"state": "UploadComplete"})
    except Fatal as exc:
        _fail(ops, _refused(exc), result)
        with contextlib.suppress(Fatal):  # an open job holds nothing, but leave none for the admin to find
            api.restful(f"bulk2 abort {job_id}", f"jobs/ingest/{job_id}", method="PATCH", json={"state": "Aborted"})
        return None
    log.info("bulk2 job %s: %d %s updates uploaded", job_id, len(ops), obj)
    return BulkUpdate(obj, list(ops), job_id)


@dataclass
class BulkUpdate:
    """A closed ingest job whose per-record outcomes are still to be read."""

    obj: str
    ops: list[FieldUpdate]
    job_id: str
    closed_at: float = field(default_factory=time.monotonic)

    def settle(self, api: BulkApi, result: ApplyResult) -> None:
        """Poll until the job ends (first after `api.bulk_wait` since it was closed, then twice as long
        each time up to `POLL_CAP`), then record one outcome per op."""
        delay, waited = api.bulk_wait, 0.0
        pause = max(0.0, delay - (time.monotonic() - self.closed_at))  # the other writes took time already
        while True:
            if pause > 0:
                api.bulk_sleep(pause)
            waited += pause
            info = api.restful(f"bulk2 job {self.job_id}", f"jobs/ingest/{self.job_id}")
            state = str((info or {}).get("state"))
            if state in _DONE:
                break
            if waited >= POLL_GIVE_UP:
                _fail(self.ops, f"BULK_TIMEOUT: job {self.job_id} still {state} after {waited:.0f} s", result)
                return
            delay = min(POLL_CAP, max(delay * 2, 0.1))
            pause = delay
        self._outcomes(api, info, result)

    def _results(self, api: BulkApi, kind: str) -> list[dict[str, str]]:
        """The job's ``failedResults`` or ``successfulResults`` CSV as rows."""
        def run(sf: Salesforce) -> str:
            handler = getattr(sf.bulk2, self.obj)  # built with the session's current token
            if kind == "failed":
                return str(handler.get_failed_records(self.job_id))
            return str(handler.get_successful_records(self.job_id))

        text = api.call(f"bulk2 {kind} results {self.job_id}", run)
        return list(csv.DictReader(io.StringIO(text))) if text.strip() else []

    def _outcomes(self, api: BulkApi, info: dict[str, Any], result: ApplyResult) -> None:
        state = str(info.get("state"))
        processed = int(info.get("numberRecordsProcessed") or 0)
        failed: dict[str, str] = {}
        if int(info.get("numberRecordsFailed") or 0):
            for row in self._results(api, "failed"):
                code, _, rest = (row.get("sf__Error") or "UNKNOWN_ERROR").partition(":")
                message = rest.rsplit(":", 1)[0] if rest.count(":") else rest
                failed[_id15(row.get("sf__Id") or row.get("Id"))] = f"{code}: {message}"
        succeeded: set[str] | None = None
        if state != "JobComplete" or processed < len(self.ops):
            succeeded = set() if processed == 0 else {
                _id15(r.get("sf__Id") or r.get("Id")) for r in self._results(api, "successful")}
        why = (f"BULK_JOB_FAILED: {' '.join(str(info.get('errorMessage') or state).split())[:300]}"
               if state != "JobComplete" else "BULK_UNPROCESSED: the bulk job did not process this record")
        for op in self.ops:
            key = _id15(op.record_id)
            if key in failed:
                result.add(Outcome(op.key, ok=False, error=failed[key], crm_id=op.record_id))
            elif succeeded is None or key in succeeded:
                result.add(Outcome(op.key, ok=True, crm_id=op.record_id))
            else:
                result.add(Outcome(op.key, ok=False, error=why, crm_id=op.record_id))
        log.info("bulk2 job %s (%d %s): %s, %d failed", self.job_id, len(self.ops), self.obj, state, len(failed))
