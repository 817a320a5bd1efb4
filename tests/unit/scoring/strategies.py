"""Hypothesis strategies for canonical accounts: clean ones, and ones full of junk."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st

AS_OF = date(2025, 6, 30)

RATINGS = ["A+", "A", "B", "BBB", "c", "D-", "E", "F"]
OPINIONS = ["unqualified", "Qualified", "adverse", "disclaimer", "unmodified"]
COUNTRIES = ["DE", "us", "TR", "RU", "FR", "ZZ", "IN"]
INDUSTRIES = ["Retail", "technology", "Food & Beverage", "Widgets", "Hospitality", "Utilities"]


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def _amount(low: float = 0.0, high: float = 1e7) -> st.SearchStrategy[float]:
    # Exact zeros matter: they exercise the zero-denominator and negative-equity states.
    return st.one_of(st.just(0.0), st.floats(low, high, allow_nan=False, allow_infinity=False))


def _day(start: date, end: date) -> st.SearchStrategy[date]:
    return st.integers(0, (end - start).days).map(lambda d: start + timedelta(days=d))


# Every field in its valid domain, or missing.
VALID_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "bureau_score": _maybe(st.floats(0, 100)),
    "bureau_rating": _maybe(st.sampled_from(RATINGS)),
    "internal_rating": _maybe(st.integers(1, 10)),
    "credit_limit": _maybe(_amount()),
    "current_assets": _maybe(_amount()),
    "current_liabilities": _maybe(_amount()),
    "inventory": _maybe(_amount()),
    "total_assets": _maybe(_amount()),
    "total_liabilities": _maybe(_amount()),
    "net_income": _maybe(_amount(-1e7, 1e7)),
    "annual_revenue": _maybe(_amount(0, 1e8)),
    "operating_cash_flow": _maybe(_amount(-1e7, 1e7)),
    "audit_opinion": _maybe(st.sampled_from(OPINIONS)),
    "statement_date": _maybe(_day(date(1950, 1, 1), AS_OF)),
    "open_receivables": _maybe(_amount()),
    "overdue_amount": _maybe(_amount()),
    "max_days_past_due": _maybe(st.integers(0, 400)),
    "avg_days_late": _maybe(st.floats(-30, 200)),
    "disputes_12m": _maybe(st.integers(0, 20)),
    "complaints_12m": _maybe(st.integers(0, 20)),
    "customer_since": _maybe(_day(date(1950, 1, 1), AS_OF)),
    "sanctions_hit": _maybe(st.booleans()),
    "insolvency": _maybe(st.booleans()),
    "country": _maybe(st.sampled_from(COUNTRIES)),
    "industry": _maybe(st.sampled_from(INDUSTRIES)),
}

valid_accounts = st.fixed_dictionaries({}, optional=VALID_FIELDS)

# Anything a badly mapped CRM field could hold.
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10**6, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", " ", "n/a", "12", "-4", "1e3", "2024-02-30", "2024-01-15", "9999-12-31", "true", "AA"]),
    _day(date(1800, 1, 1), date(2100, 1, 1)),
    st.lists(st.integers(), max_size=2),
)


def junk_accounts() -> st.SearchStrategy[dict[str, Any]]:
    """Accounts where any field may be valid, missing or junk, including override fields."""
    fields = {name: st.one_of(strategy, JUNK) for name, strategy in VALID_FIELDS.items()}
    fields["override_tier"] = st.one_of(st.sampled_from(["low", "HIGH", "critical", "bogus"]), JUNK)
    fields["override_until"] = st.one_of(_day(date(2024, 1, 1), date(2026, 12, 31)), JUNK)
    fields["override_reason"] = st.one_of(st.text(max_size=20), JUNK)
    return st.fixed_dictionaries({}, optional=fields)
