"""One migrator at a time: a connection in a transaction that holds the store's migration lock.

PostgreSQL: a transaction-scoped advisory lock, released by the commit (or by the server if the process
dies). SQLite: ``BEGIN EXCLUSIVE`` on a connection of its own, which also makes the DDL atomic there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.pool import NullPool

__all__ = ["MIGRATION_LOCK_KEY", "SQLITE_WAIT_SECONDS", "exclusive"]

MIGRATION_LOCK_KEY = 0x7269736B62726467  # "riskbrdg": one advisory lock id per database, for schema changes
SQLITE_WAIT_SECONDS = 600.0  # a waiting replica outlasts a long table rebuild instead of failing "locked"


@contextmanager
def exclusive(engine: Engine) -> Iterator[Connection]:
    """A connection whose transaction holds the migration lock until the block ends (commit on success)."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            yield connection
        return
    database = engine.url.database or ""
    if database in ("", ":memory:") or "mode=memory" in database:
        with engine.begin() as connection:  # private to this process: nobody else can migrate it
            yield connection
        return
    locked = create_engine(engine.url, poolclass=NullPool, connect_args={"timeout": SQLITE_WAIT_SECONDS})
    event.listen(locked, "connect", _manual_transactions)
    event.listen(locked, "begin", _begin_exclusive)
    try:
        with locked.begin() as connection:
            yield connection
    finally:
        locked.dispose()


def _manual_transactions(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite would otherwise commit before DDL and BEGIN lazily; we issue BEGIN ourselves (SQLAlchemy's recipe).
    dbapi_connection.isolation_level = None


def _begin_exclusive(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN EXCLUSIVE")
