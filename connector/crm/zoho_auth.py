"""Zoho Accounts OAuth for the CRM client: the refresh-token grant, a shared token cache, the mint budget.

Zoho lets one refresh token mint at most 10 access tokens per rolling 10 minutes, and an access token
lives an hour. So a token is reused until 5 minutes before it expires, and, when the connection names a
`token_cache` file, shared (mode 0600, under an advisory lock) by every run and job using that
connection, together with the times of recent mints. When the budget is spent, `token()` raises
`TokenBudgetExhausted` (an `AuthError` with `retry_after`) instead of asking again.

The token endpoint answers errors with HTTP 200 (`{"error": "invalid_code"}`): only a body with an
`access_token` is a success. Its `api_domain` is used only when it lies on the configured data centre's
domain and no explicit `api_url` was given. Secrets and tokens never reach logs or messages.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from connector.config import ZohoConnection, resolve_secret
from connector.crm import token_file
from connector.crm.transport import is_loopback_http
from connector.errors import AuthError, Retriable

__all__ = ["MINT_LIMIT", "MINT_WINDOW_S", "REFRESH_MARGIN_S", "TokenBudgetExhausted", "ZohoTokens"]

log = logging.getLogger(__name__)

MINT_LIMIT = 10  # access tokens per refresh token ...
MINT_WINDOW_S = 600.0  # ... per rolling 10 minutes
REFRESH_MARGIN_S = 300.0  # renew 5 minutes before expiry
_CACHE_VERSION = 1
_DC_PREFIX = re.compile(r"^(www|sandbox|developer)\.")
_SAFE_CODE = re.compile(r"[^A-Za-z0-9_ .-]")

Send = Callable[..., requests.Response]


class TokenBudgetExhausted(AuthError):
    """This refresh token minted its 10 access tokens in the last 10 minutes; wait `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class _Token:
    access_token: str = field(repr=False)
    expires_at: float
    api_domain: str | None = None


def dc_domain(api_url: str) -> str:
    """The data centre's domain of an API URL: ``https://www.zohoapis.eu`` -> ``zohoapis.eu``."""
    host = (urlsplit(api_url).hostname or "").lower()
    return _DC_PREFIX.sub("", host) if host.count(".") >= 2 else host


class ZohoTokens:
    """Access tokens for one Zoho connection. Thread-safe; `send` is the client's counted HTTP call."""

    def __init__(self, conn: ZohoConnection, send: Send, clock: Callable[[], float]) -> None:
        accounts_url, api_url = conn.urls
        self.token_url = f"{accounts_url}/oauth/v2/token"
        self.api_url = api_url  # where data calls go; may move to an accepted api_domain
        self._configured_api = api_url
        self._explicit_api = conn.api_url is not None
        self._client_id = conn.auth.client_id
        self._client_secret = resolve_secret(conn.auth.client_secret, "auth.client_secret")
        self._refresh_token = resolve_secret(conn.auth.refresh_token, "auth.refresh_token")
        self._send = send
        self._clock = clock
        self._cache = Path(conn.token_cache).expanduser() if conn.token_cache else None
        digest = hashlib.sha256(f"{accounts_url}\n{self._client_id}\n{self._refresh_token.get_secret_value()}".encode())
        self._fingerprint = digest.hexdigest()[:16]  # which refresh token a cache file belongs to
        self._token: _Token | None = None
        self._rejected: str | None = None
        self._mints: list[float] = []
        self._lock = threading.Lock()
        self.mint_count = 0  # tokens this object minted (not read from the cache)

    def __repr__(self) -> str:
        return f"ZohoTokens(token_url={self.token_url!r}, api_url={self.api_url!r})"

    # -- public -------------------------------------------------------------------------------------

    def token(self) -> str:
        """A valid access token: cached, shared through the cache file, or freshly minted."""
        with self._lock:
            if not self._usable(self._token):
                self._renew()
            assert self._token is not None
            return self._token.access_token

    def token_minting(self) -> tuple[str, bool]:
        """`token()`, and whether this very call minted it (lanes share this object, so comparing
        `mint_count` before and after would count another lane's mint as this call's)."""
        with self._lock:
            before = self.mint_count
            if not self._usable(self._token):
                self._renew()
            assert self._token is not None
            return self._token.access_token, self.mint_count > before

    def invalidate(self, access_token: str) -> None:
        """Zoho answered INVALID_TOKEN for this token: never hand it out again."""
        with self._lock:
            self._rejected = access_token
            if self._token is not None and self._token.access_token == access_token:
                self._token = None

    def recent_mints(self) -> list[float]:
        now = self._clock()
        return [t for t in self._mints if now - t < MINT_WINDOW_S]

    # -- renewing -----------------------------------------------------------------------------------

    def _usable(self, token: _Token | None) -> bool:
        return (token is not None and token.access_token != self._rejected
                and self._clock() < token.expires_at - REFRESH_MARGIN_S)

    def _renew(self) -> None:
        with self._file_lock():
            cached = self._load()
            if cached is not None and self._usable(cached):
                log.debug("using the access token from the token cache")
                self._adopt(cached)
                return
            now = self._clock()
            self._mints = sorted(t for t in set(self._mints) if now - t < MINT_WINDOW_S)
            if len(self._mints) >= MINT_LIMIT:
                wait = self._mints[0] + MINT_WINDOW_S - now
                raise TokenBudgetExhausted(
                    f"Zoho token mint limit reached: {MINT_LIMIT} access tokens in the last 10 minutes for this "
                    f"refresh token; the next one can be minted in {wait:.0f}s (share a token_cache between jobs)",
                    retry_after=wait)
            self._mints.append(now)
            self._save()  # count the attempt before sending: a lost response may still have minted a token
            token = self._mint(now)
            self.mint_count += 1
            self._adopt(token)
            self._save()

    def _mint(self, now: float) -> _Token:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret.get_secret_value(),
            "refresh_token": self._refresh_token.get_secret_value(),
        }
        # A transport failure propagates with the attempt still counted: it may have reached Zoho.
        resp = self._send("POST", self.token_url, data=form, headers={"Accept": "application/json"})
        try:
            return self._read(resp, now)
        except (AuthError, Retriable):
            self._mints.remove(now)  # Zoho answered and minted nothing
            self._save()
            raise

    def _read(self, resp: requests.Response, now: float) -> _Token:
        try:
            body: Any = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("access_token"), str) and body["access_token"]:
            expires_in = body.get("expires_in", body.get("expires_in_sec", 3600))
            try:
                lifetime = float(expires_in) if isinstance(expires_in, int | float | str) else 3600.0
            except ValueError:
                lifetime = 3600.0
            log.info("minted a Zoho access token (valid %.0fs)", lifetime)
            return _Token(body["access_token"], now + lifetime, body.get("api_domain") or None)
        if resp.status_code == 429 or resp.status_code >= 500 or not isinstance(body, dict):
            raise Retriable(f"Zoho token endpoint: HTTP {resp.status_code}", status=resp.status_code)
        raise self._refusal(body, resp.status_code)

    def _refusal(self, body: dict[str, Any], status: int) -> AuthError:
        error = _SAFE_CODE.sub("", str(body.get("error") or body.get("code") or "unknown"))[:60]
        description = str(body.get("error_description") or body.get("message") or "")
        if "too many requests" in description.lower() or "too many" in error.lower():
            return TokenBudgetExhausted(
                f"Zoho refused to mint an access token: too many tokens for this refresh token ({error}); "
                "retry in 10 minutes and share a token_cache between jobs", retry_after=MINT_WINDOW_S)
        if error == "invalid_code":
            return AuthError("Zoho refused the refresh token (invalid_code): it is wrong, revoked, or from another "
                             "data centre; generate a new one for this client and data centre")
        if error == "invalid_client":
            return AuthError("Zoho refused the client (invalid_client): check client_id and client_secret and that "
                             "accounts_url is the data centre where the client was registered")
        return AuthError(f"Zoho token refresh failed: HTTP {status} error {error!r}")

    def _adopt(self, token: _Token) -> None:
        self._token = token
        self._accept_api_domain(token.api_domain)

    def _accept_api_domain(self, api_domain: str | None) -> None:
        if not api_domain:
            return
        domain = api_domain.rstrip("/")
        if domain == self._configured_api or domain == self.api_url:
            return
        if not self._on_data_centre(domain):
            log.warning("ignoring api_domain %s from the token response: not on the configured data centre (%s); "
                        "data calls stay on %s", domain, dc_domain(self._configured_api), self.api_url)
            return
        if self._explicit_api:
            log.debug("token response names api_domain %s; keeping the configured api_url %s", domain, self.api_url)
            return
        log.info("using api_domain %s from the token response", domain)
        self.api_url = domain

    def _on_data_centre(self, url: str) -> bool:
        parts = urlsplit(url)
        if is_loopback_http(self._configured_api):
            return parts.scheme == "http" and parts.netloc == urlsplit(self._configured_api).netloc
        host, domain = (parts.hostname or "").lower(), dc_domain(self._configured_api)
        return parts.scheme == "https" and bool(domain) and (host == domain or host.endswith("." + domain))

    # -- the cache file -----------------------------------------------------------------------------

    def _file_lock(self) -> contextlib.AbstractContextManager[None]:
        return token_file.locked(self._cache)

    def _load(self) -> _Token | None:
        """Read the cache file: merge its mint times, return its token (None if absent or foreign)."""
        data = token_file.read(self._cache, self._fingerprint)
        if data is None:
            return None
        mints = data.get("mints")
        if isinstance(mints, list):
            self._mints = sorted(set(self._mints) | {float(t) for t in mints if isinstance(t, int | float)})
        token, expires_at = data.get("access_token"), data.get("expires_at")
        if not isinstance(token, str) or not isinstance(expires_at, int | float):
            return None
        return _Token(token, float(expires_at), data.get("api_domain") if isinstance(data.get("api_domain"), str) else None)

    def _save(self) -> None:
        if self._cache is None:
            return
        now = self._clock()
        data: dict[str, Any] = {
            "version": _CACHE_VERSION,
            "fingerprint": self._fingerprint,
            "mints": [t for t in self._mints if now - t < MINT_WINDOW_S],
        }
        if self._token is not None:
            data.update(access_token=self._token.access_token, expires_at=self._token.expires_at,
                        api_domain=self._token.api_domain)
        token_file.write(self._cache, data)
