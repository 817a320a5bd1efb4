"""Zoho CRM v8 on the wire: classifying a response, reading error bodies, writing values.

A response is classified once, here, into a value or one exception of `connector.errors`:

    2xx, 304                      -> `Reply` (204/304 carry no body)
    400 with a `data[]` array     -> `Reply` when the caller asked for per-record results (batch writes)
    401 INVALID_TOKEN             -> `TokenInvalid` (the client refreshes once and repeats the call)
    401 other, OAUTH_SCOPE_MISMATCH -> `AuthError`
    429                           -> `Retriable` (retry_after from Retry-After / reset headers),
                                     or `QuotaExhausted` when the body says the daily credits are gone
    5xx, HTML gateway pages       -> `Retriable`
    other 4xx                     -> `ZohoFatal` (a `Fatal` that also carries "CODE: message")
"""

from __future__ import annotations

import email.utils
import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests

from connector.errors import AuthError, Fatal, QuotaExhausted, Retriable

__all__ = [
    "TRANSPORT_ERRORS", "Reply", "TokenInvalid", "ZohoFatal", "classify", "coql_list", "error_of", "if_modified_since",
    "is_success", "parse_time", "record_error", "retry_after", "wire_value",
]

TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
_AS_IS: frozenset[type] = frozenset({str, int, bool, type(None)})
_TOKEN_CODES = frozenset({"INVALID_TOKEN", "AUTHENTICATION_FAILURE"})
# Zoho's status list gives 429 for both the 24-hour credit limit and the concurrency limit; a body that
# names the credit/daily limit is a quota stop at once, anything else is retried and becomes a quota stop
# only if it outlives every attempt.
_DAILY_QUOTA = re.compile(r"credit|24[ -]?hour|per day|daily|LIMIT_REACHED|limit reached", re.IGNORECASE)


class TokenInvalid(AuthError):
    """401 INVALID_TOKEN: the access token expired or was revoked; mint a new one and repeat the call."""


class ZohoFatal(Fatal):
    """A 4xx that retrying will not fix; `detail` is Zoho's "CODE: message" for per-record outcomes."""

    def __init__(self, message: str, *, status: int | None, code: str | None, detail: str) -> None:
        super().__init__(message, status=status, code=code)
        self.detail = detail


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # parsed JSON; None for 204/304/empty bodies


def _json(resp: requests.Response) -> Any:
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return None


def error_of(body: Any) -> tuple[str, str, dict[str, Any]]:
    """(code, message, details) of a Zoho error body, whether top-level or the first entry of a list."""
    if isinstance(body, dict):
        if body.get("code"):
            details = body.get("details")
            return str(body["code"]), str(body.get("message") or ""), details if isinstance(details, dict) else {}
        for key in ("data", "tags", "fields"):
            entries = body.get(key)
            if isinstance(entries, list) and entries and isinstance(entries[0], dict) and entries[0].get("code"):
                return error_of(entries[0])
    return "UNKNOWN", "", {}


