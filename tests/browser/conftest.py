"""Headless Chromium through Selenium, with Debian's `chromium` and `chromium-driver`.

Without them the browser tests skip with the reason, except under CI=true, where a missing browser fails:
`.ci/run` installs it, so its absence there is a broken pipeline, not a choice."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

selenium = pytest.importorskip("selenium", reason="the browser tests need selenium (pip install 'riskbridge[report]')")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver",)


def _find(names: tuple[str, ...]) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    binary, driver = _find(BROWSERS), _find(DRIVERS)
    if binary is None or driver is None:
        missing = "chromium" if binary is None else "chromium-driver"
        reason = f"no headless browser: {missing} is not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + "; under CI=true this is a failure (.ci/run installs it)")
        pytest.skip(reason)
    options = Options()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-default-apps", "--disable-sync", "--lang=en-US"):
        options.add_argument(arg)
    # The console and every network request, read back by the tests.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    chrome.set_page_load_timeout(30)
    try:
        yield chrome
    finally:
        chrome.quit()
