"""Reading a Zoho module in (Modified_Time, id) order: the page walk and the row order across pages.

`GET /crm/v8/{module}?sort_by=Modified_Time&sort_order=asc` pages with `page` 1..10 (200 rows each),
then with `info.next_page_token`. Both are offsets into a list that moves: a record written between two
page fetches jumps to the end and shifts every later row back, so the next page would skip one. The
walk is therefore restartable: it starts again at page 1 with `If-Modified-Since` just before the newest
`Modified_Time` read, and `OrderedRows` drops the rows already taken. The client restarts after every
batch it hands to the engine (which writes between batches), when a page token expires, and when paging
cannot go on (no token, 100,000-row limit).

Zoho sorts by `Modified_Time` only and it has one-second resolution, so `OrderedRows` holds back the rows
at the newest `Modified_Time` of the latest page until a later page (or the end) shows that tie group is
complete, and releases rows sorted by (Modified_Time, id).

A pass stops at the time it started: rows modified later (including the engine's own write-backs
during the pass) are read by the next run, so a pass always ends and the cursor never passes its start.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connector.crm.zoho_wire import if_modified_since, parse_time
from connector.errors import Fatal
from connector.model import Cursor

__all__ = ["MAX_PAGE", "PER_PAGE", "OrderedRows", "PageWalk"]

PER_PAGE = 200  # the v8 maximum
MAX_PAGE = 10  # `page` reaches only the first 2,000 records
_NO_TIME = datetime.min.replace(tzinfo=UTC)


class PageWalk:
    """Where the next page comes from; `finished` at the end, `stuck` when it cannot go on without a restart."""

    def __init__(self, since: datetime | None) -> None:
        self.since = since
        self.page = 1
        self.token: str | None = None
        self.finished = False
        self.stuck = False
        self.fetched = 0  # pages fetched since the last (re)start
        self._tokens: set[str] = set()

    def params(self) -> dict[str, Any]:
        if self.token is not None:
            return {"page_token": self.token, "per_page": PER_PAGE}
        return {"page": self.page, "per_page": PER_PAGE}

    def headers(self) -> dict[str, str]:
        return {"If-Modified-Since": if_modified_since(self.since)} if self.since is not None else {}

    def advance(self, info: Any, count: int) -> None:
        """Move past a page of `count` rows whose `info` (parsed leniently) came back."""
        self.fetched += 1
        info = info if isinstance(info, dict) else {}
        more = info.get("more_records")
        if more is None:  # no info: a full page means there may be more
            more = count >= PER_PAGE
        if not more or count == 0:
            self.finished = True
            return
        if self.token is None and self.page < MAX_PAGE:
            self.page += 1
            return
        token = info.get("next_page_token")
        if not isinstance(token, str) or not token:
            self.stuck = True
            return
        if token in self._tokens:
            raise Fatal(f"Zoho returned page token {token[:12]}… twice; paging would never end")
        self._tokens.add(token)
        self.token = token

    def restart(self, since: datetime, *, progressed: bool) -> None:
        """Walk again from page 1 with `If-Modified-Since` just before `since`."""
        if not progressed and self.since == since and self.fetched:
            raise Fatal(f"cannot page past the records modified at {since.isoformat()}: more of them than one "
                        "walk returns, and Zoho gave no page token")
        self.since = since
        self.page = 1
        self.token = None
        self.finished = self.stuck = False
        self.fetched = 0
        self._tokens.clear()


class OrderedRows:
    """Rows read so far that are not yet released, deduplicated by (id, Modified_Time)."""

    def __init__(self, cursor_field: str, cursor: Cursor | None, upper: datetime | None = None) -> None:
        self.cursor_field = cursor_field
        self.cursor = cursor  # rows it has seen were read by an earlier run
        self.upper = upper  # rows modified after it (the pass's start) are left to the next run
        self.past_upper = False  # a row beyond `upper` was read: every later page is beyond it too
        self.last: datetime | None = None  # newest Modified_Time read
        self.new_rows = 0  # rows taken since the counter was last reset
        self._held: list[tuple[datetime, str, dict[str, Any]]] = []
        self._seen: dict[str, datetime] = {}
        self._page_max: datetime | None = None

    def time_of(self, row: dict[str, Any]) -> datetime:
        return parse_time(row.get(self.cursor_field)) or _NO_TIME

    def add(self, rows: list[dict[str, Any]]) -> None:
        page_max: datetime | None = None
        for row in rows:
            ts, record_id = self.time_of(row), str(row.get("id", ""))
            page_max = ts if page_max is None or ts > page_max else page_max
            if ts is not _NO_TIME and self.cursor is not None and self.cursor.seen(ts, record_id):
                continue
            if self.upper is not None and ts > self.upper:
                self.past_upper = True
                continue
            if self._seen.get(record_id) == ts:
                continue  # read before this restart
            self._seen[record_id] = ts
            self._held.append((ts, record_id, row))
            self.new_rows += 1
            if ts is not _NO_TIME and (self.last is None or ts > self.last):
                self.last = ts
        self._page_max = page_max

    def release(self, final: bool) -> list[dict[str, Any]]:
        """Rows whose order is settled: all of them at the end, else those older than the latest page's newest."""
        self._held.sort(key=lambda item: (item[0], item[1]))
        if final or self._page_max is None:
            ready, self._held = self._held, []
        else:
            cut = self._page_max
            ready = [item for item in self._held if item[0] < cut]
            self._held = [item for item in self._held if item[0] >= cut]
        return [row for _ts, _id, row in ready]

    def forget_before(self, since: datetime) -> None:
        """Drop dedupe entries a walk restarted at `since` can no longer return (bounds memory)."""
        horizon = parse_time(if_modified_since(since))
        assert horizon is not None
        self._seen = {k: v for k, v in self._seen.items() if v >= horizon}
