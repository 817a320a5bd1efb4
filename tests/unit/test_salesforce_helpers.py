"""The Salesforce client's pure parts: login domain, SOQL literals, wire values, error classification."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from connector.config import SalesforceConnection
from connector.crm.sf_auth import SANDBOX_MY_DOMAIN, login_domain
from connector.crm.sf_errors import classify, parse_limit_info, record_error
from connector.crm.sf_soql import QueryPager, csv_value, in_chunks, json_value, soql_datetime
from connector.errors import ConfigError, Fatal, QuotaExhausted, Retriable


def conn(method: str, login_url: str, instance_url: str = "https://acme.my.salesforce.com") -> SalesforceConnection:
    auth: dict[str, Any] = {"method": method, "consumer_key": "ck", "username": "u@example.com", "password": "p",
                            "consumer_secret": "s", "private_key": "k"}
    return SalesforceConnection.model_validate({"crm": "salesforce", "instance_url": instance_url,
                                                "login_url": login_url, "auth": auth})


@pytest.mark.parametrize("method,login_url,instance_url,domain", [
    ("jwt", "https://login.salesforce.com", "https://acme.my.salesforce.com", "login"),
    ("password", "https://test.salesforce.com", "https://acme--uat.sandbox.my.salesforce.com", "test"),
    ("jwt", "https://acme.my.salesforce.com", "https://acme.my.salesforce.com", "acme.my"),
    ("client_credentials", "https://login.salesforce.com", "https://acme.my.salesforce.com", "acme.my"),
    ("client_credentials", "https://acme.my.salesforce.com/", "https://other.my.salesforce.com", "acme.my"),
    ("jwt", "http://127.0.0.1:8765", "http://127.0.0.1:8765", "login"),
    ("client_credentials", "http://127.0.0.1:8765", "http://127.0.0.1:8765", SANDBOX_MY_DOMAIN),
])
def test_login_domain(method: str, login_url: str, instance_url: str, domain: str) -> None:
    assert login_domain(conn(method, login_url, instance_url)) == domain


def test_login_domain_refuses_hosts_simple_salesforce_cannot_reach() -> None:
    with pytest.raises(ConfigError):
        login_domain(conn("jwt", "https://login.example.com"))
    with pytest.raises(ConfigError):
        login_domain(conn("client_credentials", "https://login.salesforce.com", "https://test.salesforce.com"))


def test_soql_datetime_is_utc_floored_to_the_second() -> None:
    cet = timezone(timedelta(hours=1))
    assert soql_datetime(datetime(2024, 1, 3, 1, 0, 0, 999_000, tzinfo=cet)) == "2024-01-03T00:00:00Z"
    assert soql_datetime(datetime(2024, 1, 3, 0, 0, 5)) == "2024-01-03T00:00:05Z"  # naive means UTC


def test_in_chunks_quotes_dedupes_and_splits() -> None:
    assert list(in_chunks(["a", "b'c", "a", "d"], 2)) == ["('a','b\\'c')", "('d')"]
    assert all(len(c) <= 60 for c in in_chunks([f"id{i:016d}" for i in range(50)], 300, max_chars=60))


def test_wire_values() -> None:
    ts = datetime(2024, 5, 1, 12, 30, 0, 123_456, tzinfo=UTC)
    assert json_value(ts) == "2024-05-01T12:30:00.123Z" and json_value(date(2024, 5, 1)) == "2024-05-01"
    assert [csv_value(v) for v in (None, True, False, 1e16, 72.5, 3, "x")] == [
        "#N/A", "true", "false", "10000000000000000", "72.5", "3", "x"]


def test_pager_fails_loudly_on_a_repeated_locator() -> None:
    pager = QueryPager()
    page = {"done": False, "nextRecordsUrl": "/services/data/v59.0/query/01g-200",
            "records": [{"attributes": {"type": "Account"}, "Id": "1", "Owner": {"attributes": {}, "Name": "x"}}]}
    assert pager.advance(page) == [{"Id": "1", "Owner": {"Name": "x"}}]
    with pytest.raises(Fatal):
        pager.advance(page)


def test_limit_info_parsing_is_lenient() -> None:
    assert parse_limit_info("api-usage=18/5000") == (18, 5000)
    assert parse_limit_info("api-usage=25/5000; per-app-api-usage=17/250(appName=x)") == (25, 5000)
    assert parse_limit_info(None) is None and parse_limit_info("api-bursts=1/750") is None


def _err(cls: type, status: int, content: Any) -> Exception:
    exc: Exception = cls("https://x/services/data/v59.0/query", status, "query", content)
    return exc


@pytest.mark.parametrize("exc,expected,code", [
    (_err(SalesforceRefusedRequest, 403, [{"message": "TotalRequests Limit exceeded.",
                                           "errorCode": "REQUEST_LIMIT_EXCEEDED"}]), QuotaExhausted, None),
    (_err(SalesforceRefusedRequest, 403, [{"message": "ConcurrentPerOrgLongTxn Limit exceeded.",
                                           "errorCode": "REQUEST_LIMIT_EXCEEDED"}]), Retriable, None),
    (_err(SalesforceRefusedRequest, 403, [{"message": "no", "errorCode": "INSUFFICIENT_ACCESS"}]), Fatal,
     "INSUFFICIENT_ACCESS"),
    (_err(SalesforceGeneralError, 503, "<html><title>Service Unavailable</title></html>"), Retriable, None),
    (_err(SalesforceGeneralError, 429, ""), Retriable, None),
    (_err(SalesforceGeneralError, 405, [{"message": "no", "errorCode": "METHOD_NOT_ALLOWED"}]), Fatal,
     "METHOD_NOT_ALLOWED"),
    (_err(SalesforceMalformedRequest, 400, [{"message": "No such column", "errorCode": "INVALID_FIELD"}]), Fatal,
     "INVALID_FIELD"),
    (_err(SalesforceMalformedRequest, 400, [{"message": "lock", "errorCode": "UNABLE_TO_LOCK_ROW"}]), Retriable, None),
    (_err(SalesforceResourceNotFound, 404, [{"message": "nope", "errorCode": "NOT_FOUND"}]), Fatal, "NOT_FOUND"),
    (requests.exceptions.ChunkedEncodingError("gone"), Retriable, None),
    (requests.ReadTimeout("slow"), Retriable, None),
])
def test_classify(exc: Exception, expected: type, code: str | None) -> None:
    mapped = classify(exc, "query Account", retry_after=2.0)
    assert type(mapped) is expected
    if isinstance(mapped, Fatal):
        assert mapped.code == code
    if isinstance(mapped, Retriable) and isinstance(exc, SalesforceGeneralError):
        assert mapped.retry_after == 2.0 and "<html" not in str(mapped)
    assert classify(KeyError("x"), "query") is None


def test_record_error_text() -> None:
    assert record_error([{"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}]) == \
        "ENTITY_IS_DELETED: entity is deleted"
    assert record_error(None).startswith("UNKNOWN_ERROR")
