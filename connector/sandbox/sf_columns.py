"""Compact column storage for the sandbox's generated records (a million Accounts, two million deals).

A record as a dict costs about 4 KiB with its values; in columns it costs the bytes of its values:
numbers in ``array('d')``/``array('q')``, checkboxes in a bytearray, ids and references as their
counter, datetimes as epoch milliseconds, repeated text as 2-byte codes into a small table, and other
text in one UTF-8 blob. A value a column cannot hold exactly (text in a number field, an id of another
pod, a datetime in an unusual form) is kept as it is in the column's `odd` dict, so every record reads
back equal to the one appended. Columns are append-only: the store keeps edits in an overlay.
"""

from __future__ import annotations

import math
import re
import sys
from array import array
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from connector.sandbox.sf_describe import ObjectSchema

__all__ = ["Columns", "id_counter", "id_text"]

_NULL_INT = -(2 ** 63)
_EPOCH = date(1970, 1, 1)
_CATEGORIES = 4096  # past this many distinct values a text column stores its text in the blob
_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B62 = {c: i for i, c in enumerate(_DIGITS)}
_UPPER = {c: int("A" <= c <= "Z") for c in _DIGITS}
_CHECK = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def id_counter(ident: str) -> int | None:
    """The counter an `IdFactory` id was made from, or None when `ident` is not one of its 18-char ids."""
    if len(ident) != 18 or ident[3:9] != "5g0000":
        return None
    n = 0
    for ch in ident[9:15]:
        d = _B62.get(ch)
        if d is None:
            return None
        n = n * 62 + d
    return n


_PAIRS = [a + b for a in _DIGITS for b in _DIGITS]  # 3,844 two-digit base62 strings, in value order
_PAIR_UPPER = [_UPPER[p[0]] | _UPPER[p[1]] << 1 for p in _PAIRS]


def _head_check(prefix: str) -> str:
    head = prefix + "5g"
    return _CHECK[sum(_UPPER.get(c, 0) << k for k, c in enumerate(head))]


_HEADS: dict[str, str] = {}


def id_text(prefix: str, n: int) -> str:
    """`IdFactory(prefix, n)()` without building a factory: reading a million records makes millions of ids.

    The 15 characters are ``prefix 5g 0000 d0 d1..d5``; the case-check suffix has one character per five.
    """
    high, low = divmod(n, 3844)
    top, mid = divmod(high, 3844)
    p0, p1, p2 = _PAIRS[top], _PAIRS[mid], _PAIRS[low]
    head = _HEADS.get(prefix)
    if head is None:
        head = _HEADS[prefix] = _head_check(prefix)
    second = _CHECK[_UPPER[p0[0]] << 4]
    third = _CHECK[_UPPER[p0[1]] | _PAIR_UPPER[mid] << 1 | _PAIR_UPPER[low] << 3]
    return f"{prefix}5g0000{p0}{p1}{p2}{head}{second}{third}"


class _Column:
    """Values of one field by position; `append` keeps a value it cannot encode in `odd`."""

    def __init__(self) -> None:
        self.odd: dict[int, Any] = {}

    def append(self, value: Any) -> None:
        raise NotImplementedError

    def extend(self, values: tuple[Any, ...]) -> None:
        for value in values:
            self.append(value)

    def get(self, i: int) -> Any:
        if self.odd and i in self.odd:
            return self.odd[i]
        return self._get(i)

    def _get(self, i: int) -> Any:
        raise NotImplementedError


class _Floats(_Column):
    def __init__(self) -> None:
        super().__init__()
        self.values = array("d")

    def append(self, value: Any) -> None:
        if value is None:
            self.values.append(math.nan)
        elif type(value) is float and value == value:
            self.values.append(value)
        else:
            self.odd[len(self.values)] = value
            self.values.append(math.nan)

    def extend(self, values: tuple[Any, ...]) -> None:
        if all(v is None or (type(v) is float and v == v) for v in values):
            self.values.extend([math.nan if v is None else v for v in values])
        else:
            super().extend(values)

    def _get(self, i: int) -> Any:
        v = self.values[i]
        return None if v != v else v


