"""The CLI against a sandbox: exit codes, --json, the run history, and secrets kept out of every output."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.config import load_config
from connector.state import StateStore
from scoring.catalogue import text
from tests.conftest import Org
from tests.state_db import stored_bytes

runner = CliRunner()


def test_sync_json_is_one_object_and_exit_codes_follow_status(org: Org, config_path: Path) -> None:
    ids = [r[org.names.id] for r in org.records(org.names.accounts)[:5]]
    code = "FIELD_CUSTOM_VALIDATION_EXCEPTION" if org.names.crm == "salesforce" else "INVALID_DATA"
    org.faults(record_errors={i: code for i in ids})
    partial = runner.invoke(app, ["sync", "--config", str(config_path), "--json"])
    assert partial.exit_code == 1, partial.output
    summary = json.loads(partial.stdout)
    assert summary["status"] == "partial" and summary["job"] == "default"
    assert set(summary["objects"]["accounts"]) >= {"extracted", "mapped", "skipped", "scored", "changed", "written",
                                                   "failed"}
    assert summary["api_calls"] > 0
    assert {f["id"] for f in summary["failures"]} & set(ids)
    assert all(code in f["reason"] for f in summary["failures"] if f["id"] in ids)
    org.faults()
    fixed = runner.invoke(app, ["sync", "--config", str(config_path), "--json"])
    assert fixed.exit_code == 0, fixed.output
    assert json.loads(fixed.stdout)["status"] == "success"
    runs = runner.invoke(app, ["runs", "--config", str(config_path), "--json"])
    assert [r["status"] for r in json.loads(runs.stdout)] == ["success", "partial"]
    table = runner.invoke(app, ["runs", "--config", str(config_path)])
    lang = load_config(config_path).jobs["default"].lang  # a Fxiaoke job speaks Chinese by default
    assert text("run.status_partial", lang) in table.stdout and text("run.status_success", lang) in table.stdout


def test_bad_config_exits_2_before_any_call(org: Org, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[connections.x]\ncrm = "salesforce"\n[jobs.default]\nconnection = "y"\nmapping = "nope.toml"\n')
    org.reset_calls()
    result = runner.invoke(app, ["sync", "--config", str(bad)])
    assert result.exit_code == 2
    assert "connections.x.instance_url" in result.stderr and "jobs.default.mapping" in result.stderr
    assert org.calls()["total"] == 0


def test_wrong_credentials_exit_3(org: Org, config_path: Path) -> None:
    text = config_path.read_text()
    key = {"salesforce": "consumer_key", "zoho": "refresh_token", "fxiaoke": "app_secret"}[org.names.crm]
    lines = [f'{key} = "wrong-value"' if line.startswith(f"{key} =") else line for line in text.splitlines()]
    config_path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["sync", "--config", str(config_path)])
    assert result.exit_code == 3, result.output


def test_dry_run_prints_the_plan(org: Org, config_path: Path) -> None:
    org.reset_calls()
    result = runner.invoke(app, ["sync", "--config", str(config_path), "--dry-run"])
    assert result.exit_code == 0
    lang = load_config(config_path).jobs["default"].lang
    assert text("run.dry_run", lang) in result.stdout and "→" in result.stdout
    assert org.calls()["writes"] == 0


def test_secrets_never_reach_logs_state_audit_or_json(org: Org, config_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    creds = org.credentials()
    secrets = [v for k, v in creds.items() if k in ("password", "security_token", "consumer_secret", "client_secret",
                                                   "refresh_token", "app_secret", "permanent_code")]
    assert secrets
    if "private_key" in creds:
        secrets += [line for line in creds["private_key"].splitlines() if len(line) > 40][:3]
    caplog.set_level(logging.DEBUG)
    org.faults(session_expiry_after=40)  # force re-logins, the riskiest moment for a token to leak
    result = runner.invoke(app, ["sync", "--config", str(config_path), "--json", "--verbose"])
    assert result.exit_code in (0, 1), result.output
    state_url = load_config(config_path).state_url
    db_bytes = stored_bytes(state_url)
    store = StateStore(state_url)
    audit = json.dumps([a.detail for a in store.audit_entries()])
    outputs = result.stdout + result.stderr + caplog.text + audit
    for secret in secrets:
        assert secret and secret not in outputs
        assert secret.encode() not in db_bytes


def test_help_lists_every_command() -> None:
    result = subprocess.run([sys.executable, "-m", "connector.cli", "--help"], capture_output=True, text=True,
                            check=False)
    for command in ("sync", "runs", "demo", "sandbox", "score", "explain", "state"):
        assert command in result.stdout


def test_the_fxiaoke_demo_reads_in_chinese() -> None:
    result = runner.invoke(app, ["demo", "--crm", "fxiaoke", "--accounts", "40"])
    assert result.exit_code == 0, result.output
    assert "纷享销客 沙箱" in result.stdout and text("demo.riskiest", "zh") in result.stdout
    assert "信用专员在 CRM 中修改了 20 个客户" in result.stdout
    assert any(reason in result.stdout for reason in ("逾期", "征信", "评级"))  # reasons in Chinese (lang = "zh")
