"""Features: the measurable facts a scorecard bins, computed for a whole batch at once.

Each feature yields a value per record plus a *state*: `value` when it could be computed, or a
special state that gets its own bin in the scorecard instead of raising:

    missing           an input is absent
    invalid           an input is unreadable or absurd (negative assets, a statement dated in the future)
    zero_denominator  a ratio of two zeros (an empty balance sheet, nothing owed and no limit)
    negative_equity   debts exceed total assets
    unknown           a category the scorecard's tables do not list (a country not in the table)

A ratio with a zero denominator and a non-zero numerator is a value: +inf or -inf, which lands in
the outermost bin; that keeps every feature monotone in each of its inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import numpy as np

from scoring.batch import Batch

__all__ = [
    "AUDIT_OPINIONS",
    "AUDIT_SYNONYMS",
    "FEATURES",
    "STATES",
    "Feature",
    "FeatureSpec",
    "Lookups",
    "compute_features",
    "exposure",
    "fold_country",
    "fold_industry",
    "fold_opinion",
    "fold_rating",
]

VALUE, MISSING, INVALID, ZERO_DENOMINATOR, NEGATIVE_EQUITY, UNKNOWN = range(6)
STATES: tuple[str, ...] = ("value", "missing", "invalid", "zero_denominator", "negative_equity", "unknown")

AUDIT_OPINIONS: tuple[str, ...] = ("unqualified", "qualified", "adverse", "disclaimer")
# ISA 700 calls a clean opinion "unmodified"; CRMs also hold the long forms.
AUDIT_SYNONYMS: dict[str, str] = {
    "unqualified": "unqualified", "unmodified": "unqualified", "clean": "unqualified",
    "unqualified opinion": "unqualified", "qualified": "qualified", "qualified opinion": "qualified",
    "adverse": "adverse", "adverse opinion": "adverse", "disclaimer": "disclaimer",
    "disclaimer of opinion": "disclaimer",
}
_EARLIEST = np.datetime64("1900-01-01", "D")  # a date before this is a typo, not a fact
_DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class FeatureSpec:
    """What a feature is, for validating scorecards against it; `direction` +1 means higher is safer."""

    name: str
    kind: Literal["numeric", "categorical"]
    states: tuple[str, ...]
    inputs: tuple[str, ...]
    description: str
    direction: int = 0
    categories: tuple[str, ...] = ()  # a fixed vocabulary; empty when it comes from a scorecard table
    category_rank: dict[str, int] = field(default_factory=dict)  # 0 = best; equal ranks are unordered
    table: str | None = None  # the scorecard table that maps inputs to classes
    # Where a special state must score, for the feature to stay monotone in its inputs:
    zero_between: tuple[float | None, float | None] | None = None  # (worse value, better value); None: open
    negative_equity_at_most: float | None = None  # never more points than this value's bin
    flat_below_zero: bool = False  # every negative value must score the same


_NUM = ("missing", "invalid")
_RATIO = ("missing", "invalid", "zero_denominator")
_CAT = ("missing", "unknown")
INF = float("inf")

FEATURES: dict[str, FeatureSpec] = {
    spec.name: spec
    for spec in (
        FeatureSpec("bureau_score", "numeric", _NUM, ("bureau_score", "bureau_rating"),
                    "bureau score 0-100, or the rating letter on the same scale; the worse if both", 1),
        FeatureSpec("internal_rating", "numeric", _NUM, ("internal_rating",), "internal rating, 1 best, 10 worst", -1),
        FeatureSpec("credit_utilisation", "numeric", _RATIO, ("open_receivables", "credit_limit"),
                    "(open receivables + probability-weighted open deals) / credit limit", -1,
                    zero_between=(INF, 0.0)),
        FeatureSpec("current_ratio", "numeric", _RATIO, ("current_assets", "current_liabilities"),
                    "current assets / current liabilities", 1, zero_between=(0.0, INF)),
        FeatureSpec("quick_ratio", "numeric", _RATIO, ("current_assets", "inventory", "current_liabilities"),
                    "(current assets - inventory) / current liabilities", 1, zero_between=(0.0, INF)),
        FeatureSpec("debt_to_asset", "numeric", (*_RATIO, "negative_equity"), ("total_liabilities", "total_assets"),
                    "total liabilities / total assets", -1, zero_between=(INF, 0.0), negative_equity_at_most=1.0),
        FeatureSpec("net_margin", "numeric", _RATIO, ("net_income", "annual_revenue"),
                    "net income / annual revenue", 1),
        FeatureSpec("ocf_to_liabilities", "numeric", _RATIO, ("operating_cash_flow", "total_liabilities"),
                    "operating cash flow / total liabilities", 1, zero_between=(0.0, INF), flat_below_zero=True),
        FeatureSpec("audit_opinion", "categorical", _CAT, ("audit_opinion",), "the auditor's opinion",
                    categories=AUDIT_OPINIONS,
                    category_rank={"unqualified": 0, "qualified": 1, "adverse": 2, "disclaimer": 2}),
        FeatureSpec("statement_age_days", "numeric", _NUM, ("statement_date",),
                    "days from the financial statement date to the assessment date", -1),
        FeatureSpec("overdue_ratio", "numeric", _RATIO, ("overdue_amount", "open_receivables"),
                    "overdue amount / open receivables", -1, zero_between=(1.0, None)),
        FeatureSpec("max_days_past_due", "numeric", _NUM, ("max_days_past_due",),
                    "days the oldest unpaid invoice is past due", -1),
        FeatureSpec("avg_days_late", "numeric", _NUM, ("avg_days_late",), "average days paid after the due date", -1),
        FeatureSpec("incidents_per_year", "numeric", _NUM, ("disputes_12m", "complaints_12m", "customer_since"),
                    "disputes and complaints in the last 12 months, annualised for customers younger than a year",
                    -1),
        FeatureSpec("tenure_years", "numeric", _NUM, ("customer_since",), "years since the customer's first order", 1),
        FeatureSpec("country_risk", "categorical", _CAT, ("country",), "risk class of the country (ISO alpha-2)",
                    table="countries"),
        FeatureSpec("industry_risk", "categorical", _CAT, ("industry",), "risk class of the industry",
                    table="industries"),
    )
}


@dataclass(frozen=True)
class Feature:
    """One feature for a batch: `values` (float, or a category code) and a `state` code per record."""

    values: np.ndarray
    state: np.ndarray
    vocabulary: tuple[str, ...] = ()  # for categorical features: what the codes in `values` mean


@dataclass(frozen=True)
class Lookups:
    """The scorecard's tables, keyed by folded text (see the `fold_*` functions)."""

    ratings: dict[str, float]  # bureau rating -> 0-100, higher is safer
    countries: dict[str, int]  # ISO code -> index into country_classes
    country_classes: tuple[str, ...]
    industries: dict[str, int]  # industry -> index into industry_classes
    industry_classes: tuple[str, ...]


