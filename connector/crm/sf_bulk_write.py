"""Field updates through Bulk API 2.0 ingest jobs (docs/crm-salesforce.md §8), spooled to disk.

A job pays off only for large writes: it costs about five calls (create, upload, close, poll, failed
results) however many rows it carries, where sObject Collections cost one call per 200 records, but
Salesforce processes it asynchronously, seconds to minutes later. Two ways to use one:

- `BulkRun`, the run-wide job of a large run (a backfill): every batch's updates of one object go into
  one job. Its rows are spooled to temporary files as the batches come (memory stays bounded by the
  batch size), the job is created at its first row (so the engine can store its id before any cursor
  moves past the row, `journal`), uploaded once and closed when the run has planned its last batch
  (`finish`), and settled after (`settle`): the pipeline never waits for it. Bulk 2.0 takes one upload
  per job, of at most `upload_limit` bytes (Salesforce: 150 MB base64-encoded, so 100 MB raw); a spool
  that would pass it is uploaded at once and the object's next rows start another job.
- `IngestJob` alone, for one plan with `bulk_threshold` updates of an object or more, applied outside a
  run-wide job: started first, settled after the plan's other writes.

Results: ``failedResults`` rows carry ``sf__Id`` and ``sf__Error`` ("CODE:message:fields"); a record
is ok if the job processed every row and it is not among them, else only if ``successfulResults``
lists it; anything else was not processed (``unprocessedrecords``) and fails for this run.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, Protocol, TypeVar

from simple_salesforce import Salesforce
from simple_salesforce.util import call_salesforce

from connector import crashpoint
from connector.crm.sf_soql import csv_value
from connector.errors import Fatal
from connector.model import ApplyResult, FieldUpdate, ObjectKind, Outcome

__all__ = ["UPLOAD_LIMIT", "BulkApi", "BulkRun", "IngestJob", "settle_left"]

log = logging.getLogger(__name__)
T = TypeVar("T")

POLL_CAP = 5.0  # seconds between polls at most
POLL_GIVE_UP = 3600.0  # a job still running after an hour fails its rows for this run (they are retried)
UPLOAD_LIMIT = 100_000_000  # raw CSV bytes per job: Salesforce takes 150 MB once base64-encoded
OUTCOME_CHUNK = 2000  # outcomes handed back at a time while a job is settled
_DONE = frozenset({"JobComplete", "Failed", "Aborted"})


class BulkApi(Protocol):
    bulk_wait: float
    bulk_sleep: Callable[[float], None]

    def call(self, what: str, fn: Callable[[Salesforce], T]) -> T: ...

    def restful(self, what: str, path: str, **kwargs: Any) -> Any: ...

    def ensure_budget(self, what: str, in_flight: int = 0) -> None: ...


def _id15(record_id: str | None) -> str:
    return (record_id or "")[:15]  # the case-sensitive 15-char id is a prefix of the 18-char one


def _refused(exc: Fatal) -> str:
    code = exc.code or "REQUEST_REJECTED"
    text = str(exc)
    return f"{code}: {text.split(f'{code}: ', 1)[1] if f'{code}: ' in text else text}"


def _csv_line(cells: Sequence[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue().encode("utf-8")


class _Spool:
    """A job's rows on disk: the CSV body (``Id`` then each field in the order first seen; a row has cells
    for the fields known when it was written) and each row's op key. The header and the padding of earlier
    rows to later fields are added when the file is uploaded."""

    def __init__(self) -> None:
        # Closed by `close` (or with the process): they live from the job's first row until it is settled.
        self.body: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.keys: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.fields: dict[str, int] = {}
        self.rows = 0
        self._bytes = 0  # of the body
        self._cells = 0  # in the body, to know the padding
        self._header = 0  # bytes of the header row for `fields`

    def line(self, op: FieldUpdate) -> tuple[bytes, int]:
        """The row of `op` and how many fields it adds."""
        new = [f for f in op.values if f not in self.fields]
        names = [*self.fields, *new]
        return _csv_line([op.record_id, *(csv_value(op.values[f]) if f in op.values else "" for f in names)]), len(new)

    def size_with(self, line: bytes, new_fields: int, new_names: Sequence[str]) -> int:
        """The uploaded file's size in bytes if `line` were added."""
        columns = 1 + len(self.fields) + new_fields
        header = len(_csv_line(["Id", *self.fields, *new_names])) if new_fields or not self._header else self._header
        cells = self._cells + columns
        return header + self._bytes + len(line) + (self.rows + 1) * columns - cells

    def add(self, op: FieldUpdate, line: bytes) -> None:
        if any(name not in self.fields for name in op.values) or not self._header:
            for name in op.values:
                self.fields.setdefault(name, len(self.fields))
            self._header = len(_csv_line(["Id", *self.fields]))
        self.body.write(line)
        self.keys.write(_csv_line([op.key, op.record_id]))
        self._bytes += len(line)
        self._cells += 1 + len(self.fields)
        self.rows += 1

    def upload_file(self) -> IO[bytes]:
        """The CSV to upload, header first and every row padded to every field, in a new temporary file."""
        columns = 1 + len(self.fields)
        out = tempfile.TemporaryFile()  # noqa: SIM115 - the caller's `with` closes it
        out.write(_csv_line(["Id", *self.fields]))
        self.body.seek(0)
        for row in csv.reader(line.decode("utf-8") for line in self.body):
            out.write(_csv_line([*row, *[""] * (columns - len(row))]))
        out.seek(0)
        return out

    def ops(self) -> Iterator[list[tuple[str, str]]]:
        """(op key, record id) of every row, in chunks."""
        self.keys.seek(0)
        chunk: list[tuple[str, str]] = []
        for key, record_id in csv.reader(line.decode("utf-8") for line in self.keys):
            chunk.append((key, record_id))
            if len(chunk) >= OUTCOME_CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def close(self) -> None:
        self.body.close()
        self.keys.close()


