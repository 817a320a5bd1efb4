"""Canonical account and deal fields (DESIGN.md §4) and how a raw value becomes one.

Two readers share one set of rules: `read_value` is strict and raises `ValueError` (used for CSV
files, where a person must fix the cell), and `coerce_value` is tolerant and turns whatever it cannot
read into `UNREADABLE` (used for records the connector already mapped), so scoring never raises.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Final

from scoring.numbers import NumberError, parse_number

__all__ = [
    "EMPTY_PLACEHOLDERS",
    "ACCOUNT_FIELDS",
    "DEAL_FIELDS",
    "UNREADABLE",
    "FieldKind",
    "coerce_value",
    "read_value",
]


class FieldKind(Enum):
    """How a canonical field is stored in a batch column."""

    TEXT = "text"
    CATEGORY = "category"  # text with few distinct values (a country, a picklist): dictionary-encoded
    NUMBER = "number"
    DATE = "date"
    BOOL = "bool"


class _Unreadable:
    """Marker for a value that was present but could not be read as its field's kind."""

    _instance: _Unreadable | None = None

    def __new__(cls) -> _Unreadable:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNREADABLE"


UNREADABLE: Final = _Unreadable()
# What people type into a field instead of leaving it empty; the sync and `riskbridge score` both read
# these as empty (casefolded, stripped).
EMPTY_PLACEHOLDERS: Final = frozenset({"", "-", "--", "—", "n/a", "na", "n.a.", "none", "null", "pending", "tbd",
                                       "unknown", "?"})

_T, _C, _N, _D, _B = FieldKind.TEXT, FieldKind.CATEGORY, FieldKind.NUMBER, FieldKind.DATE, FieldKind.BOOL

ACCOUNT_FIELDS: Final[dict[str, FieldKind]] = {
    "id": _T, "name": _T, "owner_id": _T, "country": _C, "industry": _C, "currency": _C,
    "annual_revenue": _N,
    "bureau_score": _N, "bureau_rating": _C, "internal_rating": _N, "credit_limit": _N,
    "payment_terms_days": _N,
    "current_assets": _N, "current_liabilities": _N, "inventory": _N, "total_assets": _N,
    "total_liabilities": _N, "net_income": _N, "operating_cash_flow": _N, "audit_opinion": _C,
    "statement_date": _D,
    "open_receivables": _N, "overdue_amount": _N, "max_days_past_due": _N, "avg_days_late": _N,
    "disputes_12m": _N, "complaints_12m": _N, "customer_since": _D,
    "sanctions_hit": _B, "insolvency": _B,
    "override_tier": _C, "override_reason": _T, "override_until": _D,
}

DEAL_FIELDS: Final[dict[str, FieldKind]] = {
    "id": _T, "account_id": _T, "name": _T, "owner_id": _T, "amount": _N, "stage": _C,
    "close_date": _D, "probability": _N, "payment_terms_days": _N, "is_closed": _B, "is_won": _B,
}

_TRUE = frozenset({"true", "yes", "y", "1", "t", "x"})
_FALSE = frozenset({"false", "no", "n", "0", "f"})


def _read_number(value: object) -> float:
    if isinstance(value, bool):  # a checkbox in a number column is a mapping mistake, not 1.0
        raise ValueError("a true/false value is not a number")
    if isinstance(value, int | float | Decimal):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = parse_number(value)  # the same reader as sync's `number` transform
        except NumberError as exc:
            why = "" if str(exc) == NumberError.GENERIC else f": it {exc}"
            raise ValueError(f"cannot read {value!r} as a number{why}") from None
    else:
        raise ValueError(f"cannot read a {type(value).__name__} as a number")
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _read_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text).date()
        except ValueError:
            raise ValueError(f"cannot read {value!r} as an ISO date (YYYY-MM-DD)") from None
    raise ValueError(f"cannot read a {type(value).__name__} as a date")


def _read_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(f"cannot read {value!r} as true/false")


def _read_text(value: object) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool | int | float | Decimal):
        return str(value)
    raise ValueError(f"cannot read a {type(value).__name__} as text")


_READERS = {_T: _read_text, _C: _read_text, _N: _read_number, _D: _read_date, _B: _read_bool}


def read_value(kind: FieldKind, value: object) -> object:
    """The value as `kind`, or None when empty; raises `ValueError` saying why it cannot be read."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    result = _READERS[kind](value)
    return None if result == "" else result


def coerce_value(kind: FieldKind, value: object) -> object:
    """Like `read_value`, but a value that cannot be read becomes `UNREADABLE` instead of raising."""
    try:
        return read_value(kind, value)
    except ValueError:
        return UNREADABLE
