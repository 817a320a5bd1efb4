"""A Zoho backfill through the Bulk Read API: one export job per 200,000 records, zipped CSV, streamed.

    count     GET  /crm/v8/{module}/actions/count                          1 call: is the module big enough?
    types     GET  /crm/v8/settings/fields?module=…                        to type the CSV's text
    export    POST /crm/bulk/v8/read  {"query": {module, fields, page}}    one job per page of 200,000
    poll      GET  /crm/bulk/v8/read/{id}        every 0.5 s, growing to 15 s (the retry policy's `sleep`)
    download  GET  /crm/bulk/v8/read/{id}/result  {id}.zip -> {id}.csv, streamed to a temporary file

Why the rows are sorted on disk: the CSV comes in no promised order, but the engine saves the cursor
between batches and a cursor is only safe over rows read in (Modified_Time, id) order. So the rows are
cut into sorted runs of `run_rows` in temporary files and merged: memory holds one run while it is
sorted, and one row per run while merging, never the org. The export reads each record as it is when
the job runs; a record edited since carries a later stamp, which the next incremental read meets.

Values come back as the REST/COQL path gives them (`typed`): numbers as JSON numbers, booleans,
lookups and owners as ``{"id": …}``, multi-select picklists as lists, tags as ``[{"name": …}]``, empty
cells as None. Needs the scope ZohoCRM.bulk.read; without it the job creation fails with a clear `AuthError`.
"""

from __future__ import annotations

import csv
import heapq
import io
import logging
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

import requests

from connector.crm.base import ObjectSpec
from connector.crm.zoho_wire import TRANSPORT_ERRORS, Reply, ZohoFatal, parse_time
from connector.errors import AuthError, Fatal, Retriable
from connector.model import Page

__all__ = ["BULK_ROOT", "BULK_SCOPE_HINT", "BulkRead", "bulk_scope_granted", "typed"]

log = logging.getLogger(__name__)

BULK_ROOT = "crm/bulk/v8"
FIRST_POLL_S, MAX_POLL_S = 0.5, 15.0
_INT = re.compile(r"^-?\d+$")
_NUMBERS = frozenset({"double", "currency", "percent", "decimal"})
_LOOKUPS = frozenset({"lookup", "ownerlookup", "userlookup"})
_TEXT = frozenset({"text", "textarea", "email", "phone", "website", "picklist", "date", "datetime", "autonumber"})
_EPOCH = datetime.min.replace(tzinfo=UTC)

BULK_SCOPE_HINT = ("a full read at or above bulk_read_threshold uses the Bulk Read API and will fail: regenerate "
                   "the refresh token with ZohoCRM.bulk.read, or set bulk_read_threshold = 0 to read page by page")
Call = Callable[..., Reply]  # ZohoClient._call


def bulk_scope_granted(call: Call) -> bool:
    """Whether the token may use the Bulk Read API: Zoho checks the scope before it looks up the job, so
    asking for a job that does not exist answers 401 OAUTH_SCOPE_MISMATCH without the scope and 4xx with it."""
    try:
        call("GET", "read/1", "bulk read scope", root=BULK_ROOT)
    except ZohoFatal:
        return True
    except AuthError as exc:
        if "OAUTH_SCOPE_MISMATCH" in str(exc):
            return False
        raise
    return True


def typed(text: str, data_type: str, name: str) -> Any:
    """One CSV cell as the REST/COQL JSON would carry it, given the field's `data_type`."""
    if text == "":
        return [] if name == "Tag" else None  # a record without tags carries "Tag": [] in JSON
    if name == "Tag":  # the record's tags, by name, however the metadata types the field
        return [{"name": n} for n in text.split(",") if n]
    if data_type in _TEXT:
        return text
    if data_type == "boolean":
        return text.lower() == "true"
    if data_type in ("integer", "bigint") or (data_type in _NUMBERS and _INT.match(text)):
        try:
            return int(text)
        except ValueError:
            return float(text)
    if data_type in _NUMBERS:
        return float(text)
    if data_type in _LOOKUPS:
        return {"id": text}
    if data_type == "multiselectpicklist":
        return text.split(";")
    return text


def _id_order(record_id: str) -> tuple[int, int | str]:
    return (0, int(record_id)) if record_id.isdigit() else (1, record_id)


