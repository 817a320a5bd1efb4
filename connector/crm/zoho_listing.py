"""Reading a module whose rows COQL cannot carry (the record's `Tag`), 200 rows a call, immune to edits.

COQL selects no `Tag` and no multi-select field, so a module read with its tags is listed instead:

    GET  {module}?fields=…&sort_by=Modified_Time&sort_order=asc&per_page=200&page=1  (+ If-Modified-Since)
    POST coql  "select id, Modified_Time … order by Modified_Time desc, id desc limit 1"   if there is more
    GET  {module}?…&page=1, If-Modified-Since the last stamp handed out                  a new chain
    GET  {module}?…&page_token=<info.next_page_token>                                   200 rows a call
    POST coql  "select id, Modified_Time … <= newest order by Modified_Time, id limit 2000"  the check

Why this is safe while records are edited: one page is one answer, consistent in itself. Past it, the
rows are listed by one chain of page tokens, begun after the newest stamp was read, so a row edited
since carries a stamp at or after it; such rows are held back and handed out at the end.
crm-zoho.md does not say what a page token names. If it names the ordered ids Zoho took at the chain's
first page, an edit changes a row's values but not its place. If it names an offset into the live
sorted list, a row the chain has read and that is edited moves to the end, and the row right behind the
reader shifts into the pages already read: the chain never hands it out. So a chain is checked: COQL
walks the ids of its range by keyset on (Modified_Time, id), which an edit cannot shift, 2,000 a call,
up to the chain's newest stamp, and an id neither handed out nor held is read by id (a warning names how
many). About one call per 2,000 rows.

The engine advances its cursor over every row handed out, and a run may stop between any two pages, so a
row found missing must not come after rows stamped later. The chain's rows are therefore held (at most
about 2,000) until the walk has passed their stamp: rows stamped before the chain's last stamp are final
(a chain that has read up to stamp T can still skip only rows stamped T or later), so they, and any the
walk found missing among them, are handed out together in (Modified_Time, id) order. The cursor thus
never moves past a stamp whose rows are not all handed out. An expired token (`EXPIRED_VALUE`), a chain
past Zoho's 100,000 rows (`PAGINATION_LIMIT_EXCEEDED`), or any other refusal of a token, starts a new
chain from the last stamp handed out; ids handed out already are dropped, and a new chain that would not
move on is an error.

An incremental read whose cursor processed many rows in its own second (a run's write-backs come back
in the next read, thousands in a second) would list them all again only to drop them: instead COQL
names the rows of that second (2,000 ids a call), the few the cursor has not seen are read by id, and
the listing starts at the next second.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.crm.zoho_paging import COQL_LIMIT, KeysetWalk, coql_time, quoted
from connector.crm.zoho_wire import Reply, ZohoFatal, if_modified_since, parse_time
from connector.errors import Fatal

__all__ = ["PER_PAGE", "ChainCheck", "Listing"]

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
        self.skipped = 0  # rows the page-token chain did not hand out, found by the COQL check

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
        check: ChainCheck | None = None  # the chain's ids by COQL, once a chain begins
        pending: list[tuple[datetime, dict[str, Any]]] = []  # the chain's rows, until the check passes them
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
                if check is not None and stamp is not None:
                    pending.append((stamp, row))
                else:
                    out.append(row)
                if stamp is not None and (last is None or stamp > last):
                    last = stamp
            if out:
                yield out
            if check is not None and len(pending) >= COQL_LIMIT and last is not None:
                yield self._checked(check, pending, last, handed, held)
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
                check = ChainCheck(self._call, self.module, field, since, newest, self._seen)
        if check is not None:
            yield self._checked(check, pending, None, handed, held)
            self.calls += check.calls
            if self.skipped:
                log.warning("listing %s: the page-token chain skipped %d rows; read by id", self.module, self.skipped)
        if held:
            yield [row for _stamp, row in sorted(held.values(), key=lambda h: (h[0], _id_order(str(h[1]["id"]))))]

    def _checked(self, check: ChainCheck, pending: list[tuple[datetime, dict[str, Any]]], below: datetime | None,
                 handed: set[str], held: dict[str, tuple[datetime, dict[str, Any]]]) -> list[dict[str, Any]]:
        """The held chain rows stamped before `below` (None: all), with those the chain skipped among them
        read by id, in (Modified_Time, id) order; `pending` keeps the rest."""
        ready = [p for p in pending if below is None or p[0] < below]
        pending[:] = [p for p in pending if below is not None and p[0] >= below]
        missed = check.missed(below, lambda i: i in handed or i in held)
        self.skipped += len(missed)
        field = self.cursor_field
        for start in range(0, len(missed), BY_ID):
            self.calls += 1
            reply = self._call("GET", self.module, f"read {self.module} by id",
                               params={"ids": ",".join(missed[start:start + BY_ID]), "fields": self._fields})
            body = reply.body if isinstance(reply.body, dict) else {}
            for row in body.get("data") or []:
                stamp = parse_time(row.get(field)) if isinstance(row, dict) else None
                if stamp is None or str(row.get("id")) in handed:
                    continue
                record_id = str(row["id"])
                if stamp >= check.until:  # edited since: handed out with the other late rows, at the end
                    held[record_id] = (stamp, row)
                else:
                    handed.add(record_id)
                    ready.append((stamp, row))
        ready.sort(key=lambda p: (p[0], _id_order(str(p[1].get("id")))))
        return [row for _stamp, row in ready]

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


class ChainCheck:
    """The ids of a page-token chain's range, by COQL keyset on (Modified_Time, id) up to the chain's newest
    stamp, 2,000 a call: an edit moves a row past that stamp, never within the range, so none is skipped."""

    def __init__(self, call: Call, module: str, cursor_field: str, since: datetime | None, until: datetime,
                 seen: Callable[[datetime, str], bool]) -> None:
        self._call, self._seen, self.until = call, seen, until
        self._walk = KeysetWalk(module, cursor_field, since, limit=COQL_LIMIT,
                                until=None if until == datetime.max.replace(tzinfo=UTC) else until)
        self._keys: deque[tuple[str, datetime]] = deque()  # walked, not yet compared

    @property
    def calls(self) -> int:
        return self._walk.calls

    def missed(self, below: datetime | None, handed: Callable[[str], bool]) -> list[str]:
        """The ids stamped before `below` (None: to the end) that are neither handed out (or held) nor the
        cursor's."""
        out: list[str] = []
        while True:
            while self._keys and (below is None or self._keys[0][1] < below):
                record_id, stamp = self._keys.popleft()
                if not handed(record_id) and not self._seen(stamp, record_id):
                    out.append(record_id)
            if self._keys or self._walk.finished:
                return out
            reply = self._call("POST", "coql", f"check {self._walk.module}",
                               body={"select_query": self._walk.query()})
            body = reply.body if isinstance(reply.body, dict) else {}
            keys = self._walk.keys([r for r in body.get("data") or [] if isinstance(r, dict)])
            info = body.get("info") if isinstance(body.get("info"), dict) else None
            self._walk.advance(keys, info.get("more_records") if info else None)
            self._keys.extend(keys)
