"""Fxiaoke OpenAPI authentication for the sandbox: both token generations and the per-call check.

Wire facts (docs/crm-fxiaoke.md §3, §4, §13):
- new style `POST /oauth2.0/token` {appId, appSecret, permanentCode, grantType: "app_secret"} → accessToken,
  then headers `authorization: Bearer …`, `x-fs-ea`, `x-fs-userid` on every business call;
- legacy style `POST /cgi/corpAccessToken/get/V2` {appId, appSecret, permanentCode} → corpAccessToken and
  corpId, then `corpAccessToken`, `corpId`, `currentOpenUserId` at the top level of every body;
- a token lives 7,200 s; asking again within 6,600 s of its minting returns the same token; later a new
  one is minted and both work until each one's own expiry. `expiresIn` counts down (remaining seconds);
- at most 10 token calls a minute (both endpoints together, per app); past it 14001 (the code is undocumented);
- a bad secret gets the 10006 body, no credentials the 20017 body, an unknown or expired token 20016.
  Everything is HTTP 200.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["LIFETIME_S", "REUSE_S", "TOKEN_CALLS_PER_MINUTE", "AuthContext", "FxiaokeAuth", "Style"]

LIFETIME_S, REUSE_S, TOKEN_CALLS_PER_MINUTE = 7200, 6600, 10
Style = Literal["new", "legacy"]


@dataclass(frozen=True)
class AuthContext:
    """Who a business call runs as: the operator employee and which token style it used."""

    style: Style
    user_id: str  # plain employee id, e.g. "1000"


@dataclass
class _Token:
    value: str
    style: Style
    minted: float
    expires: float


@dataclass
class FxiaokeAuth:
    """The self-built app's credentials and the tokens minted for it."""

    seed: int
    clock: Callable[[], float]
    lifetime_s: int = LIFETIME_S
    reuse_s: int = REUSE_S
    calls_per_minute: int = TOKEN_CALLS_PER_MINUTE
    employees: dict[str, str] = field(default_factory=dict)  # employee id -> open user id (FSUID_…)
    _tokens: dict[str, _Token] = field(default_factory=dict)
    _calls: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    minted: int = 0  # tokens minted since the last reset, for tests of the client's cache

    def __post_init__(self) -> None:
        rng = random.Random(f"fxiaoke-credentials-{self.seed}")
        self.app_id = f"FSAID_{rng.getrandbits(80):020x}"
        self.app_secret = f"{rng.getrandbits(128):032x}"
        self.permanent_code = f"{rng.getrandbits(128):032X}"
        self.ea = f"{700000 + rng.randrange(99999)}"
        self.corp_id = f"FSCID_{rng.getrandbits(128):032X}"

    def credentials(self, base_url: str, operator: str, mobile: str) -> dict[str, Any]:
        return {"host": base_url, "app_id": self.app_id, "app_secret": self.app_secret,
                "permanent_code": self.permanent_code, "ea": self.ea, "corp_id": self.corp_id,
                "operator_user_id": operator, "operator_open_user_id": self.employees.get(operator, ""),
                "operator_mobile": mobile}

    # ------------------------------------------------------------ token endpoints

    def grant(self, body: Any, style: Style) -> dict[str, Any]:
        """The answer of `/oauth2.0/token` (new) or `/cgi/corpAccessToken/get/V2` (legacy), without traceId."""
        body = body if isinstance(body, dict) else {}
        for key, wanted in (("appId", self.app_id), ("appSecret", self.app_secret),
                            ("permanentCode", self.permanent_code)):
            if body.get(key) != wanted:
                return _bad_parameter(key, token_style=style)
        if style == "new" and body.get("grantType") != "app_secret":
            return _bad_parameter("grantType", token_style=style)
        now = self.clock()
        with self._lock:
            while self._calls and self._calls[0] <= now - 60.0:
                self._calls.popleft()
            if len(self._calls) >= self.calls_per_minute:  # the code is undocumented; 14001 is the table's
                return {"errorCode": 14001, "errorMessage": "接口调用超过限制 (token: at most 10 calls a minute)",
                        "errorDescription": "call limit exceeded"}
            self._calls.append(now)
            for value in [v for v, t in self._tokens.items() if t.expires <= now]:
                del self._tokens[value]
            current = max((t for t in self._tokens.values() if t.style == style), key=lambda t: t.minted, default=None)
            if current is None or now - current.minted >= self.reuse_s:
                self.minted += 1
                digest = hashlib.sha256(f"{self.app_secret}:{style}:{now}:{self.minted}".encode()).hexdigest()
                current = _Token(digest[:32].upper(), style, now, now + self.lifetime_s)
                self._tokens[current.value] = current
            remaining = max(1, int(current.expires - now))
        if style == "new":
            return {"openUserId": self.corp_id, "accessToken": current.value, "expiresIn": remaining,
                    "appId": self.app_id, "ea": self.ea, "errorCode": 0, "errorMessage": "success"}
        return {"errorCode": 0, "errorMessage": "success", "corpAccessToken": current.value, "corpId": self.corp_id,
                "expiresIn": remaining}

    # ------------------------------------------------------------ business calls

    def check(self, headers: dict[str, str], body: Any, *, need_user: bool = True) -> AuthContext | dict[str, Any]:
        """Who the call runs as, or the error body (20017 no credentials, 20016 bad token, 10006 bad user)."""
        body = body if isinstance(body, dict) else {}
        bearer = headers.get("authorization", "")
        if bearer:
            scheme, _, token = bearer.partition(" ")
            if scheme.lower() != "bearer" or not self._live(token, "new") or headers.get("x-fs-ea") != self.ea:
                return _BAD_TOKEN
            user = headers.get("x-fs-userid", "")
            if need_user and user not in self.employees:
                return _bad_parameter("x-fs-userid")
            return AuthContext("new", user)
        token = body.get("corpAccessToken")
        if not token:
            return {"errorMessage": "corpAccessToken为必填项，不能为空", "errorCode": 20017}
        if not self._live(str(token), "legacy") or body.get("corpId") != self.corp_id:
            return _BAD_TOKEN
        if not need_user:
            return AuthContext("legacy", "")
        open_id = body.get("currentOpenUserId")
        found = next((emp for emp, oid in self.employees.items() if oid == open_id), None)
        if found is None:
            return _bad_parameter("currentOpenUserId")
        return AuthContext("legacy", found)

    def _live(self, token: str, style: Style) -> bool:
        with self._lock:
            entry = self._tokens.get(token.strip())
        return entry is not None and entry.style == style and entry.expires > self.clock()

    def expire_all(self) -> None:
        """Forced expiry: every token dies now (a refresh test's 20016)."""
        with self._lock:
            self._tokens.clear()

    def reset_limits(self) -> None:
        with self._lock:
            self._calls.clear()
            self.minted = 0


_BAD_TOKEN = {"errorMessage": "the cropId,cropAccessToken or authorization is error", "errorCode": 20016}


def _bad_parameter(name: str, token_style: Style | None = None) -> dict[str, Any]:
    """The body the gateway sends for a missing or illegal parameter (recorded for appSecret).

    Only the new-style token endpoint adds `error` and `error_description` (as the probes recorded).
    """
    body = {"errorCode": 10006, "errorMessage": f"the parameter {name} is missing or illegal",
            "errorDescription": "缺少参数或参数不合法"}
    if token_style == "new":
        body.update({"error": "非法请求", "error_description": "缺少参数或参数不合法"})
    return body
