"""A large sObject table: generated records in compact columns, edits as small diffs, new records as dicts.

`CompactTable` is a mapping of id -> record like the plain dicts the store keeps for small objects, so
every reader works unchanged; a record read from it is a new dict each time (nobody may mutate one, as
with the plain tables). Memory goes to what differs from the generated org: a written record keeps a
tuple of its changed fields, a record made in the sandbox keeps its dict.

A query over it (`select`) keeps *references*, not records: a position and, when the record was
edited, the diff it had then. Diffs are replaced, never changed, so a query cursor still reads its
rows as they were when it ran, and a million-row result costs a few bytes a row.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from typing import Any, overload

from connector.sandbox.sf_columns import Columns, id_counter, id_text
from connector.sandbox.sf_query import Compiled, Record

__all__ = ["CompactTable", "RefRows", "select"]

Diff = tuple[Any, ...]  # (field, value, field, value, ...)
Ref = int | tuple[int, Diff] | dict[str, Any]  # a position, a position with its diff, or a sandbox-made record
_INTERN_MAX = 200_000
_RECENT = 4096


class CompactTable(MutableMapping[str, Record]):
    """Records of one sObject whose first `base.size` ids are ``prefix`` counters ``first``, ``first+1`` …"""

    def __init__(self, base: Columns, prefix: str, first: int) -> None:
        self.base, self.prefix, self.first = base, prefix, first
        self.diffs: dict[int, Diff] = {}
        self.removed: set[int] = set()
        self.extra: dict[str, Record] = {}  # made in the sandbox: later ids, kept in creation (= id) order
        self.defaults: dict[str, Any] = {}  # fields added after generation, with their default
        self._strings: dict[str, str] = {}
        self._recent: dict[int, Record] = {}  # generated rows decoded lately (never handed out: copies are)

    # -- positions -------------------------------------------------------------------------------
    def position(self, ident: str) -> int | None:
        """The base position of `ident` (canonical 18-char id), or None for an id the generator never made."""
        if ident[:3] != self.prefix:
            return None
        n = id_counter(ident)
        if n is None or not 0 <= n - self.first < self.base.size or id_text(self.prefix, n) != ident:
            return None
        return n - self.first

    def record_at(self, i: int, diff: Diff | None = None) -> Record:
        cached = self._recent.get(i)
        if cached is None:
            cached = self._recent[i] = self.base.row(i)
            if len(self._recent) > _RECENT:  # a write reads its record twice (get, then the diff): keep a few
                # Readers run on several threads without the store's lock: another may evict first.
                with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                    del self._recent[next(iter(self._recent))]
        rec = dict(cached)
        if self.defaults:
            rec.update(self.defaults)
        if diff:
            rec.update(zip(diff[::2], diff[1::2], strict=True))
        return rec

    def live(self, i: int) -> bool:
        return i not in self.removed

    def ref(self, i: int) -> Ref:
        diff = self.diffs.get(i)
        return i if diff is None else (i, diff)

    def resolve(self, ref: Ref) -> Record:
        if isinstance(ref, int):
            return self.record_at(ref)
        if isinstance(ref, tuple):
            return self.record_at(ref[0], ref[1])
        return ref

    def refs(self) -> Iterator[Ref]:
        """Every record, deleted ones included, in id order."""
        removed, diffs = self.removed, self.diffs
        for i in range(self.base.size):
            if i not in removed:
                diff = diffs.get(i)
                yield i if diff is None else (i, diff)
        yield from list(self.extra.values())

    # -- mapping ---------------------------------------------------------------------------------
    def __getitem__(self, ident: str) -> Record:
        i = self.position(ident)
        if i is None:
            return self.extra[ident]
        if i in self.removed:
            raise KeyError(ident)
        return self.record_at(i, self.diffs.get(i))

    def __setitem__(self, ident: str, rec: Record) -> None:
        i = self.position(ident)
        if i is None:
            self.extra[ident] = rec
            return
        base = self.record_at(i)
        pairs: list[Any] = []
        for name, value in rec.items():
            if name not in base or base[name] != value or type(base[name]) is not type(value):
                pairs.append(sys.intern(name))
                pairs.append(self._intern(value))
        self.removed.discard(i)
        if pairs:
            self.diffs[i] = tuple(pairs)
        else:
            self.diffs.pop(i, None)

    def _intern(self, value: Any) -> Any:
        """One object for text written many times over (tiers, reasons, stamps of one second)."""
        if not isinstance(value, str) or len(value) > 512:
            return value
        if len(self._strings) >= _INTERN_MAX:
            self._strings.clear()
        return self._strings.setdefault(value, value)

    def __delitem__(self, ident: str) -> None:
        i = self.position(ident)
        if i is None:
            del self.extra[ident]
            return
        if i in self.removed:
            raise KeyError(ident)
        self.removed.add(i)
        self.diffs.pop(i, None)

    def __iter__(self) -> Iterator[str]:
        for i in range(self.base.size):
            if i not in self.removed:
                yield id_text(self.prefix, self.first + i)
        yield from list(self.extra)

    def __len__(self) -> int:
        return self.base.size - len(self.removed) + len(self.extra)

    def __contains__(self, ident: object) -> bool:
        if not isinstance(ident, str):
            return False
        i = self.position(ident)
        return ident in self.extra if i is None else i not in self.removed

    def live_count(self) -> int:
        """Records not deleted, without decoding any (generated records are live until edited)."""
        dead = sum(1 for diff in self.diffs.values() if _deleted(diff))
        dead += sum(1 for rec in self.extra.values() if rec.get("IsDeleted"))
        return self.base.size - len(self.removed) + len(self.extra) - dead

    def records(self) -> Iterator[Record]:
        """Every record in id order, decoded one at a time."""
        for ref in self.refs():
            yield self.resolve(ref)

    def add_default(self, name: str, value: Any) -> None:
        """A field added to the object: every generated record reads it with `value` until written."""
        self.defaults[name] = value
        for ident, rec in list(self.extra.items()):
            self.extra[ident] = {**rec, name: value}


def _deleted(diff: Diff) -> bool:
    return any(diff[k] == "IsDeleted" and diff[k + 1] for k in range(0, len(diff), 2))


class _Row:
    """Record fields decoded on demand: a query's filter and sort read a few fields of a million rows."""

    __slots__ = ("_diff", "_i", "_table")

    def __init__(self, table: CompactTable, i: int, diff: Diff | None) -> None:
        self._table, self._i, self._diff = table, i, diff

    def get(self, name: str, default: Any = None) -> Any:
        diff = self._diff
        if diff:
            for k in range(0, len(diff), 2):
                if diff[k] == name:
                    return diff[k + 1]
        table = self._table
        if name in table.defaults:
            return table.defaults[name]
        value = table.base.field(self._i, name)
        return default if value is _MISSING else value

    def __getitem__(self, name: str) -> Any:
        value = self.get(name, _MISSING)
        if value is _MISSING:
            raise KeyError(name)
        return value


