"""Zoho Accounts for the sandbox: the refresh-token grant, its limits, and access-token checks.

Wire facts (docs/crm-zoho.md §3, Zoho's token-validity page):
- errors of the grant come back with HTTP 200 (`{"error": "invalid_code"}`, `{"error": "invalid_client"}`);
- a refresh token mints at most 10 access tokens per 10 minutes; past that the grant answers HTTP 400
  `{"error_description": "You have made too many requests continuously. ...", "error": "Access Denied",
  "status": "failure"}` (as recorded by client authors; one Zoho post says the status stays 200);
- at most 15 live access tokens per refresh token: minting the 16th invalidates the oldest;
- an unknown or expired access token gets 401 `INVALID_TOKEN`;
- a token carries the scopes granted to its refresh token (`scope`, which tests may narrow); a call
  that needs one it lacks gets 401 `OAUTH_SCOPE_MISMATCH`.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from connector.sandbox.http import Request, Response, json_response
from connector.sandbox.zoho_fields import fmt_dt

__all__ = ["MINT_LIMIT", "MINT_WINDOW_S", "TOO_MANY_TOKENS", "ZohoAuth"]

MINT_LIMIT, MINT_WINDOW_S, LIVE_TOKENS = 10, 600.0, 15
SCOPE = "ZohoCRM.modules.ALL ZohoCRM.settings.ALL ZohoCRM.coql.READ ZohoCRM.users.READ ZohoCRM.bulk.READ"
TOO_MANY_TOKENS = {"error_description": "You have made too many requests continuously. Please try again after "
                                        "some time.", "error": "Access Denied", "status": "failure"}
_INVALID_TOKEN = {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}
_SCOPE_MISMATCH = {"code": "OAUTH_SCOPE_MISMATCH", "details": {}, "message": "Unauthorized", "status": "error"}
_NO_AUTH = {"code": "AUTHENTICATION_FAILURE", "details": {}, "message": "Authentication failed", "status": "error"}


@dataclass
class ZohoAuth:
    """Client credentials, one refresh token, and the live access tokens minted from it."""

    seed: int
    clock: Callable[[], float]
    lifetime_s: int = 3600
    mint_limit: int = MINT_LIMIT  # tests that churn tokens on purpose may raise it
    scope: str = SCOPE  # granted to tokens minted from now on
    _tokens: dict[str, float] = field(default_factory=dict)  # access token -> expiry (epoch seconds)
    _scopes: dict[str, frozenset[str]] = field(default_factory=dict)  # access token -> its scopes, lower-cased
    _mints: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        rng = random.Random(f"zoho-credentials-{self.seed}")
        alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        self.client_id = "1000." + "".join(rng.choice(alnum) for _ in range(30))
        self.client_secret = f"{rng.getrandbits(168):042x}"
        self.refresh_token = f"1000.{rng.getrandbits(128):032x}.{rng.getrandbits(128):032x}"

    def credentials(self, base_url: str) -> dict[str, str]:
        return {"client_id": self.client_id, "client_secret": self.client_secret,
                "refresh_token": self.refresh_token, "accounts_url": base_url, "api_url": base_url}

    def grant(self, request: Request, api_domain: str) -> Response:
        """`POST /oauth/v2/token`: parameters in the query string or a form body."""
        params = request.form()
        if params.get("grant_type") != "refresh_token":
            return json_response(200, {"error": "unsupported_grant_type"})
        if params.get("client_id") != self.client_id or params.get("client_secret") != self.client_secret:
            return json_response(200, {"error": "invalid_client"})
        if params.get("refresh_token") != self.refresh_token:
            return json_response(200, {"error": "invalid_code"})
        now = self.clock()
        with self._lock:
            while self._mints and self._mints[0] <= now - MINT_WINDOW_S:
                self._mints.popleft()
            if len(self._mints) >= self.mint_limit:
                return json_response(400, TOO_MANY_TOKENS)
            self._mints.append(now)
            for token in [t for t, exp in self._tokens.items() if exp <= now]:
                del self._tokens[token]
            while len(self._tokens) >= LIVE_TOKENS:
                self._scopes.pop(next(iter(self._tokens)), None)
                del self._tokens[next(iter(self._tokens))]
            salt = f"{self.refresh_token}:{now}:{len(self._mints)}:{secrets.token_hex(8)}"
            digest = hashlib.sha256(salt.encode()).hexdigest()
            token = f"1000.{digest[:32]}.{digest[32:64]}"
            self._tokens[token] = now + self.lifetime_s
            self._scopes[token] = frozenset(self.scope.lower().split())
            scope = self.scope
        return json_response(200, {"access_token": token, "scope": scope, "api_domain": api_domain,
                                   "token_type": "Bearer", "expires_in": self.lifetime_s})

    def check(self, request: Request, needs: tuple[str, ...] = ()) -> tuple[Response | None, dict[str, str]]:
        """An error response for a request without a live token (or, given `needs`, without one of those
        scopes), else the headers Zoho adds."""
        header = request.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme != "Zoho-oauthtoken" or not token.strip():
            return json_response(401, _NO_AUTH), {}
        with self._lock:
            expiry = self._tokens.get(token.strip())
            scopes = self._scopes.get(token.strip(), frozenset())
        if expiry is None or expiry <= self.clock():
            return json_response(401, _INVALID_TOKEN), {}
        if needs and not scopes & set(needs):
            return json_response(401, _SCOPE_MISMATCH), {}
        return None, {"x-accesstoken-reset": fmt_dt(expiry)}

    def reset_limits(self) -> None:
        """Forget the mint history (a sandbox reset); live tokens stay valid."""
        with self._lock:
            self._mints.clear()

    def expire_all(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._scopes.clear()
