"""PostgreSQL for the store tests: a database of its own per test, dropped afterwards (skipped with the reason
when no server listens on 127.0.0.1:5432, a failure under CI=true: tests/sources/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.sources.conftest import need_server

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def postgres_urls() -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty PostgreSQL databases (as URLs), all dropped after the test."""
    need_server("PostgreSQL", 5432, "psycopg")
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> str:
        name = f"rb_store_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        made.append(name)
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

    try:
        yield make
    finally:
        with admin.connect() as conn:
            for name in made:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
