"""A columnar batch of canonical records: one numpy array per field, the shape scoring works on.

Storage by field kind: text as a unicode array ("" = missing); categories (countries, picklists)
dictionary-encoded as int32 codes into a small vocabulary whose entry 0 is "" (missing), so lookups
run over the few distinct values instead of every record; numbers and booleans as float64
(NaN = missing, booleans 1.0/0.0), dates as datetime64[D] (NaT = missing). A value that was present
but could not be read is stored as missing and flagged in `unreadable`, so features can put it in
an `invalid` bin instead of treating it as merely absent.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from scoring.fields import ACCOUNT_FIELDS, DEAL_FIELDS, UNREADABLE, FieldKind, coerce_value

__all__ = ["Batch", "accounts_batch", "deals_batch"]

_NO_VOCABULARY: tuple[str, ...] = ("",)


def _empty(kind: FieldKind, n: int) -> np.ndarray:
    if kind is FieldKind.CATEGORY:
        return np.zeros(n, dtype=np.int32)
    if kind is FieldKind.TEXT:
        return np.full(n, "", dtype="<U1")
    if kind is FieldKind.DATE:
        return np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    return np.full(n, np.nan)


_Column = tuple[np.ndarray, np.ndarray, tuple[str, ...] | None]  # values, unreadable mask, vocabulary


def _from_values(kind: FieldKind, values: Iterable[object]) -> _Column:
    """Tolerantly convert Python values."""
    coerced = [coerce_value(kind, v) for v in values]
    bad = np.fromiter((v is UNREADABLE for v in coerced), dtype=bool, count=len(coerced))
    clean: list[Any] = [None if v is UNREADABLE else v for v in coerced]
    if kind is FieldKind.CATEGORY:
        index: dict[str, int] = {"": 0}
        codes = [index.setdefault(v or "", len(index)) for v in clean]
        return np.array(codes, dtype=np.int32).reshape(-1), bad, tuple(index)
    if kind is FieldKind.TEXT:
        return np.array([v or "" for v in clean], dtype=np.str_).reshape(-1), bad, None
    if kind is FieldKind.DATE:
        return np.array(clean, dtype="datetime64[D]").reshape(-1), bad, None
    floats = [np.nan if v is None else float(v) for v in clean]
    return np.array(floats, dtype=np.float64).reshape(-1), bad, None


def _from_array(kind: FieldKind, column: Any) -> _Column:
    """Take an already typed numpy column without per-value Python work; else read value by value."""
    if not isinstance(column, np.ndarray):
        return _from_values(kind, list(column))
    arr = column
    n = arr.shape[0] if arr.ndim else 0
    ok = np.zeros(n, dtype=bool)
    if kind in (FieldKind.NUMBER, FieldKind.BOOL) and arr.dtype.kind in "fiub":
        values = arr.astype(np.float64)
        bad = np.isinf(values)
        if kind is FieldKind.BOOL:
            bad |= ~np.isnan(values) & (values != 0.0) & (values != 1.0)
        values[bad] = np.nan
        return values, bad, None
    if kind is FieldKind.DATE and arr.dtype.kind == "M":
        return arr.astype("datetime64[D]"), ok, None
    if kind is FieldKind.TEXT and arr.dtype.kind == "U":
        return np.char.strip(arr), ok, None
    if kind is FieldKind.CATEGORY and arr.dtype.kind == "U":
        distinct, codes = np.unique(arr, return_inverse=True)
        stripped = [str(v).strip() for v in distinct.tolist()]
        index: dict[str, int] = {"": 0}
        remap = np.array([index.setdefault(v, len(index)) for v in stripped] or [0], dtype=np.int32)
        return remap[codes.reshape(-1)], ok, tuple(index)
    return _from_values(kind, arr.tolist())


@dataclass(frozen=True, eq=False)
class Batch:
    """Columns of canonical records; absent fields read as all-missing."""

    fields: Mapping[str, FieldKind]
    size: int
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    unreadable: dict[str, np.ndarray] = field(default_factory=dict)
    vocabularies: dict[str, tuple[str, ...]] = field(default_factory=dict)  # for category fields
    # Input columns that are not canonical fields, as stripped text ("" = empty), for raw-column
    # characteristics (`scoring.rawcolumns`); a CRM record never has any.
    raw: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.size

    def column(self, name: str) -> np.ndarray:
        """The column for a canonical field (categories decoded to text); all-missing if absent."""
        if self.fields[name] is FieldKind.CATEGORY:
            codes, vocabulary = self.categories(name)
            return np.array(vocabulary, dtype=np.str_)[codes]
        if name in self.columns:
            return self.columns[name]
        return _empty(self.fields[name], self.size)

    def categories(self, name: str) -> tuple[np.ndarray, tuple[str, ...]]:
        """A category field as (codes, vocabulary); code 0 is always "" (missing)."""
        if name in self.columns:
            return self.columns[name], self.vocabularies[name]
        return _empty(FieldKind.CATEGORY, self.size), _NO_VOCABULARY

    def text(self, name: str, index: int) -> str:
        """One record's text or category value ("" when missing)."""
        if self.fields[name] is FieldKind.CATEGORY:
            codes, vocabulary = self.categories(name)
            return vocabulary[int(codes[index])]
        return str(self.columns[name][index]) if name in self.columns else ""

    def number(self, name: str, index: int) -> float:
        """One record's number (NaN when missing or unreadable)."""
        return float(self.columns[name][index]) if name in self.columns else float("nan")

    def bad(self, name: str) -> np.ndarray:
        """True where the field held a value that could not be read."""
        mask = self.unreadable.get(name)
        return mask if mask is not None else np.zeros(self.size, dtype=bool)

    def ids(self) -> np.ndarray:
        return self.column("id")

    @functools.cached_property
    def _python(self) -> dict[str, list[Any]]:
        """Every column as a list of Python values (None, UNREADABLE, str, float, bool or date), built once."""
        out: dict[str, list[Any]] = {}
        for name, kind in self.fields.items():
            if name not in self.columns:
                continue
            values = self.columns[name].tolist()
            if kind is FieldKind.CATEGORY:
                vocabulary = self.vocabularies[name]
                values = [vocabulary[c] or None for c in values]
            elif kind is FieldKind.TEXT:
                values = [v or None for v in values]
            elif kind is FieldKind.BOOL:
                values = [None if v != v else bool(v) for v in values]  # v != v: NaN
            elif kind is FieldKind.NUMBER:
                values = [None if v != v else v for v in values]
            if name in self.unreadable:
                values = [UNREADABLE if bad else v for v, bad in zip(values, self.unreadable[name].tolist(),
                                                                      strict=True)]
            out[name] = values
        return out

    def row(self, index: int) -> dict[str, object]:
        """One record as Python values: None for missing, `UNREADABLE` for unreadable."""
        columns = self._python
        return {name: columns[name][index] if name in columns else None for name in self.fields}

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, object]], fields: Mapping[str, FieldKind]) -> Batch:
        """Build from dicts of canonical names; unknown keys are ignored, bad values flagged, never raised."""
        present = {key for record in records for key in record}
        built = {name: _from_values(kind, [r.get(name) for r in records])
                 for name, kind in fields.items() if name in present}
        batch = cls._assemble(fields, len(records), built)
        for name in sorted(present - set(fields)):
            batch.raw[name] = np.array([_raw_text(r.get(name)) for r in records], dtype=np.str_).reshape(-1)
        return batch

    @classmethod
    def _assemble(cls, fields: Mapping[str, FieldKind], size: int, built: Mapping[str, _Column]) -> Batch:
        return cls(
            fields=fields,
            size=size,
            columns={name: values for name, (values, _, _) in built.items()},
            unreadable={name: bad for name, (_, bad, _) in built.items() if bad.any()},
            vocabularies={name: vocab for name, (_, _, vocab) in built.items() if vocab is not None},
        )

    @classmethod
    def from_columns(cls, data: Mapping[str, Any], fields: Mapping[str, FieldKind]) -> Batch:
        """Build from one array (or list) per canonical name; typed numpy columns are used without copying rows."""
        sizes = {len(col) for name, col in data.items() if name in fields}
        if len(sizes) > 1:
            raise ValueError(f"columns have different lengths: {sorted(sizes)}")
        size = sizes.pop() if sizes else 0
        built = {name: _from_array(kind, data[name]) for name, kind in fields.items() if name in data}
        batch = cls._assemble(fields, size, built)
        for name in sorted(set(data) - set(fields)):
            column = data[name]
            if isinstance(column, np.ndarray | list | tuple) and len(column) == size:  # else not a column of these
                batch.raw[name] = np.array([_raw_text(v) for v in list(column)], dtype=np.str_).reshape(-1)
        return batch

    def slice(self, start: int, stop: int) -> Batch:
        """Rows start..stop-1 as a new batch sharing this one's arrays (no copy)."""
        return Batch(
            fields=self.fields,
            size=max(0, min(stop, self.size) - start),
            columns={k: v[start:stop] for k, v in self.columns.items()},
            unreadable={k: v[start:stop] for k, v in self.unreadable.items()},
            vocabularies=self.vocabularies,
            raw={k: v[start:stop] for k, v in self.raw.items()},
        )

    def take(self, index: npt.ArrayLike) -> Batch:
        """The rows at `index`, as a new batch."""
        idx = np.asarray(index)
        return Batch(
            fields=self.fields,
            size=int(idx.shape[0]),
            columns={k: v[idx] for k, v in self.columns.items()},
            unreadable={k: v[idx] for k, v in self.unreadable.items()},
            vocabularies=self.vocabularies,
            raw={k: v[idx] for k, v in self.raw.items()},
        )


def _raw_text(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):  # None or NaN: empty
        return ""
    return str(value).strip()


def accounts_batch(data: Batch | Sequence[Mapping[str, object]] | Mapping[str, Any]) -> Batch:
    """Accounts as a batch: from a batch, a list of canonical dicts, or a dict of columns."""
    if isinstance(data, Batch):
        return data
    if isinstance(data, Mapping):
        return Batch.from_columns(data, ACCOUNT_FIELDS)
    return Batch.from_records(data, ACCOUNT_FIELDS)


def deals_batch(data: Batch | Sequence[Mapping[str, object]] | Mapping[str, Any]) -> Batch:
    """Deals as a batch: from a batch, a list of canonical dicts, or a dict of columns."""
    if isinstance(data, Batch):
        return data
    if isinstance(data, Mapping):
        return Batch.from_columns(data, DEAL_FIELDS)
    return Batch.from_records(data, DEAL_FIELDS)
