"""A database source: SQLite here, and the real PostgreSQL and MariaDB servers; read-only, chunked,
incremental on `changed_column`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from connector.sources.load import account_rows
from connector.sources.read import SourceReadError, read_database
from connector.sources.spec import SourceSpec

QUERY = "select duns, score, rating, sanctions, insolvent, updated_at from bureau_latest"


def _spec(url: str, **extra: object) -> SourceSpec:
    return SourceSpec.model_validate({
        "kind": "accounts", "url": url, "query": QUERY, "key": {"crm_field": "DunsNumber", "column": "duns"},
        "columns": {"bureau_score": "score", "bureau_rating": "rating", "sanctions_hit": "sanctions",
                    "insolvency": "insolvent"}, "changed_column": "updated_at", "chunk_rows": 2, **extra})


def _fill(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("create table bureau_latest (duns varchar(20), score integer, rating varchar(2), "
                          "sanctions varchar(1), insolvent varchar(1), updated_at timestamp null)"))
        for i, (duns, score, day) in enumerate((("001", 80, 1), ("002", 40, 2), ("003", 15, 3), ("004", None, 4),
                                                ("005", 77, 5))):
            conn.execute(text("insert into bureau_latest values (:d, :s, :r, 'N', :i, :u)"),
                         {"d": duns, "s": score, "r": "ABCDE"[i], "i": "Y" if i == 2 else "N",
                          "u": datetime(2026, 5, day, 12, 0)})
    engine.dispose()


def _roundtrip(url: str) -> None:
    _fill(url)
    spec = _spec(url)
    wanted = ["duns", "score", "rating", "sanctions", "insolvent", "updated_at"]
    frame, mark = read_database("bureau", spec, url, wanted)
    rows = account_rows(spec, frame)
    assert frame.rows == 5 and set(rows.values) == {"1", "2", "3", "4", "5"}  # leading zeros stripped
    assert rows.values["3"] == {"bureau_score": 15.0, "bureau_rating": "C", "sanctions_hit": False, "insolvency": True}
    assert str(mark).startswith("2026-05-05 12:00")  # SQLite hands timestamps back as text
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("update bureau_latest set score = 20, updated_at = :u where duns = '003'"),
                     {"u": datetime(2026, 6, 1)})
    engine.dispose()
    again, mark2 = read_database("bureau", spec, url, wanted, since=mark)
    assert again.rows == 1 and account_rows(spec, again).values["3"]["bureau_score"] == 20.0
    assert str(mark2).startswith("2026-06-01")
    writes = _spec(url, query="delete from bureau_latest")
    with pytest.raises(SourceReadError):  # read-only: a query that writes fails, and nothing is deleted
        read_database("bureau", writes, url, [])
    assert read_database("bureau", spec, url, wanted)[0].rows == 5


def test_sqlite_source(tmp_path: Path) -> None:
    _roundtrip(f"sqlite:///{tmp_path / 'finance.db'}")


def test_sqlite_source_errors_name_the_source_and_hide_the_password(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'finance.db'}"
    _fill(url)
    with pytest.raises(SourceReadError) as info:
        read_database("bureau", _spec(url, query="select nope from bureau_latest"), url, ["duns"])
    assert "sources.bureau" in str(info.value.problems[0].key) and "the query failed" in info.value.problems[0].message
    with pytest.raises(SourceReadError) as info:
        read_database("bureau", _spec(url), url, ["duns", "missing_column"])
    assert "missing_column" in info.value.problems[0].message
    secret = "postgresql+psycopg://reader:s3cret-pw@127.0.0.1:1/finance"
    with pytest.raises(SourceReadError) as info:
        read_database("bureau", _spec(secret, timeout_s=2), secret, ["duns"])
    assert "s3cret-pw" not in str(info.value.problems)


def test_postgresql_source(postgres_url: str) -> None:
    _roundtrip(postgres_url)


def test_mariadb_source(mariadb_url: str) -> None:
    _roundtrip(mariadb_url)