class IngestJob:
    """One Bulk API 2.0 update job: created, fed rows, uploaded and closed once, then settled."""

    def __init__(self, kind: ObjectKind, obj: str, job_id: str) -> None:
        self.kind, self.obj, self.job_id = kind, obj, job_id
        self.spool = _Spool()
        self.closed_at: float | None = None
        self.refused: str | None = None  # why Salesforce refused the upload: every row fails with it

    @classmethod
    def create(cls, api: BulkApi, kind: ObjectKind, obj: str) -> IngestJob:
        api.ensure_budget(f"bulk2 create update job ({obj})")
        job = api.restful(f"bulk2 create update job ({obj})", "jobs/ingest", method="POST", json={
            "object": obj, "operation": "update", "contentType": "CSV", "lineEnding": "LF",
            "columnDelimiter": "COMMA"})
        return cls(kind, obj, str(job["id"]))

    def upload(self, api: BulkApi) -> None:
        """Upload every row once and close the job (an empty job is aborted); Salesforce starts on it."""
        if not self.spool.rows:
            self._abort(api)
            self.closed_at = time.monotonic()
            return
        api.ensure_budget(f"bulk2 upload {self.job_id}")
        with self.spool.upload_file() as data:
            try:
                api.call(f"bulk2 upload {self.job_id} ({self.spool.rows} {self.obj})",
                         lambda sf: _upload(sf, self.job_id, data))
                self._close(api)
            except Fatal as exc:
                self.refused = _refused(exc)
                self._abort(api)
        self.closed_at = time.monotonic()
        log.info("bulk2 job %s: %d %s updates uploaded", self.job_id, self.spool.rows, self.obj)

    def _close(self, api: BulkApi) -> None:
        """Mark the upload complete. A close whose answer was lost (a dropped connection, or a read timeout
        while a large upload is taken in) is retried and refused, the job being past ``Open`` already: the
        job's own state says whether it started, and only a job still open is refused."""
        try:
            api.restful(f"bulk2 close {self.job_id}", f"jobs/ingest/{self.job_id}", method="PATCH",
                        json={"state": "UploadComplete"})
        except Fatal:
            info = api.restful(f"bulk2 job {self.job_id}", f"jobs/ingest/{self.job_id}") or {}
            if str(info.get("state", "Open")) == "Open":
                raise
            log.warning("bulk2 job %s: a retried close was refused, but the job is %s: the first close took effect",
                        self.job_id, info.get("state"))

    def _abort(self, api: BulkApi) -> None:
        with contextlib.suppress(Fatal):  # an open job holds nothing, but leave none for the admin to find
            api.restful(f"bulk2 abort {self.job_id}", f"jobs/ingest/{self.job_id}", method="PATCH",
                        json={"state": "Aborted"})

    def settle(self, api: BulkApi) -> Iterator[list[Outcome]]:
        """Poll until the job ends (first after `api.bulk_wait` since it was closed, then twice as long
        each time up to `POLL_CAP`), then yield one outcome per row, a chunk at a time."""
        try:
            if self.refused is not None or not self.spool.rows:
                yield from self._outcomes({}, set(), self.refused or "BULK_EMPTY: nothing was uploaded")
                return
            info = _wait(api, self.job_id, self.closed_at or time.monotonic())
            state = str(info.get("state"))
            if state not in _DONE:
                why = f"BULK_TIMEOUT: job {self.job_id} still {state} after {POLL_GIVE_UP:.0f} s"
                yield from self._outcomes({}, set(), why)
                return
            processed = int(info.get("numberRecordsProcessed") or 0)
            failed = _failed(api, self.obj, self.job_id) if int(info.get("numberRecordsFailed") or 0) else {}
            succeeded: set[str] | None = None
            if state != "JobComplete" or processed < self.spool.rows:
                succeeded = set() if processed == 0 else {
                    _id15(r.get("sf__Id") or r.get("Id")) for r in _results(api, self.obj, self.job_id, "successful")}
            why = (f"BULK_JOB_FAILED: {' '.join(str(info.get('errorMessage') or state).split())[:300]}"
                   if state != "JobComplete" else "BULK_UNPROCESSED: the bulk job did not process this record")
            log.info("bulk2 job %s (%d %s): %s, %d failed", self.job_id, self.spool.rows, self.obj, state, len(failed))
            yield from self._outcomes({_id15(k): v for k, v in failed.items()}, succeeded, why)
        finally:
            self.spool.close()

    def _outcomes(self, failed: dict[str, str], succeeded: set[str] | None, why: str) -> Iterator[list[Outcome]]:
        """A row fails with its failed result, else is ok if `succeeded` is None or lists it, else fails `why`."""
        for chunk in self.spool.ops():
            out = []
            for key, record_id in chunk:
                short = _id15(record_id)
                error = failed.get(short, None if succeeded is None or short in succeeded else why)
                out.append(Outcome(key, ok=error is None, error=error, crm_id=record_id))
            yield out


