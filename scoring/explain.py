"""Explain one account: every characteristic's value, bin, points and shortfall, then the rest.

This is what a credit manager reads to see why an account is where it is (`riskbridge explain`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from scoring.assessment import Override, Reason
from scoring.batch import Batch, accounts_batch, deals_batch
from scoring.deals import weighted_pipeline
from scoring.engine import assess, default_scorecard
from scoring.features import STATES, Feature
from scoring.labels import band_label, unit_value
from scoring.policy import Action, monitoring_text
from scoring.rawcolumns import card_features
from scoring.scorecard import Scorecard

__all__ = ["Explanation", "ExplanationRow", "explain"]

_FORMATS = {
    "credit_utilisation": "{:.0%}", "overdue_ratio": "{:.0%}", "debt_to_asset": "{:.0%}", "net_margin": "{:.1%}",
    "bureau_score": "{:.0f}", "internal_rating": "{:.0f}",
}
_UNITS = {  # characteristic -> (number format, unit in the text catalogue)
    "statement_age_days": ("{:.0f}", "days"), "max_days_past_due": ("{:.0f}", "days"),
    "avg_days_late": ("{:.1f}", "days"), "tenure_years": ("{:.1f}", "years"),
    "incidents_per_year": ("{:.1f}", "per_year"),
}
_TABLE_INPUT = {"country_risk": "country", "industry_risk": "industry"}


@dataclass(frozen=True)
class ExplanationRow:
    """One characteristic of one account."""

    characteristic: str
    group: str
    value: str
    bin: str
    points: float
    maximum: float
    shortfall: float


@dataclass(frozen=True)
class Explanation:
    """Why an account scored as it did, and what to do about it."""

    record_id: str
    name: str
    rows: tuple[ExplanationRow, ...]
    score: float
    max_score: float
    pd: float
    risk_score: int
    model_tier: str
    tier: str
    computed_tier: str
    tier_text: str  # the tier as people read it (an override says so)
    reasons: tuple[Reason, ...]
    reasons_text: str  # as the CRM reasons field shows them
    lang: str
    knockouts: tuple[Reason, ...]
    override: Override | None
    action: Action
    model_version: str


def _shown(name: str, feature: Feature, batch: Batch, lang: str) -> str:
    state = int(feature.state[0])
    if state != 0:
        return band_label(STATES[state].replace("_", " "), lang)
    if feature.vocabulary:
        category = band_label(feature.vocabulary[int(feature.values[0])], lang)
        source = _TABLE_INPUT.get(name)
        return f"{batch.text(source, 0)} ({category})" if source else category
    value = float(feature.values[0])
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if name in _UNITS:
        number, unit = _UNITS[name]
        return unit_value(unit, number.format(value), lang)
    return _FORMATS.get(name, "{:.2f}").format(value)


def explain(account: Mapping[str, object] | Batch, scorecard: Scorecard | None = None, *, as_of: date,
            lang: str = "en", deals: Sequence[Mapping[str, object]] | None = None) -> Explanation:
    """Explain one account (a canonical dict, or the first row of a batch). `deals`, as in a sync, add the
    account's probability-weighted open deals to its exposure, so the table matches what the sync wrote."""
    sc = scorecard if scorecard is not None else default_scorecard()
    batch = accounts_batch([account]) if isinstance(account, Mapping) else account.take([0])
    result = assess(batch, sc, as_of=as_of, deals=list(deals) if deals else None)
    pipeline = weighted_pipeline(batch, deals_batch(list(deals))) if deals else None
    features = card_features(sc, batch, as_of=as_of, pipeline=pipeline)
    rows = []
    for j, ch in enumerate(sc.characteristics):
        points = float(ch.points[result.bins[0, j]])
        rows.append(ExplanationRow(
            characteristic=ch.name, group=ch.group, value=_shown(ch.name, features[ch.name], batch, lang),
            bin=band_label(ch.bins[int(result.bins[0, j])].label, lang), points=points, maximum=ch.max_points,
            shortfall=ch.max_points - points,
        ))
    one = result.assessment(0, lang)
    action = Action(terms_days=one.recommended_terms_days, credit_limit=one.recommended_credit_limit,
                    limit_rationale=one.limit_rationale, prepayment_share=one.prepayment_share,
                    review_every_days=one.review_every_days, monitoring=monitoring_text(lang, one.review_every_days), task=one.task,
                    advice=one.advice)
    return Explanation(
        record_id=one.record_id, name=batch.text("name", 0), rows=tuple(rows), score=one.score,
        max_score=sc.max_total, pd=one.pd, risk_score=one.risk_score, model_tier=one.model_tier, tier=one.tier,
        computed_tier=one.computed_tier, tier_text=one.tier_text, reasons=one.reasons, reasons_text=one.reasons_text,
        lang=lang, knockouts=one.knockouts, override=one.override, action=action,
        model_version=one.model_version,
    )
