"""Typed numpy columns from source columns: whole columns at once, falling back to the mapping's
transforms value by value only where a column holds text that pyarrow cannot convert. A value that
cannot be read marks its row bad (with the reason); it never stops the read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connector.transforms import Unconvertible, boolean, number, to_date

__all__ = ["NO_DATE", "as_bool", "as_codes", "as_days", "as_float", "as_text"]

NO_DATE = np.iinfo(np.int64).max  # an empty date (an open item's clearing date) sorts after every real one
_EPOCH = np.datetime64("1970-01-01", "D")


def _fallback(values: pa.Array, convert: Callable[[Any], Any], what: str,
              ) -> tuple[list[Any], dict[int, str]]:
    out: list[Any] = []
    bad: dict[int, str] = {}
    for i, v in enumerate(values.to_pylist()):
        try:
            out.append(convert(v))
        except (Unconvertible, ValueError) as exc:
            out.append(None)
            bad[i] = f"{what}: {exc}"
    return out, bad


def as_float(values: pa.Array, what: str) -> tuple[np.ndarray, dict[int, str]]:
    """float64 with NaN for empty cells, and the rows whose text is not a number."""
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type) or pa.types.is_decimal(values.type):
        return values.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64, copy=False), {}
    if pa.types.is_null(values.type):
        return np.full(len(values), np.nan), {}
    try:
        return pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), {}
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out, bad = _fallback(values, number, what)
        return np.array([np.nan if v is None else v for v in out], dtype=np.float64), bad


def as_days(values: pa.Array, what: str) -> tuple[np.ndarray, dict[int, str]]:
    """Days since 1970-01-01 as int64, `NO_DATE` for empty cells, and the rows whose text is no date."""
    t = values.type
    if pa.types.is_timestamp(t):
        values = pc.cast(values, pa.date32())
        t = values.type
    if pa.types.is_date32(t) or pa.types.is_date64(t):
        days = pc.cast(values, pa.date32()).cast(pa.int32()).fill_null(-1).to_numpy(zero_copy_only=False)
        out = days.astype(np.int64)
        out[np.asarray(values.is_null().to_numpy(zero_copy_only=False))] = NO_DATE
        return out, {}
    if pa.types.is_null(t):
        return np.full(len(values), NO_DATE, dtype=np.int64), {}
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            parsed = pc.strptime(values, format="%Y-%m-%d", unit="s", error_is_null=False)
            return as_days(parsed, what)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    out_list, bad = _fallback(values, to_date, what)
    out = np.array([NO_DATE if d is None else int((np.datetime64(d, "D") - _EPOCH) // np.timedelta64(1, "D")) for d in out_list],
                   dtype=np.int64)
    return out, bad


def as_bool(values: pa.Array, what: str) -> tuple[np.ndarray, dict[int, str]]:
    """True/False with empty as False (no dispute flagged), and the rows whose text is no yes/no."""
    if pa.types.is_boolean(values.type):
        return values.fill_null(False).to_numpy(zero_copy_only=False).astype(bool), {}
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        return (values.fill_null(0).to_numpy(zero_copy_only=False) != 0), {}
    out, bad = _fallback(values, boolean, what)
    return np.array([bool(v) for v in out], dtype=bool), bad


def as_text(values: pa.Array) -> list[str | None]:
    return [None if v is None else str(v) for v in values.to_pylist()]


def as_codes(values: pa.Array) -> tuple[np.ndarray, list[Any]]:
    """Dictionary codes (int64, -1 for empty) and the distinct values, in first-seen order."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = pc.cast(values, pa.string()) if not pa.types.is_null(values.type) else \
            pa.array([None] * len(values), pa.string())
    encoded = pc.dictionary_encode(values)
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()
