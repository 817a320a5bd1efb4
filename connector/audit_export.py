"""Audit log exports: JSON Lines, optionally signed with HMAC-SHA256, and their verification.

An export is one canonical JSON object per entry and line (`connector.audit.canonical`), each with its
``id``, ``hash`` and ``prev_hash``. A signed export ends with one more line::

    {"signature":{"algorithm":"HMAC-SHA256","entries":N,"first_prev_hash":"…","head":"…","value":"<hex>"}}

``value`` is the HMAC-SHA256, under the key, of every byte before that line. Whoever holds the key and
a signed export can prove that the log up to its ``head`` is unchanged: `verify_export` checks the
signature and the chain inside the file, and ``audit verify --anchor HEAD`` checks that the live log
still contains that head.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.audit import GENESIS, Problem, StoredEntry, Verdict, canonical, timestamp, verify

__all__ = ["ExportCheck", "Signer", "export_line", "problem_text", "to_json", "verify_export"]

ALGORITHM = "HMAC-SHA256"


def to_json(row: StoredEntry) -> dict[str, Any]:
    """One entry as exported and shown by ``audit show --json``."""
    return {"id": row.id, "at": timestamp(row.at), "job": row.job, "run_id": row.run_id, "action": row.action,
            "object": row.object, "record_id": row.record_id, "key": row.key, "detail": row.detail,
            "prev_hash": row.prev_hash, "hash": row.hash}


def export_line(row: StoredEntry) -> bytes:
    """One entry as one canonical JSON line, newline included."""
    return canonical(to_json(row)) + b"\n"


class Signer:
    """Signs an export as it is written: feed it every line, then write `closing_line()` last."""

    def __init__(self, key: bytes) -> None:
        self._mac = hmac.new(key, digestmod=hashlib.sha256)
        self.entries = 0
        self.first_prev_hash: str | None = None
        self.head: str | None = None

    def add(self, row: StoredEntry, line: bytes) -> None:
        self._mac.update(line)
        self.entries += 1
        self.first_prev_hash = self.first_prev_hash or row.prev_hash
        self.head = row.hash

    def closing_line(self) -> bytes:
        return canonical({"signature": {"algorithm": ALGORITHM, "entries": self.entries,
                                        "first_prev_hash": self.first_prev_hash, "head": self.head,
                                        "value": self._mac.hexdigest()}}) + b"\n"


@dataclass(frozen=True)
class ExportCheck:
    """What verifying an export found: the chain verdict, whether it was signed and the signature held."""

    verdict: Verdict
    signed: bool
    signature_ok: bool | None  # None: not checked (unsigned, or no key)
    error: str | None = None  # the file itself is malformed, or its signature does not match

    @property
    def ok(self) -> bool:
        return self.error is None and self.verdict.ok and self.signature_ok is not False


def verify_export(data: bytes, key: bytes | None) -> ExportCheck:
    """Check an export byte for byte: canonical lines, the signature (with `key`), and the chain."""
    empty = Verdict(0, None, None)
    if data and not data.endswith(b"\n"):
        return ExportCheck(empty, False, None, "the file does not end with a newline: it was cut or changed")
    lines = data.split(b"\n")[:-1] if data else []
    parsed: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        try:
            value = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return ExportCheck(empty, False, None, f"line {number} is not JSON: the file was changed")
        if not isinstance(value, dict) or canonical(value) != line:
            return ExportCheck(empty, False, None, f"line {number} is not in canonical form: the file was changed")
        parsed.append(value)
    signature = parsed[-1].get("signature") if parsed else None
    entries = parsed[:-1] if signature is not None else parsed
    rows = [_row(e, n) for n, e in enumerate(entries, start=1)]
    if any(isinstance(r, str) for r in rows):
        return ExportCheck(empty, signature is not None, None, next(r for r in rows if isinstance(r, str)))
    chain = [r for r in rows if isinstance(r, StoredEntry)]
    start = chain[0].prev_hash or GENESIS if chain else GENESIS
    verdict = verify(chain, start=start)
    if signature is None:
        if key is not None:
            return ExportCheck(verdict, False, False, "the export is not signed (a signature line was removed, "
                               "or it was exported without --sign)")
        return ExportCheck(verdict, False, None)
    if key is None:
        return ExportCheck(verdict, True, None)
    signer = Signer(key)
    for row, line in zip(chain, lines[:-1], strict=True):
        signer.add(row, line + b"\n")
    if not hmac.compare_digest(signer.closing_line(), lines[-1] + b"\n"):
        return ExportCheck(verdict, True, False, "the signature does not match: the export was changed after it "
                           "was signed, or the key is not the one it was signed with")
    return ExportCheck(verdict, True, True)


def _row(entry: dict[str, Any], line: int) -> StoredEntry | str:
    """An exported entry back as an (unsaved) row, or why it cannot be one."""
    try:
        at = datetime.fromisoformat(str(entry["at"]).replace("Z", "+00:00"))
        return StoredEntry(id=int(entry["id"]), at=at, job=entry["job"], run_id=int(entry["run_id"]),
                        action=entry["action"], object=entry["object"], record_id=entry["record_id"],
                        key=entry["key"], detail=entry["detail"], prev_hash=entry["prev_hash"], hash=entry["hash"])
    except (KeyError, TypeError, ValueError):
        return f"line {line} is not an audit entry"


def problem_text(problem: Problem) -> str:
    return f"entry {problem.entry_id}: {problem.kind}: {problem.message}"
