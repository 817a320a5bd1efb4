"""`data/query` for the Fxiaoke sandbox: `search_query_info` filters, orders, projection and paging.

Wire facts (docs/crm-fxiaoke.md §6): filters `{field_name, operator, field_values: [..]}` are AND-ed;
`orders` are `{fieldName, isAsc}`; `limit` ≤ 100; `offset` a multiple of `limit` and ≤ 10,000 (past it
the real 10013 body); the answer is `data: {dataList, offset, limit, total}` with `total` 0 when
counting is off; empty fields are omitted unless `includeNull`. Deep paging orders by `_id` ascending
with `_id GT <last>`; that path uses a bisect on the sorted ids, so a 25,000-record org reads fast.

Values compare by the field's type: numbers numerically, times as epoch ms, employee and
select_many lists match when any element does. Operators: EQ, N, GT, GTE, LT, LTE, IN, NIN, LIKE,
NLIKE, BETWEEN, NBETWEEN, IS, ISN, STARTWITH, ENDWITH, HASANYOF, NHASANYOF, CONTAINS (and the
aliases one page lists: NE, GE, LE, NOT_IN).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from connector.sandbox.fxiaoke_fields import NUMERIC, TEMPORAL, FieldDef
from connector.sandbox.fxiaoke_store import FxiaokeStore

__all__ = ["MAX_LIMIT", "MAX_OFFSET", "OFFSET_ERROR", "QueryError", "run_query"]

MAX_LIMIT, MAX_OFFSET = 100, 10_000
OFFSET_ERROR = {"errorDescription": "offset 不能超过10000", "errorMessage": "offset out of range 10000", "errorCode": 10013}
_ALIASES = {"NE": "N", "GE": "GTE", "LE": "LTE", "NOT_IN": "NIN"}
OPERATORS = frozenset({"EQ", "N", "GT", "GTE", "LT", "LTE", "IN", "NIN", "LIKE", "NLIKE", "BETWEEN", "NBETWEEN",
                       "IS", "ISN", "STARTWITH", "ENDWITH", "HASANYOF", "NHASANYOF", "CONTAINS"})
_SYSTEM_KEYS = ("object_describe_api_name",)


class QueryError(Exception):
    """A query the gateway refuses; `body` is its error envelope without traceId."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body.get("errorMessage"))
        self.body = body


def _bad(message: str) -> QueryError:
    return QueryError({"errorCode": 10006, "errorMessage": message, "errorDescription": "缺少参数或参数不合法"})


@dataclass(frozen=True)
class _Filter:
    field: str
    op: str
    values: tuple[Any, ...]
    test: Callable[[Any], bool]


def _key(fd: FieldDef | None, value: Any) -> Any:
    """A value in comparable form for its field type."""
    if value is None:
        return None
    kind = fd.type if fd else "text"
    if kind in NUMERIC or kind == "number" or kind in TEMPORAL:
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if kind == "true_or_false":
        return str(value).lower() in ("true", "1")
    return str(value)


