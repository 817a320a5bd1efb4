"""`riskbridge report` end to end: a sandbox org over a few simulated weeks (injected clock, `touch` between
runs, a credit manager's overrides, a rep closing a task), then the CLI writes the report; the HTML is read
back and checked against the store and the sandbox."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import requests

pytest.importorskip("matplotlib", reason="riskbridge report needs the report extra")
pytest.importorskip("jinja2", reason="riskbridge report needs the report extra")

from connector.riskreport import ReportData, render  # noqa: E402
from connector.riskreport.data import psi  # noqa: E402
from connector.sandbox import running_sandbox  # noqa: E402
from connector.state import StateStore  # noqa: E402
from tests.browser.history import OVERRIDE_REASON, History, simulate  # noqa: E402
from tests.conftest import Org  # noqa: E402


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "connector.cli", *args], capture_output=True, text=True,
                          timeout=300, check=False)


def visible(html: str) -> str:
    """The report's text as a reader sees it (charts and styles left out)."""
    html = re.sub(r"<svg.*?</svg>|<style>.*?</style>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def close_one_task(org: Org) -> str:
    """A sales rep completes one riskbridge task in Salesforce (through the REST API)."""
    creds = org.credentials()
    token = requests.post(f"{creds['login_url']}/services/oauth2/token", timeout=10, data={
        "grant_type": "password", "client_id": creds["consumer_key"], "client_secret": creds["consumer_secret"],
        "username": creds["username"], "password": creds["password"] + creds["security_token"]}).json()
    task = [t for t in org.records("Task") if t.get(org.names.task_key)][-1]  # the newest: made in the period
    resp = requests.patch(f"{token['instance_url']}/services/data/v{creds['api_version']}/sobjects/Task/{task['Id']}",
                          json={"Status": "Completed"}, timeout=10,
                          headers={"Authorization": f"Bearer {token['access_token']}"})
    assert resp.status_code == 204, resp.text
    return str(task["Id"])


@pytest.fixture(scope="module")
def weeks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Org, History]]:
    with running_sandbox("salesforce", accounts=150, deals_per_account=1, seed=21) as server:
        org = Org(server, "salesforce")
        history = simulate(org, tmp_path_factory.mktemp("weeks"), weeks=3)
        close_one_task(org)
        yield org, history


