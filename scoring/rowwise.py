"""The same scorecard, scored one record at a time in plain Python.

Not used by the sync engine. It is written independently of the vectorised path, straight from
the scorecard's rules, and serves twice: as the oracle the vectorised path is tested against, and
as the per-row baseline `bench/bench_scoring.py` compares speed with.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from scoring.assessment import MAX_REASONS
from scoring.features import (
    AUDIT_OPINIONS,
    AUDIT_SYNONYMS,
    fold_country,
    fold_industry,
    fold_opinion,
    fold_rating,
)
from scoring.fields import ACCOUNT_FIELDS, EMPTY_PLACEHOLDERS, UNREADABLE, FieldKind, read_value
from scoring.scorecard import Scorecard
from scoring.scorecard_spec import TIERS, Characteristic

__all__ = ["RowResult", "assess_row"]

_EARLIEST = date(1900, 1, 1)


@dataclass(frozen=True)
class RowResult:
    """What the per-row path computes for one record."""

    bins: tuple[int, ...]
    points: tuple[float, ...]
    score: float
    pd: float
    risk_score: int
    model_tier: str
    tier: str
    knockouts: tuple[str, ...]
    reason_codes: tuple[str, ...]
    reason_ids: tuple[int, ...]


class _Row:
    """Reads one record's fields as (value, status) with status ok, missing or invalid."""

    def __init__(self, record: dict[str, object], as_of: date) -> None:
        self.record = record
        self.as_of = as_of

    def number(self, name: str, low: float | None = None, high: float | None = None) -> tuple[float, str]:
        value = self.record.get(name)
        if value is UNREADABLE:
            return math.nan, "invalid"
        if value is None:
            return math.nan, "missing"
        number = float(value)  # type: ignore[arg-type]
        if (low is not None and number < low) or (high is not None and number > high):
            return number, "invalid"
        return number, "ok"

    def days_ago(self, name: str) -> tuple[float, str]:
        value = self.record.get(name)
        if value is UNREADABLE:
            return math.nan, "invalid"
        if not isinstance(value, date):
            return math.nan, "missing"
        days = float((self.as_of - value).days)
        return days, "invalid" if days < 0 or value < _EARLIEST else "ok"

    def text(self, name: str) -> tuple[str, str]:
        value = self.record.get(name)
        if value is UNREADABLE:
            return "", "invalid"
        return (str(value), "ok") if value else ("", "missing")


def _combine(*statuses: str) -> str:
    if "invalid" in statuses:
        return "invalid"
    return "missing" if "missing" in statuses else "ok"


def _ratio(num: float, den: float, status: str, zero: bool | None = None) -> tuple[str, float]:
    if status != "ok":
        return status, math.nan
    if (num == 0 and den == 0) if zero is None else zero:
        return "zero_denominator", math.nan
    if den == 0:
        return "value", math.inf if num > 0 else -math.inf
    return "value", num / den


def _plain(value: float, status: str) -> tuple[str, object]:
    return ("value", value) if status == "ok" else (status, math.nan)


@functools.cache
def _tables(sc: Scorecard) -> dict[str, dict[str, object]]:
    """The scorecard's lookup tables with folded keys, built once per scorecard."""
    return {
        "ratings": {fold_rating(k): v for k, v in sc.spec.bureau_ratings.items()},
        "country_risk": {fold_country(k): v for k, v in sc.spec.countries.items()},
        "industry_risk": {fold_industry(k): v for k, v in sc.spec.industries.items()},
    }