def _upload(sf: Salesforce, job_id: str, data: IO[bytes]) -> None:
    data.seek(0)  # a retried upload sends the whole file again
    headers = {"Authorization": f"Bearer {sf.session_id}", "Content-Type": "text/csv", "Accept": "application/json"}
    call_salesforce(url=f"{sf.bulk2_url}ingest/{job_id}/batches", method="PUT", session=sf.session,
                    headers=headers, data=data)


def _wait(api: BulkApi, job_id: str, closed_at: float) -> dict[str, Any]:
    """The job's info once it ended, or as it stands after `POLL_GIVE_UP` seconds."""
    delay, waited = api.bulk_wait, 0.0
    pause = max(0.0, delay - (time.monotonic() - closed_at))  # the run's other work took time already
    while True:
        if pause > 0:
            api.bulk_sleep(pause)
        waited += pause
        info: dict[str, Any] = api.restful(f"bulk2 job {job_id}", f"jobs/ingest/{job_id}") or {}
        if str(info.get("state")) in _DONE or waited >= POLL_GIVE_UP:
            return info
        delay = min(POLL_CAP, max(delay * 2, 0.1))
        pause = delay


def _results(api: BulkApi, obj: str, job_id: str, kind: str) -> list[dict[str, str]]:
    """The job's ``failedResults`` or ``successfulResults`` CSV as rows."""
    def run(sf: Salesforce) -> str:
        handler = getattr(sf.bulk2, obj)  # built with the session's current token
        if kind == "failed":
            return str(handler.get_failed_records(job_id))
        return str(handler.get_successful_records(job_id))

    text = api.call(f"bulk2 {kind} results {job_id}", run)
    return list(csv.DictReader(io.StringIO(text))) if text.strip() else []


