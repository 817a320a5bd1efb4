"""The sandbox's CRM list view and record page in headless Chromium, after a few weeks of syncs: tiers,
reasons, the watchlist tag, open tasks, recommended terms and credit limit are shown the way the CRM shows
values, and a hostile company name is text, never markup."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from connector.sandbox import running_sandbox
from tests.browser.chrome import console_errors, full_page_screenshot, requested_urls
from tests.browser.history import _edit, simulate
from tests.conftest import Org, lift_rate_limit

HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=alert(1)> & Co"
TIERS_SHOWN = {"salesforce": {"low", "medium", "high", "critical"}, "zoho": {"low", "medium", "high", "critical"},
               "fxiaoke": {"低", "中", "高", "严重"}}
RAW_NUMBER = re.compile(r"\b\d{4,}\.0\b")  # 219000.0: a float printed as the API sends it
RAW_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")  # an ISO timestamp as the API sends it


@pytest.fixture(scope="module", params=["salesforce", "zoho"])
def synced(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Org, str]]:
    """A 40-account org after three weekly syncs, one account renamed to hostile markup through the CRM's API."""
    crm = str(request.param)
    with running_sandbox(crm, accounts=40, deals_per_account=2, seed=11) as server:
        lift_rate_limit(server)
        org = Org(server, crm)
        history = simulate(org, tmp_path_factory.mktemp(f"view-{crm}"), weeks=2, touched=15)
        target = str(org.records(org.names.accounts)[0][org.names.id])
        _edit(history.config, org, {target: {"Name" if crm == "salesforce" else "Account_Name": HOSTILE}})
        yield org, target


def test_the_list_shows_risk_as_a_crm_does_and_hostile_names_as_text(
        browser: webdriver.Chrome, synced: tuple[Org, str], tmp_path: Path) -> None:
    org, target = synced
    console_errors(browser), requested_urls(browser)
    browser.set_window_size(1280, 900)
    browser.get(org.url + "/")

    assert browser.title.startswith("Accounts") and "pwned" not in browser.title
    assert browser.find_elements(By.CSS_SELECTOR, "img") == []  # the name's <img> is not an element
    link = browser.find_element(By.CSS_SELECTOR, f"a[href='/accounts/{target}']")
    assert link.text == HOSTILE[:80]
    rows = browser.find_elements(By.CSS_SELECTOR, "table tr")[1:]
    cells = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in rows]
    assert len(cells) == 40
    tiers = {r[3].split("\n")[0] for r in cells}
    assert tiers <= TIERS_SHOWN[org.names.crm] and len(tiers) >= 3, tiers
    assert all(r[4] for r in cells if r[3] != "not scored"), "every scored account shows its reasons"
    assert any(r[5] == "credit-watchlist" for r in cells), "the watchlist tag is shown"
    assert any(int(r[6]) > 0 for r in cells), "open tasks are counted"
    assert all(re.fullmatch(r"\d+ days", r[7]) for r in cells), [r[7] for r in cells]
    assert all(re.fullmatch(r"\d{1,3}(,\d{3})*", r[8]) for r in cells), [r[8] for r in cells]
    body = browser.find_element(By.TAG_NAME, "body").text
    assert not RAW_NUMBER.search(body) and not RAW_MOMENT.search(body)

    full_page_screenshot(browser, tmp_path / f"list-{org.names.crm}.png")
    assert console_errors(browser) == []
    assert all(u.startswith(org.url + "/") for u in requested_urls(browser))


def test_a_record_page_shows_terms_limit_tasks_and_formatted_values(
        browser: webdriver.Chrome, synced: tuple[Org, str], tmp_path: Path) -> None:
    org, _ = synced
    browser.set_window_size(1280, 900)
    browser.get(org.url + "/")
    with_task = next(r for r in browser.find_elements(By.CSS_SELECTOR, "table tr")[1:]
                     if int(r.find_elements(By.TAG_NAME, "td")[6].text) > 0)
    record = with_task.find_element(By.TAG_NAME, "a").get_attribute("href")
    console_errors(browser), requested_urls(browser)
    browser.get(str(record))

    terms = browser.find_element(By.CSS_SELECTOR, "p.terms").text
    assert re.fullmatch(r"Recommended terms: \d+ days · Credit limit: \d{1,3}(,\d{3})*", terms), terms
    assert browser.find_elements(By.CSS_SELECTOR, ".badge")
    tables = browser.find_elements(By.TAG_NAME, "table")
    tasks = tables[1].find_elements(By.TAG_NAME, "tr")[1:]
    assert tasks and any(t.text.strip() for t in tasks), "the open task is listed"
    body = browser.find_element(By.TAG_NAME, "body").text
    assert not RAW_NUMBER.search(body), RAW_NUMBER.findall(body)
    assert not RAW_MOMENT.search(body), RAW_MOMENT.findall(body)
    assert re.search(r"[A-Z][a-z]{2} \d{1,2}, \d{4}", body), "dates in the user's (en-US) format"

    full_page_screenshot(browser, tmp_path / f"record-{org.names.crm}.png")
    assert console_errors(browser) == []
    assert all(u.startswith(org.url + "/") for u in requested_urls(browser))
