"""Alerts: a failed or partial run, a stale job, a critical account entering the watchlist.

Sent to an optional webhook (plain JSON, or Slack's, Feishu's 飞书 or WeCom's 企业微信 bot message shape)
and by email (SMTP with STARTTLS). Each send is retried with backoff; a send that keeps failing is
logged and dropped: an alert never stops the daemon. The hook URL carries its token, so it is never
logged (only its host), and nothing from the config's secrets goes into a message.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from typing import Any, Literal
from urllib.parse import urlsplit

import requests

from connector.config import Alerts, Email, Webhook, resolve_secret
from connector.outcome import RunReport

__all__ = ["Alert", "AlertSender", "from_report", "message_body"]

log = logging.getLogger(__name__)

Event = Literal["failed", "partial", "stale", "watchlist"]
FIRST_ERRORS = 5
MAX_WAIT_S = 30.0


@dataclass(frozen=True)
class Alert:
    event: Event
    job: str
    status: str
    summary: str
    run_id: int | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    account: dict[str, Any] | None = None  # watchlist events: id, name, tier, score, reasons

    def title(self) -> str:
        run = f" run {self.run_id}" if self.run_id is not None else ""
        return f"riskbridge {self.event}: job {self.job}{run}"

    def text(self) -> str:
        lines = [self.title(), self.summary]
        if self.counts:
            lines.append(", ".join(f"{k} {v}" for k, v in self.counts.items()))
        if self.account:
            reasons = "; ".join(self.account.get("reasons") or [])
            lines.append(f"account {self.account.get('name') or ''} ({self.account['id']}): "
                         f"{self.account.get('tier')}, score {self.account.get('score')}" + (f"; {reasons}" if reasons else ""))
        lines += [f"- {e}" for e in self.errors]
        return "\n".join(line for line in lines if line)


def from_report(kind: str, report: RunReport) -> Alert | None:
    """The alert a finished run calls for: failed or partial runs only."""
    if report.status not in ("failed", "partial"):
        return None
    counts = {"read": sum(c.extracted for c in report.objects.values()),
              "written": sum(c.written for c in report.objects.values()),
              "failed": sum(c.failed for c in report.objects.values()),
              "tasks_created": report.tasks_created, "tags_added": report.tags_added,
              "tags_removed": report.tags_removed, "api_calls": report.api_calls}
    errors = [report.error] if report.error else []
    errors += [f"{f.get('object')} {f.get('id')}: {f.get('reason')}" for f in report.failures[:FIRST_ERRORS]]
    if report.stopped:
        errors.append(report.stopped)
    errors += [str(w.get("message")) for w in report.mapping_warnings[:FIRST_ERRORS]]
    what = "monitor run" if kind == "monitor" else "run"
    summary = f"{what} {report.status}" + (f": {report.failures.total:,} records failed" if report.failures else "")
    status: Event = "failed" if report.status == "failed" else "partial"
    return Alert(status, report.job, report.status, summary, report.run_id, counts, errors[:FIRST_ERRORS])


def message_body(alert: Alert, fmt: str) -> dict[str, Any]:
    """The JSON body for a webhook of this format."""
    text = alert.text()
    if fmt == "slack":  # incoming webhook: "text" is the fallback and the notification line
        return {"text": text}
    if fmt == "feishu":  # custom bot: msg_type text
        return {"msg_type": "text", "content": {"text": text}}
    if fmt == "wecom":  # group bot: markdown content, at most 4096 bytes
        content = text.replace(alert.title(), f"**{alert.title()}**", 1)
        return {"msgtype": "markdown", "markdown": {"content": content.encode()[:4096].decode(errors="ignore")}}
    return {**asdict(alert), "title": alert.title()}


class AlertSender:
    """Sends alerts to the configured webhook and email; `sleep` is injected so tests never wait."""

    def __init__(self, config: Alerts, *, sleep: Callable[[float], None] = time.sleep,
                 http: requests.Session | None = None) -> None:
        self.config = config
        self.sleep = sleep
        self.http = http or requests.Session()
        if config.webhook is not None:
            _redact_in_urllib3(resolve_secret(config.webhook.url, "alerts.webhook.url").get_secret_value())

    def wants(self, event: Event) -> bool:
        return event in self.config.on and (self.config.webhook is not None or self.config.email is not None)

    def send(self, alert: Alert) -> bool:
        """True if every configured channel took the alert."""
        if not self.wants(alert.event):
            return True
        ok = True
        if self.config.webhook is not None:
            ok = self._retry("webhook", lambda: self._post(self.config.webhook, alert)) and ok  # type: ignore[arg-type]
        if self.config.email is not None:
            ok = self._retry("email", lambda: self._mail(self.config.email, alert)) and ok  # type: ignore[arg-type]
        return ok

    def _retry(self, channel: str, attempt: Callable[[], float | None]) -> bool:
        attempts = self.config.webhook.attempts if channel == "webhook" and self.config.webhook else 4
        for n in range(1, attempts + 1):
            try:
                attempt()
                return True
            except _Retry as exc:
                wait = exc.after if exc.after is not None else min(2.0 ** (n - 1), MAX_WAIT_S)
                log.warning("alert %s: attempt %d of %d failed (%s)%s", channel, n, attempts, exc,
                            f"; again in {wait:.0f}s" if n < attempts else "; giving up")
                if n < attempts:
                    self.sleep(min(wait, MAX_WAIT_S))
        return False

    def _post(self, hook: Webhook, alert: Alert) -> None:
        url = resolve_secret(hook.url, "alerts.webhook.url").get_secret_value()
        host = urlsplit(url).netloc  # the path and query carry the bot's token: never logged
        try:
            resp = self.http.post(url, data=json.dumps(message_body(alert, hook.format), ensure_ascii=False).encode(),
                                  headers={"Content-Type": "application/json; charset=utf-8"}, timeout=hook.timeout_s)
        except requests.RequestException as exc:
            raise _Retry(f"{host}: {type(exc).__name__}") from None
        if resp.status_code == 429 or resp.status_code >= 500:
            after = resp.headers.get("Retry-After", "")
            raise _Retry(f"{host}: HTTP {resp.status_code}", float(after) if after.isdigit() else None)
        if resp.status_code >= 400:
            raise _Retry(f"{host}: HTTP {resp.status_code}")
        code = _bot_code(resp)
        if code:  # Feishu and WeCom answer 200 with an error code in the body (e.g. rate limited)
            raise _Retry(f"{host}: the bot answered code {code}")

    def _mail(self, mail: Email, alert: Alert) -> None:
        msg = EmailMessage()
        msg["Subject"] = alert.title()
        msg["From"] = mail.sender
        msg["To"] = ", ".join(mail.to)
        msg.set_content(alert.text() + "\n\n" + json.dumps(message_body(alert, "json"), ensure_ascii=False, indent=2))
        try:
            with smtplib.SMTP(mail.host, mail.port, timeout=mail.timeout_s) as smtp:
                if mail.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=mail.ca_file))
                if mail.username and mail.password is not None:
                    smtp.login(mail.username, resolve_secret(mail.password, "alerts.email.password").get_secret_value())
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise _Retry(f"{mail.host}:{mail.port}: {type(exc).__name__}") from None


class _Redact(logging.Filter):
    """urllib3 logs each request line at DEBUG, hook token included: mask the token's path and query."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "/***"), ()
        return True


def _redact_in_urllib3(url: str) -> None:
    parts = urlsplit(url)
    secret = parts.path + (f"?{parts.query}" if parts.query else "")
    if len(secret) <= 1:
        return
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _Redact) and f.secret == secret for f in logger.filters):
        logger.addFilter(_Redact(secret))


class _Retry(Exception):  # noqa: N818 - internal: one failed attempt
    def __init__(self, message: str, after: float | None = None) -> None:
        super().__init__(message)
        self.after = after


def _bot_code(resp: requests.Response) -> int:
    try:
        body = resp.json()
    except ValueError:
        return 0
    if not isinstance(body, dict):
        return 0
    for key in ("errcode", "code", "StatusCode"):
        value = body.get(key)
        if isinstance(value, int) and value != 0:
            return value
    return 0
