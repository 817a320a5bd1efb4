"""Salesforce failures, classified into riskbridge's exception tree (`connector.errors`).

simple-salesforce raises one exception class per HTTP status (`util.exception_handler`); the body
(``.content``) is the top-level error array ``[{"message", "errorCode"}]`` when it was JSON, else the
text (an HTML maintenance page). What the caller does next depends on both:

    SalesforceExpiredSession (401)                   -> log in again once (handled by the client)
    403 REQUEST_LIMIT_EXCEEDED "TotalRequests ..."    -> QuotaExhausted (the daily allowance is gone)
    403 REQUEST_LIMIT_EXCEEDED (concurrency)          -> Retriable
    429, >= 500, HTML bodies                          -> Retriable
    400 UNABLE_TO_LOCK_ROW                            -> Retriable (lock contention)
    other 3xx/4xx (INVALID_FIELD, MALFORMED_ID ...)   -> Fatal, carrying the errorCode
    ConnectionError, ChunkedEncodingError, Timeout    -> Retriable
"""

from __future__ import annotations

import re
from typing import Any

import requests
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceGeneralError,
    SalesforceRefusedRequest,
)

from connector.errors import Fatal, QuotaExhausted, Retriable, RiskbridgeError

__all__ = ["classify", "first_error", "parse_limit_info", "record_error"]

_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
_RETRIABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "QUERY_TIMEOUT"})
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout,
    requests.exceptions.ContentDecodingError,
)


def parse_limit_info(header: str | None) -> tuple[int, int] | None:
    """``api-usage=18/5000; api-bursts=1/750`` -> (18, 5000); lenient about the rest of the header."""
    if not header:
        return None
    match = _LIMIT_INFO.search(header)
    return (int(match.group(1)), int(match.group(2))) if match else None


def first_error(content: Any) -> tuple[str, str]:
    """(errorCode, message) of a top-level REST error body; ("", short text) for anything else."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        err = content[0]
        return str(err.get("errorCode") or err.get("statusCode") or ""), str(err.get("message") or "")
    if isinstance(content, dict):
        return str(content.get("errorCode") or content.get("error") or ""), str(
            content.get("message") or content.get("error_description") or "")
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    text = " ".join(str(content or "").split())
    if text.startswith("<"):  # an HTML maintenance or proxy page: its title is all that is useful
        title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE)
        text = title.group(1) if title else "HTML response"
    return "", text[:200]


def record_error(errors: list[dict[str, Any]] | None) -> str:
    """A per-record result's errors as "STATUS_CODE: message" (collections use ``statusCode``)."""
    if not errors:
        return "UNKNOWN_ERROR: no error detail in the response"
    err = errors[0]
    code = err.get("statusCode") or err.get("errorCode") or "UNKNOWN_ERROR"
    fields = err.get("fields") or []
    suffix = f" (fields: {', '.join(fields)})" if fields else ""
    return f"{code}: {err.get('message', '')}{suffix}"


def classify(exc: Exception, what: str, retry_after: float | None = None) -> RiskbridgeError | None:
    """The riskbridge error for a library or transport failure of call `what`; None if not ours to map."""
    if isinstance(exc, TRANSPORT_ERRORS):
        return Retriable(f"{what}: {type(exc).__name__} (connection dropped or timed out)")
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return Retriable(f"{what}: response body was not valid JSON (truncated or a proxy page)")
    if not isinstance(exc, SalesforceError):
        return None
    status = int(exc.status) if isinstance(exc.status, int) else 0
    code, message = first_error(exc.content)
    detail = ": ".join(part for part in (code, message) if part)
    text = f"{what}: HTTP {status}" + (f" {detail}" if detail else "")
    if isinstance(exc, SalesforceRefusedRequest) and code == "REQUEST_LIMIT_EXCEEDED":
        if "totalrequests" in message.lower():
            return QuotaExhausted(f"{what}: daily API allowance used up ({message})")
        return Retriable(text, status=status, retry_after=retry_after)  # concurrency limit: back off
    if isinstance(exc, SalesforceGeneralError) and (status == 429 or status >= 500):
        return Retriable(text, status=status, retry_after=retry_after)
    if code in _RETRIABLE_CODES:
        return Retriable(text, status=status, retry_after=retry_after)
    return Fatal(text, status=status or None, code=code or None)
