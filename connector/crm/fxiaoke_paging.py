"""Reading a Fxiaoke object completely: the documented `_id GT` deep paging, never an offset.

`data/query` takes `offset` only up to 10,000 (10013 past it) and a query used with offset as a page
number silently returns less than the web list. So every call keeps `offset` 0, orders by `_id`
ascending and, from the second page on, adds ``_id GT <last _id of the previous page>``; a page with
fewer than `limit` rows is the last. Business filters (``last_modified_time GTE …``) sit in the same
list. Ids never change, so an edit during the walk cannot move a record past the reader.
"""

from __future__ import annotations

from typing import Any

from connector.errors import Fatal

__all__ = ["QUERY_LIMIT", "IdWalk", "condition"]

QUERY_LIMIT = 100  # rows per data/query call (one legacy page says 200 ⚠)


def condition(field: str, operator: str, values: list[Any]) -> dict[str, Any]:
    """One filter; `field_values` is always a list of strings (snake_case keys, unlike `orders`)."""
    return {"field_name": field, "operator": operator, "field_values": [str(v) for v in values]}


class IdWalk:
    """The state of one `_id GT` walk: `query_info()` for the next call, `advance(rows)` after it."""

    def __init__(self, filters: list[dict[str, Any]], projection: list[str], limit: int = QUERY_LIMIT) -> None:
        self.filters = filters
        self.projection = projection
        self.limit = max(1, min(QUERY_LIMIT, limit))
        self.after: str | None = None
        self.finished = False
        self.calls = 0

    def query_info(self) -> dict[str, Any]:
        filters = list(self.filters)
        if self.after is not None:
            filters.append(condition("_id", "GT", [self.after]))
        return {"limit": self.limit, "offset": 0, "filters": filters,
                "orders": [{"fieldName": "_id", "isAsc": True}], "fieldProjection": self.projection}

    def advance(self, rows: list[dict[str, Any]]) -> None:
        self.calls += 1
        ids = [str(r.get("_id") or "") for r in rows]
        if any(not i for i in ids):
            raise Fatal("data/query returned a row without _id; cannot page by _id")
        if not ids:
            self.finished = True
            return
        last = max(ids)
        if self.after is not None and last <= self.after:
            raise Fatal(f"data/query did not move past _id {self.after}; reading would never end")
        self.after = last
        self.finished = len(rows) < self.limit
