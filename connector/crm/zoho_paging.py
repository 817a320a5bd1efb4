"""Reading a Zoho module in (Modified_Time, id) order, immune to edits made while it is read.

`GET /crm/v8/{module}?sort_by=Modified_Time&page=N` pages by offset: an edit between two page reads
moves a record to the end of the list and shifts every later row back by one, so an offset reader
skips a row; a skipped row older than the final cursor was never read again (issue 9 §2). So a module
whose fields COQL can select (deals) is read with COQL, as a keyset, whole rows at a time (a module
read with its `Tag` is listed by page tokens instead: `zoho_listing`):

    select id, Modified_Time, Deal_Name, … from Deals where Modified_Time >= '2026-05-14T11:36:17+00:00'
        order by Modified_Time asc, id asc limit 2000
    select id, Modified_Time, Deal_Name, … from Deals
        where (Modified_Time > '…T11:40:02+00:00' or (Modified_Time = '…T11:40:02+00:00' and id > '4150…'))
        order by Modified_Time asc, id asc limit 2000

No offset is ever used: every call starts just past the last key read. An edit can only give a record
a later key, so it moves ahead of the reader and is met again, never skipped; the reader drops a key
whose id it handed out already in this pass (the engine's own write-backs, a user's second edit). The
walk reads to the end of the module, past the pass's start, so a pass that ends has seen every record
that existed when it began and still exists: that is what lets a full read prune. Zoho allows at most
2,000 rows per COQL call and an offset + limit of 100,000; a keyset needs neither more rows nor offsets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connector.crm.zoho_wire import parse_time
from connector.errors import Fatal

__all__ = ["COQL_LIMIT", "KeysetWalk", "coql_time", "quoted"]

COQL_LIMIT = 2000  # rows per COQL call (v8)


def coql_time(moment: datetime) -> str:
    """A COQL datetime literal: ISO 8601 to the second, with an offset (``2026-05-14T11:36:17+00:00``)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.replace(microsecond=0).isoformat()


def quoted(value: str) -> str:
    """A COQL string literal, quotes and backslashes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class KeysetWalk:
    """Where the next COQL call starts: after the last (Modified_Time, id) read; `finished` at the end."""

    def __init__(self, module: str, cursor_field: str, since: datetime | None, limit: int = COQL_LIMIT,
                 columns: tuple[str, ...] = (), until: datetime | None = None) -> None:
        self.module = module
        self.until = until  # the newest stamp to read (inclusive); None: no bound
        self.cursor_field = cursor_field
        self.columns = ", ".join(dict.fromkeys(["id", cursor_field, *columns]))
        self.since = since
        self.limit = max(1, min(COQL_LIMIT, limit))
        self.after: tuple[str, str] | None = None  # (Modified_Time literal, id) of the last key read
        self.finished = False
        self.calls = 0

    def query(self) -> str:
        field = self.cursor_field
        if self.after is not None:
            ts, record_id = self.after
            where = f"({field} > '{ts}' or ({field} = '{ts}' and id > {quoted(record_id)}))"
        elif self.since is not None:
            where = f"{field} >= '{coql_time(self.since)}'"
        else:
            where = f"{field} is not null"
        if self.until is not None:
            where = f"{where} and {field} <= '{coql_time(self.until)}'"
        return (f"select {self.columns} from {self.module} where {where} "
                f"order by {field} asc, id asc limit {self.limit}")

    def keys(self, rows: list[dict[str, Any]]) -> list[tuple[str, datetime]]:
        """(id, Modified_Time) of each returned row; a row without either is a broken answer."""
        out = []
        for row in rows:
            moment = parse_time(row.get(self.cursor_field))
            if not row.get("id") or moment is None:
                raise Fatal(f"COQL on {self.module} returned a row without id or {self.cursor_field}: {row!r:.120}")
            out.append((str(row["id"]), moment))
        return out

    def advance(self, keys: list[tuple[str, datetime]], more: bool | None) -> None:
        """Move past a page of keys; `more` is Zoho's `info.more_records` (None when it sent no info)."""
        self.calls += 1
        if not keys:
            self.finished = True
            return
        last = (coql_time(keys[-1][1]), keys[-1][0])
        if self.after is not None and (parse_time(last[0]), _id_order(last[1])) <= \
                (parse_time(self.after[0]), _id_order(self.after[1])):
            raise Fatal(f"COQL on {self.module} did not move past {self.after}; reading would never end")
        self.after = last
        self.finished = not (more if more is not None else len(keys) >= self.limit)


def _id_order(record_id: str) -> tuple[int, int | str]:
    """Zoho orders ids numerically (19-digit numbers sent as strings)."""
    return (0, int(record_id)) if record_id.isdigit() else (1, record_id)