class BulkRead:
    """One backfill of one module: `pages()` yields its rows in (Modified_Time, id) order."""

    def __init__(self, call: Call, sleep: Callable[[float], None], spec: ObjectSpec, fields: list[str], *,
                 run_rows: int = 10_000, max_wait_s: float = 6 * 3600.0) -> None:
        self._call, self._sleep, self._spec = call, sleep, spec
        self._fields = fields
        self.run_rows = max(1, run_rows)
        self.max_wait_s = max_wait_s
        self.jobs = 0
        self.rows = 0

    def wanted(self, first_keys: Reply, threshold: int) -> bool:
        """Whether to export: the first COQL call of keys came back full and the module holds `threshold` or more."""
        body = first_keys.body if isinstance(first_keys.body, dict) else {}
        info = body.get("info") if isinstance(body.get("info"), dict) else None
        if not (info or {}).get("more_records"):
            return False
        count = self.count()
        if count is None or count < threshold:
            return False
        log.info("full read of %s: %d records (threshold %d), through the Bulk Read API",
                 self._spec.name, count, threshold)
        return True

    def count(self) -> int | None:
        """How many records the module holds; None when Zoho will not say (then the caller reads by COQL)."""
        try:
            reply = self._call("GET", f"{self._spec.name}/actions/count", f"count {self._spec.name}")
        except ZohoFatal as exc:
            log.info("cannot count %s (%s); reading page by page", self._spec.name, exc.detail)
            return None
        body = reply.body if isinstance(reply.body, dict) else {}
        count = body.get("count")
        return int(count) if isinstance(count, int | str) and str(count).isdigit() else None

    def pages(self) -> Iterator[Page]:
        module, size = self._spec.name, max(1, self._spec.page_size)
        types = self._types()
        with tempfile.TemporaryDirectory(prefix="riskbridge-zoho-bulk-") as folder:
            runs = _Runs(folder, self.run_rows, self._spec.cursor_field)
            page = 1
            while True:
                job_id = self._create(page)
                result = self._wait(job_id)
                with self._download(job_id) as spool, self._unzip(spool, job_id) as archive:
                    runs.add(self._csv_rows(archive, job_id))
                if not result.get("more_records"):
                    break
                page += 1
            converters = [(name, types.get(name, "")) for name in runs.header]
            out: list[dict[str, Any]] = []
            for row in runs.merged():
                out.append({name: typed(text, data_type, name) for (name, data_type), text in zip(
                    converters, row, strict=False)})
                self.rows += 1
                if len(out) >= size:
                    yield Page(out)
                    out = []
            if out:
                yield Page(out)
        log.info("bulk read %s: %d rows in %d export job(s), sorted in %d run(s)", module, self.rows, self.jobs,
                 runs.count)

    # -- the calls --------------------------------------------------------------------------------------

    def _types(self) -> dict[str, str]:
        reply = self._call("GET", "settings/fields", f"fields of {self._spec.name}",
                           params={"module": self._spec.name})
        fields = (reply.body or {}).get("fields") or [] if isinstance(reply.body, dict) else []
        return {str(f["api_name"]): str(f.get("data_type") or "") for f in fields
                if isinstance(f, dict) and f.get("api_name")}

    def _create(self, page: int) -> str:
        query = {"module": {"api_name": self._spec.name}, "fields": self._fields, "page": page}
        what = f"bulk read {self._spec.name}"
        try:
            reply = self._call("POST", "read", what, body={"query": query, "file_type": "csv"}, root=BULK_ROOT)
        except AuthError as exc:
            if "OAUTH_SCOPE_MISMATCH" not in str(exc):
                raise
            raise AuthError(
                f"{what}: Zoho refused the Bulk Read API (OAUTH_SCOPE_MISMATCH): the refresh token lacks the scope "
                "ZohoCRM.bulk.read, which a full read at or above bulk_read_threshold needs. Generate the refresh "
                "token with ZohoCRM.bulk.read added, or set bulk_read_threshold = 0 to read page by page") from None
        entries = (reply.body or {}).get("data") if isinstance(reply.body, dict) else None
        details = entries[0].get("details") if isinstance(entries, list) and entries and \
            isinstance(entries[0], dict) else None
        if not isinstance(details, dict) or not details.get("id"):
            raise Fatal(f"{what}: Zoho answered the job creation without a job id: {reply.body!r:.200}")
        self.jobs += 1
        log.info("bulk read %s page %d: job %s", self._spec.name, page, details["id"])
        return str(details["id"])

    def _wait(self, job_id: str) -> dict[str, Any]:
        """Poll until the job completes; its `result`. The wait starts at 0.5 s and grows by half each time."""
        waited, wait = 0.0, FIRST_POLL_S
        while True:
            reply = self._call("GET", f"read/{job_id}", f"bulk read job {job_id}", root=BULK_ROOT)
            entries = (reply.body or {}).get("data") if isinstance(reply.body, dict) else None
            job = entries[0] if isinstance(entries, list) and entries and isinstance(entries[0], dict) else {}
            state = str(job.get("state") or "")
            if state == "COMPLETED":
                result = job.get("result")
                return result if isinstance(result, dict) else {}
            if state not in ("ADDED", "QUEUED", "IN PROGRESS"):
                raise Fatal(f"bulk read job {job_id} ended in state {state or 'unknown'!r}")
            if waited >= self.max_wait_s:
                raise Retriable(f"bulk read job {job_id} still {state} after {waited:.0f}s; the next run starts over")
            self._sleep(wait)
            waited += wait
            wait = min(MAX_POLL_S, wait * 1.5)

    def _download(self, job_id: str) -> IO[bytes]:
        """The result zip, streamed to a temporary file (never held in memory)."""

        def sink(resp: requests.Response) -> IO[bytes]:
            spool: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, who closes it
            try:
                for chunk in resp.iter_content(chunk_size=1 << 16):
                    spool.write(chunk)
            except TRANSPORT_ERRORS as exc:  # the body broke off: the whole download is tried again
                spool.close()
                raise Retriable(f"bulk read result {job_id}: {type(exc).__name__}") from None
            spool.seek(0)
            return spool

        reply = self._call("GET", f"read/{job_id}/result", f"bulk read result {job_id}", root=BULK_ROOT,
                           download=sink)
        spool: IO[bytes] = reply.body
        return spool

    @staticmethod
    def _unzip(spool: IO[bytes], job_id: str) -> zipfile.ZipFile:
        try:
            return zipfile.ZipFile(spool)
        except zipfile.BadZipFile:
            raise Fatal(f"bulk read result {job_id}: Zoho sent something that is not a zip file") from None

    @staticmethod
    def _csv_rows(archive: zipfile.ZipFile, job_id: str) -> Iterator[tuple[list[str], list[str]]]:
        """(header, row) of each record in the result's CSV, read straight from the zip."""
        names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
        if not names:
            raise Fatal(f"bulk read result {job_id}: the zip holds no CSV file ({archive.namelist()!r:.120})")
        member = f"{job_id}.csv" if f"{job_id}.csv" in names else names[0]
        with archive.open(member) as raw:
            reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
            header = ["id" if n == "Id" else n for n in next(reader, [])]
            if "id" not in header:
                raise Fatal(f"bulk read result {job_id}: the CSV has no Id column")
            for row in reader:
                yield header, row


