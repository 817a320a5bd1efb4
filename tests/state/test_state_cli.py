"""`riskbridge state upgrade | current | history`: what they print and their exit codes."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.migrations import head_revision, history
from connector.sandbox import running_sandbox
from connector.sandbox.client_config import write_config
from connector.state import StateStore
from tests.conftest import Org
from tests.state_db import fresh_postgresql

runner = CliRunner()
REVISIONS = [r.revision for r in history()]
CANARY = "Canary-Db-Pass-7fe3"


@pytest.fixture(scope="module")
def credentials() -> dict[str, Any]:
    """A sandbox org's credentials: the state commands read the config, never the CRM."""
    with running_sandbox("salesforce", accounts=1, deals_per_account=0, seed=1) as server:
        return Org(server, "salesforce").credentials()


@pytest.fixture
def make_config(tmp_path: Path, credentials: dict[str, Any]) -> Callable[[str], str]:
    return lambda state_url: str(write_config(tmp_path / "config.toml", "salesforce", credentials,
                                              state_url=state_url))


def test_upgrade_creates_an_empty_store_then_finds_it_current(empty_url: str, make_config: Callable[[str], str]
                                                              ) -> None:
    config = make_config(empty_url)
    first = runner.invoke(app, ["state", "current", "--config", config, "--json"])
    assert first.exit_code == 0 and json.loads(first.stdout)["pending"] == REVISIONS
    done = runner.invoke(app, ["state", "upgrade", "--config", config])
    assert done.exit_code == 0 and f"applied {', '.join(REVISIONS)}; now at {head_revision()}" in done.stdout
    again = runner.invoke(app, ["state", "upgrade", "--config", config])
    assert again.exit_code == 0 and f"already at {head_revision()} (newest)" in again.stdout
    current = runner.invoke(app, ["state", "current", "--config", config])
    assert current.exit_code == 0 and f"revision {head_revision()} (newest)" in current.stdout


def test_history_lists_the_revisions_oldest_first() -> None:
    result = runner.invoke(app, ["state", "history", "--json"])
    assert result.exit_code == 0
    assert [r["revision"] for r in json.loads(result.stdout)] == REVISIONS


def test_a_config_error_exits_2_and_an_unreachable_server_3(tmp_path: Path, make_config: Callable[[str], str]) -> None:
    missing = runner.invoke(app, ["state", "upgrade", "--config", str(tmp_path / "nope.toml"), "--json"])
    assert missing.exit_code == 2 and json.loads(missing.stdout)["error"]["kind"] == "config"
    down = make_config(f"postgresql+psycopg://rb:{CANARY}@127.0.0.1:9/rb")
    for command in ("upgrade", "current"):
        result = runner.invoke(app, ["state", command, "--config", down, "--json"])
        assert result.exit_code == 3, result.output
        assert json.loads(result.stdout)["error"]["kind"] == "connection"
        assert CANARY not in result.output and "rb:***@127.0.0.1:9/rb" in result.stdout


def test_a_database_password_from_env_reaches_nothing_riskbridge_writes(make_config: Callable[[str], str],
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    """PostgreSQL here trusts loopback, so the canary password is sent and accepted: every path runs."""
    caplog.set_level(logging.DEBUG)
    with fresh_postgresql("rb_secret") as url:
        secret_url = url.replace("postgres@", f"postgres:{CANARY}@", 1)
        monkeypatch.setenv("RB_TEST_DB_URL", secret_url)
        config = make_config("env:RB_TEST_DB_URL")
        outputs = [runner.invoke(app, ["state", command, "--config", config, "--json"]).output
                   for command in ("current", "upgrade", "current")]
        store = StateStore("env:RB_TEST_DB_URL")
        run = store.start_run("default", dry_run=False, full=True)
        store.finish_run(run, "failed", {}, 0, error=f"could not reach {store.url}")
        with store.engine.connect() as conn:
            dump = "".join(str(row) for table in ("runs", "alembic_version", "audit", "locks")
                           for row in conn.exec_driver_sql(f"SELECT * FROM {table}"))
        store.close()
        assert "***" in store.url and "postgres:***@" in dump
        for text in (*outputs, caplog.text, dump, store.url):
            assert CANARY not in text