def fold_rating(text: str) -> str:
    return text.replace(" ", "").upper()


def fold_country(text: str) -> str:
    return text.upper()


def fold_industry(text: str) -> str:
    return text.lower()


def fold_opinion(text: str) -> str:
    return text.lower()


def _states(n: int, *, missing: np.ndarray, invalid: np.ndarray,
            zero: np.ndarray | None = None, negative_equity: np.ndarray | None = None) -> np.ndarray:
    # Later assignments win: invalid beats missing beats negative equity beats zero denominator.
    state = np.zeros(n, dtype=np.int8)
    if zero is not None:
        state[zero] = ZERO_DENOMINATOR
    if negative_equity is not None:
        state[negative_equity] = NEGATIVE_EQUITY
    state[missing] = MISSING
    state[invalid] = INVALID
    return state


class _Inputs:
    """Reads batch columns as (values, missing, invalid) triples."""

    def __init__(self, batch: Batch, as_of: date) -> None:
        self.batch = batch
        self.n = len(batch)
        self.as_of = np.datetime64(as_of, "D")

    def number(self, name: str, *, low: float | None = None, high: float | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        values = self.batch.column(name)
        bad = self.batch.bad(name)
        missing = np.isnan(values) & ~bad
        invalid = bad.copy()
        if low is not None:
            invalid |= values < low
        if high is not None:
            invalid |= values > high
        return values, missing, invalid

    def days_before_as_of(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        dates = self.batch.column(name)
        bad = self.batch.bad(name)
        nat = np.isnat(dates)
        days = (self.as_of - dates).astype(np.float64)
        days[nat] = np.nan
        invalid = bad | (~nat & ((days < 0) | (dates < _EARLIEST)))
        return days, nat & ~bad, invalid

    def category(self, name: str, fold: Callable[[str], str], table: Mapping[str, object]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(position of the table entry or -1, found, missing, unreadable), looked up per distinct value."""
        codes, vocabulary = self.batch.categories(name)
        bad = self.batch.bad(name)
        position = {k: i for i, k in enumerate(table)}
        by_code = np.array([position.get(fold(v), -1) if v else -1 for v in vocabulary], dtype=np.intp)
        index = by_code[codes]
        return index, index >= 0, (codes == 0) & ~bad, bad


def _ratio(inp: _Inputs, num: np.ndarray, den: np.ndarray, missing: np.ndarray, invalid: np.ndarray, *,
           zero: np.ndarray | None = None, negative_equity: np.ndarray | None = None) -> Feature:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # x/0 -> inf is meant
        values = num / den
    zero = (num == 0) & (den == 0) if zero is None else zero
    state = _states(inp.n, missing=missing, invalid=invalid, zero=zero, negative_equity=negative_equity)
    return Feature(np.where(state == VALUE, values, np.nan), state)


def _plain(inp: _Inputs, values: np.ndarray, missing: np.ndarray, invalid: np.ndarray) -> Feature:
    state = _states(inp.n, missing=missing, invalid=invalid)
    return Feature(np.where(state == VALUE, values, np.nan), state)


def _bureau_score(inp: _Inputs, lk: Lookups) -> Feature:
    score, s_missing, s_invalid = inp.number("bureau_score", low=0.0, high=100.0)
    index, found, r_missing, r_bad = inp.category("bureau_rating", fold_rating, lk.ratings)
    rating = np.array([*lk.ratings.values(), np.nan])[index]  # index -1 picks the NaN
    s_ok = ~s_missing & ~s_invalid
    r_invalid = r_bad | (~r_missing & ~found)
    # The worse of the two readings: a bureau that is worried outweighs one that is not.
    values = np.fmin(np.where(s_ok, score, np.nan), rating)
    neither = ~s_ok & ~found
    return _plain(inp, values, neither & ~(s_invalid | r_invalid), neither & (s_invalid | r_invalid))


def _internal_rating(inp: _Inputs, lk: Lookups) -> Feature:
    return _plain(inp, *inp.number("internal_rating", low=1.0, high=10.0))


def _current_ratio(inp: _Inputs, lk: Lookups) -> Feature:
    ca, ca_m, ca_i = inp.number("current_assets", low=0.0)
    cl, cl_m, cl_i = inp.number("current_liabilities", low=0.0)
    return _ratio(inp, ca, cl, ca_m | cl_m, ca_i | cl_i)


def _quick_ratio(inp: _Inputs, lk: Lookups) -> Feature:
    ca, ca_m, ca_i = inp.number("current_assets", low=0.0)
    stock, st_m, st_i = inp.number("inventory", low=0.0)
    cl, cl_m, cl_i = inp.number("current_liabilities", low=0.0)
    # Inventory above current assets is inconsistent data; read it as no quick assets at all.
    quick = np.maximum(ca - stock, 0.0)
    return _ratio(inp, quick, cl, ca_m | st_m | cl_m, ca_i | st_i | cl_i)


def _debt_to_asset(inp: _Inputs, lk: Lookups) -> Feature:
    tl, tl_m, tl_i = inp.number("total_liabilities", low=0.0)
    ta, ta_m, ta_i = inp.number("total_assets", low=0.0)
    return _ratio(inp, tl, ta, tl_m | ta_m, tl_i | ta_i, negative_equity=tl > ta)


def _net_margin(inp: _Inputs, lk: Lookups) -> Feature:
    ni, ni_m, ni_i = inp.number("net_income")
    rev, rev_m, rev_i = inp.number("annual_revenue", low=0.0)
    # No revenue at all is a zero denominator whatever the income, not a +/-inf margin.
    return _ratio(inp, ni, rev, ni_m | rev_m, ni_i | rev_i, zero=rev == 0)


def _ocf_to_liabilities(inp: _Inputs, lk: Lookups) -> Feature:
    ocf, ocf_m, ocf_i = inp.number("operating_cash_flow")
    tl, tl_m, tl_i = inp.number("total_liabilities", low=0.0)
    return _ratio(inp, ocf, tl, ocf_m | tl_m, ocf_i | tl_i)


def _audit_opinion(inp: _Inputs, lk: Lookups) -> Feature:
    index, found, missing, bad = inp.category("audit_opinion", fold_opinion, AUDIT_SYNONYMS)
    opinion = np.array([AUDIT_OPINIONS.index(o) for o in AUDIT_SYNONYMS.values()] + [-1])[index]
    return _classed(opinion, found, missing, bad, AUDIT_OPINIONS)


def _statement_age_days(inp: _Inputs, lk: Lookups) -> Feature:
    return _plain(inp, *inp.days_before_as_of("statement_date"))


def _overdue_ratio(inp: _Inputs, lk: Lookups) -> Feature:
    od, od_m, od_i = inp.number("overdue_amount", low=0.0)
    ar, ar_m, ar_i = inp.number("open_receivables", low=0.0)
    # Overdue is part of open receivables; if the ledger says otherwise, the overdue amount is the floor.
    return _ratio(inp, od, np.fmax(ar, od), od_m | ar_m, od_i | ar_i)


def _max_days_past_due(inp: _Inputs, lk: Lookups) -> Feature:
    return _plain(inp, *inp.number("max_days_past_due", low=0.0))


def _avg_days_late(inp: _Inputs, lk: Lookups) -> Feature:
    return _plain(inp, *inp.number("avg_days_late"))  # negative means paying early


def _tenure(inp: _Inputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    days, missing, invalid = inp.days_before_as_of("customer_since")
    return days / _DAYS_PER_YEAR, missing, invalid


def _incidents_per_year(inp: _Inputs, lk: Lookups) -> Feature:
    disputes, d_m, d_i = inp.number("disputes_12m", low=0.0)
    complaints, c_m, c_i = inp.number("complaints_12m", low=0.0)
    years, t_m, t_i = _tenure(inp)
    # A young customer's count covers less than 12 months; annualise, but not from under a quarter.
    span = np.where(t_m | t_i, 1.0, np.clip(years, 0.25, 1.0))
    with np.errstate(over="ignore"):  # absurd counts overflow to inf: still "very many", the worst bin
        rate = (np.nan_to_num(disputes) + np.nan_to_num(complaints)) / span
    return _plain(inp, rate, d_m & c_m, d_i | c_i)


def _tenure_years(inp: _Inputs, lk: Lookups) -> Feature:
    return _plain(inp, *_tenure(inp))


def _country_risk(inp: _Inputs, lk: Lookups) -> Feature:
    index, found, missing, bad = inp.category("country", fold_country, lk.countries)
    classes = np.array([*lk.countries.values(), -1])[index]
    return _classed(classes, found, missing, bad, lk.country_classes)


def _industry_risk(inp: _Inputs, lk: Lookups) -> Feature:
    index, found, missing, bad = inp.category("industry", fold_industry, lk.industries)
    classes = np.array([*lk.industries.values(), -1])[index]
    return _classed(classes, found, missing, bad, lk.industry_classes)


def _classed(codes: np.ndarray, found: np.ndarray, missing: np.ndarray, bad: np.ndarray,
             vocabulary: tuple[str, ...]) -> Feature:
    state = np.where(found, VALUE, UNKNOWN).astype(np.int8)
    state[missing] = MISSING
    state[bad] = UNKNOWN  # text that could not even be read is an unrecognised category
    return Feature(np.where(state == VALUE, codes, -1), state, vocabulary)


def _utilisation(pipeline: np.ndarray) -> Callable[[_Inputs, Lookups], Feature]:
    def compute(inp: _Inputs, lk: Lookups) -> Feature:
        ar, ar_m, ar_i = inp.number("open_receivables", low=0.0)
        limit, lim_m, lim_i = inp.number("credit_limit", low=0.0)
        # Without a receivables figure utilisation is unknown, whatever the pipeline: the pipeline alone
        # understates exposure, and letting a small deal turn "unknown" into "known and low" would make
        # a bigger deal lower the risk (non-monotone).
        exposure = np.nan_to_num(ar) + pipeline
        missing = ar_m | lim_m
        return _ratio(inp, exposure, limit, missing, ar_i | lim_i)

    return compute


_COMPUTE: dict[str, Callable[[_Inputs, Lookups], Feature]] = {
    "bureau_score": _bureau_score, "internal_rating": _internal_rating, "current_ratio": _current_ratio,
    "quick_ratio": _quick_ratio, "debt_to_asset": _debt_to_asset, "net_margin": _net_margin,
    "ocf_to_liabilities": _ocf_to_liabilities, "audit_opinion": _audit_opinion,
    "statement_age_days": _statement_age_days, "overdue_ratio": _overdue_ratio,
    "max_days_past_due": _max_days_past_due, "avg_days_late": _avg_days_late,
    "incidents_per_year": _incidents_per_year, "tenure_years": _tenure_years,
    "country_risk": _country_risk, "industry_risk": _industry_risk,
}


def compute_features(batch: Batch, lookups: Lookups, names: tuple[str, ...], *, as_of: date,
                     pipeline: np.ndarray | None = None) -> dict[str, Feature]:
    """The named features for every record; `pipeline` is each account's probability-weighted open deals."""
    inp = _Inputs(batch, as_of)
    weighted = np.zeros(len(batch)) if pipeline is None else pipeline
    out: dict[str, Feature] = {}
    for name in names:
        compute = _utilisation(weighted) if name == "credit_utilisation" else _COMPUTE[name]
        out[name] = compute(inp, lookups)
    return out


def exposure(batch: Batch, pipeline: np.ndarray | None = None) -> np.ndarray:
    """Open receivables plus probability-weighted open deals; NaN where neither is known."""
    raw = batch.column("open_receivables")
    ar = np.where(raw >= 0, raw, np.nan)  # a negative balance is unreadable, not a credit
    weighted = np.zeros(len(batch)) if pipeline is None else pipeline
    total = np.nan_to_num(ar) + weighted
    return np.where(np.isnan(ar) & (weighted == 0), np.nan, total)