class _Ints(_Column):
    def __init__(self) -> None:
        super().__init__()
        self.values = array("q")

    def append(self, value: Any) -> None:
        if value is None:
            self.values.append(_NULL_INT)
        elif type(value) is int and _NULL_INT < value < 2 ** 63:
            self.values.append(value)
        else:
            self.odd[len(self.values)] = value
            self.values.append(_NULL_INT)

    def _get(self, i: int) -> Any:
        v = self.values[i]
        return None if v == _NULL_INT else v


class _Flags(_Column):
    _DECODE = (False, True, None)

    def __init__(self) -> None:
        super().__init__()
        self.values = bytearray()

    def append(self, value: Any) -> None:
        if value is None:
            self.values.append(2)
        elif value is True or value is False:
            self.values.append(int(value))
        else:
            self.odd[len(self.values)] = value
            self.values.append(2)

    def extend(self, values: tuple[Any, ...]) -> None:
        if all(v is None or v is True or v is False for v in values):
            self.values.extend([2 if v is None else int(v) for v in values])
        else:
            super().extend(values)

    def _get(self, i: int) -> Any:
        return self._DECODE[self.values[i]]


class _Ids(_Column):
    """Ids and references from the sandbox's id factories: the counter, and the key prefix once."""

    def __init__(self) -> None:
        super().__init__()
        self.values = array("q")
        self.prefix: str | None = None

    def append(self, value: Any) -> None:
        if value is None:
            self.values.append(-1)
            return
        n = id_counter(value) if isinstance(value, str) else None
        if n is not None and (self.prefix is None or value[:3] == self.prefix) and id_text(value[:3], n) == value:
            self.prefix = value[:3]
            self.values.append(n)
        else:
            self.odd[len(self.values)] = value
            self.values.append(-1)

    def _get(self, i: int) -> Any:
        n = self.values[i]
        return None if n < 0 or self.prefix is None else id_text(self.prefix, n)


_STAMP = re.compile(r"\d{4}-\d\d-\d\dT([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}\+0000")


class _Stamps(_Column):
    """``2020-10-22T21:03:23.000+0000`` as epoch milliseconds."""

    def __init__(self) -> None:
        super().__init__()
        self.values = array("q")
        self._days: dict[int, str] = {}
        self._day_of: dict[str, int | None] = {}

    def append(self, value: Any) -> None:
        if value is None:
            self.values.append(_NULL_INT)
            return
        day = self._day(value[:10]) if isinstance(value, str) and _STAMP.fullmatch(value) else None
        if day is None:
            self.odd[len(self.values)] = value
            self.values.append(_NULL_INT)
            return
        self.values.append(((day * 24 + int(value[11:13])) * 60 + int(value[14:16])) * 60_000
                           + int(value[17:19]) * 1000 + int(value[20:23]))

    def _day(self, text: str) -> int | None:
        """Days since 1970 of ``YYYY-MM-DD``, or None when it is no date; cached (a few thousand days)."""
        if text not in self._day_of:
            try:
                d = date.fromisoformat(text)
            except ValueError:
                self._day_of[text] = None
            else:
                n = (d - _EPOCH).days
                self._day_of[text] = n if d.isoformat() == text else None
                self._days[n] = text
        return self._day_of[text]

    def _get(self, i: int) -> Any:
        value = self.values[i]
        if value == _NULL_INT:
            return None
        secs, ms = divmod(value, 1000)
        day, secs = divmod(secs, 86400)
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = (_EPOCH + timedelta(days=day)).isoformat()
        hours, secs = divmod(secs, 3600)
        minutes, secs = divmod(secs, 60)
        return f"{text}T{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}+0000"


