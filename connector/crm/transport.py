"""HTTP plumbing shared by the CRM clients: default timeouts and the loopback sandbox adapter."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

__all__ = ["LoopbackAdapter", "TimeoutSession", "is_loopback_http", "session_for"]

DEFAULT_TIMEOUT = (5.0, 120.0)  # (connect, read) seconds


class TimeoutSession(requests.Session):
    """A session that never waits forever: simple-salesforce passes no timeout on most calls."""

    def __init__(self, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.timeout = timeout
        self.trust_env = False  # proxies or CA bundles from the environment must not redirect CRM traffic

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


class LoopbackAdapter(HTTPAdapter):
    """Sends every https request it is mounted for to a plain-http loopback server.

    simple-salesforce always builds ``https://`` URLs (and hard-codes ``*.salesforce.com`` for login),
    so a sandbox on ``http://127.0.0.1:PORT`` is reached by rewriting scheme and host here, on the
    wire, without patching the library.
    """

    def __init__(self, target: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = urlsplit(target).netloc

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        parts = urlsplit(str(request.url))
        request.url = urlunsplit(("http", self.target, parts.path, parts.query, parts.fragment))
        return super().send(request, *args, **kwargs)


def is_loopback_http(url: str) -> bool:
    """True for ``http://127.x.x.x`` / ``http://localhost`` / ``http://[::1]`` URLs (the sandbox)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def session_for(base_url: str, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> TimeoutSession:
    """A session for a CRM at `base_url`; a loopback http URL gets every https call routed to it."""
    session = TimeoutSession(timeout)
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=8)
    session.mount("http://", adapter)
    if is_loopback_http(base_url):
        session.mount("https://", LoopbackAdapter(base_url, pool_connections=4, pool_maxsize=8))
    return session
