"""Credit policy: tier x exposure -> terms, limit, prepayment, monitoring and tasks."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from scoring import assess

AS_OF = date(2025, 6, 30)
BASE: dict[str, Any] = {"id": "p", "name": "Policy Co", "currency": "EUR", "bureau_score": 90, "internal_rating": 1,
                        "country": "DE", "industry": "Utilities", "customer_since": "2000-01-01",
                        "max_days_past_due": 0, "avg_days_late": 0, "disputes_12m": 0, "complaints_12m": 0,
                        "credit_limit": 100_000, "open_receivables": 10_000, "overdue_amount": 0}


def one(**changes: Any) -> Any:
    return assess([{**BASE, **changes}], as_of=AS_OF)[0]


def test_terms_follow_tier_and_exposure_band_and_never_lengthen() -> None:
    low = one()
    assert (low.tier, low.max_terms_days, low.recommended_terms_days) == ("low", 60, 60)
    assert one(payment_terms_days=30).recommended_terms_days == 30  # tighter than policy: keep it
    assert one(open_receivables=60_000).max_terms_days == 60  # medium exposure band
    assert one(open_receivables=300_000, credit_limit=600_000).max_terms_days == 45  # large band
    high = one(max_days_past_due=120, overdue_amount=1_000)
    assert (high.tier, high.max_terms_days) == ("high", 30)
    assert one(max_days_past_due=120, overdue_amount=1_000, open_receivables=60_000).max_terms_days == 15
    critical = one(sanctions_hit=True)
    assert (critical.tier, critical.recommended_terms_days, critical.prepayment_share) == ("critical", 0, 1.0)


def test_limit_is_sized_on_the_strongest_basis_available() -> None:
    assert one().recommended_credit_limit == 125_000  # low tier, small band: 125% of the current limit
    assert "125% of the current limit of 100,000 EUR" in one().limit_rationale
    assert one(open_receivables=60_000).recommended_credit_limit == 110_000  # medium band: 110%
    by_revenue = one(credit_limit=None, annual_revenue=1_000_000)
    assert by_revenue.recommended_credit_limit == 62_000  # 125% of 5% of revenue, small band
    assert "share of annual revenue" in by_revenue.limit_rationale
    by_exposure = one(credit_limit=None)
    assert by_exposure.recommended_credit_limit == 12_000
    nothing = one(credit_limit=None, open_receivables=None)
    assert nothing.recommended_credit_limit is None and "credit review" in nothing.limit_rationale
    assert one(sanctions_hit=True).recommended_credit_limit == 0


def test_limit_is_rounded_down_to_the_step() -> None:
    assert one(credit_limit=12_345).recommended_credit_limit == 15_000  # 125% = 15,431 -> 15,000


def test_monitoring_tightens_with_risk() -> None:
    cadence = [one().review_every_days, one(bureau_score=None, internal_rating=None).review_every_days,
               one(max_days_past_due=120, overdue_amount=1).review_every_days,
               one(insolvency=True).review_every_days]
    assert cadence == sorted(cadence, reverse=True) and len(set(cadence)) == 4


def test_tasks_for_high_risk_name_the_strategies() -> None:
    assert one().task is None
    task = one(max_days_past_due=95, overdue_amount=2_000).task
    assert task is not None and task.subject.startswith("High credit risk: Policy Co")
    for words in ("credit review", "payment terms at most 30 days", "review every 30 days",
                  "Collections: chase the overdue invoices"):
        assert words in task.description
    assert "Communication:" not in task.description  # overdue invoices go to collections
    assert "Legal steps" not in task.description  # 2,000 overdue is below the legal threshold


def test_severe_overdue_debt_suggests_legal_steps_even_below_high() -> None:
    a = one(max_days_past_due=95, overdue_amount=50_000, open_receivables=60_000)
    assert a.legal_action and a.task is not None
    assert "consider legal action" in a.task.description
    zh = assess([{**BASE, "max_days_past_due": 95, "overdue_amount": 50_000}], as_of=AS_OF).assessment(0, "zh")
    assert zh.task is not None and "法律手段" in zh.task.description and zh.task.subject.startswith("信用风险高")


@pytest.mark.parametrize("tier", ["low", "medium", "high", "critical"])
def test_every_tier_gets_a_recommendation(tier: str) -> None:
    a = one(override_tier=tier, override_until="2030-01-01")
    assert a.tier == tier
    assert a.recommended_terms_days >= 0 and a.review_every_days > 0
    assert (a.task is not None) == (tier in ("high", "critical"))


def test_critical_customers_pay_in_advance() -> None:
    a = one(insolvency=True)
    assert a.task is not None and a.recommended_terms_days == 0 and a.prepayment_share == 1.0
    assert "Legal and collections" in a.task.description and "payment plan" not in a.task.description
    b = one(override_tier="critical", override_until="2030-01-01")
    assert b.task is not None
    assert "payment in advance only; credit limit none; prepayment 100%" in b.task.description
