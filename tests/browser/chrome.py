"""What the browser tests read back from Chromium: console errors, requested URLs, a full-page screenshot."""

from __future__ import annotations

import json
import os
from typing import Any

from selenium import webdriver

__all__ = ["console_errors", "full_page_screenshot", "requested_urls"]


def console_errors(chrome: webdriver.Chrome) -> list[str]:
    """Console messages at error level since the last call (reading the log empties it)."""
    return [e["message"] for e in chrome.get_log("browser") if e["level"] == "SEVERE"]


def requested_urls(chrome: webdriver.Chrome) -> list[str]:
    """Every URL the page asked for since the last call, from the DevTools performance log."""
    urls = []
    for entry in chrome.get_log("performance"):
        message: dict[str, Any] = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(str(message["params"]["request"]["url"]))
    return urls


def full_page_screenshot(chrome: webdriver.Chrome, path: os.PathLike[str] | str) -> None:
    """The whole page, not just the first screen: the window is made as tall as the document."""
    height = int(chrome.execute_script("return document.documentElement.scrollHeight"))
    frame = int(chrome.execute_script("return window.outerHeight - window.innerHeight"))  # the window's own bars
    chrome.set_window_size(1280, min(max(height + frame, 800), 16_000))
    assert chrome.save_screenshot(str(path))
