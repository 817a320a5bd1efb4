"""The audit append serialises each detail once and stores that text: the hash it computes is the documented
one (SHA-256 over the canonical JSON of the entry), and the stored detail reads back as the value appended, on
SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from connector.audit import AuditEntry, StoredEntry, verify
from connector.state import StateStore

DETAILS: list[dict[str, Any]] = [
    {"changes": {"Risk_Score__c": [54.0, 75.0], "Risk_Tier__c": ["medium", "critical"]}, "crm_id": "001A"},
    {"changes": {"Risk_Reasons__c": ['say "why"\\n — 理由 \u2028 \t', None], "Terms": [30, 15]}},
    {"subject": "High risk: ÄÖÜ ✓", "owner": None, "due": "2026-12-01", "priority": "High", "z": {"b": 1, "a": [1.5e-07, -0.0, 1e300]}},
    {"tag": "risk-watch"},
    {},
]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    url = f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else request.getfixturevalue(
        "postgres_urls")()
    opened = StateStore(url)
    yield opened
    opened.close()


def documented_hash(row: StoredEntry) -> str:
    """SHA-256 over the entry's canonical JSON, computed here independently of connector.audit."""
    assert not isinstance(row.at, str)
    at = row.at.replace(tzinfo=UTC) if row.at.tzinfo is None else row.at.astimezone(UTC)
    body = {"at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "job": row.job, "run_id": row.run_id, "action": row.action,
            "object": row.object, "record_id": row.record_id, "key": row.key, "detail": row.detail,
            "prev_hash": row.prev_hash}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_appended_entries_hash_as_documented_and_read_back_unchanged(store: StateStore) -> None:
    entries = [AuditEntry("update" if i % 2 else "task", "accounts", f"00{i}é", f"k:{i}:\"q\"", d)
               for i, d in enumerate(DETAILS)]
    store.audit("jöb", 7, entries[:2])
    store.audit("jöb", 8, entries[2:])
    stored = store.audit_entries()
    assert [r.detail for r in stored] == DETAILS
    assert [(r.action, r.record_id, r.key, r.job, r.run_id) for r in stored] == [
        (e.action, e.record_id, e.key, "jöb", 7 if i < 2 else 8) for i, e in enumerate(entries)]
    assert [r.hash for r in stored] == [documented_hash(r) for r in stored]
    assert stored[3].prev_hash == stored[2].hash
    assert verify(stored).ok and verify(stored).count == len(DETAILS)
