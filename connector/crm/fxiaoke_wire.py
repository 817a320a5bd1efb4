"""Fxiaoke OpenAPI on the wire: the HTTP-200 envelope, its error codes, and values in Fxiaoke's formats.

Every answer, errors included, is HTTP 200 with a JSON body; success iff ``errorCode == 0``. Only the
code decides (``errorMessage`` changes between releases), and ``traceId`` goes into every failure:

    0                         -> the body
    20016                     -> `TokenInvalid` (refresh once, repeat once)
    -1, -2, 50009             -> `Retriable` (system busy / error / timeout)
    30004, 14001              -> `RateLimited` (a `Retriable`: per-path frequency exceeded)
    30002                     -> `QuotaExhausted` (the day's calls are gone; stop, keep the cursor)
    30003, 20021, 20022       -> `ConfigurationRefused` (an `AuthError` with the admin's fix as a hint)
    10006 on a token call     -> `AuthError` (bad app secret; elsewhere 10006 is an illegal parameter ⚠)
    20017                     -> `AuthError` (no credentials; observed code ⚠)
    anything else             -> `FxiaokeFatal` (a `Fatal` carrying "code: message [traceId]")

HTTP 5xx, gateway HTML and transport errors are `Retriable` as with every CRM.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import requests

from connector.errors import AuthError, Fatal, QuotaExhausted, Retriable

__all__ = [
    "TRANSPORT_ERRORS", "ConfigurationRefused", "FxiaokeFatal", "RateLimited", "TokenInvalid", "check_envelope",
    "failure_text", "rows_of", "wire_value",
]

TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
CST = timezone(timedelta(hours=8), "CST")
_BUSY = frozenset({-1, -2, 50009})
_RATE = frozenset({30004, 14001})
_HINTS: dict[int, str] = {
    30003: "the enterprise has no OpenAPI quota pack: buy one (管理后台 → 应用管理, \"Open API [100000次]\")",
    20021: "the self-built app is disabled: enable it in 管理后台 → 应用列表",
    20022: "the enterprise has not authorised the app: authorise it and enable developer mode (开发模式)",
    10006: "check app_id, app_secret and permanent_code of the self-built app",
    20017: "the call carried no credentials: check auth_style",
    20014: "the operator lacks permission on this data: use a CRM admin as operator_user_id",
    20020: "the operator lacks permission on the enterprise's data: use a CRM admin as operator_user_id",
}


class TokenInvalid(AuthError):
    """errorCode 20016: the token is missing or expired; get a new one and repeat the call once."""


class RateLimited(Retriable):
    """errorCode 30004/14001: the per-path window is full; wait and repeat."""


class ConfigurationRefused(AuthError):
    """The tenant is not set up for the OpenAPI (no quota pack, app disabled or not authorised)."""


class FxiaokeFatal(Fatal):
    """A refusal retrying will not fix; `detail` is "code: message [traceId]" for per-record outcomes."""

    def __init__(self, message: str, *, code: int, detail: str) -> None:
        super().__init__(message, code=str(code))
        self.number = code
        self.detail = detail


def failure_text(body: dict[str, Any]) -> str:
    """"code: message [traceId]" of an error body, short; never any request data."""
    code = body.get("errorCode")
    message = " ".join(str(body.get("errorMessage") or body.get("errorDescription") or "").split())[:160]
    trace = body.get("traceId")
    return f"{code}: {message}" + (f" [traceId {trace}]" if trace else "")


def check_envelope(resp: requests.Response, what: str, *, token_call: bool = False) -> dict[str, Any]:
    """The body of a successful answer, or the exception its errorCode calls for."""
    if resp.status_code >= 500 or resp.status_code == 429:
        raise Retriable(f"{what}: HTTP {resp.status_code}", status=resp.status_code)
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        # The gateway answers JSON; an HTML page means a proxy, the wrong host, or an outage.
        if resp.status_code >= 300:
            raise AuthError(f"{what}: HTTP {resp.status_code} without a JSON body; is host the OpenAPI gateway "
                            "(open.fxiaoke.com or open-<login domain>), not www.fxiaoke.com?")
        raise Retriable(f"{what}: unreadable HTTP {resp.status_code} answer", status=resp.status_code)
    raw = body.get("errorCode", body.get("errcode"))
    try:
        code = int(raw) if raw is not None else None
    except (TypeError, ValueError):
        code = None
    if code == 0:
        return body
    if code is None:
        raise Retriable(f"{what}: answer without errorCode (HTTP {resp.status_code})", status=resp.status_code)
    text = failure_text(body)
    if code == 20016:
        raise TokenInvalid(f"{what}: {text}")
    if code in _BUSY:
        raise Retriable(f"{what}: {text}", status=resp.status_code)
    if code in _RATE:
        raise RateLimited(f"{what}: {text}", status=resp.status_code)
    if code == 30002:
        raise QuotaExhausted(f"{what}: Fxiaoke's daily OpenAPI quota is used up ({text}); the run stops and "
                             "resumes after 00:00 China time")
    if code in (30003, 20021, 20022):
        raise ConfigurationRefused(f"{what}: {text} (hint: {_HINTS[code]})")
    if code == 20017 or (code == 10006 and token_call):
        raise AuthError(f"{what}: {text} (hint: {_HINTS[code]})")
    hint = _HINTS.get(code)
    raise FxiaokeFatal(f"{what}: {text}" + (f" (hint: {hint})" if hint else ""), code=code, detail=text)


def rows_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a query answer: ``data.dataList``, or a bare record map as a one-row page (⚠ §12.1)."""
    data = body.get("data")
    if isinstance(data, list):
        return [r for r in data if isinstance(r, dict)]
    if not isinstance(data, dict):
        return []
    rows = data.get("dataList")
    if isinstance(rows, list):
        return [r for r in rows if isinstance(r, dict)]
    return [data] if data.get("_id") else []


def _ms(moment: datetime) -> int:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


def wire_value(value: Any) -> Any:
    """A Python value as Fxiaoke writes it: numbers as strings, dates and times as epoch milliseconds
    (a date is midnight China Standard Time), booleans as JSON, lists as they are."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, datetime):
        return _ms(value)
    if isinstance(value, date):
        return _ms(datetime.combine(value, time(0), CST))
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return format(value, ".15g") if value != int(value) or abs(value) >= 1e15 else str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return [wire_value(v) for v in value]
    return value