def _feature(name: str, row: _Row, sc: Scorecard, pipeline: float) -> tuple[str, object]:
    """(state, value) of one feature for one record."""
    if name == "bureau_score":
        score, s_status = row.number("bureau_score", 0.0, 100.0)
        rating, r_status = row.text("bureau_rating")
        table = _tables(sc)["ratings"]
        readings: list[float] = [score] if s_status == "ok" else []
        key = fold_rating(rating)
        if r_status == "ok" and key in table:
            readings.append(float(table[key]))  # type: ignore[arg-type]
        elif r_status == "ok":
            r_status = "invalid"
        if readings:
            return "value", min(readings)
        return ("invalid", math.nan) if "invalid" in (s_status, r_status) else ("missing", math.nan)
    if name == "internal_rating":
        return _plain(*row.number("internal_rating", 1.0, 10.0))
    if name in ("current_ratio", "quick_ratio"):
        ca, s1 = row.number("current_assets", 0.0)
        cl, s2 = row.number("current_liabilities", 0.0)
        if name == "current_ratio":
            return _ratio(ca, cl, _combine(s1, s2))
        stock, s3 = row.number("inventory", 0.0)
        status = _combine(s1, s2, s3)
        return _ratio(max(ca - stock, 0.0) if status == "ok" else math.nan, cl, status)
    if name == "debt_to_asset":
        tl, s1 = row.number("total_liabilities", 0.0)
        ta, s2 = row.number("total_assets", 0.0)
        status = _combine(s1, s2)
        if status == "ok" and tl > ta:
            return "negative_equity", math.nan
        return _ratio(tl, ta, status)
    if name == "net_margin":
        ni, s1 = row.number("net_income")
        rev, s2 = row.number("annual_revenue", 0.0)
        return _ratio(ni, rev, _combine(s1, s2), zero=rev == 0)
    if name == "ocf_to_liabilities":
        ocf, s1 = row.number("operating_cash_flow")
        tl, s2 = row.number("total_liabilities", 0.0)
        return _ratio(ocf, tl, _combine(s1, s2))
    if name == "audit_opinion":
        text, status = row.text("audit_opinion")
        if status == "missing":
            return "missing", -1
        opinion = AUDIT_SYNONYMS.get(fold_opinion(text)) if status == "ok" else None
        return ("value", AUDIT_OPINIONS.index(opinion)) if opinion else ("unknown", -1)
    if name == "statement_age_days":
        return _plain(*row.days_ago("statement_date"))
    if name == "overdue_ratio":
        od, s1 = row.number("overdue_amount", 0.0)
        ar, s2 = row.number("open_receivables", 0.0)
        return _ratio(od, max(ar, od) if _combine(s1, s2) == "ok" else math.nan, _combine(s1, s2))
    if name == "max_days_past_due":
        return _plain(*row.number("max_days_past_due", 0.0))
    if name == "avg_days_late":
        return _plain(*row.number("avg_days_late"))
    if name == "incidents_per_year":
        d, s1 = row.number("disputes_12m", 0.0)
        c, s2 = row.number("complaints_12m", 0.0)
        days, s3 = row.days_ago("customer_since")
        if "invalid" in (s1, s2):
            return "invalid", math.nan
        if s1 == "missing" and s2 == "missing":
            return "missing", math.nan
        span = min(max(days / 365.25, 0.25), 1.0) if s3 == "ok" else 1.0
        count = (0.0 if s1 == "missing" else d) + (0.0 if s2 == "missing" else c)
        return "value", count / span
    if name == "tenure_years":
        days, status = row.days_ago("customer_since")
        return _plain(days / 365.25, status)
    if name == "credit_utilisation":
        ar, s1 = row.number("open_receivables", 0.0)
        limit, s2 = row.number("credit_limit", 0.0)
        if "invalid" in (s1, s2):
            return "invalid", math.nan
        if s1 == "missing" or s2 == "missing":
            return "missing", math.nan
        return _ratio((0.0 if s1 == "missing" else ar) + pipeline, limit, "ok")
    if name in ("country_risk", "industry_risk"):
        field, fold = ("country", fold_country) if name == "country_risk" else ("industry", fold_industry)
        text, status = row.text(field)
        if status != "ok":
            return ("missing", "") if status == "missing" else ("unknown", "")
        cls = _tables(sc)[name].get(fold(text))
        return ("value", cls) if cls is not None else ("unknown", "")
    raise KeyError(name)


def _bin(sc: Scorecard, j: int, state: str, value: object) -> int:
    ch = sc.characteristics[j]
    for i, b in enumerate(ch.bins):
        if state != "value":
            if b.state == state:
                return i
        elif b.categories is not None:
            category = AUDIT_OPINIONS[value] if isinstance(value, int) else value  # opinions come as an index
            if category in b.categories:
                return i
        elif (b.state is None and isinstance(value, float) and (b.lower is None or value >= b.lower)
              and (b.upper is None or value < b.upper)):
            return i
    raise LookupError(f"{ch.name}: no bin for {state} {value!r}")


def _raw_value(kind: str, column: str, record: dict[str, object], raw: Mapping[str, str]) -> tuple[str, object]:
    """(status, value) of a raw column: a canonical field as read, any other column from its text."""
    if column in ACCOUNT_FIELDS:
        value = record.get(column)
        if value is UNREADABLE:
            return "invalid", None
        if value is None:
            return "missing", None
        if kind == "numeric":
            return "ok", float(value)  # type: ignore[arg-type]
        return ("ok", str(value).strip()) if str(value).strip() else ("missing", None)
    text = raw.get(column, "").strip()
    if kind == "categorical":
        return ("ok", text) if text else ("missing", None)
    if text.casefold() in EMPTY_PLACEHOLDERS:
        return "missing", None
    try:
        number = read_value(FieldKind.NUMBER, text)
    except ValueError:
        return "invalid", None
    if number is None:
        return "missing", None
    return ("ok", float(number)) if math.isfinite(float(number)) else ("invalid", None)  # type: ignore[arg-type]


