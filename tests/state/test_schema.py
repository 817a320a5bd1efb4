"""The schema under Alembic: a new store is at head, head equals the models, a newer store is refused, and
two replicas upgrading one store at once never both migrate."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from connector.errors import StateStoreError
from connector.migrations import head_revision, history, pending, upgrade
from connector.migrations.lock import MIGRATION_LOCK_KEY
from connector.state import StateStore
from connector.tables import Base
from tests.state_db import fresh_postgresql_database, sqlite_url

REVISIONS = [r.revision for r in history()]


def test_the_revisions_form_one_line_from_the_baseline() -> None:
    chain = history()
    assert chain[0].down_revision is None and chain[0].revision == "0001"
    assert [r.down_revision for r in chain[1:]] == REVISIONS[:-1] and REVISIONS[-1] == head_revision()


def test_a_new_store_is_created_at_head_and_matches_the_models(empty_url: str) -> None:
    store = StateStore(empty_url)
    assert store.revision() == head_revision() and pending(store.engine) == []
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    assert differences == [], "connector/tables.py and the migrations disagree: add a revision"
    assert "schema_version" not in tables and set(Base.metadata.tables) <= tables
    assert store.upgrade() == []  # opening again applies nothing
    store.close()


def test_a_store_upgraded_by_a_newer_release_is_refused_not_downgraded(empty_url: str) -> None:
    StateStore(empty_url).close()
    engine = create_engine(empty_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StateStoreError) as caught:
        StateStore(empty_url)
    assert "schema revision 9999, newer than this riskbridge knows" in str(caught.value)


def test_two_replicas_upgrading_a_fresh_postgresql_database_at_once_migrate_it_once() -> None:
    """The test holds the migration lock until both replicas wait on it (seen in pg_locks), then lets go:
    the first to get it migrates, the second finds the store current."""
    with fresh_postgresql_database("rb_lock") as url:
        holder = create_engine(url, isolation_level="AUTOCOMMIT")
        applied: list[list[str]] = []
        errors: list[BaseException] = []
        with holder.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})

            def replica() -> None:
                engine = create_engine(url)
                try:
                    applied.append(upgrade(engine))
                except BaseException as exc:  # the assertion below shows it
                    errors.append(exc)
                finally:
                    engine.dispose()

            threads = [threading.Thread(target=replica) for _ in range(2)]
            for t in threads:
                t.start()
            waiting = 0
            for _ in range(100_000):  # no sleep: each look is a round trip to the server
                waiting = conn.execute(text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")).scalar_one()
                if waiting == 2 or errors:
                    break
            assert waiting == 2, errors
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            for t in threads:
                t.join(timeout=120)
        holder.dispose()
        assert errors == []
        assert sorted(applied) == [[], REVISIONS]
        store = StateStore(url)
        assert store.revision() == head_revision()
        store.close()


def test_two_replicas_upgrading_a_fresh_sqlite_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    barrier = threading.Barrier(4)
    applied: list[list[str]] = []
    errors: list[BaseException] = []

    def replica() -> None:
        engine = create_engine(url)
        try:
            barrier.wait()
            applied.append(upgrade(engine))
        except BaseException as exc:  # the assertion below shows it
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=replica) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sorted(applied) == [[], [], [], REVISIONS]