def retry_after(resp: requests.Response, clock: Callable[[], float]) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or HTTP date) or an `X-RateLimit-Reset` style header."""
    value = resp.headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value) if value.strip() else None
            if parsed is not None:
                return max(0.0, parsed.timestamp() - clock())
    for name in ("X-RateLimit-Reset", "X-Rate-Limit-Reset"):
        value = resp.headers.get(name)
        if value:
            try:
                reset = float(value)
            except ValueError:
                continue
            return max(0.0, reset - clock()) if reset > 1e9 else max(0.0, reset)  # epoch or seconds to go
    return None


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def classify(resp: requests.Response, what: str, clock: Callable[[], float], *, batch: bool = False) -> Reply:
    """Turn one HTTP response into a `Reply` or raise the matching `connector.errors` exception."""
    status = resp.status_code
    if status in (204, 304):
        return Reply(status, None)
    body = _json(resp)
    if 200 <= status < 300:
        if body is None and resp.content:
            raise Retriable(f"{what}: unreadable {status} response body", status=status)
        return Reply(status, body)
    code, message, details = error_of(body)
    text = f"{code}: {message}" if message else code
    if status == 429:
        if _DAILY_QUOTA.search(f"{code} {message}"):
            raise QuotaExhausted(f"{what}: Zoho API credits exhausted ({_short(text)}); the run stops and resumes later")
        raise Retriable(f"{what}: HTTP 429 {_short(text)}", status=429, retry_after=retry_after(resp, clock))
    if status >= 500 or (body is None and status in (408, 502, 503, 504)):
        kind = "HTML page" if "html" in resp.headers.get("Content-Type", "").lower() else _short(text)
        raise Retriable(f"{what}: HTTP {status} {kind}", status=status, retry_after=retry_after(resp, clock))
    if status == 401:
        if code in _TOKEN_CODES:
            raise TokenInvalid(f"{what}: HTTP 401 {code}")
        if code == "OAUTH_SCOPE_MISMATCH":
            raise AuthError(f"{what}: HTTP 401 OAUTH_SCOPE_MISMATCH: the refresh token lacks a scope this call needs; "
                            "create it with ZohoCRM.modules.ALL, ZohoCRM.settings.fields.READ, "
                            "ZohoCRM.settings.tags.ALL and ZohoCRM.coql.READ")
        raise AuthError(f"{what}: HTTP 401 {_short(text)}")
    if batch and status == 400 and isinstance(body, dict) and isinstance(body.get("data"), list):
        return Reply(status, body)  # every record of the batch failed: per-record results, not an exception
    if details.get("api_name"):
        text += f" ({details['api_name']})"
    raise ZohoFatal(f"{what}: HTTP {status} {_short(text)}", status=status, code=code, detail=_short(text))


def is_success(entry: dict[str, Any]) -> bool:
    status = entry.get("status")
    if status == "success" or entry.get("code") == "SUCCESS":  # what Zoho sends: no string work per record
        return True
    return str(status or "").lower() == "success"


def record_error(entry: dict[str, Any]) -> str:
    """One record's failure as "CODE: message (api_name)"; nested MULTIPLE_OR_MULTI_ERRORS are joined."""
    code = str(entry.get("code") or "ERROR")
    message = str(entry.get("message") or "")
    details = entry.get("details") if isinstance(entry.get("details"), dict) else {}
    assert isinstance(details, dict)
    nested = details.get("errors")
    if isinstance(nested, list) and nested:
        return "; ".join(record_error(e) for e in nested if isinstance(e, dict))
    text = f"{code}: {message}" if message else code
    if details.get("api_name"):
        text += f" ({details['api_name']})"
    return _short(text, 500)


def parse_time(value: Any) -> datetime | None:
    """A Zoho datetime (``2026-05-14T11:36:17+05:30``) as an aware datetime; None if absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    return _parse_time(value)


@functools.lru_cache(maxsize=8192)
def _parse_time(value: str) -> datetime | None:
    """Cached: a read of thousands of rows stamps hundreds of them in each second."""
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def if_modified_since(since: datetime) -> str:
    """The `If-Modified-Since` value one second before `since`, so rows at exactly `since` come back; always
    in UTC, so one moment is always the same text (a page token is bound to the header it was issued for)."""
    aware = since if since.tzinfo else since.replace(tzinfo=UTC)
    return (aware.astimezone(UTC).replace(microsecond=0) - timedelta(seconds=1)).isoformat()


def wire_value(value: Any) -> Any:
    """A Python value as Zoho wants it: datetimes ISO with offset and no millis, dates ISO, numbers as JSON."""
    kind = type(value)
    if kind in _AS_IS:  # most values of a write: returned before any isinstance chain
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.replace(microsecond=0).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, set | frozenset | tuple):
        return [wire_value(v) for v in value]
    return value


def coql_list(values: list[str]) -> str:
    """``('a', 'b')`` for a COQL ``in`` criterion, quotes and backslashes escaped."""
    quoted = ("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)
    return "(" + ", ".join(quoted) + ")"