def _raw_bin(ch: Characteristic, record: dict[str, object], raw: Mapping[str, str]) -> int:
    """The bin of a raw-column characteristic, straight from its rules (`scoring.rawcolumns`)."""
    status, value = _raw_value(str(ch.kind), str(ch.column), record, raw)
    states = {b.state: i for i, b in enumerate(ch.bins) if b.state is not None}
    if status == "invalid":
        return states.get("invalid", states["missing"])
    if status == "missing":
        return states["missing"]
    for i, b in enumerate(ch.bins):
        if ch.kind == "categorical" and value in (b.categories or []):
            return i
        if (ch.kind == "numeric" and b.state is None and isinstance(value, float)
                and (b.lower is None or value >= b.lower) and (b.upper is None or value < b.upper)):
            return i
    return next(i for i, b in enumerate(ch.bins) if b.label == ch.unseen)


def assess_row(record: dict[str, object], sc: Scorecard, *, as_of: date, pipeline: float = 0.0,
               raw: Mapping[str, str] | None = None) -> RowResult:
    """Score one record (values as `Batch.row` gives them, and the text of its other columns in `raw`)
    with the scorecard, row by row."""
    row = _Row(record, as_of)
    bins, points = [], []
    for j, ch in enumerate(sc.characteristics):
        if ch.column is not None:
            b = _raw_bin(sc.spec.characteristics[ch.name], record, raw or {})
            bins.append(b)
            points.append(float(ch.bins[b].points))
            continue
        state, value = _feature(ch.name, row, sc, pipeline)
        b = _bin(sc, j, state, value)
        bins.append(b)
        points.append(float(ch.bins[b].points))
    score = 0.0
    for p in points:
        score += p
    scaling = sc.spec.scaling
    odds = scaling.base_odds * 2 ** ((score - scaling.base_points) / scaling.pdo)
    risk = float(math.floor(100.0 * (sc.max_total - score) / (sc.max_total - sc.min_total) + 0.5))
    cutoffs = [sc.spec.tiers.medium, sc.spec.tiers.high, sc.spec.tiers.critical]
    model_tier = sum(1 for c in cutoffs if c <= risk)

    fired = []
    for k, rule in enumerate(sc.spec.knockouts):
        value = record.get(rule.field)
        if isinstance(value, bool) and rule.when == "true":
            hit = value
        elif isinstance(value, float) and rule.value is not None:
            hit = value > rule.value if rule.when == "above" else value >= rule.value
        else:
            hit = False
        if hit:
            fired.append(k)
    ko_tier = max((TIERS.index(sc.spec.knockouts[k].tier) for k in fired), default=0)
    if ko_tier > 0:
        risk = max(risk, float(math.ceil(cutoffs[ko_tier - 1])))
    tier = max(model_tier, ko_tier)

    override_tier, until = record.get("override_tier"), record.get("override_until")
    active = (isinstance(override_tier, str) and override_tier.lower() in TIERS and isinstance(until, date)
              and until >= as_of)
    computed = tier
    if active:
        tier = TIERS.index(str(override_tier).lower())

    suppressed = {sc.names.index(sc.spec.knockouts[k].supersedes or "") for k in fired
                  if sc.spec.knockouts[k].supersedes}
    shortfalls = []
    for j, ch in enumerate(sc.characteristics):
        gap = 0.0 if j in suppressed or computed == 0 else ch.max_points - points[j]
        if gap > 0 and gap >= sc.reason_thresholds[j]:
            shortfalls.append((-gap, j))
    shortfalls.sort()
    ids = [sc.knockout_reason_ids[k] for k in fired]
    seen: set[str] = set()
    for _, j in shortfalls:  # a reason code that several characteristics give is listed once
        rid = int(sc.reason_offsets[j]) + bins[j]
        if sc.reason_codes[rid] not in seen:
            seen.add(sc.reason_codes[rid])
            ids.append(rid)
    ids = ids[:MAX_REASONS]
    return RowResult(
        bins=tuple(bins), points=tuple(points), score=score, pd=1.0 / (1.0 + odds), risk_score=int(risk),
        model_tier=TIERS[model_tier], tier=TIERS[tier], knockouts=tuple(sc.reason_codes[i] for i in
                                                                         (sc.knockout_reason_ids[k] for k in fired)),
        reason_codes=tuple(sc.reason_codes[i] for i in ids), reason_ids=tuple(ids),
    )
