"""The sandbox org's records, indexes and clock.

Records are plain dicts of stored wire values, keyed by field API name. They are copy-on-write: a write
builds a new dict and swaps it into the table under `Store.lock`, so readers never take the lock and
always see a whole record (and a query cursor keeps the rows as they were when it ran).

Accounts, Opportunities and Tasks live in `CompactTable`s (`sf_build`, `sf_table`): generated values in
columns, edits as diffs, so an org of a million accounts fits in a few hundred MiB. Code that reads a
whole object uses `scan`, `count` or `select` rather than `rows`, which builds every record at once.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, MutableMapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from connector.sandbox.sf_build import build_org
from connector.sandbox.sf_describe import FieldSpec, ObjectSchema, find
from connector.sandbox.sf_org import layout_for
from connector.sandbox.sf_query import Compiled
from connector.sandbox.sf_records import Record, touch_account_record, touch_opportunity_record
from connector.sandbox.sf_table import CompactTable, select
from connector.sandbox.sf_values import IdFactory, fmt_datetime, normalize_id, parse_datetime

__all__ = ["Store"]

WATCHLIST_TOPIC = "credit-watchlist"


class Store:
    """All records of one sandbox org. Thread-safe: mutations hold `lock`, reads need no lock."""

    def __init__(self, *, seed: int, accounts: int, deals_per_account: int, today: date,
                 org: str = "provisioned") -> None:
        self.seed, self.accounts, self.deals_per_account, self.today = seed, accounts, deals_per_account, today
        self.layout = layout_for(org, seed)
        self.lock = threading.RLock()
        self.tables: dict[str, MutableMapping[str, Record]] = {}
        self.reset()

    # -- lifecycle -----------------------------------------------------------------------------------
    def reset(self) -> None:
        """Regenerate the org from its seed: same ids, same values, no sandbox-made records."""
        with self.lock:
            # Replaced, never mutated, when a field is added: readers holding the old dict stay consistent.
            self.schemas: dict[str, ObjectSchema] = self.layout.schemas()
            self.schema_changed: datetime | None = None
            self.by_prefix = {s.prefix: name for name, s in self.schemas.items()}
            self._keyed = {name: self._keyed_fields(name) for name in self.schemas}
            start = 1_000_000 + (self.seed * 7919) % 5_000_000
            self._ids = {name: IdFactory(s.prefix, start) for name, s in self.schemas.items()}
            self._unique: dict[tuple[str, str], dict[str, set[str]]] = {}
            self._pairs: dict[tuple[str, str], str] = {}
            built = build_org(self.seed, self.accounts, self.deals_per_account, self.today, self.layout,
                              self.schemas, self._ids, lambda obj, rec: self._index(obj, None, rec))
            self.tables = built.tables
            users = built.users
            self.integration_user_id: str = users[-1]["Id"]
            self.human_user_ids: list[str] = [u["Id"] for u in users[:-1]]
            floor = parse_datetime(built.latest_stamp) if built.latest_stamp else None
            self._floor = floor or datetime.now(UTC).replace(microsecond=0)
            self._touch_rng = random.Random(self.seed * 31 + 5)
            self._touch_order: dict[str, list[Any]] = {}
            self._touch_pos: dict[str, int] = {}

    def new_id(self, obj: str) -> str:
        return self._ids[obj]()

    def now(self) -> str:
        """The org clock: wall time in whole seconds, never earlier than any stamp already issued."""
        with self.lock:
            t = datetime.now(UTC).replace(microsecond=0)
            self._floor = max(self._floor, t)
            return fmt_datetime(self._floor)

    # -- schema --------------------------------------------------------------------------------------
    def schema(self, name: str) -> ObjectSchema | None:
        """An sObject of this org by its case-insensitive API name."""
        return find(self.schemas, name)

    def add_field(self, obj: str, spec: FieldSpec) -> None:
        """Add a custom field to `obj`: in the describe at once, on every record with its default value.

        Records keep their SystemModstamp, as in a real org: a new field is no edit of the data.
        """
        with self.lock:
            self.schemas = {**self.schemas, obj: self.schemas[obj].with_field(spec)}
            self._keyed[obj] = self._keyed_fields(obj)
            default = (spec.default if spec.default is not None else False) if spec.type == "boolean" else None
            table = self.tables[obj]
            if isinstance(table, CompactTable):
                table.add_default(spec.name, default)
            else:
                for ident, rec in list(table.items()):
                    table[ident] = {**rec, spec.name: default}
            # Sub-second on purpose: a describe cached earlier in the same second (If-Modified-Since) is stale.
            self.schema_changed = datetime.now(UTC)

    # -- reads ---------------------------------------------------------------------------------------
    def object_of(self, ident: str) -> str | None:
        return self.by_prefix.get(ident[:3])

    def get(self, obj: str, ident: str) -> Record | None:
        """A record by id, deleted ones included; `ident` may be 15 or 18 characters."""
        table = self.tables.get(obj)
        if table is None:
            return None
        rec = table.get(ident)
        if rec is None and (canonical := normalize_id(ident)) is not None:
            rec = table.get(canonical)
        return rec

    def lookup(self, ident: object) -> Record | None:
        """Any record by id (for ``Parent.Field`` in SOQL)."""
        if not isinstance(ident, str) or not ident:
            return None
        obj = self.object_of(ident)
        return self.get(obj, ident) if obj else None

    def rows(self, obj: str, *, deleted: bool = False) -> list[Record]:
        """A snapshot of the object's records in id order; deleted ones only when asked.

        Builds every record: for a large object, read with `scan` or `select` instead.
        """
        table = self.tables[obj]
        # A plain table is copied in one C-level step: safe against concurrent writers.
        snapshot = list(table.records()) if isinstance(table, CompactTable) else list(table.values())
        return snapshot if deleted else [r for r in snapshot if not r.get("IsDeleted")]

    def scan(self, obj: str, *, deleted: bool = False) -> Iterator[Record]:
        """The object's records in id order, built one at a time."""
        table = self.tables[obj]
        records = table.records() if isinstance(table, CompactTable) else iter(list(table.values()))
        return records if deleted else (r for r in records if not r.get("IsDeleted"))

    def count(self, obj: str) -> int:
        """How many live (not deleted) records the object has."""
        table = self.tables[obj]
        return table.live_count() if isinstance(table, CompactTable) else sum(1 for _ in self.scan(obj))

    def select(self, q: Compiled, *, deleted: bool = False) -> Sequence[Record]:
        """The rows of compiled query `q` over its whole object; large objects answer with references."""
        table = self.tables[q.sobject]
        if isinstance(table, CompactTable):
            return select(table, q, deleted=deleted)
        return q.apply(self.rows(q.sobject, deleted=deleted))

    def matches(self, obj: str, field: str, value: str) -> set[str]:
        """Ids of live records whose unique or external-id `field` equals `value` (case-insensitive)."""
        return set(self._unique.get((obj, field), {}).get(value.casefold(), ()))

    def assignment(self, topic_id: str, entity_id: str) -> str | None:
        return self._pairs.get((topic_id, entity_id))

    def topics_by_entity(self) -> dict[str, list[str]]:
        """Topic names assigned to each record id."""
        names = {t["Id"]: t["Name"] for t in self.rows("Topic")}
        out: dict[str, list[str]] = {}
        for a in self.rows("TopicAssignment"):
            if a.get("TopicId") in names:
                out.setdefault(a["EntityId"], []).append(names[a["TopicId"]])
        return out

    # -- writes (callers hold `lock`) ------------------------------------------------------------------
    def put(self, obj: str, rec: Record) -> None:
        """Insert or replace one record and keep the indexes current."""
        with self.lock:
            table = self.tables[obj]
            old = table.get(rec["Id"])
            table[rec["Id"]] = rec
            self._index(obj, old, rec)

    def remove(self, obj: str, ident: str) -> None:
        with self.lock:
            old = self.tables[obj].pop(ident, None)
            if old is not None:
                self._index(obj, old, None)

    def _keyed_fields(self, obj: str) -> list[str]:
        s = self.schemas[obj]
        keyed = [n for n, f in s.fields.items() if (f.unique or f.external_id) and n != "Id"]
        return keyed + (["Name"] if obj == "Topic" else [])

    def _index(self, obj: str, old: Record | None, new: Record | None) -> None:
        for name in self._keyed[obj]:
            index = self._unique.setdefault((obj, name), {})
            if old is not None and isinstance(old.get(name), str):
                index.get(old[name].casefold(), set()).discard(old["Id"])
            if new is not None and isinstance(new.get(name), str) and not new.get("IsDeleted"):
                index.setdefault(new[name].casefold(), set()).add(new["Id"])
        if obj == "TopicAssignment":
            if old is not None:
                self._pairs.pop((old["TopicId"], old["EntityId"]), None)
            if new is not None and not new.get("IsDeleted"):
                self._pairs[(new["TopicId"], new["EntityId"])] = new["Id"]

    # -- a CRM user at work ----------------------------------------------------------------------------
    def touch(self, obj: str, count: int) -> list[str]:
        """Edit `count` records as a human user would; successive calls pick different records."""
        with self.lock:
            order = self._touch_order.get(obj)
            if order is None:
                order = self._live_ids(obj)
                self._touch_rng.shuffle(order)
                self._touch_order[obj] = order
            touched: list[str] = []
            tried = 0
            while len(touched) < count and tried < len(order):
                pos = self._touch_pos.get(obj, 0)
                self._touch_pos[obj] = (pos + 1) % len(order)
                tried += 1
                ident = order[pos]
                rec = self.tables[obj].get(ident if isinstance(ident, str) else self._id_at(obj, ident))
                if rec is None or rec.get("IsDeleted"):
                    continue
                self.put(obj, self._edited(obj, rec))
                touched.append(rec["Id"])
            return touched

    def _live_ids(self, obj: str) -> list[Any]:
        """Live records in id order: ids, or positions for a compact table's generated records (smaller)."""
        table = self.tables[obj]
        if not isinstance(table, CompactTable):
            return [r["Id"] for r in self.rows(obj)]
        out: list[Any] = []
        for ref in table.refs():
            if isinstance(ref, dict):
                if not ref.get("IsDeleted"):
                    out.append(ref["Id"])
            elif isinstance(ref, tuple):
                if not table.resolve(ref).get("IsDeleted"):
                    out.append(ref[0])
            else:
                out.append(ref)  # generated and never edited: generated records are live
        return out

    def _id_at(self, obj: str, position: int) -> str:
        table = self.tables[obj]
        assert isinstance(table, CompactTable)
        return IdFactory(table.prefix, table.first + position)()

    def _edited(self, obj: str, rec: Record) -> Record:
        rng = self._touch_rng
        if obj == "Account":
            variant = self.layout.variant
            changes = touch_account_record(rng, rec, None if variant == "provisioned" else self.layout.account_inputs)
        elif obj == "Opportunity":
            changes = touch_opportunity_record(rng, rec)
        elif obj == "Task":
            changes = {"Status": "Completed", "IsClosed": True}
        else:
            changes = {}
        new = {**rec, **changes}
        stamp = self.now()
        editor = rec.get("OwnerId") if rec.get("OwnerId") in self.human_user_ids else self.human_user_ids[0]
        for name, value in (("LastModifiedDate", stamp), ("SystemModstamp", stamp), ("LastModifiedById", editor)):
            if name in self.schemas[obj].fields:
                new[name] = value
        return new