_MISSING: Any = Columns.MISSING


class RefRows(Sequence[Record]):
    """A query's result rows as references; records are decoded when a page is read."""

    def __init__(self, table: CompactTable, refs: list[Ref]) -> None:
        self.table, self.refs = table, refs

    def __len__(self) -> int:
        return len(self.refs)

    @overload
    def __getitem__(self, index: int) -> Record: ...

    @overload
    def __getitem__(self, index: slice) -> list[Record]: ...

    def __getitem__(self, index: int | slice) -> Record | list[Record]:
        if isinstance(index, slice):
            return [self.table.resolve(r) for r in self.refs[index]]
        return self.table.resolve(self.refs[index])


def _view(table: CompactTable, ref: Ref) -> Any:
    if isinstance(ref, int):
        return _Row(table, ref, None)
    if isinstance(ref, tuple):
        return _Row(table, ref[0], ref[1])
    return ref


def select(table: CompactTable, q: Compiled, *, deleted: bool) -> RefRows:
    """`q.apply` over `table` without holding its records: filter and sort on decoded fields only."""
    pred: Callable[[Any], bool] | None = q.predicate
    kept: list[Ref] = []
    for ref in table.refs():
        row = _view(table, ref)
        if not deleted and row.get("IsDeleted"):
            continue
        if pred is None or pred(row):
            kept.append(ref)
    for getter, desc, nulls_last in reversed(q.order):
        null_rank = (-1 if nulls_last else 2) if desc else (2 if nulls_last else 0)

        def key(ref: Ref, getter: Callable[[Any], Any] = getter, null_rank: int = null_rank) -> tuple[int, Any]:
            v = getter(_view(table, ref))
            return (null_rank, None) if v is None else (1, v)
        kept.sort(key=key, reverse=desc)
    end = None if q.limit is None else q.offset + q.limit
    if q.offset or end is not None:
        kept = kept[q.offset:end]
    return RefRows(table, kept)
