"""State stores for tests: SQLite files by default, PostgreSQL under ``RBTEST_STATE=postgresql``.

Each PostgreSQL store is a schema of its own in the `test` database, reached through the URL's search_path
and dropped afterwards: about 0.3 s per store faster than a database of its own (measured: create, migrate
and drop 0.40 s against 0.98 s). No server reachable: skip with the reason, fail under CI=true."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

__all__ = ["ADMIN_URL", "fresh_postgresql", "fresh_postgresql_database", "need_postgresql", "on_postgresql",
           "scratch_database", "sqlite_url", "stored_bytes"]

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SWITCH = "RBTEST_STATE"


def on_postgresql() -> bool:
    """True when this test run keeps its state in PostgreSQL (``RBTEST_STATE=postgresql``)."""
    value = os.environ.get(SWITCH, "sqlite")
    if value not in ("sqlite", "postgresql"):
        raise pytest.UsageError(f"{SWITCH}={value!r}: use sqlite or postgresql")
    return value == "postgresql"


def need_postgresql() -> None:
    """Skip (fail under CI, which provides the server) unless psycopg imports and 127.0.0.1:5432 answers."""
    reason = ""
    try:
        __import__("psycopg")
    except ImportError:
        reason = "PostgreSQL: the driver psycopg is not installed (pip install -e '.[db]')"
    if not reason:
        try:
            socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
        except OSError:
            reason = "PostgreSQL: no server on 127.0.0.1:5432"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI provides PostgreSQL, yet: {reason}")
        pytest.skip(reason)


@contextmanager
def fresh_postgresql_database(prefix: str = "rb_state") -> Iterator[str]:
    """The URL of an empty database of its own (for what is scoped per database: advisory locks), dropped after."""
    need_postgresql()
    with scratch_database(prefix) as url:
        yield url


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """An empty PostgreSQL database on 127.0.0.1:5432, dropped after (benchmarks use it without pytest)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@contextmanager
def fresh_postgresql(prefix: str = "rb_state") -> Iterator[str]:
    """The URL of an empty schema of its own in the `test` database, dropped with everything in it after."""
    need_postgresql()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {name}"))
    try:
        # application_name marks this store's connections, so the cleanup can end exactly those
        yield f"{ADMIN_URL}?options=-csearch_path%3D{name}&application_name={name}"
    finally:
        with admin.connect() as conn:
            # connections a test left open (a killed CLI, a store not closed) must not keep the schema alive
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :a "
                              "AND pid <> pg_backend_pid()"), {"a": name})
            conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        admin.dispose()


def stored_bytes(url: str) -> bytes:
    """Everything a state store holds, to search for what must never be stored: an SQLite file's bytes (its
    write-ahead log too), or the text of every row of every table of a PostgreSQL store."""
    if url.startswith("sqlite"):
        path = Path(url.split("sqlite:///", 1)[1])
        wal = path.with_name(path.name + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    engine = create_engine(url)
    with engine.connect() as conn:
        tables = inspect(conn).get_table_names()
        text_of = "\n".join(repr(tuple(row)) for table in tables
                            for row in conn.exec_driver_sql(f'SELECT * FROM "{table}"'))
    engine.dispose()
    return text_of.encode()


def sqlite_url(folder: Path, name: str = "state.db") -> str:
    return f"sqlite:///{folder / name}"
