"""`[sources.*]` and `jobs.X.sources` are validated with the rest of the config: every problem at once,
before any read, and a database password never written in the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import load_config
from connector.errors import ConfigError
from connector.mapping import MAPPINGS_DIR

BASE = f'''
state_url = "sqlite:///state.db"
[connections.sf]
crm = "salesforce"
instance_url = "http://127.0.0.1:1"
login_url = "http://127.0.0.1:1"
[connections.sf.auth]
method = "password"
username = "u"
password = "p"
[jobs.default]
connection = "sf"
mapping = "{MAPPINGS_DIR / 'salesforce.toml'}"
'''


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(BASE + text, encoding="utf-8")
    return path


def test_a_valid_sources_config_resolves_paths(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "items.csv").write_text("c\n", encoding="utf-8")
    cfg = load_config(_write(tmp_path, '''sources = ["erp", "bureau"]
[sources.erp]
kind = "invoices"
path = "exports/items.csv"
key = { crm_field = "AccountNumber", column = "customer_no" }
columns = { invoice = "doc_no", amount = "amount", issued = "doc_date", due = "due_date" }
[sources.bureau]
kind = "accounts"
url = "env:BUREAU_URL"
query = "select duns, score from bureau_latest"
key = { crm_field = "DunsNumber", column = "duns" }
columns = { bureau_score = "score" }
changed_column = "updated_at"
'''), environ={"BUREAU_URL": "postgresql+psycopg://reader:pw@db.example.com/finance"})
    assert cfg.jobs["default"].sources == ["erp", "bureau"]
    assert cfg.sources["erp"].path == str(tmp_path / "exports" / "items.csv")
    assert "pw" not in repr(cfg.sources["bureau"])


def test_every_source_problem_is_listed_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, '''sources = ["erp", "nowhere", "fx"]
[sources.erp]
kind = "invoices"
path = "missing.csv"
key = { crm_field = "AccountNumber", column = "customer_no" }
columns = { invoice = "doc_no", amount = "amount", issued = "doc_date", due = "due_date" }
rates = "bureau"
changed_column = "x"
[sources.bureau]
kind = "accounts"
url = "postgresql+psycopg://reader:s3cret@db.example.com/finance"
query = "select 1"
key = { crm_field = "DunsNumber", column = "duns" }
columns = { bureau_scor = "score" }
[sources.fx]
kind = "rates"
path = "missing-fx.csv"
columns = { currency = "c", rate = "r" }
[sources.half]
kind = "invoices"
path = "x.csv"
key = { crm_field = "AccountNumber", column = "customer_no" }
columns = { amount = "amount" }
'''), environ={})
    text = "\n".join(f"{p.key}: {p.message}" for p in info.value.problems)
    assert "jobs.default.sources: no source 'nowhere'" in text
    assert "jobs.default.sources: 'fx' is a rates table" in text
    assert "sources.erp.path" in text and "missing.csv: file not found" in text
    assert "sources.erp.rates: no rates source 'bureau'" in text
    assert "sources.erp.changed_column" in text
    assert "sources.bureau.url: a password written in the file" in text
    assert "unknown canonical field(s) ['bureau_scor']" in text
    assert "columns must name invoice, issued, due" in text
    assert "s3cret" not in text and "s3cret" not in str(info.value)


def test_a_missing_database_driver_is_named_with_its_extra(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, '''sources = ["mssql"]
[sources.mssql]
kind = "accounts"
url = "env:MSSQL_URL"
query = "select 1"
key = { crm_field = "DunsNumber", column = "duns" }
columns = { bureau_score = "score" }
'''), environ={"MSSQL_URL": "mssql+pyodbc://reader:pw@127.0.0.1/finance?driver=ODBC+Driver+18"})
    problem = info.value.problems[0]
    assert problem.key == "sources.mssql.url" and "mssql+pyodbc" in problem.message
    assert problem.hint == "pip install 'riskbridge[mssql]'" and "pw" not in str(info.value)
