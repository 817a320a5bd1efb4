"""The Monday risk report in headless Chromium: built by the CLI from a sandbox org's few simulated weeks,
opened from the file, with no console error, no request beyond the file itself, every chart drawn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from connector.sandbox import running_sandbox
from tests.browser.chrome import console_errors, full_page_screenshot, requested_urls
from tests.browser.history import History, simulate
from tests.conftest import Org

CHARTS = {"tiers", "exposure-tier", "exposure-owner", "reasons", "api"}
SECTIONS = ("tiers", "exposure", "movers", "reasons", "activity", "overrides", "drift", "runs")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The report in both languages, from 300 accounts over four simulated weeks."""
    tmp = tmp_path_factory.mktemp("report")
    with running_sandbox("salesforce", accounts=300, deals_per_account=1, seed=15) as server:
        org = Org(server, "salesforce")
        history: History = simulate(org, tmp)
        out = {}
        for lang in ("en", "zh"):
            target = tmp / f"report-{lang}.html"
            result = subprocess.run([sys.executable, "-m", "connector.cli", "report", "--config",
                                     str(history.config_path), "--since", history.since.date().isoformat(),
                                     "--lang", lang, "--out", str(target)],
                                    capture_output=True, text=True, timeout=300, check=False)
            assert result.returncode == 0, result.stderr
            out[lang] = target
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_report_renders_offline_with_every_chart(browser: webdriver.Chrome, reports: dict[str, Path],
                                                     lang: str, tmp_path: Path) -> None:
    console_errors(browser), requested_urls(browser)  # start from empty logs
    page = reports[lang].resolve().as_uri()
    browser.set_window_size(1280, 900)
    browser.get(page)

    assert browser.find_element(By.TAG_NAME, "h1").text == ("Credit risk report" if lang == "en" else "信用风险报告")
    for section in SECTIONS:
        assert browser.find_element(By.ID, section).is_displayed(), section
    charts = {c.get_attribute("data-chart"): c.find_element(By.TAG_NAME, "svg")
              for c in browser.find_elements(By.CSS_SELECTOR, "[data-chart]")}
    assert set(charts) == CHARTS
    for name, svg in charts.items():
        size = svg.size
        assert size["width"] > 100 and size["height"] > 50, (name, size)
        assert svg.find_elements(By.CSS_SELECTOR, "path, rect, use"), f"chart {name} draws nothing"
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#movers a")]
    assert links and all("/accounts/" in str(href) for href in links)  # each mover opens its CRM record

    full_page_screenshot(browser, tmp_path / f"report-{lang}.png")
    assert (tmp_path / f"report-{lang}.png").stat().st_size > 10_000
    assert console_errors(browser) == []
    urls = requested_urls(browser)
    assert urls and all(u == page for u in urls), urls  # the file itself and nothing else
