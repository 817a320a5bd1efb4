"""The store of the release before Alembic (hand-rolled schema version 2), rebuilt from committed fixtures.

fixtures/schema2_sqlite.sql is the DDL that release's code created in SQLite (read from sqlite_master),
schema2_postgresql.sql what its `create_all` emits for PostgreSQL, and schema2_rows.sql the rows a short
run of it wrote (an assessed account set, a watchlist member, a task, four chained audit entries)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine

__all__ = ["FIXTURES", "load_schema2"]

FIXTURES = Path(__file__).parent / "fixtures"
_SERIALS = [("runs", "id"), ("assessment_history", "id")]


def _statements(name: str) -> list[str]:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return [s.strip() for s in text.split(";\n") if s.strip()]


def load_schema2(url: str) -> None:
    """Create the release-2 schema with its rows in the empty store at `url`."""
    engine = create_engine(url)
    dialect = engine.dialect.name
    with engine.begin() as conn:
        if dialect == "postgresql":
            conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")  # that release wrote UTC times
        for statement in _statements(f"schema2_{dialect}.sql") + _statements("schema2_rows.sql"):
            conn.exec_driver_sql(statement)
        if dialect == "postgresql":  # as the release's own inserts would have left the sequences
            for table, column in _SERIALS:
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                                     f"(SELECT coalesce(max({column}), 0) + 1 FROM {table}), false)")
    engine.dispose()
