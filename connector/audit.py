"""The audit log: one hash-chained entry per write the CRM accepted.

Each entry's ``hash`` is SHA-256 over the canonical JSON form (sorted keys, no whitespace, UTF-8) of its
content (`CHAINED`) including ``prev_hash``, the hash of the entry before it; the first entry chains
from `GENESIS`. Editing, deleting or inserting an entry therefore breaks the chain at that point, and
`verify` names the first bad entry. The entry id is deliberately not hashed: ids are positions, the chain
is the proof, so a renumbering after an insert is still reported as the insert it hides.

Appends are serialised through the primary key: an appender reads the head and inserts the next ids in
one transaction; a concurrent appender that extended the same head makes the insert fail on the key, and
the loser re-reads the head and tries again. No chain can fork, on SQLite or PostgreSQL alike.

A SHA-256 chain proves order and integrity, not authorship: whoever can write the database can rebuild
the whole chain. An outside copy of the head hash (printed by `audit verify`, carried in a signed
export) proves that nothing up to that entry changed since.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from json.encoder import encode_basestring
from typing import Any

from sqlalchemy import JSON, Text, bindparam, cast, delete, insert, select, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connector.model import ApplyResult, FieldUpdate, TagAdd, TaskCreate, WriteOp, WritePlan
from connector.tables import AuditRow, PendingWriteRow, RunRow

__all__ = ["CHAINED", "GENESIS", "AuditEntry", "Problem", "StoredEntry", "Verdict", "accepted", "append", "canonical",
           "chain_unchained", "content", "entry_hash", "expected", "from_stored", "stored_columns", "verify"]

log = logging.getLogger(__name__)

GENESIS = "0" * 64  # the prev_hash of the first entry
CHAINED = ("at", "job", "run_id", "action", "object", "record_id", "key", "detail", "prev_hash")
# One encoder each, built once (`json.dumps` with options builds a new encoder on every call).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_JSON_TEXT = json.JSONEncoder(ensure_ascii=False).encode  # a scalar's JSON text, as `canonical` writes it
_QUOTED: Callable[[str], str] = encode_basestring  # what `_JSON_TEXT` returns for a str
APPEND_ATTEMPTS = 50  # concurrent appenders retry on a key clash; only a livelock would exhaust this


@dataclass(frozen=True)
class AuditEntry:
    """One accepted write, before it is chained: what changed, on which record, under which op key."""

    action: str  # update, task, tag_add, tag_remove
    object: str
    record_id: str
    key: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as read back from the log (or an export), untrusted until `verify` has checked it. `at` and
    `detail` stay text when they no longer parse, and any column may hold what someone wrote into it."""

    id: int
    run_id: Any
    at: datetime | str
    action: str
    object: str
    record_id: str
    detail: Any
    job: str | None
    key: str | None
    prev_hash: str | None
    hash: str | None


def accepted(plan: WritePlan, result: ApplyResult) -> list[AuditEntry]:
    """An entry for every op of `plan` the CRM acknowledged as done in `result`, in plan order."""
    entries = []
    for op in plan.ops():
        outcome = result.outcomes.get(op.key)
        if outcome is not None and outcome.ok:
            entries.append(AuditEntry(_action(op), op.object, op.record_id, op.key, _detail(op, outcome.crm_id)))
    return entries


def expected(plan: WritePlan) -> list[AuditEntry]:
    """Entries for the field updates of `plan`, recorded as pending before the plan is sent. (Tasks and tags
    need none: the outbox sends an unanswered one again, and its answer is audited then.)"""
    return [AuditEntry("update", op.object, op.record_id, op.key, _detail(op, None)) for op in plan.updates]


def _chunks(keys: list[str], size: int = 500) -> Iterator[list[str]]:
    for start in range(0, len(keys), size):
        yield keys[start:start + size]


def _action(op: WriteOp) -> str:
    return {FieldUpdate: "update", TaskCreate: "task", TagAdd: "tag_add"}.get(type(op), "tag_remove")