class _Text(_Column):
    """Text as codes into a table of distinct values while there are few, else in one UTF-8 blob."""

    def __init__(self) -> None:
        super().__init__()
        self.codes: array[int] | None = array("H")
        self.table: list[str | None] = [None]
        self.index: dict[Any, int] = {None: 0}
        self.blob = bytearray()
        self.ends = array("q")  # blob mode: end offset of each value in `blob`
        self.nulls = bytearray()

    def append(self, value: Any) -> None:
        if self.codes is not None and (value is None or isinstance(value, str)):
            code = self.index.get(value)
            if code is not None:
                self.codes.append(code)
                return
        if value is not None and not isinstance(value, str):
            self.odd[len(self.codes) if self.codes is not None else len(self.ends)] = value
            value = None
        if self.codes is not None:
            if len(self.table) < _CATEGORIES:
                self.index[value] = len(self.table)
                self.codes.append(len(self.table))
                self.table.append(value)
                return
            self._to_blob()
        if value is not None:
            self.blob += value.encode("utf-8", "surrogatepass")
        self.ends.append(len(self.blob))
        self.nulls.append(value is None)

    def extend(self, values: tuple[Any, ...]) -> None:
        if self.codes is not None:
            index = self.index
            codes = [index.get(v) if v is None or type(v) is str else None for v in values]
            if None not in codes:
                self.codes.extend(codes)  # type: ignore[arg-type]
                return
        super().extend(values)

    def _to_blob(self) -> None:
        assert self.codes is not None
        codes, table = self.codes, self.table
        self.codes, self.table, self.index = None, [], {}
        for code in codes:
            self.append(table[code])

    def _get(self, i: int) -> Any:
        if self.codes is not None:
            return self.table[self.codes[i]]
        if self.nulls[i]:
            return None
        start = self.ends[i - 1] if i else 0
        return self.blob[start:self.ends[i]].decode("utf-8", "surrogatepass")


def _column_for(kind: str) -> _Column:
    if kind == "boolean":
        return _Flags()
    if kind in ("double", "currency", "percent"):
        return _Floats()
    if kind == "int":
        return _Ints()
    if kind in ("id", "reference"):
        return _Ids()
    if kind == "datetime":
        return _Stamps()
    return _Text()


class Columns:
    """Records of one sObject, appended in id order, read back by position."""

    MISSING: Any = object()  # `field` of a name the record does not have

    def __init__(self, schema: ObjectSchema) -> None:
        self.schema = schema
        self.names: list[str] = []
        self.where: dict[str, _Column] = {}
        self.columns: list[_Column] = []
        self.odd_rows: dict[int, dict[str, Any]] = {}  # a record whose fields differ from the first one's
        self.size = 0
        self._getters: list[tuple[str, Callable[[int], Any]]] | None = None
        self._order: tuple[str, ...] = ()
        self._appenders: list[Callable[[Any], None]] = []

    def append(self, rec: dict[str, Any]) -> None:
        if not self.names:
            self.names = list(rec)
            self._order = tuple(self.names)
            for name in self.names:
                spec = self.schema.fields.get(name)
                self.columns.append(_column_for(spec.type if spec is not None else "string"))
            self.where = dict(zip(self.names, self.columns, strict=True))
            self._appenders = [c.append for c in self.columns]
        self._getters = None
        if tuple(rec) == self._order:
            for append, value in zip(self._appenders, rec.values(), strict=True):
                append(value)
        else:  # a record whose fields differ from the first one's is kept whole
            self.odd_rows[self.size] = dict(rec)
            for append in self._appenders:
                append(None)
        self.size += 1

    def extend(self, recs: list[dict[str, Any]]) -> None:
        """Append `recs` in order; a column at a time when they all have the first record's fields."""
        if not recs:
            return
        if not self.names or any(tuple(r) != self._order for r in recs):
            for rec in recs:
                self.append(rec)
            return
        self._getters = None
        for col, values in zip(self.columns, zip(*(r.values() for r in recs), strict=True), strict=True):
            col.extend(values)
        self.size += len(recs)

    def row(self, i: int) -> dict[str, Any]:
        """A new dict of record `i`, equal to the one appended."""
        if self.odd_rows and i in self.odd_rows:
            return dict(self.odd_rows[i])
        getters = self._getters
        if getters is None:  # a column without odd values is read without the check
            getters = self._getters = [(n, c.get if c.odd else c._get)
                                       for n, c in zip(self.names, self.columns, strict=True)]
        return {name: get(i) for name, get in getters}

    def nbytes(self) -> int:
        """Bytes held by the columns' buffers, tables and odd values (shallow sizes; for benchmarks)."""
        total = 0
        for col in self.columns:
            for part in vars(col).values():
                if isinstance(part, array | bytearray | list | dict):
                    total += sys.getsizeof(part)
                    if isinstance(part, list):
                        total += sum(sys.getsizeof(v) for v in part if v is not None)
        return total + sys.getsizeof(self.odd_rows)

    def field(self, i: int, name: str) -> Any:
        """One field of record `i` (`MISSING` if it has no such field), decoding nothing else."""
        if self.odd_rows and i in self.odd_rows:
            return self.odd_rows[i].get(name, self.MISSING)
        col = self.where.get(name)
        return self.MISSING if col is None else col.get(i)
