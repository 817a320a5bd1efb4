"""`riskbridge schedule list [--json]`, `--log-format json`, and the service settings' validation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.config import load_config
from connector.errors import ConfigError
from connector.sync import Sync
from tests.conftest import Org
from tests.service.conftest import extend
from tests.unit.test_scheduler import config as offline_config

runner = CliRunner()


@pytest.fixture
def crm() -> str:
    return "zoho"


def test_schedule_list_shows_each_job_and_monitor_with_its_last_run(org: Org, config_path: Path) -> None:
    extend(config_path, '[jobs.default.monitor]\nschedule = "*/10 * * * *"\n', job='schedule = "15 * * * *"\n')
    before = runner.invoke(app, ["schedule", "list", "--config", str(config_path), "--json"])
    assert before.exit_code == 0, before.output
    rows = {r["id"]: r for r in json.loads(before.stdout)}
    assert set(rows) == {"default", "default.monitor"}
    assert rows["default"]["trigger"] == "cron[15 * * * *] UTC" and rows["default"]["last_run"] is None
    assert rows["default"]["next_run"].endswith(":15:00+00:00")
    assert rows["default.monitor"]["kind"] == "monitor"

    victim = org.records(org.names.accounts)[0][org.names.id]
    org.faults(record_errors={victim: "INVALID_DATA"})
    cfg = load_config(config_path)
    assert Sync(cfg).run().status == "partial"
    after = {r["id"]: r for r in json.loads(runner.invoke(
        app, ["schedule", "list", "--config", str(config_path), "--json"]).stdout)}
    last = after["default"]["last_run"]
    assert last["status"] == "partial" and victim in last["reason"] and "1 records failed" in last["reason"]
    assert after["default.monitor"]["last_run"] is None  # a full run is not a monitor run
    table = runner.invoke(app, ["schedule", "list", "--config", str(config_path)])
    assert table.exit_code == 0 and "partial" in table.stdout and "never run" in table.stdout


def test_log_format_json_writes_one_object_per_line(org: Org, config_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "connector.cli", "sync", "--config", str(config_path),
                             "--log-format", "json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["message"].startswith("read Accounts") for line in lines)
    bad = runner.invoke(app, ["sync", "--config", str(config_path), "--log-format", "xml"])
    assert bad.exit_code == 2 and "--log-format" in bad.output


def test_service_settings_are_checked_before_any_network_call(tmp_path: Path) -> None:
    path = offline_config(tmp_path, "5 * * * *")
    path.write_text(path.read_text() + '[jobs.hourly.monitor]\nschedule = "*/61 * * *"\n'
                    '[service]\nlisten = "0.0.0.0:9464"\n'
                    '[alerts.webhook]\nurl = "https://hooks.example.com/services/T0/B0/secret"\nformat = "teams"\n'
                    '[alerts.email]\nhost = "smtp.example.com"\nsender = "r@example.com"\nto = ["o@example.com"]\n'
                    'username = "r"\npassword = "env:RB_TEST_UNSET_SMTP"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    problems = {p.key: p.message for p in caught.value.problems}
    assert "not a cron expression" in problems["jobs.hourly.monitor.schedule"]
    assert "not a loopback address" in problems["service.listen"]
    assert "alerts.webhook.format" in problems
    assert "literal secret" in problems["alerts.webhook.url"]
    assert "RB_TEST_UNSET_SMTP is not set" in problems["alerts.email.password"]
    assert "secret" not in " ".join(problems.values()).replace("literal secret", "")  # the URL's token is not echoed


def test_a_hook_url_from_the_environment_is_accepted(tmp_path: Path) -> None:
    path = offline_config(tmp_path, "5 * * * *")
    path.write_text(path.read_text() + '[service]\nlisten = "127.0.0.1:9464"\n'
                    '[alerts.webhook]\nurl = "env:RB_HOOK"\nformat = "wecom"\n')
    cfg = load_config(path, environ={"RB_HOOK": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"})
    assert cfg.alerts.webhook is not None and cfg.alerts.webhook.format == "wecom"
    assert "key=k" not in repr(cfg.alerts)
    assert cfg.service.listen == "127.0.0.1:9464" and cfg.service.stop_timeout_s == 60


def test_a_taken_port_is_a_config_error_naming_service_listen(tmp_path: Path) -> None:
    import socket

    from connector.service.daemon import Daemon

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        path = offline_config(tmp_path, "5 * * * *")
        path.write_text(path.read_text().replace("[connections.sf]", f'state_url = "sqlite:///{tmp_path}/s.db"\n'
                                                 "[connections.sf]")
                        + f'[service]\nlisten = "127.0.0.1:{holder.getsockname()[1]}"\n')
        with pytest.raises(ConfigError) as caught:
            Daemon(load_config(path))
        [problem] = caught.value.problems
        assert problem.key == "service.listen" and "cannot listen on" in problem.message
    finally:
        holder.close()
