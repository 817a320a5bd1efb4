"""Features: each ratio, and the special states that replace exceptions."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np
import pytest

from scoring import Batch, default_scorecard
from scoring.features import STATES, compute_features
from scoring.fields import ACCOUNT_FIELDS

AS_OF = date(2025, 6, 30)


def feature(name: str, *accounts: dict[str, Any], pipeline: list[float] | None = None) -> list[tuple[str, Any]]:
    """(state, value) of one feature for each account."""
    batch = Batch.from_records(list(accounts), ACCOUNT_FIELDS)
    sc = default_scorecard()
    f = compute_features(batch, sc.lookups, (name,), as_of=AS_OF,
                         pipeline=None if pipeline is None else np.array(pipeline))[name]
    out: list[tuple[str, Any]] = []
    for state, value in zip(f.state, f.values, strict=True):
        if STATES[state] != "value":
            out.append((STATES[state], None))
        elif f.vocabulary:
            out.append(("value", f.vocabulary[int(value)]))
        else:
            out.append(("value", float(value)))
    return out


def test_current_and_quick_ratio() -> None:
    acc = {"current_assets": 300.0, "current_liabilities": 200.0, "inventory": 100.0}
    assert feature("current_ratio", acc) == [("value", 1.5)]
    assert feature("quick_ratio", acc) == [("value", 1.0)]
    # Inventory above current assets is inconsistent: no quick assets, not a negative ratio.
    assert feature("quick_ratio", {**acc, "inventory": 500.0}) == [("value", 0.0)]
    assert feature("quick_ratio", {**acc, "inventory": None}) == [("missing", None)]


def test_zero_denominators() -> None:
    assert feature("current_ratio", {"current_assets": 0, "current_liabilities": 0}) == [("zero_denominator", None)]
    # Assets with no short-term debts at all: the best possible ratio, not a special case.
    assert feature("current_ratio", {"current_assets": 5, "current_liabilities": 0}) == [("value", math.inf)]
    assert feature("net_margin", {"net_income": 10, "annual_revenue": 0}) == [("zero_denominator", None)]
    assert feature("overdue_ratio", {"overdue_amount": 0, "open_receivables": 0}) == [("zero_denominator", None)]
    assert feature("ocf_to_liabilities", {"operating_cash_flow": -5, "total_liabilities": 0}) == [("value", -math.inf)]


def test_negative_equity_and_leverage() -> None:
    assert feature("debt_to_asset", {"total_liabilities": 60, "total_assets": 100}) == [("value", 0.6)]
    assert feature("debt_to_asset", {"total_liabilities": 120, "total_assets": 100}) == [("negative_equity", None)]
    assert feature("debt_to_asset", {"total_liabilities": 1, "total_assets": 0}) == [("negative_equity", None)]
    assert feature("debt_to_asset", {"total_liabilities": 0, "total_assets": 0}) == [("zero_denominator", None)]


@pytest.mark.parametrize(("name", "account"), [
    ("current_ratio", {"current_assets": -1, "current_liabilities": 5}),
    ("current_ratio", {"current_assets": "lots", "current_liabilities": 5}),
    ("bureau_score", {"bureau_score": 101}),
    ("bureau_score", {"bureau_rating": "Z9"}),
    ("internal_rating", {"internal_rating": 0}),
    ("statement_age_days", {"statement_date": "2026-01-01"}),
    ("statement_age_days", {"statement_date": "1850-01-01"}),
    ("max_days_past_due", {"max_days_past_due": -1}),
    ("tenure_years", {"customer_since": "yesterday"}),
    ("credit_utilisation", {"open_receivables": 10, "credit_limit": -100}),
    ("incidents_per_year", {"disputes_12m": -2}),
])
def test_absurd_or_unreadable_values_are_invalid(name: str, account: dict[str, Any]) -> None:
    assert feature(name, account) == [("invalid", None)]


def test_missing_beats_nothing_and_invalid_beats_missing() -> None:
    assert feature("current_ratio", {"current_assets": 5}) == [("missing", None)]
    assert feature("current_ratio", {"current_assets": -5}) == [("invalid", None)]


def test_bureau_score_and_rating_share_one_scale_and_the_worse_wins() -> None:
    assert feature("bureau_score", {"bureau_score": 70}) == [("value", 70.0)]
    assert feature("bureau_score", {"bureau_rating": " a "}) == [("value", 92.0)]
    assert feature("bureau_score", {"bureau_rating": "b +"}) == [("value", 80.0)]
    assert feature("bureau_score", {"bureau_score": 95, "bureau_rating": "D"}) == [("value", 37.0)]
    assert feature("bureau_score", {"bureau_score": "n/a", "bureau_rating": "C"}) == [("value", 57.0)]
    assert feature("bureau_score", {}) == [("missing", None)]


def test_payment_history() -> None:
    assert feature("overdue_ratio", {"overdue_amount": 25, "open_receivables": 100}) == [("value", 0.25)]
    # More overdue than open is inconsistent; the overdue amount becomes the floor of what is open.
    assert feature("overdue_ratio", {"overdue_amount": 50, "open_receivables": 0}) == [("value", 1.0)]
    assert feature("tenure_years", {"customer_since": "2015-06-30"}) == [("value", pytest.approx(10.0, abs=0.01))]


def test_incidents_are_annualised_for_young_customers_only() -> None:
    old = {"disputes_12m": 2, "complaints_12m": 1, "customer_since": "2010-01-01"}
    assert feature("incidents_per_year", old) == [("value", 3.0)]
    half_year = {**old, "customer_since": "2024-12-30"}
    assert feature("incidents_per_year", half_year)[0][1] == pytest.approx(3.0 / (182 / 365.25))
    brand_new = {**old, "customer_since": "2025-06-29"}
    assert feature("incidents_per_year", brand_new) == [("value", 12.0)]  # a quarter is the shortest span
    assert feature("incidents_per_year", {"complaints_12m": 2}) == [("value", 2.0)]
    assert feature("incidents_per_year", {"customer_since": "2010-01-01"}) == [("missing", None)]


def test_exposure_adds_weighted_deals_to_receivables() -> None:
    acc = {"open_receivables": 50, "credit_limit": 100}
    assert feature("credit_utilisation", acc, pipeline=[30.0]) == [("value", 0.8)]
    # Without receivables utilisation stays unknown, deals or not (else a bigger deal could lower the risk).
    assert feature("credit_utilisation", {"credit_limit": 100}, pipeline=[30.0]) == [("missing", None)]
    assert feature("credit_utilisation", {"credit_limit": 100}) == [("missing", None)]
    assert feature("credit_utilisation", {"open_receivables": 0, "credit_limit": 0}) == [("zero_denominator", None)]
    assert feature("credit_utilisation", {"open_receivables": 5, "credit_limit": 0}) == [("value", math.inf)]


def test_categories_are_looked_up_ignoring_case() -> None:
    assert feature("country_risk", {"country": "de"}, {"country": "TR"}, {"country": "XX"}, {}) == [
        ("value", "low"), ("value", "high"), ("unknown", None), ("missing", None)]
    assert feature("industry_risk", {"industry": "food & beverage"}, {"industry": "Widgets"}) == [
        ("value", "moderate"), ("unknown", None)]
    assert feature("audit_opinion", {"audit_opinion": "Unmodified"}, {"audit_opinion": "disclaimer of opinion"},
                   {"audit_opinion": "fine"}) == [("value", "unqualified"), ("value", "disclaimer"), ("unknown", None)]


def test_statement_age_counts_days_to_as_of() -> None:
    assert feature("statement_age_days", {"statement_date": "2024-06-30"}) == [("value", 365.0)]
    assert feature("statement_age_days", {"statement_date": date(2025, 6, 30)}) == [("value", 0.0)]
