"""SOQL text, wire values and query paging for the Salesforce client.

Pure functions and one small stateful pager; no HTTP here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from simple_salesforce.format import quote_soql_value

from connector.errors import Fatal

__all__ = [
    "MAX_IN_CHARS",
    "QueryPager",
    "batch_size_header",
    "clean_row",
    "csv_value",
    "field_list",
    "in_chunks",
    "json_value",
    "select",
    "soql_datetime",
    "split_rows",
]

MAX_IN_CHARS = 8000  # keep a GET query's URL well below Salesforce's 16 KB limit


def soql_datetime(ts: datetime) -> str:
    """An unquoted SOQL datetime literal in UTC, floored to the second: ``2024-01-03T00:00:00Z``.

    Flooring only widens a ``>=`` window; the engine drops the overlap with `Cursor.seen`.
    A naive datetime is taken as UTC (never as local time, unlike `format_soql`).
    """
    aware = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def field_list(fields: Iterable[str], *required: str) -> list[str]:
    """`fields` plus the `required` ones, each once (SOQL names are case-insensitive), in order."""
    out: list[str] = []
    seen: set[str] = set()
    for name in (*required, *fields):
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return out


def select(obj: str, fields: Iterable[str], where: str | None = None, order_by: str | None = None) -> str:
    soql = f"SELECT {', '.join(fields)} FROM {obj}"
    if where:
        soql += f" WHERE {where}"
    if order_by:
        soql += f" ORDER BY {order_by}"
    return soql


def in_chunks(values: Iterable[str], max_items: int, max_chars: int = MAX_IN_CHARS) -> Iterator[str]:
    """Quoted ``('a','b')`` lists for ``IN``, each at most `max_items` values and about `max_chars` long."""
    chunk: list[str] = []
    size = 0
    for value in dict.fromkeys(values):  # unique, order kept
        quoted = quote_soql_value(str(value))
        if chunk and (len(chunk) >= max_items or size + len(quoted) + 1 > max_chars):
            yield "(" + ",".join(chunk) + ")"
            chunk, size = [], 0
        chunk.append(quoted)
        size += len(quoted) + 1
    if chunk:
        yield "(" + ",".join(chunk) + ")"


def batch_size_header(page_size: int) -> dict[str, str]:
    """``Sforce-Query-Options`` for a page size; Salesforce accepts 200..2000."""
    return {"Sforce-Query-Options": f"batchSize={min(2000, max(200, page_size))}"}


def clean_row(row: dict[str, Any]) -> dict[str, Any]:
    """A record without ``attributes``, nested relationship records included."""
    return {k: (clean_row(v) if isinstance(v, dict) else v) for k, v in row.items() if k != "attributes"}


def split_rows(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    size = max(1, size)
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _datetime_text(value: datetime) -> str:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    text = aware.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def json_value(value: Any) -> Any:
    """A Python value as Salesforce REST JSON expects it: datetimes ``...Z``, dates ``YYYY-MM-DD``."""
    if isinstance(value, datetime):
        return _datetime_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def csv_value(value: Any) -> str:
    """A Python value as a Bulk API 2.0 CSV cell. An empty cell is *ignored* on update: None is ``#N/A``."""
    if value is None:
        return "#N/A"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _datetime_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float | Decimal):
        return format(Decimal(repr(value)) if isinstance(value, float) else value, "f")  # never 1e+16
    return str(value)


class QueryPager:
    """Follows ``nextRecordsUrl`` until ``done``; fails loudly if a locator comes back twice."""

    def __init__(self) -> None:
        self.next_url: str | None = None
        self.finished = False
        self._seen: set[str] = set()

    def advance(self, response: dict[str, Any]) -> list[dict[str, Any]]:
        """Take one query response; return its cleaned records."""
        records = [clean_row(r) for r in response.get("records", [])]
        next_url = response.get("nextRecordsUrl")
        if response.get("done", True) or not next_url:
            self.finished, self.next_url = True, None
        else:
            if next_url in self._seen:
                raise Fatal(f"Salesforce returned the same query locator twice: {next_url}", code="LOCATOR_REPEATED")
            self._seen.add(next_url)
            self.next_url = str(next_url)
        return records