def _detail(op: WriteOp, crm_id: str | None) -> dict[str, Any]:
    """Field names and values, task text and owner, tag names: never credentials (none reach a plan)."""
    plain = crm_id is None or type(crm_id) is str
    if isinstance(op, FieldUpdate):
        changes = {}
        for name, (old, new) in op.changes.items():
            # Inline for speed (two values per changed field of every write): plain JSON passes as it is,
            # dates become ISO text, anything else makes the detail take the JSON round trip below.
            kind = type(old)
            if kind not in _JSON_SCALARS:
                if isinstance(old, date):
                    old = _iso(old)
                elif kind is not float or old - old != 0:  # NaN and infinities are tokens, not numbers
                    plain = False
            kind = type(new)
            if kind not in _JSON_SCALARS:
                if isinstance(new, date):
                    new = _iso(new)
                elif kind is not float or new - new != 0:
                    plain = False
            changes[name] = [old, new]
            if type(name) is not str:
                plain = False
        detail: dict[str, Any] = {"changes": changes}
    elif isinstance(op, TaskCreate):
        detail = {"subject": op.subject, "owner": op.owner_id, "due": op.due.isoformat(), "priority": op.priority}
        plain = plain and _scalar(op.subject) and _scalar(op.owner_id) and _scalar(op.priority)
    else:
        detail = {"tag": op.tag}
        plain = plain and _scalar(op.tag)
    if crm_id:
        detail["crm_id"] = crm_id
    # Plain values are what the JSON column hands back already: only others take the round trip.
    return detail if plain else _jsonable(detail)


@lru_cache(maxsize=1024)
def _iso(value: date) -> str:
    """A date's or datetime's ISO text, once per value: every update of a run writes the same `scored_at`."""
    return value.isoformat()


def _scalar(value: Any) -> bool:
    """A JSON scalar that comes back from a JSON round trip equal and of the same type."""
    kind = type(value)
    return kind in _JSON_SCALARS or (kind is float and value - value == 0)  # not NaN or an infinity


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value  # datetimes too


def _jsonable(detail: dict[str, Any]) -> dict[str, Any]:
    """The detail exactly as the JSON column hands it back, so the hash computed now is the hash read later."""
    return dict(json.loads(json.dumps(detail, default=str)))


_JSON_SCALARS = frozenset({str, int, bool, type(None)})


# --- the chain -------------------------------------------------------------------------------------


