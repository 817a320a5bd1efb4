"""Fxiaoke access tokens: both styles, a token cache shared by every job and run, single-flight refresh.

    token   POST /oauth2.0/token              {"appId", "appSecret", "permanentCode", "grantType": "app_secret"}
            -> {"accessToken", "ea", "expiresIn"}; calls send authorization/x-fs-ea/x-fs-userid headers
    legacy  POST /cgi/corpAccessToken/get/V2  {"appId", "appSecret", "permanentCode"}
            -> {"corpAccessToken", "corpId", "expiresIn"}; calls put the trio at the top of the body

A token lives 7,200 s and the endpoint returns the same one for its first 6,600 s, so a token is used
until ``expiresIn - 600`` seconds after it was fetched (``expiresIn`` counts down ⚠, so this holds for
either reading). The endpoint allows 10 calls a minute and no concurrent calls: fetches are serialised
by a thread lock and, with a `token_cache` file, by an advisory file lock shared with every process
using the connection; the file (mode 0600) also holds the times of recent fetches, so the budget is
shared too. The token endpoint answers errors with HTTP 200 and an errorCode, checked like any call.
Secrets and tokens never reach logs or messages.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from connector.config import FxiaokeConnection, resolve_secret
from connector.crm import token_file
from connector.crm.fxiaoke_wire import check_envelope
from connector.errors import AuthError, Retriable

__all__ = ["FETCH_LIMIT", "FETCH_WINDOW_S", "REFRESH_MARGIN_S", "FxiaokeTokens", "Grant", "TokenBudgetExhausted"]

log = logging.getLogger(__name__)

FETCH_LIMIT = 10  # token calls ...
FETCH_WINDOW_S = 60.0  # ... per minute
REFRESH_MARGIN_S = 600.0  # 7,200 s tokens, a new one issued from 6,600 s on
_CACHE_VERSION = 1

Send = Callable[..., requests.Response]


class TokenBudgetExhausted(Retriable):
    """Ten token calls in the last minute for this app: wait `retry_after` seconds."""


@dataclass
class Grant:
    """A usable token and the tenant it speaks for (``ea`` in token style, ``corpId`` in legacy)."""

    token: str = field(repr=False)
    tenant: str
    expires_at: float


class FxiaokeTokens:
    """Tokens for one Fxiaoke connection. Thread-safe; `send(path, body)` is the client's counted call."""

    def __init__(self, conn: FxiaokeConnection, send: Send, clock: Callable[[], float]) -> None:
        self.style = conn.auth_style
        self._app_id = conn.auth.app_id
        self._secret = resolve_secret(conn.auth.app_secret, "auth.app_secret")
        self._code = resolve_secret(conn.auth.permanent_code, "auth.permanent_code")
        self._send = send
        self._clock = clock
        self._cache = Path(conn.token_cache).expanduser() if conn.token_cache else None
        digest = hashlib.sha256(f"{conn.host}\n{self.style}\n{self._app_id}\n{self._code.get_secret_value()}".encode())
        self._fingerprint = digest.hexdigest()[:16]  # which app and tenant a cache file belongs to
        self._grant: Grant | None = None
        self._rejected: str | None = None
        self._fetches: list[float] = []
        self._lock = threading.Lock()
        self.fetch_count = 0  # tokens this object fetched (not read from the cache)

    def __repr__(self) -> str:
        return f"FxiaokeTokens(style={self.style!r}, app_id={self._app_id!r})"

    def grant(self) -> Grant:
        """A usable token: held, read from the shared cache, or fetched (one fetch at a time)."""
        with self._lock:
            if not self._usable(self._grant):
                self._renew()
            assert self._grant is not None
            return self._grant

    def invalidate(self, token: str) -> None:
        """The gateway answered 20016 for this token: never hand it out again, here or from the cache."""
        with self._lock:
            self._rejected = token
            if self._grant is not None and self._grant.token == token:
                self._grant = None

    def _usable(self, grant: Grant | None) -> bool:
        return grant is not None and grant.token != self._rejected and self._clock() < grant.expires_at

    def _renew(self) -> None:
        with self._file_lock():
            cached = self._load()
            if self._usable(cached):
                log.debug("using the access token from the token cache")
                self._grant = cached
                return
            now = self._clock()
            self._fetches = sorted(t for t in set(self._fetches) if now - t < FETCH_WINDOW_S)
            if len(self._fetches) >= FETCH_LIMIT:
                wait = self._fetches[0] + FETCH_WINDOW_S - now
                raise TokenBudgetExhausted(f"Fxiaoke token endpoint: {FETCH_LIMIT} calls in the last minute for this "
                                           f"app; the next in {wait:.0f}s (share a token_cache between jobs)",
                                           retry_after=wait)
            self._fetches.append(now)
            self._save()  # counted before sending: a lost answer may still have been a call
            self._grant = self._fetch(now)
            self.fetch_count += 1
            self._save()

    def _fetch(self, now: float) -> Grant:
        secrets = {"appId": self._app_id, "appSecret": self._secret.get_secret_value(),
                   "permanentCode": self._code.get_secret_value()}
        if self.style == "token":
            path, body, token_key, tenant_key = "/oauth2.0/token", {**secrets, "grantType": "app_secret"}, \
                "accessToken", "ea"
        else:
            path, body, token_key, tenant_key = "/cgi/corpAccessToken/get/V2", secrets, "corpAccessToken", "corpId"
        answer = check_envelope(self._send(path, body), "Fxiaoke token", token_call=True)
        token, tenant = answer.get(token_key), answer.get(tenant_key)
        if not isinstance(token, str) or not token or not isinstance(tenant, str) or not tenant:
            raise AuthError(f"Fxiaoke token: the answer lacks {token_key} or {tenant_key}; check auth_style")
        try:
            lifetime = float(answer.get("expiresIn") or 7200)
        except (TypeError, ValueError):
            lifetime = 7200.0
        log.info("fetched a Fxiaoke access token (%s style, %.0fs left)", self.style, lifetime)
        return Grant(token, tenant, now + max(60.0, lifetime - REFRESH_MARGIN_S))

    # -- the cache file -----------------------------------------------------------------------------

    def _file_lock(self) -> contextlib.AbstractContextManager[None]:
        return token_file.locked(self._cache)

    def _load(self) -> Grant | None:
        data = token_file.read(self._cache, self._fingerprint)
        if data is None:
            return None
        fetches = data.get("fetches")
        if isinstance(fetches, list):
            self._fetches = sorted(set(self._fetches) | {float(t) for t in fetches if isinstance(t, int | float)})
        token, tenant, expires_at = data.get("token"), data.get("tenant"), data.get("expires_at")
        if not isinstance(token, str) or not isinstance(tenant, str) or not isinstance(expires_at, int | float):
            return None
        return Grant(token, tenant, float(expires_at))

    def _save(self) -> None:
        if self._cache is None:
            return
        now = self._clock()
        data: dict[str, Any] = {"version": _CACHE_VERSION, "fingerprint": self._fingerprint,
                                "fetches": [t for t in self._fetches if now - t < FETCH_WINDOW_S]}
        if self._grant is not None:
            data.update(token=self._grant.token, tenant=self._grant.tenant, expires_at=self._grant.expires_at)
        token_file.write(self._cache, data)
