"""The audit log's hash chain: appends, tampering of every kind, concurrent appenders, exports and signatures,
and the migration of a schema-1 audit table. Real SQLite stores in a temporary folder; no network."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from connector.audit import GENESIS, AuditEntry, StoredEntry, accepted, append, verify
from connector.audit_export import Signer, export_line, verify_export
from connector.audit_recovery import READ_BACK, confirmed_writes, same_value
from connector.model import ApplyResult, FieldUpdate, Outcome, TagAdd, TagRemove, TaskCreate, WritePlan
from connector.state import StateStore
from connector.tables import AuditRow, PendingWriteRow

KEY = b"an export-signing key for tests only"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()


def entry(n: int, record: str = "001A") -> AuditEntry:
    return AuditEntry("update", "accounts", record, f"upd:default:accounts:{record}:{n}",
                      {"changes": {"Risk_Tier__c": ["low", "high"], "Risk_Score__c": [12.5, 61.0 + n]}})


def fill(store: StateStore, runs: int = 3, per_run: int = 3) -> None:
    for run in range(1, runs + 1):
        store.audit("default" if run % 2 else "other", run, [entry(run * 10 + i, f"001{i}") for i in range(per_run)])


def sql(store: StateStore, statement: str, **params: Any) -> None:
    with store.session() as s:
        s.execute(text(statement), params)


def rows(store: StateStore) -> list[StoredEntry]:
    return store.audit_entries()


def own_hash(row: StoredEntry | AuditRow) -> str:
    """The documented hash, computed independently of connector.audit: SHA-256 over canonical JSON."""
    at = row.at.replace(tzinfo=UTC) if row.at.tzinfo is None else row.at
    body = {"at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "job": row.job, "run_id": row.run_id, "action": row.action,
            "object": row.object, "record_id": row.record_id, "key": row.key, "detail": row.detail,
            "prev_hash": row.prev_hash}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode("utf-8")).hexdigest()


def forge_at(store: StateStore, position: int, valid_hash: bool) -> None:
    """Insert a forged entry at `position`, shifting the entries from there on up by one id."""
    before = {r.id: r for r in rows(store)}[position - 1]
    sql(store, "UPDATE audit SET id = id + 100000 WHERE id >= :p", p=position)
    sql(store, "UPDATE audit SET id = id - 99999 WHERE id >= 100000")
    forged = AuditRow(id=position, run_id=before.run_id, at=before.at, job=before.job, action="update",
                      object="accounts", record_id="001FORGED", key="upd:forged",
                      detail={"changes": {"Risk_Tier__c": ["critical", "low"]}}, prev_hash=before.hash)
    forged.hash = own_hash(forged) if valid_hash else "f" * 64
    with store.session() as s:
        s.add(forged)


# --- the chain ----------------------------------------------------------------------------------------


def test_each_entry_hashes_its_canonical_content_and_chains_from_the_one_before(store: StateStore) -> None:
    fill(store)
    chain = rows(store)
    assert [r.id for r in chain] == list(range(1, 10))
    assert chain[0].prev_hash == GENESIS == "0" * 64
    for before, row in zip(chain, chain[1:], strict=False):
        assert row.prev_hash == before.hash
    assert all(own_hash(r) == r.hash for r in chain)
    verdict = verify(store.iter_audit())
    assert verdict.ok and verdict.count == 9 and verdict.head_id == 9 and verdict.head_hash == chain[-1].hash


def test_canonical_form_keeps_non_ascii_text_as_utf8(store: StateStore) -> None:
    store.audit("default", 1, [AuditEntry("task", "accounts", "001A", "task:k",
                                          {"subject": "信用风险复核：华东贸易 is now critical", "owner": None})])
    row = rows(store)[0]
    assert own_hash(row) == row.hash and verify(store.iter_audit()).ok


def test_an_empty_log_verifies_with_no_head(store: StateStore) -> None:
    verdict = verify(store.iter_audit())
    assert verdict.ok and verdict.count == 0 and verdict.head_id is None


# --- tampering: verify names the first bad entry -------------------------------------------------------


def test_an_edited_entry_is_named_as_changed(store: StateStore) -> None:
    fill(store)
    sql(store, """UPDATE audit SET detail = '{"changes": {"Risk_Tier__c": ["low", "low"]}}' WHERE id = 4""")
    problem = verify(store.iter_audit()).problem
    assert problem is not None and (problem.entry_id, problem.kind) == (4, "content changed")


@pytest.mark.parametrize("column, value", [("record_id", "001OTHER"), ("run_id", 99), ("job", "x"),
                                           ("at", "2020-01-01 00:00:00.000000"), ("action", "task"),
                                           ("key", "upd:other")])
def test_every_column_of_an_entry_is_covered_by_its_hash(store: StateStore, column: str, value: Any) -> None:
    fill(store)
    sql(store, f"UPDATE audit SET {column} = :v WHERE id = 5", v=value)
    problem = verify(store.iter_audit()).problem
    assert problem is not None and (problem.entry_id, problem.kind) == (5, "content changed")


def test_a_deleted_entry_is_named_as_missing(store: StateStore) -> None:
    fill(store)
    sql(store, "DELETE FROM audit WHERE id = 4")
    problem = verify(store.iter_audit()).problem
    assert problem is not None and (problem.entry_id, problem.kind) == (4, "entry missing")
    assert "entry 5 chains from an entry that is no longer in the log" in problem.message


def test_deleting_the_first_entries_is_noticed(store: StateStore) -> None:
    fill(store)
    sql(store, "DELETE FROM audit WHERE id <= 2")
    problem = verify(store.iter_audit()).problem
    assert problem is not None and (problem.entry_id, problem.kind) == (1, "entry missing")


def test_a_deletion_hidden_by_renumbering_still_breaks_the_chain(store: StateStore) -> None:
    fill(store)
    sql(store, "DELETE FROM audit WHERE id = 4")
    sql(store, "UPDATE audit SET id = id - 1 WHERE id > 4")
    problem = verify(store.iter_audit()).problem
    assert problem is not None and problem.kind == "chain broken" and problem.entry_id == 3


@pytest.mark.parametrize("valid_hash", [True, False], ids=["re-hashed forgery", "made-up hash"])
def test_a_forged_insert_is_named(store: StateStore, valid_hash: bool) -> None:
    fill(store)
    forge_at(store, 4, valid_hash)
    verdict = verify(store.iter_audit())
    assert verdict.problem is not None and (verdict.problem.entry_id, verdict.problem.kind) == (4, "forged insert")
    assert verdict.count == 3  # the three entries before it are vouched for


def test_an_entry_without_a_hash_is_a_forged_insert(store: StateStore) -> None:
    fill(store)
    sql(store, "INSERT INTO audit (id, run_id, at, action, object, record_id, detail) "
               "VALUES (10, 9, '2026-01-01 00:00:00.000000', 'update', 'accounts', '001X', '{}')")
    problem = verify(store.iter_audit()).problem
    assert problem is not None and (problem.entry_id, problem.kind) == (10, "forged insert")


def test_a_re_hashed_entry_whose_successor_was_not_fixed_is_named(store: StateStore) -> None:
    fill(store)
    sql(store, """UPDATE audit SET detail = '{"changes": {"Risk_Tier__c": ["low", "low"]}}' WHERE id = 6""")
    row = {r.id: r for r in rows(store)}[6]
    sql(store, "UPDATE audit SET hash = :h WHERE id = 6", h=own_hash(row))
    problem = verify(store.iter_audit()).problem
    assert problem is not None and (problem.entry_id, problem.kind) == (6, "chain broken")
    assert "entry 7 chains from another version of entry 6" in problem.message


def test_an_anchor_catches_a_rewrite_of_the_tail(store: StateStore) -> None:
    """Deleting the newest entries leaves a consistent chain; only an outside copy of the head shows it."""
    fill(store)
    head = str(rows(store)[-1].hash)
    assert verify(store.iter_audit(), anchor=head).ok
    sql(store, "DELETE FROM audit WHERE id >= 8")
    verdict = verify(store.iter_audit(), anchor=head)
    assert verdict.problem is None and verdict.anchored is False and not verdict.ok


# --- appends ---------------------------------------------------------------------------------------------


def test_two_concurrent_appenders_never_fork_the_chain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    StateStore(url).close()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def appender(job: str) -> None:
        store = StateStore(url)
        try:
            start.wait()
            for n in range(40):
                store.audit(job, n, [entry(n, f"{job}{i}") for i in range(3)])
        except BaseException as exc:  # surfaced below: a thread cannot fail the test by itself
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=appender, args=(job,)) for job in ("east", "west")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = StateStore(url)
    chain = rows(store)
    assert [r.id for r in chain] == list(range(1, 241))
    assert sum(r.job == "east" for r in chain) == sum(r.job == "west" for r in chain) == 120
    assert verify(store.iter_audit()).ok


def test_an_appender_that_lost_the_race_chains_onto_the_new_head(store: StateStore) -> None:
    """Deterministic interleaving: another appender extends the head after ours has read it."""
    fill(store, runs=1)
    raced = []

    @contextmanager
    def racing_session() -> Iterator[Session]:
        with store.session() as s:
            if not raced:
                raced.append(True)
                s.execute(text("SELECT 1"))
                store.audit("other", 7, [entry(70, "001R")])  # commits in its own transaction
            yield s

    def opener() -> AbstractContextManager[Session]:
        return racing_session()

    append(opener, "default", 8, [entry(80, "001S"), entry(81, "001T")], datetime.now(UTC))
    chain = rows(store)
    assert [(r.id, r.record_id) for r in chain[3:]] == [(4, "001R"), (5, "001S"), (6, "001T")]
    assert verify(store.iter_audit()).ok


def test_only_accepted_writes_become_entries() -> None:
    plan = WritePlan(
        updates=[FieldUpdate("accounts", "A1", {"Risk_Tier__c": ("low", "high")}, "u1"),
                 FieldUpdate("accounts", "A2", {"Risk_Tier__c": (None, "low")}, "u2"),
                 FieldUpdate("deals", "D1", {"Risk_Score__c": (1.0, 2.0)}, "u3")],
        tasks=[TaskCreate("t1", "accounts", "A1", "005X", "Credit risk review: A1 is now high", "why",
                          date(2026, 12, 1), "High")],
        tag_adds=[TagAdd("accounts", "A1", "credit-watchlist", "g1")],
        tag_removes=[TagRemove("accounts", "A3", "credit-watchlist", "g2")])
    result = ApplyResult()
    for key in ("u1", "t1", "g1", "g2"):
        result.add(Outcome(key, True, crm_id="00T1" if key == "t1" else None))
    result.add(Outcome("u2", False, "UNABLE_TO_LOCK_ROW"))  # u3: never attempted
    entries = accepted(plan, result)
    assert [(e.action, e.record_id, e.key) for e in entries] == [
        ("update", "A1", "u1"), ("task", "A1", "t1"), ("tag_add", "A1", "g1"), ("tag_remove", "A3", "g2")]
    assert entries[0].detail == {"changes": {"Risk_Tier__c": ["low", "high"]}}
    assert entries[1].detail == {"subject": "Credit risk review: A1 is now high", "owner": "005X",
                                 "due": "2026-12-01", "priority": "High", "crm_id": "00T1"}


# --- exports and signatures --------------------------------------------------------------------------------


def export(store: StateStore, key: bytes | None, after_id: int = 0) -> bytes:
    signer = Signer(key) if key is not None else None
    data = b""
    for row in store.iter_audit(after_id=after_id):
        line = export_line(row)
        data += line
        if signer is not None:
            signer.add(row, line)
    return data + (signer.closing_line() if signer is not None else b"")


def test_a_signed_export_verifies_and_any_one_byte_change_fails(store: StateStore) -> None:
    fill(store, runs=2, per_run=2)
    data = export(store, KEY)
    check = verify_export(data, KEY)
    assert check.ok and check.signed and check.signature_ok and check.verdict.count == 4
    assert json.loads(data.splitlines()[-1])["signature"]["head"] == rows(store)[-1].hash
    for position in range(len(data)):
        changed = data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1:]
        assert not verify_export(changed, KEY).ok, f"a change at byte {position} went unnoticed"


def test_a_signed_export_fails_with_another_key_or_without_its_signature(store: StateStore) -> None:
    fill(store, runs=1)
    data = export(store, KEY)
    assert not verify_export(data, b"another key").ok
    unsigned = data[:data.rindex(b'{"signature"')]
    stripped = verify_export(unsigned, KEY)
    assert not stripped.ok and "not signed" in str(stripped.error)


def test_an_export_from_the_middle_of_the_log_verifies_on_its_own(store: StateStore) -> None:
    fill(store)
    data = export(store, KEY, after_id=4)
    check = verify_export(data, KEY)
    assert check.ok and check.verdict.count == 5 and check.verdict.head_hash == rows(store)[-1].hash


def test_an_unsigned_export_is_chain_checked(store: StateStore) -> None:
    fill(store)
    data = export(store, None)
    assert verify_export(data, None).ok
    lines = data.splitlines(keepends=True)
    del lines[3]
    check = verify_export(b"".join(lines), None)
    assert not check.ok and check.verdict.problem is not None and check.verdict.problem.entry_id == 4


# --- a schema-1 store --------------------------------------------------------------------------------------


def test_a_schema_1_audit_table_is_migrated_and_its_rows_chained(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = StateStore(url)
    sql(store, "DROP TABLE audit")
    sql(store, "CREATE TABLE audit (id INTEGER NOT NULL PRIMARY KEY, run_id INTEGER NOT NULL, at DATETIME NOT NULL, "
               "action VARCHAR(40) NOT NULL, object VARCHAR(20) NOT NULL, record_id VARCHAR(40) NOT NULL, "
               "detail JSON NOT NULL)")
    sql(store, "INSERT INTO runs (id, job, started_at, status, dry_run, full, api_calls, summary) "
               "VALUES (1, 'legacy', '2026-01-01 00:00:00.000000', 'success', 0, 0, 0, '{}')")
    for n in (1, 2, 3):
        sql(store, "INSERT INTO audit (run_id, at, action, object, record_id, detail) VALUES "
                   "(1, '2026-01-01 00:00:00.000000', 'update', 'accounts', :r, :d)",
            r=f"001{n}", d=json.dumps({"Risk_Tier__c": ["low", "high"]}))
    sql(store, "DROP TABLE alembic_version")  # made before Alembic: only the hand-rolled version table
    sql(store, "DROP TABLE ticks")  # added by a later revision (0003)
    sql(store, "CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY)")
    sql(store, "INSERT INTO schema_version (version) VALUES (1)")
    store.close()

    caplog.set_level(logging.WARNING)
    migrated = StateStore(url)
    assert "3 entries written before the audit log was hash-chained were chained now" in caplog.text
    chain = rows(migrated)
    assert [r.job for r in chain] == ["legacy"] * 3 and chain[0].prev_hash == GENESIS
    assert verify(migrated.iter_audit()).ok
    migrated.audit("default", 2, [entry(1)])
    assert verify(migrated.iter_audit()).count == 4
    migrated.close()
    again = StateStore(url)  # a second open changes nothing
    assert [r.hash for r in rows(again)] == [r.hash for r in rows(migrated)]
    again.close()


@pytest.mark.parametrize("column, value", [("detail", "{not json"), ("at", "yesterday"), ("run_id", "seven")])
def test_a_value_that_no_longer_parses_is_reported_not_crashed_on(store: StateStore, column: str, value: str) -> None:
    fill(store)
    sql(store, f"UPDATE audit SET {column} = :v WHERE id = 3", v=value)
    problem = verify(store.iter_audit()).problem
    assert problem is not None and (problem.entry_id, problem.kind) == (3, "content changed")


# --- read-back of unanswered writes ---------------------------------------------------------------------


@pytest.mark.parametrize("sent, now, same", [
    (61.0, 61, True), (61.0, "61.00", True), (61.004, 61.0, True), (61.0, 62.0, False),
    ("high", "high", True), ("high", "critical", False), (None, "", True), ("", None, True), ("high", None, False),
    (True, True, True), (True, "true", True), (False, True, False),
    ("2026-11-30T04:10:00.123456+00:00", "2026-11-30T04:10:00.000+0000", True),
    ("2026-11-30T04:10:00+00:00", "2026-11-30T05:10:00+01:00", True),
    ("2026-11-30T04:10:00+00:00", "2026-11-30T04:11:00+00:00", False),
    ("2026-12-01", "2026-12-01", True), ("Bureau score low", "Bureau score low ", True),
])
def test_a_read_back_value_matches_what_was_sent_as_the_crm_formats_it(sent: Any, now: Any, same: bool) -> None:
    assert same_value(sent, now) is same


def test_only_pending_writes_the_crm_holds_as_sent_are_confirmed() -> None:
    def pending(key: str, run_id: int, record: str, tier: str) -> PendingWriteRow:
        return PendingWriteRow(key=key, job="default", run_id=run_id, object="accounts", record_id=record,
                               detail={"changes": {"Risk_Tier__c": ["low", tier], "Risk_Score__c": [None, 70.0]}},
                               sent_at=datetime.now(UTC))

    writes = [pending("k1", 5, "A1", "high"), pending("k2", 5, "A2", "high"), pending("k3", 6, "A3", "critical"),
              pending("k4", 6, "A4", "high")]
    current = {("accounts", "A1"): {"Risk_Tier__c": "high", "Risk_Score__c": 70},
               ("accounts", "A2"): {"Risk_Tier__c": "medium", "Risk_Score__c": 70},  # changed since by someone
               ("accounts", "A3"): {"Risk_Tier__c": "critical", "Risk_Score__c": "70.0"}}  # A4: gone from the CRM
    result = confirmed_writes(writes, current)
    assert {run: ([e.record_id for e in entries], keys) for run, (entries, keys) in result.items()} == {
        5: (["A1"], ["k1", "k2"]), 6: (["A3"], ["k3", "k4"])}
    assert result[5][0][0].detail["confirmed"] == READ_BACK


@pytest.mark.parametrize("changes", [
    {"Risk_Score__c": (None, 61.5), "Risk_Tier__c": ("low", "high"), "Watch__c": (False, True),
     "Scored_At__c": (None, datetime(2026, 3, 2, 9, tzinfo=UTC)), "Terms__c": (30, 15), "Name__c": ("", "中文")},
    {"A": (float("nan"), float("inf"))},  # tokens, not numbers
    {"A": ((1, 2), date(2026, 3, 2))},  # a tuple: not a JSON value
    {"A": (__import__("decimal").Decimal("1.5"), {1: "x"}), 2: (None, 1)},  # objects, non-text keys
])
@pytest.mark.parametrize("crm_id", [None, "", "001x", 7])
def test_an_entry_detail_is_what_the_json_column_hands_back(changes: dict[Any, Any], crm_id: Any) -> None:
    """The audit detail skips the JSON round trip only where the trip would give the same values and types."""
    from connector.audit import _detail

    ops: list[Any] = [FieldUpdate("accounts", "A1", changes, "k"), TagAdd("accounts", "A1", "Watch", "t"),
                      TaskCreate("k2", "accounts", "A1", None, "Review 中文", "d", date(2026, 3, 5), "High")]
    for op in ops:
        raw = ({"changes": {k: [_iso(o), _iso(n)] for k, (o, n) in op.changes.items()}}
               if isinstance(op, FieldUpdate) else {"tag": op.tag} if isinstance(op, TagAdd) else
               {"subject": op.subject, "owner": op.owner_id, "due": op.due.isoformat(), "priority": op.priority})
        if crm_id:
            raw["crm_id"] = crm_id
        expected = json.loads(json.dumps(raw, default=str))
        got = _detail(op, crm_id)
        assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)
        assert _types(got) == _types(expected)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [type(value).__name__, [_types(v) for v in value]]
    return type(value).__name__