def _failed(api: BulkApi, obj: str, job_id: str) -> dict[str, str]:
    """Record id (as Salesforce returns it) -> "CODE: message" of the job's failed rows."""
    failed: dict[str, str] = {}
    for row in _results(api, obj, job_id, "failed"):
        code, _, rest = (row.get("sf__Error") or "UNKNOWN_ERROR").partition(":")
        message = rest.rsplit(":", 1)[0] if rest.count(":") else rest
        failed[str(row.get("sf__Id") or row.get("Id") or "")] = f"{code}: {message}"
    return failed


class BulkRun:
    """The run-wide update jobs of a large run: one per object, more only past `upload_limit` bytes.

    `journal(kind, job_id)` is called as each job is created, before any of its rows is reported taken;
    the engine stores the id so a run that dies leaves it to be settled (`settle_left`)."""

    def __init__(self, journal: Callable[[ObjectKind, str], None], upload_limit: int = UPLOAD_LIMIT) -> None:
        self.journal = journal
        self.upload_limit = upload_limit
        self.large = False  # set once a read shows the run is a backfill (`bulk_threshold` records or more)
        self._open: dict[str, IngestJob] = {}  # object -> the job taking its rows
        self._closed: list[IngestJob] = []  # uploaded, to settle

    def add(self, api: BulkApi, kind: ObjectKind, obj: str, ops: Sequence[FieldUpdate], result: ApplyResult) -> None:
        """Spool `ops` into the object's job (created at its first row); each taken op gets a deferred ok."""
        for op in ops:
            job = self._open.get(obj)
            if job is None:
                try:
                    job = IngestJob.create(api, kind, obj)
                except Fatal as exc:
                    reason = _refused(exc)
                    for rest in ops[ops.index(op):]:
                        result.add(Outcome(rest.key, ok=False, error=reason, crm_id=rest.record_id))
                    return
                self.journal(kind, job.job_id)
                self._open[obj] = job
            line, new = job.spool.line(op)
            names = [f for f in op.values if f not in job.spool.fields]
            if job.spool.rows and job.spool.size_with(line, new, names) > self.upload_limit:
                self._close(api, obj)  # full: the object's next rows start another job
                self.add(api, kind, obj, [op], result)
                continue
            job.spool.add(op, line)
            result.add(Outcome(op.key, ok=True, crm_id=op.record_id, deferred=True))

    def _close(self, api: BulkApi, obj: str) -> None:
        job = self._open.pop(obj)
        job.upload(api)
        self._closed.append(job)

    def finish(self, api: BulkApi) -> None:
        """Upload and close every job still taking rows: the run has planned its last batch."""
        for obj in list(self._open):
            self._close(api, obj)

    def settle(self, api: BulkApi) -> Iterator[list[Outcome]]:
        """Upload what is left, then every job's outcomes, a chunk at a time."""
        self.finish(api)
        crashpoint.reached("uploaded")
        while self._closed:
            yield from self._closed.pop(0).settle(api)

    def close(self) -> None:
        """Drop the spools of jobs never settled (the run stopped): the next run settles those jobs."""
        for job in [*self._open.values(), *self._closed]:
            job.spool.close()
        self._open.clear()
        self._closed.clear()


def settle_left(api: BulkApi, job_ids: Sequence[str]) -> dict[str, str]:
    """Bring jobs a dead run left to an end: an open one (never uploaded) is aborted, a running one polled
    until it ends. Returns record id -> "CODE: message" of the rows they failed."""
    failed: dict[str, str] = {}
    for job_id in job_ids:
        try:
            info = api.restful(f"bulk2 job {job_id}", f"jobs/ingest/{job_id}") or {}
        except Fatal as exc:
            if exc.status == 404:  # deleted (Salesforce keeps ended jobs 7 days): the read-back decides
                continue
            raise
        state = str(info.get("state"))
        if state == "Open":
            with contextlib.suppress(Fatal):
                api.restful(f"bulk2 abort {job_id}", f"jobs/ingest/{job_id}", method="PATCH", json={"state": "Aborted"})
            continue
        if state not in _DONE:
            info = _wait(api, job_id, time.monotonic())
        if int(info.get("numberRecordsFailed") or 0):
            failed.update(_failed(api, str(info.get("object")), job_id))
    if job_ids:
        log.info("settled %d bulk jobs left by an earlier run: %d rows failed", len(job_ids), len(failed))
    return failed