def _many(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _compile(raw: Any, layout: dict[str, FieldDef]) -> _Filter:
    if not isinstance(raw, dict):
        raise _bad("filters 的每一项应为对象 {field_name, operator, field_values}")
    name, op, values = raw.get("field_name"), str(raw.get("operator", "")).upper(), raw.get("field_values")
    op = _ALIASES.get(op, op)
    if not isinstance(name, str) or not name:
        raise _bad("filter field_name is missing")
    if op not in OPERATORS:
        raise _bad(f"filter operator {raw.get('operator')!r} is not supported")
    if values is None and op in ("IS", "ISN"):
        values = []
    if not isinstance(values, list):
        raise _bad(f"field_values of {name} must be a list")
    fd = layout.get(name)
    if fd is None and name not in layout:
        raise _bad(f"字段 {name} 不存在")
    keys = [_key(fd, v) for v in values]
    if op in ("BETWEEN", "NBETWEEN") and len(keys) != 2:
        raise _bad(f"{op} on {name} needs two field_values")
    if op in ("EQ", "N", "GT", "GTE", "LT", "LTE", "LIKE", "NLIKE", "STARTWITH", "ENDWITH") and not keys:
        raise _bad(f"{op} on {name} needs a value")

    def any_of(rec_value: Any, pred: Callable[[Any], bool]) -> bool:
        return any(pred(_key(fd, v)) for v in _many(rec_value) if v is not None)

    first = keys[0] if keys else None

    def cmp(pred: Callable[[Any, Any], bool]) -> Callable[[Any], bool]:
        def test(v: Any) -> bool:
            return any_of(v, lambda k: k is not None and first is not None and type(k) is type(first)
                          and pred(k, first))
        return test

    text = [str(v) for v in values]
    tests: dict[str, Callable[[Any], bool]] = {
        "EQ": lambda v: any_of(v, lambda k: k == first),
        "N": lambda v: not any_of(v, lambda k: k == first),  # N also matches empty fields
        "GT": cmp(lambda a, b: a > b), "GTE": cmp(lambda a, b: a >= b),
        "LT": cmp(lambda a, b: a < b), "LTE": cmp(lambda a, b: a <= b),
        "IN": lambda v: any_of(v, lambda k: k in keys), "HASANYOF": lambda v: any_of(v, lambda k: k in keys),
        "NIN": lambda v: not any_of(v, lambda k: k in keys), "NHASANYOF": lambda v: not any_of(v, lambda k: k in keys),
        "LIKE": lambda v: any_of(v, lambda k: any(t in str(k) for t in text)),
        "CONTAINS": lambda v: any_of(v, lambda k: any(t in str(k) for t in text)),
        "NLIKE": lambda v: not any_of(v, lambda k: any(t in str(k) for t in text)),
        "STARTWITH": lambda v: any_of(v, lambda k: str(k).startswith(text[0])),
        "ENDWITH": lambda v: any_of(v, lambda k: str(k).endswith(text[0])),
        "IS": lambda v: v is None or v == [] or v == "",
        "ISN": lambda v: not (v is None or v == [] or v == ""),
        "BETWEEN": lambda v: any_of(v, lambda k: k is not None and _between(k, keys)),
        "NBETWEEN": lambda v: not any_of(v, lambda k: k is not None and _between(k, keys)),
    }
    return _Filter(name, op, tuple(keys), tests[op])


def _between(k: Any, keys: list[Any]) -> bool:
    lo, hi = keys
    try:
        return bool(lo <= k <= hi)
    except TypeError:
        return False


def _int_arg(info: dict[str, Any], name: str, default: int) -> int:
    value = info.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).lstrip("-").isdigit():
        raise _bad(f"search_query_info.{name} must be an integer")
    return int(value)


def run_query(store: FxiaokeStore, obj: str, data: dict[str, Any], include_null: bool,
              count_total: bool, only_owner: str | None = None) -> dict[str, Any]:
    """The `data` of a query answer: {dataList, offset, limit, total}. Raises QueryError.

    `only_owner`: the operator is no CRM admin and sees only the records it owns; the result shrinks
    silently, as on the real service (docs/crm-fxiaoke.md §14, "missed records").
    """
    info = data.get("search_query_info")
    if info is None:
        info = {}
    if not isinstance(info, dict):
        raise _bad("search_query_info must be an object")
    limit, offset = _int_arg(info, "limit", 20), _int_arg(info, "offset", 0)
    if limit < 1 or limit > MAX_LIMIT:
        raise _bad(f"limit 取值范围为1-{MAX_LIMIT}")
    if offset < 0 or offset % limit:
        raise _bad("offset 必须是 limit 的整数倍")
    if offset > MAX_OFFSET:
        raise QueryError(dict(OFFSET_ERROR))
    layout = store.schema.fields[obj]
    raw_filters = info.get("filters") or []
    if not isinstance(raw_filters, list):
        raise _bad("search_query_info.filters must be a list")
    filters = [_compile(f, layout) for f in raw_filters]
    if only_owner is not None and "owner" in layout:
        filters.append(_compile({"field_name": "owner", "operator": "EQ", "field_values": [only_owner]}, layout))
    orders = _orders(info.get("orders"), layout)
    projection = _projection(info.get("fieldProjection"), layout)
    with store.lock:
        page, total = _select(store, obj, filters, orders, offset, limit, count_total)
        rows = [_render(rec, layout, projection, include_null) for rec in page]
    return {"dataList": rows, "offset": offset, "limit": limit, "total": total}


