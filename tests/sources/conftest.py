"""Database servers for source tests: each test gets a database of its own, dropped afterwards.

No server reachable: the test is skipped with the reason, except under CI=true, where the machine provides
PostgreSQL and MariaDB and a skip would hide a broken install: there it fails."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def need_server(name: str, port: int, driver: str) -> None:
    """Skip (fail under CI) unless the driver imports and a server listens on 127.0.0.1:port."""
    reason = ""
    try:
        __import__(driver)
    except ImportError:
        reason = f"{name}: the driver {driver} is not installed (pip install -e '.[db]')"
    if not reason and not _reachable(port):
        reason = f"{name}: no server on 127.0.0.1:{port}"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI provides {name}, yet: {reason}")
        pytest.skip(reason)


def _database(admin_url: str, make_url: str) -> Iterator[str]:
    name = f"rb_src_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url.format(name=name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    need_server("PostgreSQL", 5432, "psycopg")
    yield from _database("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                         "postgresql+psycopg://postgres@127.0.0.1:5432/{name}")


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    need_server("MariaDB", 3306, "pymysql")
    yield from _database("mysql+pymysql://root@127.0.0.1:3306/mysql", "mysql+pymysql://root@127.0.0.1:3306/{name}")
