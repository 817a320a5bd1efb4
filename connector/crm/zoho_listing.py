"""Reading a module whose rows COQL cannot carry (the record's `Tag`), 200 rows a call, immune to edits.

COQL selects no `Tag` and no multi-select field, so a module read with its tags is listed instead:

    GET  {module}?fields=…&sort_by=Modified_Time&sort_order=asc&per_page=200&page=1  (+ If-Modified-Since)
    POST coql  "select id, Modified_Time … order by Modified_Time desc, id desc limit 1"   if there is more
    GET  {module}?…&page=1, If-Modified-Since the last stamp handed out                  a new chain
    GET  {module}?…&page_token=<info.next_page_token>                                   200 rows a call

Why this is safe while records are edited: one page is one answer, consistent in itself. Past it, the
rows are listed by one chain of page tokens, and a chain walks the ordered list of ids Zoho took when
its first page was read; an edit changes a row's values (read as they are now) but not its place, so
no row is skipped or shifted (a `page` number would be: page N is counted again on the edited list).
The chain begins after the newest stamp was read, so a row edited since carries a stamp at or after
it; such rows are held back and handed out at the end. Every row handed out before them comes in
(Modified_Time, id) order, which is what the engine's cursor needs if a run stops in the middle. An
expired token (`EXPIRED_VALUE`), a chain past Zoho's 100,000 rows (`PAGINATION_LIMIT_EXCEEDED`), or
any other refusal of a token, starts a new chain from the last stamp handed out; ids handed out
already are dropped, and a new chain that would not move on is an error.

An incremental read whose cursor processed many rows in its own second (a run's write-backs come back
in the next read, thousands in a second) would list them all again only to drop them: instead COQL
names the rows of that second (2,000 ids a call), the few the cursor has not seen are read by id, and
the listing starts at the next second.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.crm.zoho_paging import COQL_LIMIT, coql_time, quoted
from connector.crm.zoho_wire import Reply, ZohoFatal, if_modified_since, parse_time
from connector.errors import Fatal

__all__ = ["PER_PAGE", "Listing"]

log = logging.getLogger(__name__)

PER_PAGE = 200  # rows per GET of a module (v8)
BY_ID = 100  # ids per GET of a module by id
Call = Callable[..., Reply]  # ZohoClient._call


def _id_order(record_id: str) -> tuple[int, int | str]:
    return (0, int(record_id)) if record_id.isdigit() else (1, record_id)


class Listing:
    """One pass over `module` from `since` (None: every record); `rows()` yields each page's new rows."""

    def __init__(self, call: Call, module: str, fields: list[str], cursor_field: str, since: datetime | None,
                 seen: Callable[[datetime, str], bool] = lambda _ts, _id: False, ties: int = 0) -> None:
        self._call, self.module, self.cursor_field = call, module, cursor_field
        self._fields = ",".join(fields)
        self._since = since
        self._seen = seen  # the rows the engine's cursor says it has processed (its boundary)
        self._ties = ties  # how many rows of the cursor's own second it has processed
        self.calls = 0
        self.dropped = 0  # rows read again: the cursor's boundary, or handed out before a restart

    def first(self) -> Reply:
        """The first page (the Bulk Read decision looks at it)."""
        return self._page(None, self._since)

    def _newest(self) -> datetime | None:
        field, module = self.cursor_field, self.module
        self.calls += 1
        reply = self._call("POST", "coql", f"newest {module}", body={
            "select_query": f"select id, {field} from {module} where {field} is not null "
                            f"order by {field} desc, id desc limit 1"})
        body = reply.body if isinstance(reply.body, dict) else {}
        top = [r for r in body.get("data") or [] if isinstance(r, dict)]
        return parse_time(top[0].get(field)) if top else None

    def _page(self, token: str | None, since: datetime | None) -> Reply:
        params: dict[str, Any] = {"fields": self._fields, "sort_by": self.cursor_field, "sort_order": "asc",
                                  "per_page": PER_PAGE}
        if token is None:
            params["page"] = 1
        else:
            params["page_token"] = token
        self.calls += 1
        # A token is bound to the first page's parameters and header: every page of a chain repeats them.
        return self._call("GET", self.module, f"read {self.module}", params=params,
                          headers={"If-Modified-Since": if_modified_since(since)} if since is not None else None)

    def rows(self, first: Reply | None = None) -> Iterator[list[dict[str, Any]]]:
        since, token = self._since, None
        handed: set[str] = set()
        if first is None and since is not None and self._ties >= PER_PAGE // 2:
            # The cursor's own second holds many rows the last run read (its write-backs, often thousands in
            # one second): ask COQL which of them it has not seen, fetch those by id, and list what came after.
            since = since.replace(microsecond=0)
            for rows in self._unseen_at(since, handed):
                handed.update(str(r["id"]) for r in rows)
                yield rows
            since += timedelta(seconds=1)
        reply: Reply | None = first if first is not None else self._page(None, since)
        held: dict[str, tuple[datetime, dict[str, Any]]] = {}  # rows edited since their chain began
        last: datetime | None = None  # the newest stamp handed out
        restarted_from: datetime | None = None
        field = self.cursor_field
        newest: datetime | None = None  # read once a pass needs a second page
        while True:
            if reply is None:
                try:
                    reply = self._page(token, since)
                except ZohoFatal as exc:
                    if token is None:  # a chain's first page: the request itself is wrong
                        raise
                    if last is None or last == restarted_from:
                        raise Fatal(f"listing {self.module}: {exc.detail}, and a new chain would not move on") from None
                    log.info("listing %s: %s; a new chain starts at %s", self.module, exc.detail, last.isoformat())
                    since, token, restarted_from = last, None, last
                    continue
            body = reply.body if isinstance(reply.body, dict) else {}
            out: list[dict[str, Any]] = []
            for row in body.get("data") or []:
                if not isinstance(row, dict):
                    continue
                record_id, stamp = str(row.get("id")), parse_time(row.get(field))
                if record_id in handed or (stamp is not None and self._seen(stamp, record_id)):
                    self.dropped += 1
                    continue
                if stamp is not None and newest is not None and stamp >= newest:
                    held[record_id] = (stamp, row)
                    continue
                handed.add(record_id)
                out.append(row)
                if stamp is not None and (last is None or stamp > last):
                    last = stamp
            if out:
                yield out
            info = body.get("info") if isinstance(body.get("info"), dict) else {}
            token = info.get("next_page_token") if info else None
            if not (info and info.get("more_records") and token):
                break
            reply = None
            if newest is None:
                # One page is one answer, consistent in itself. A pass of several pages reads the newest stamp
                # and then starts the chain it walks: every row edited after that chain began is stamped at or
                # after the newest stamp.
                newest = self._newest() or datetime.max.replace(tzinfo=UTC)
                since = last or since
                token = None
        if held:
            yield [row for _stamp, row in sorted(held.values(), key=lambda h: (h[0], _id_order(str(h[1]["id"]))))]

    def _unseen_at(self, moment: datetime, handed: set[str]) -> Iterator[list[dict[str, Any]]]:
        """The rows stamped `moment` that neither the cursor nor this pass has seen: ids by COQL, rows by id
        (a row stamped later since is left for the listing, which meets it at its new stamp)."""
        field, module, literal = self.cursor_field, self.module, coql_time(moment)
        wanted: list[str] = []
        after: str | None = None
        while True:
            where = f"{field} = '{literal}'" + (f" and id > {quoted(after)}" if after is not None else "")
            self.calls += 1
            reply = self._call("POST", "coql", f"read {module} at the cursor", body={
                "select_query": f"select id from {module} where {where} order by id asc limit {COQL_LIMIT}"})
            body = reply.body if isinstance(reply.body, dict) else {}
            ids = [str(r["id"]) for r in body.get("data") or [] if isinstance(r, dict) and r.get("id")]
            wanted += [i for i in ids if i not in handed and not self._seen(moment, i)]
            self.dropped += sum(1 for i in ids if i in handed or self._seen(moment, i))
            info = body.get("info") if isinstance(body.get("info"), dict) else None
            if not ids or not (info.get("more_records") if info else len(ids) >= COQL_LIMIT):
                break
            after = ids[-1]
        for start in range(0, len(wanted), BY_ID):
            self.calls += 1
            reply = self._call("GET", module, f"read {module} by id",
                               params={"ids": ",".join(wanted[start:start + BY_ID]), "fields": self._fields})
            body = reply.body if isinstance(reply.body, dict) else {}
            rows = [r for r in body.get("data") or [] if isinstance(r, dict) and parse_time(r.get(field)) == moment]
            if rows:
                yield rows