def _orders(raw: Any, layout: dict[str, FieldDef]) -> list[tuple[str, bool]]:
    if raw is None:
        return [("last_modified_time", False)]
    if not isinstance(raw, list):
        raise _bad("search_query_info.orders must be a list")
    out = []
    for order in raw:
        if not isinstance(order, dict) or order.get("fieldName") not in layout:
            raise _bad(f"order {order!r}: fieldName must name a field of the object")
        out.append((str(order["fieldName"]), order.get("isAsc", True) is not False))
    return out


def _projection(raw: Any, layout: dict[str, FieldDef]) -> list[str] | None:
    if raw is None or raw == []:
        return None
    if not isinstance(raw, list) or not all(isinstance(f, str) for f in raw):
        raise _bad("fieldProjection must be a list of field api names")
    return [f for f in raw if f in layout or f.endswith("__r")]


def _select(store: FxiaokeStore, obj: str, filters: list[_Filter], orders: list[tuple[str, bool]],
            offset: int, limit: int, count_total: bool) -> tuple[list[dict[str, Any]], int]:
    records = store.records[obj]
    if orders == [("_id", True)] and not count_total:
        # deep paging: start after the `_id GT` cursor and stop once the page is full
        start = [f for f in filters if f.field == "_id" and f.op in ("GT", "GTE")]
        ids: Iterable[str] = store.sorted_ids(obj)
        if start:
            ids = store.ids_after(obj, str(max(f.values[0] for f in start)), start[0].op == "GTE")
        rest = [f for f in filters if f not in start]
        page, skipped = [], 0
        for rid in ids:
            rec = records[rid]
            if all(f.test(rec.get(f.field)) for f in rest):
                if skipped < offset:
                    skipped += 1
                    continue
                page.append(rec)
                if len(page) == limit:
                    break
        return page, 0
    matched = [rec for rec in records.values() if all(f.test(rec.get(f.field)) for f in filters)]
    layout = store.schema.fields[obj]
    matched.sort(key=lambda r: r["_id"])
    for name, asc in reversed(orders):  # stable sorts, last key first; empty values sort first
        fd = layout.get(name)
        matched.sort(key=lambda r, n=name, d=fd: _sort_key(d, r.get(n)), reverse=not asc)  # type: ignore[misc]
    return matched[offset: offset + limit], (len(matched) if count_total else 0)


def _sort_key(fd: FieldDef | None, value: Any) -> tuple[int, Any]:
    key = _key(fd, value[0] if isinstance(value, list) and value else value)
    if key is None:
        return (0, 0)
    return (1, key) if isinstance(key, float | bool) else (2, key)


def _render(rec: dict[str, Any], layout: dict[str, FieldDef], projection: list[str] | None,
            include_null: bool) -> dict[str, Any]:
    if projection is None:
        names: Iterable[str] = layout if include_null else rec
    else:
        names = ["_id", *projection]
    out: dict[str, Any] = {}
    for name in names:
        value = rec.get(name)
        if value is not None or include_null:
            out[name] = value
    if projection is None:
        for key in _SYSTEM_KEYS:
            out[key] = rec.get(key)
    return out