class _Runs:
    """Rows cut into runs sorted by (cursor field, id): full runs go to files, the last one stays in memory."""

    def __init__(self, folder: str, run_rows: int, cursor_field: str) -> None:
        self.folder, self.run_rows, self.cursor_field = folder, run_rows, cursor_field
        self.header: list[str] = []
        self.files: list[str] = []
        self.pending: list[list[str]] = []
        self._at = (0, 0)  # positions of the cursor field and the id in a row

    @property
    def count(self) -> int:
        return len(self.files) + (1 if self.pending else 0)

    def _key(self, row: list[str]) -> tuple[datetime, tuple[int, int | str]]:
        stamp, record_id = self._at
        return parse_time(row[stamp]) or _EPOCH, _id_order(row[record_id])

    def add(self, rows: Iterator[tuple[list[str], list[str]]]) -> None:
        for header, row in rows:
            if header != self.header:
                if self.header:  # every page asks for the same fields; a different header is a broken answer
                    raise Fatal(f"bulk read pages disagree on their columns: {header!r:.120}")
                self.header = header
                self._at = (header.index(self.cursor_field) if self.cursor_field in header else header.index("id"),
                            header.index("id"))
            self.pending.append(row)
            if len(self.pending) >= self.run_rows:
                self._spill()

    def _spill(self) -> None:
        self.pending.sort(key=self._key)
        path = f"{self.folder}/run-{len(self.files):05d}.csv"
        with open(path, "w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows(self.pending)
        self.files.append(path)
        self.pending = []

    def merged(self) -> Iterator[list[str]]:
        self.pending.sort(key=self._key)
        files = [open(path, encoding="utf-8", newline="") for path in self.files]  # noqa: SIM115 - closed below
        try:
            yield from heapq.merge(*(csv.reader(fh) for fh in files), self.pending, key=self._key)
        finally:
            for fh in files:
                fh.close()
