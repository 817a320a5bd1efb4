"""How the state store turns rows and values into bulk statement parameters, and merges JSON in the database.

These run for every record of a sync, so they avoid per-row lookups and JSON round trips where the result
is provably the same."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import JSON, bindparam, cast, func, literal
from sqlalchemy.dialects.postgresql import JSONB

from connector.tables import Base

__all__ = ["as_stored", "merged_json", "row_columns"]

_COLUMN_SPECS: dict[type[Base], Callable[[Base], dict[str, Any]]] = {}


def row_columns(model: type[Base]) -> Callable[[Base], dict[str, Any]]:
    """A function turning a row of `model` into a dict for a bulk statement, with the column defaults an ORM
    flush would have applied. The columns and defaults are looked up once per model, and values are read
    from the instance's dict: this runs for every row of a sync."""
    spec = _COLUMN_SPECS.get(model)
    if spec is not None:
        return spec
    table: Any = model.__table__
    mapper: Any = model.__mapper__
    names = [(mapper.get_property_by_column(c).key, c.name, c.default) for c in table.columns]

    def columns(row: Base) -> dict[str, Any]:
        state = row.__dict__
        values = {}
        for key, name, default in names:
            value = state[key] if key in state else getattr(row, key)  # an expired attribute loads
            if value is None and default is not None:
                value = default.arg if default.is_scalar else default.arg({}) if default.is_callable else None
            values[name] = value
        return values

    _COLUMN_SPECS[model] = columns
    return columns


_SCALARS = frozenset({str, int, float, bool, type(None)})


def as_stored(values: dict[str, Any]) -> dict[str, Any]:
    """Values as the JSON column will hand them back (dates and datetimes as `str()` gives them).

    A flat dict of plain scalars and dates (a canonical record's values) is converted directly; anything
    else takes the JSON round trip. Both give the same dict: this runs for every deal of a sync."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        kind = type(value)
        if kind in _SCALARS and type(key) is str and (kind is not float or value == value):  # NaN: the trip
            out[key] = value
        elif isinstance(value, date) and type(key) is str:
            out[key] = str(value)  # what json.dumps(default=str) writes for a date or datetime
        else:
            return dict(json.loads(json.dumps(values, default=str)))
    return out


def merged_json(dialect: str, column: Any, names: tuple[str, ...]) -> Any:
    """`column` (a JSON object) with the keys `names` set from the parameters of an executemany, as
    ``{**column, **patch}`` would (a null value is kept as null): ``b_patch`` (a dict) on PostgreSQL,
    ``b_v0``, ``b_v1``, ... (the values' JSON texts, in the order of `names`) on SQLite."""
    if dialect == "sqlite":
        pairs: list[Any] = []
        for i, name in enumerate(names):
            pairs += [literal(f'$."{name}"'), func.json(bindparam(f"b_v{i}"))]
        return func.json_set(column, *pairs)
    return cast(cast(column, JSONB).op("||")(bindparam("b_patch", type_=JSONB)), JSON)
