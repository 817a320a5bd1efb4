"""Alerts: a partial run fires the webhook in each format (a loopback receiver), retried with backoff and
never carrying a secret; a critical account entering the watchlist fires one too; email arrives at a
loopback SMTP server over STARTTLS."""

from __future__ import annotations

import json
import logging
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

from connector.config import Alerts, Email, load_config
from connector.outcome import Listed, RunReport
from connector.service.alerts import AlertSender, from_report
from connector.service.daemon import Daemon
from connector.state import StateStore
from tests.conftest import Org
from tests.service.conftest import extend
from tests.service.receivers import self_signed, smtp_server, webhook_receiver
from tests.service.test_monitor import sanction


@pytest.fixture
def crm() -> str:
    return "salesforce"  # the alert path is the same for both CRMs; the formats are what vary


def _secrets(org: Org) -> list[str]:
    return [str(v) for k, v in org.credentials().items() if k not in ("instance_url", "login_url", "username")
            and isinstance(v, str) and len(v) > 6]


def partial_run(org: Org, config_path: Path, hook_url: str, fmt: str, waits: list[float]) -> tuple[Daemon, RunReport]:
    extend(config_path, f'[alerts.webhook]\nurl = "{hook_url}"\nformat = "{fmt}"\n', job='schedule = "0 0 1 1 *"\n')
    cfg = load_config(config_path)
    victim = org.records(org.names.accounts)[0][org.names.id]
    org.faults(record_errors={victim: "UNABLE_TO_LOCK_ROW"})
    daemon = Daemon(cfg, sleep=waits.append)
    report = daemon.execute("default", "job")
    assert report is not None and report.status == "partial"
    assert any(f["id"] == victim for f in report.failures)
    return daemon, report


@pytest.mark.parametrize("fmt", ["json", "slack", "feishu", "wecom"])
def test_a_partial_run_fires_the_webhook_in_each_format(org: Org, config_path: Path, fmt: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    waits: list[float] = []
    with webhook_receiver(answers=[503, 429]) as hook, caplog.at_level(logging.DEBUG):
        _, report = partial_run(org, config_path, hook.url, fmt, waits)
    assert waits == [1.0, 2.0]  # two failed attempts, backoff doubling, then delivered
    [body] = hook.bodies
    text: str
    if fmt == "json":
        assert body["event"] == "partial" and body["job"] == "default" and body["run_id"] == report.run_id
        assert body["counts"]["failed"] == 1 and body["counts"]["written"] == report.objects["accounts"].written \
            + report.objects["deals"].written
        assert any("UNABLE_TO_LOCK_ROW" in e for e in body["errors"])
        text = json.dumps(body)
    elif fmt == "slack":
        assert set(body) == {"text"}
        text = body["text"]
    elif fmt == "feishu":
        assert body["msg_type"] == "text" and set(body["content"]) == {"text"}
        text = body["content"]["text"]
    else:
        assert body["msgtype"] == "markdown" and len(body["markdown"]["content"].encode()) <= 4096
        text = body["markdown"]["content"]
    assert f"run {report.run_id}" in text and "partial" in text and "UNABLE_TO_LOCK_ROW" in text
    assert not [s for s in _secrets(org) if s in json.dumps(body)]
    assert "TOKEN-in-the" not in caplog.text  # the hook URL carries the bot's token: never logged
    assert "alert webhook: attempt 1 of 4 failed" in caplog.text


def test_a_critical_account_entering_the_watchlist_fires_an_alert(org: Org, config_path: Path) -> None:
    with webhook_receiver() as hook:
        extend(config_path, f'[alerts.webhook]\nurl = "{hook.url}"\n', job='schedule = "0 0 1 1 *"\n')
        cfg = load_config(config_path)
        daemon = Daemon(cfg, sleep=lambda _s: None)
        assert daemon.execute("default", "job") is not None  # the baseline
        hook.bodies.clear()
        store = StateStore(cfg.state_url)
        tiers = store.assessments("default", "accounts", [a[org.names.id] for a in org.records(org.names.accounts)])
        calm = next(i for i, r in tiers.items() if r.tier in ("low", "medium"))
        sanction(config_path, org, calm)
        report = daemon.execute("default", "job")
        assert report is not None and report.status == "success"
    watch = [b for b in hook.bodies if b["event"] == "watchlist"]
    assert len(watch) == 1, hook.bodies
    account: dict[str, Any] = watch[0]["account"]
    assert account["id"] == calm and account["tier"] == "critical" and account["reasons"]
    assert watch[0]["run_id"] == report.run_id


def test_the_email_arrives_at_a_loopback_smtp_server_over_starttls(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    report = RunReport(run_id=7, job="nightly", dry_run=False, status="partial", api_calls=12,
                       failures=Listed([{"object": "accounts", "id": "001A", "op": "update",
                                         "reason": "UNABLE_TO_LOCK_ROW"}]))
    report.objects["accounts"].failed = 1
    alert = from_report("job", report)
    assert alert is not None
    with smtp_server(cert, key) as box:
        email = Email(host="127.0.0.1", port=box.port, sender="riskbridge@example.com", to=["ops@example.com"],
                      username="riskbridge", password="s3cret-smtp-password", ca_file=str(cert))  # type: ignore[arg-type]
        assert AlertSender(Alerts(email=email), sleep=lambda _s: None).send(alert)
    [mail] = box.messages
    assert mail["tls"] and mail["auth"] and mail["to"] == ["TO:<ops@example.com>"]
    message = message_from_bytes(mail["data"])
    assert message["Subject"] == "riskbridge partial: job nightly run 7"
    body = message.get_payload(decode=True).decode()
    assert "001A: UNABLE_TO_LOCK_ROW" in body and '"run_id": 7' in body
    assert "s3cret-smtp-password" not in body


def test_an_unreachable_smtp_server_is_retried_then_given_up(tmp_path: Path) -> None:
    waits: list[float] = []
    email = Email(host="127.0.0.1", port=9, sender="r@example.com", to=["o@example.com"], starttls=False, timeout_s=2)
    alert = from_report("job", RunReport(run_id=1, job="j", dry_run=False, status="failed", error="boom"))
    assert alert is not None
    assert AlertSender(Alerts(email=email), sleep=waits.append).send(alert) is False
    assert waits == [1.0, 2.0, 4.0]