def test_the_report_matches_the_store_in_english(weeks: tuple[Org, History], tmp_path: Path) -> None:
    org, history = weeks
    out = tmp_path / "report.html"
    result = cli("report", "--config", str(history.config_path), "--since", history.since.date().isoformat(),
                 "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"{out.stat().st_size:,} bytes" in result.stderr
    html = out.read_text(encoding="utf-8")
    text = visible(html)

    store = StateStore(history.config.state_url)
    counts = store.tier_counts("default")
    store.close()
    scored = sum(1 for r in org.records(org.names.accounts) if r[org.names.tier])
    assert sum(counts.values()) == scored > 140  # the org's unreadable records stay unscored
    # The migration matrix accounts for every scored account once: its cells add up to the store's count.
    matrix = html[html.index('id="migration"'):html.index("</table>", html.index('id="migration"'))]
    assert sum(int(n.replace(",", "")) for n in re.findall(r'class="num">([\d,]+)</td>', matrix)) == scored
    # Overrides set by a credit manager in week 2: both in force, one expiring within 14 days.
    assert text.count(OVERRIDE_REASON) >= 2
    assert re.search(r"Expiring within 14 days: (\d+)", text) and int(
        re.search(r"Expiring within 14 days: (\d+)", text).group(1)) >= 1  # type: ignore[union-attr]
    # The task a rep completed in the CRM counts as closed (read from the CRM's task status).
    closed = int(re.search(r"Tasks since closed (\d+)", text).group(1))  # type: ignore[union-attr]
    assert closed >= 1
    assert "The scorecard has no development distribution" in text
    assert re.search(r"(€|\$|£|¥|[A-Z]{2,3}\xa0?)\d{1,3}(,\d{3})+", text), "exposure with currency and separators"
    assert "Amounts are never converted between currencies" in text
    assert not re.search(r"\d{4,}\.0\b", text)  # no 219000.0
    assert "<script" not in html.lower() and 'http-equiv="Content-Security-Policy"' in html
    assert not re.search(r"""(src|href)=["']https?://(?!127\.0\.0\.1)""", html)  # nothing loaded from outside


def test_the_chinese_report_is_chinese_throughout(weeks: tuple[Org, History], tmp_path: Path) -> None:
    org, history = weeks
    out = tmp_path / "report-zh.html"
    result = cli("report", "--config", str(history.config_path), "--since", history.since.date().isoformat(),
                 "--lang", "zh", "--out", str(out), "--offline")
    assert result.returncode == 0, result.stderr
    text = visible(out.read_text(encoding="utf-8"))
    for heading in ("信用风险报告", "风险等级分布", "等级迁移", "变化最大的客户", "最常见的原因", "人工调整", "评分漂移",
                    "API 用量与运行状况", "评分卡没有开发样本分布"):
        assert heading in text, heading
    # Only data stays as written (account names, the override reason typed in the CRM, the job's name, the
    # --offline flag); every label, tier and scorecard reason is Chinese.
    labels = text.replace(OVERRIDE_REASON, "")
    for name in sorted((str(r["Name"]) for r in org.records(org.names.accounts)), key=len, reverse=True):
        labels = labels.replace(name, "")
    leftovers = set(re.findall(r"[A-Za-z]{4,}", labels)) - {"default", "offline"}
    assert not leftovers, leftovers
    assert "年" in text and "月" in text  # dates in the Chinese format


def test_bad_input_is_reported_all_at_once_before_any_call(tmp_path: Path) -> None:
    result = cli("report", "--config", str(tmp_path / "missing.toml"), "--since", "last monday", "--lang", "fr",
                 "--out", str(tmp_path / "no" / "such" / "report.html"))
    assert result.returncode != 0
    for problem in ("--since", "--lang", "--out"):
        assert problem in result.stderr, result.stderr
    assert not (tmp_path / "no").exists()


def _data(**changes: Any) -> ReportData:
    moment = datetime(2026, 11, 30, tzinfo=UTC)
    base: dict[str, Any] = dict(
        job="default", since=moment, until=moment, currency="EUR", currency_accounts=1,
        exposure_by_currency={"EUR": {"low": 219000.0}},
        tiers_now={"low": 1, "medium": 0, "high": 0, "critical": 0}, tiers_start=dict.fromkeys(("low", "medium",
                                                                                                 "high", "critical"), 0),
        migration={"new": {"low": 1, "medium": 0, "high": 0, "critical": 0}},
        exposure_by_tier={"low": 219000.0}, exposure_by_owner=[("<b>owner</b>", 219000.0)], movers_up=[],
        movers_down=[], reasons=[("<script>alert(1)</script> $x$", 1, 219000.0)], watch_entries=0, watch_exits=0,
        tasks_opened=0, tasks_closed=None, overrides=[], expiring=[], drift=None, stability=None, runs=[])
    base.update(changes)
    return ReportData(**base)


def test_values_from_the_crm_are_text_in_the_report_and_its_charts() -> None:
    html = render(_data(), "en")
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>owner</b>" not in html
    assert "€219,000" in html and "219000.0" not in html


def test_psi_is_zero_for_equal_mixes_and_grows_with_the_shift() -> None:
    assert psi([10, 20, 30, 40], [1, 2, 3, 4]) == pytest.approx(0.0)
    small, large = psi([25, 25, 25, 25], [20, 25, 25, 30]), psi([25, 25, 25, 25], [5, 15, 30, 50])
    assert 0 < small < 0.1 < large