def canonical(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 (not ASCII-escaped)."""
    return _CANONICAL(value).encode("utf-8")


def timestamp(at: datetime | str) -> str:
    """One text form for a stored time: SQLite hands datetimes back naive (they are UTC), PostgreSQL aware.
    A stored value that is not a time (tampered) is kept as it is, so it fails its hash."""
    if isinstance(at, str):
        return at
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content(row: StoredEntry | AuditRow) -> dict[str, Any]:
    """The hashed content of an entry (everything but its id and its own hash)."""
    return _chained({name: getattr(row, name) for name in CHAINED})


def _chained(values: Mapping[str, Any]) -> dict[str, Any]:
    chained = {name: values[name] for name in CHAINED}
    chained["at"] = timestamp(values["at"])
    return chained


def stored_columns() -> list[Any]:
    """The audit table's columns for reading entries without trusting them: time and detail as raw text."""
    return [type_coerce(c, Text).label(c.name) if c.name in ("at", "detail") else c
            for c in AuditRow.__table__.columns]


def from_stored(values: Mapping[Any, Any]) -> StoredEntry:
    """An entry as stored (a row of `stored_columns()`). A detail that is not JSON
    or a time that is not a time stays text: the entry then fails its hash instead of failing the read."""
    row = dict(values)
    for name, parse in (("detail", json.loads), ("at", datetime.fromisoformat)):
        if isinstance(row[name], str):  # SQLite; PostgreSQL drivers already hand back parsed values
            with suppress(ValueError):
                row[name] = parse(row[name])
    return StoredEntry(**row)


def entry_hash(chained: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(chained)).hexdigest()


def _head(session: Session) -> tuple[int, str]:
    """(id, hash) of the last entry, or (0, GENESIS) for an empty log."""
    row = session.execute(select(AuditRow.id, AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)).first()
    return (0, GENESIS) if row is None else (int(row[0]), row[1] or GENESIS)


def _chain(entries: list[AuditEntry], job: str, run_id: int, at: datetime, head: tuple[int, str]
           ) -> list[dict[str, Any]]:
    """The rows of `entries` chained onto `head`, with each detail as canonical JSON text (``detail_json``).

    Each detail is serialised once: the entry's canonical form (`canonical(content(row))`) is assembled
    around that text in `CHAINED`'s sorted key order, hashed, and the same text is stored."""
    last_id, prev = head
    text = _JSON_TEXT
    # The parts every entry of the batch shares, serialised once.
    at_job = f'"at":{text(timestamp(at))}'
    job_part = f'"job":{text(job)}'
    run_part = f'"run_id":{text(run_id)}}}'
    quoted = _QUOTED  # `text` of a str, without the encoder's dispatch: five per entry
    rows = []
    for offset, e in enumerate(entries, start=1):
        detail = _CANONICAL(e.detail)
        body = (f'{{"action":{quoted(e.action)},{at_job},"detail":{detail},{job_part},"key":{quoted(e.key)},'
                f'"object":{quoted(e.object)},"prev_hash":{quoted(prev)},"record_id":{quoted(e.record_id)},{run_part}')
        digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
        rows.append({"id": last_id + offset, "run_id": run_id, "at": at, "job": job, "action": e.action,
                     "object": e.object, "record_id": e.record_id, "key": e.key, "detail_json": detail,
                     "prev_hash": prev, "hash": digest})
        prev = digest
    return rows




def _insert_chained(session: Session) -> Any:
    """An INSERT of `_chain` rows that stores each detail's JSON text as it is (the JSON type would
    serialise it again): PostgreSQL casts the text to json, SQLite keeps JSON as text."""
    table: Any = AuditRow.__table__
    detail: Any = type_coerce(bindparam("detail_json"), Text)
    if session.get_bind().dialect.name != "sqlite":
        detail = cast(detail, JSON)
    return insert(table).values(detail=detail)


def append(open_session: Callable[[], AbstractContextManager[Session]], job: str, run_id: int,
           entries: list[AuditEntry], at: datetime, settled: Collection[str] = ()) -> None:
    """Chain `entries` onto the log in one transaction; `open_session()` yields a session in a transaction.
    The same transaction settles the pending writes keyed `settled` (the CRM answered them).

    The insert of ids head+1.. fails on the primary key if another appender extended the head first; the
    whole batch is then rolled back and chained again onto the new head."""
    if not entries and not settled:
        return
    at = at.astimezone(UTC)
    for attempt in range(1, APPEND_ATTEMPTS + 1):
        try:
            with open_session() as s:
                for chunk in _chunks(list(settled)):
                    s.execute(delete(PendingWriteRow).where(PendingWriteRow.key.in_(chunk)))
                if entries:
                    s.execute(_insert_chained(s), _chain(entries, job, run_id, at, _head(s)))
            return
        except IntegrityError:
            log.debug("audit append raced another writer (attempt %d); chaining onto the new head", attempt)
    raise RuntimeError(f"audit: could not append {len(entries)} entries after {APPEND_ATTEMPTS} attempts")


def chain_unchained(session: Session) -> int:
    """Chain entries written before the log had hashes (schema 1), in id order; returns how many.

    Called once, by the migration that adds the hash columns: they are vouched for from that moment on,
    not before. An unchained entry found later was written outside riskbridge and fails `verify`."""
    if session.scalar(select(AuditRow.id).where(AuditRow.hash.is_not(None)).limit(1)) is not None:
        return 0  # a chain exists: unchained rows now are forgeries for `verify` to name, not to bless
    rows = list(session.scalars(select(AuditRow).order_by(AuditRow.id)))
    if not rows:
        return 0
    jobs = dict(session.execute(select(RunRow.id, RunRow.job).where(RunRow.id.in_({r.run_id for r in rows}))).all())
    prev = GENESIS
    for row in rows:
        row.job = row.job or jobs.get(row.run_id) or ""
        row.key = row.key or ""
        row.prev_hash = prev
        row.hash = prev = entry_hash(content(row))
    session.flush()
    return len(rows)


# --- verification -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """The first bad entry: its id, what is wrong (a short kind) and how it shows."""

    entry_id: int
    kind: str  # content changed, entry missing, forged insert, chain broken
    message: str


@dataclass(frozen=True)
class Verdict:
    count: int  # entries checked (up to the first problem)
    head_id: int | None
    head_hash: str | None
    problem: Problem | None = None
    anchored: bool | None = None  # when an anchor was given: is it in the verified chain

    @property
    def ok(self) -> bool:
        return self.problem is None and self.anchored is not False


def verify(rows: Iterable[StoredEntry], start: str = GENESIS, anchor: str | None = None) -> Verdict:
    """Recompute the chain over `rows` (in id order, from the entry that chains from `start`) and name the
    first bad entry. With `anchor`, the chain must also contain an entry with that hash."""
    checked, prev_row, seen_anchor = 0, None, False
    chain_from = start  # the hash the next entry must chain from
    good: list[tuple[int | None, str | None]] = [(None, None)]  # (id, hash) of the last two entries vouched for
    for row, after in _pairs(iter(rows)):
        problem = _check(row, after, prev_row, chain_from, start)
        if problem is not None:
            if prev_row is not None and problem.entry_id <= prev_row.id:  # the bad one is the entry before
                checked, good = checked - 1, good[:-1]
            return Verdict(checked, good[-1][0], good[-1][1], problem)
        checked += 1
        seen_anchor = seen_anchor or (anchor is not None and str(row.hash).startswith(anchor))
        prev_row, chain_from = row, str(row.hash)
        good = [good[-1], (row.id, chain_from)]
    anchored = None if anchor is None else seen_anchor
    return Verdict(checked, prev_row.id if prev_row else None, chain_from if prev_row else None, None, anchored)


def _pairs(rows: Iterator[StoredEntry]) -> Iterator[tuple[StoredEntry, StoredEntry | None]]:
    """Each row with the one after it: telling an insert from an edit needs to see who chains from whom."""
    current = next(rows, None)
    while current is not None:
        after = next(rows, None)
        yield current, after
        current = after


def _check(row: StoredEntry, after: StoredEntry | None, prev: StoredEntry | None, expected: str, start: str
           ) -> Problem | None:
    if not row.hash or not row.prev_hash:
        return Problem(row.id, "forged insert", f"entry {row.id} has no hash: it was written outside the chain")
    if entry_hash(content(row)) != row.hash:
        if after is not None and after.prev_hash == expected:
            return Problem(row.id, "forged insert", f"entry {row.id} does not match its hash and entry {after.id} "
                           "chains past it: it was inserted later")
        return Problem(row.id, "content changed", f"entry {row.id} no longer matches its hash: its content "
                       "was changed after it was written")
    if row.prev_hash == expected:
        return None
    first_missing = (prev.id + 1) if prev is not None else 1
    if prev is not None and row.prev_hash == prev.prev_hash:
        return Problem(prev.id, "forged insert", f"entries {prev.id} and {row.id} both chain from the entry "
                       f"before {prev.id}: entry {prev.id} was inserted later")
    if row.id > first_missing and (prev is not None or start == GENESIS):
        gap = f"entry {first_missing}" if row.id == first_missing + 1 else f"entries {first_missing}-{row.id - 1}"
        return Problem(first_missing, "entry missing", f"{gap} missing (deleted): entry {row.id} chains from "
                       f"an entry that is no longer in the log ({row.prev_hash[:16]}…)")
    if prev is None:
        return Problem(row.id, "chain broken", f"entry {row.id} does not chain from the start of the log "
                       f"({start[:16]}…)")
    return Problem(prev.id, "chain broken", f"entry {row.id} chains from another version of entry {prev.id} "
                   f"({row.prev_hash[:16]}… instead of {expected[:16]}…): entry {prev.id} was changed and "
                   "re-hashed, or entries between them were deleted and renumbered")
