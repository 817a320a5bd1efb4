"""The store's speed work changed no stored data: a fixed sync scenario leaves the same rows and the same
JSON values as main's code left before it (the golden dump, `store_dump.py`), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.state_speed.store_dump import BOOKKEEPING, GOLDEN, TOUCHED, dump, run_scenario


def _differences(got: dict[str, list[dict[str, Any]]], want: dict[str, list[dict[str, Any]]]) -> list[str]:
    problems = []
    for table in sorted((set(got) | set(want)) - BOOKKEEPING):
        mine, theirs = got.get(table, []), want.get(table, [])
        if mine != theirs:
            extra = [r for r in mine if r not in theirs][:2]
            missing = [r for r in theirs if r not in mine][:2]
            problems.append(f"{table}: {len(mine)} rows vs {len(theirs)}; new {extra}; gone {missing}")
    return problems


@pytest.mark.parametrize("crm", list(TOUCHED))
def test_sqlite_store_holds_what_main_stored(crm: str, tmp_path: Path) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))[crm]
    url = f"sqlite:///{tmp_path / 'state.db'}"
    run_scenario(crm, url, tmp_path)
    assert _differences(json.loads(json.dumps(dump(url), default=str)), golden) == []


@pytest.mark.parametrize("crm", list(TOUCHED))
def test_postgresql_store_holds_what_main_stored_on_sqlite(crm: str, postgres_urls: Callable[[], str]) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))[crm]
    url = postgres_urls()
    with tempfile.TemporaryDirectory() as tmp:
        run_scenario(crm, url, Path(tmp))
    assert _differences(json.loads(json.dumps(dump(url), default=str)), golden) == []
