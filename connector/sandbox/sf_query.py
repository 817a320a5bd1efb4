"""A compiled SOQL query (see `soql`): what it selects, how it filters and sorts, applied to live rows."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connector.sandbox.sf_describe import FieldSpec

__all__ = ["Compiled", "Lookup", "Predicate", "Record", "Selected", "comparable", "compare", "like_pattern"]

Record = dict[str, Any]
Predicate = Callable[[Record], bool]
Lookup = Callable[[Any], Record | None]


@dataclass(frozen=True)
class Selected:
    """One selected field; `relationship` is set for ``Parent.Field`` (then `via` is the reference field)."""

    spec: FieldSpec
    relationship: str | None = None
    via: FieldSpec | None = None
    target: str | None = None


@dataclass
class Compiled:
    """A bound query: what to select, how to filter and sort, and any ids the filter pins down."""

    sobject: str
    selected: list[Selected]
    count: bool = False
    count_field: str | None = None
    predicate: Predicate | None = None
    order: list[tuple[Callable[[Record], Any], bool, bool]] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    candidate_ids: list[str] | None = None

    def apply(self, rows: list[Record]) -> list[Record]:
        """Filter, sort and cut `rows` (the object's live records)."""
        if self.predicate is not None:
            pred = self.predicate
            rows = [r for r in rows if pred(r)]
        for getter, desc, nulls_last in reversed(self.order):
            null_rank = (-1 if nulls_last else 2) if desc else (2 if nulls_last else 0)
            rows.sort(key=_sort_key(getter, null_rank), reverse=desc)
        end = None if self.limit is None else self.offset + self.limit
        return rows[self.offset:end] if self.offset or end is not None else rows


def _sort_key(getter: Callable[[Record], Any], null_rank: int) -> Callable[[Record], tuple[int, Any]]:
    def key(r: Record) -> tuple[int, Any]:
        v = getter(r)
        return (null_rank, None) if v is None else (1, v)
    return key


def comparable(spec: FieldSpec, value: Any) -> Any:
    """The value SOQL compares and sorts by: text ignores case; ids, dates and datetimes compare as stored."""
    if isinstance(value, str) and spec.type not in ("id", "reference", "datetime", "date"):
        return value.casefold()
    return value


def compare(get: Callable[[Record], Any], op: str, value: Any, key: Callable[[Any], Any]) -> Predicate:
    if value is None:
        if op == "=":
            return lambda r: get(r) is None
        if op in ("!=", "<>"):
            return lambda r: get(r) is not None
        return lambda r: False
    want = key(value)
    if op == "=":
        return lambda r: key(get(r)) == want
    if op in ("!=", "<>"):
        return lambda r: key(get(r)) != want  # SOQL keeps nulls in a != filter
    tests: dict[str, Callable[[Any], bool]] = {
        "<": lambda v: v < want, "<=": lambda v: v <= want, ">": lambda v: v > want, ">=": lambda v: v >= want,
    }
    test = tests[op]

    def check(r: Record) -> bool:
        v = key(get(r))
        try:
            return v is not None and test(v)
        except TypeError:  # a dirty value of another type never matches a range
            return False
    return check


def like_pattern(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)
