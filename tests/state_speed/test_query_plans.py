"""The store's lookups by id use an index that makes them proportional to the ids asked, not to the job's
size: the statements the store really sends (caught on the engine) are explained by SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, inspect, text

from connector.model import Deal
from connector.state import OutboxRow, StateStore

NOW = datetime(2026, 11, 29, tzinfo=UTC)
DEALS, ACCOUNTS = 4000, 2000
TASKED = 1000  # records with two task episodes each


@contextmanager
def sent(store: StateStore, table: str) -> Iterator[list[tuple[str, Any]]]:
    """The SELECTs from `table` the store sends inside the block, with their parameters."""
    caught: list[tuple[str, Any]] = []

    def catch(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and f"FROM {table}" in statement:
            caught.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", catch)
    try:
        yield caught
    finally:
        event.remove(store.engine, "before_cursor_execute", catch)


def explain(store: StateStore, statement: str, parameters: Any) -> str:
    """The plan of one caught statement, as one text."""
    with store.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        if store.engine.dialect.name == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute(f"EXPLAIN {statement}", parameters)
        return "\n".join(str(row[0]) for row in cursor.fetchall())


def analyze(store: StateStore) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("ANALYZE"))  # as a long-lived database has statistics


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("postgres_urls")()
    store = StateStore(url)
    yield store
    store.close()


def _uses_index(store: StateStore, plan: str, index: str) -> None:
    if store.engine.dialect.name == "sqlite":
        assert f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan, plan
        assert "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), plan
    else:
        # PostgreSQL may take the older ix_deals_account_id and filter by job: an index either way
        assert "Index" in plan and "Seq Scan" not in plan, plan


def test_deals_for_accounts_searches_the_job_account_index(empty_store: StateStore) -> None:
    store = empty_store
    for job in ("big", "other"):  # another job beside it: the index must narrow by job too
        store.save_deals(job, [Deal(f"D{i:06d}", NOW, {"amount": float(i), "account_id": f"A{i % ACCOUNTS:06d}"})
                               for i in range(DEALS)])
    analyze(store)
    wanted = [f"A{i:06d}" for i in range(0, ACCOUNTS, 37)]
    with sent(store, "deals") as caught:
        deals = store.deals_for_accounts("big", wanted)
    expected = sorted(f"D{i:06d}" for i in range(DEALS) if i % ACCOUNTS % 37 == 0)
    assert [d.id for d in deals] == expected  # one chunk, in deal id order
    assert {d.account_id for d in deals} == set(wanted)
    assert len(caught) == 1
    _uses_index(store, explain(store, *caught[0]), "ix_deals_job_account")


def test_latest_tasks_searches_the_job_kind_record_index(empty_store: StateStore) -> None:
    store = empty_store
    for job in ("big", "other"):
        store.enqueue([OutboxRow(key=f"{job}-{kind}-{i}", job=job, kind=kind, object="accounts",
                                 record_id=f"A{i % TASKED:06d}", payload={"rule": "r", "episode": i // TASKED},
                                 created_at=NOW, updated_at=NOW)
                       for i in range(TASKED * 2) for kind in ("task", "tag_add")])
    analyze(store)
    with sent(store, "outbox") as caught:
        latest = store.latest_tasks("big", ["A000001", "A000002"])
    assert {slot: row.key for slot, row in latest.items()} == {("A000001", "r"): f"big-task-{TASKED + 1}",
                                                               ("A000002", "r"): f"big-task-{TASKED + 2}"}
    _uses_index(store, explain(store, *caught[0]), "ix_outbox_job_kind_record")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_fresh_store_has_the_indexes(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_urls")()
    store = StateStore(url)
    # A fresh engine: the store's own may hold reflection from before its migrations ran.
    reader = create_engine(url)
    found = inspect(reader)
    indexes = {i["name"]: i["column_names"] for t in ("deals", "outbox") for i in found.get_indexes(t)}
    reader.dispose()
    assert indexes["ix_deals_job_account"] == ["job", "account_id"]
    assert indexes["ix_outbox_job_kind_record"] == ["job", "kind", "record_id"]
    store.close()


def test_an_old_sqlite_store_gains_the_indexes(tmp_path: Path) -> None:
    """A store at revision 0003 (before the indexes) gets them when it is opened."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    StateStore(url).close()
    old = StateStore(url)
    with old.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_deals_job_account"))
        conn.execute(text("DROP INDEX ix_outbox_job_kind_record"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0003'"))
    old.close()
    store = StateStore(url)
    reader = create_engine(url)
    names = {i["name"] for t in ("deals", "outbox") for i in inspect(reader).get_indexes(t)}
    reader.dispose()
    assert {"ix_deals_job_account", "ix_outbox_job_kind_record"} <= names
    store.close()

