"""Deals inherit their account's assessment and add flags of their own."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from scoring import assess, assess_deals

AS_OF = date(2025, 6, 30)
ACCOUNT: dict[str, Any] = {"id": "A", "name": "Acme", "bureau_score": 90, "internal_rating": 1, "country": "DE",
                           "industry": "Utilities", "customer_since": "2000-01-01", "max_days_past_due": 0,
                           "avg_days_late": 0, "disputes_12m": 0, "complaints_12m": 0, "credit_limit": 100_000,
                           "open_receivables": 40_000, "overdue_amount": 0}


def run(deals: list[dict[str, Any]], account: dict[str, Any] | None = None) -> Any:
    accounts = assess([account or ACCOUNT], as_of=AS_OF, deals=deals)
    return assess_deals(deals, accounts)


def test_a_deal_inherits_its_account() -> None:
    result = run([{"id": "d", "account_id": "A", "amount": 10_000, "probability": 50, "payment_terms_days": 30}])
    d = next(result.assessments())
    account = result.accounts[0]
    assert (d.tier, d.account_tier, d.flags) == ("low", "low", ())
    assert d.reasons == account.reasons and d.risk_score == account.risk_score and d.pd == account.pd
    assert d.remaining_credit == 60_000  # 100k limit - 40k receivables - no other open deals
    assert d.outputs()["risk_tier"] == "low"


def test_amount_above_the_remaining_credit_is_flagged_and_raises_the_tier() -> None:
    deals = [{"id": "big", "account_id": "A", "amount": 50_000, "probability": 50},
             {"id": "other", "account_id": "A", "amount": 30_000, "probability": 50}]
    by_id = {d.record_id: d for d in run(deals).assessments()}
    # Remaining for "big": 100k - 40k - 15k (the other deal, weighted) = 45k < 50k.
    assert by_id["big"].remaining_credit == 45_000
    assert [f.code for f in by_id["big"].flags] == ["DEAL_OVER_CREDIT"]
    assert by_id["big"].reasons[0].code == "DEAL_OVER_CREDIT"
    assert by_id["big"].tier == "medium"
    assert by_id["other"].flags == () and by_id["other"].remaining_credit == 35_000


def test_terms_longer_than_policy_are_flagged() -> None:
    d = next(run([{"id": "d", "account_id": "A", "amount": 1_000, "payment_terms_days": 120}]).assessments())
    assert [f.code for f in d.flags] == ["DEAL_TERMS_TOO_LONG"]
    assert d.tier == "medium" and d.max_terms_days == 60


def test_both_flags_raise_by_two_and_cap_at_critical() -> None:
    deal = {"id": "d", "account_id": "A", "amount": 500_000, "payment_terms_days": 120}
    assert next(run([deal]).assessments()).tier == "high"
    shaky = {**ACCOUNT, "max_days_past_due": 120, "overdue_amount": 1_000}
    d = next(run([deal], shaky).assessments())
    assert d.account_tier == "high" and d.tier == "critical"
    assert [r.code for r in d.reasons][:3] == ["DEAL_OVER_CREDIT", "DEAL_TERMS_TOO_LONG", "KO_DPD_90"]


def test_closed_deals_carry_no_flags() -> None:
    d = next(run([{"id": "d", "account_id": "A", "amount": 10**7, "payment_terms_days": 365,
                   "is_closed": True, "is_won": True}]).assessments())
    assert d.flags == () and d.tier == "low"


def test_deals_without_an_assessed_account_are_reported_not_guessed() -> None:
    result = run([{"id": "d1", "account_id": "A", "amount": 1}, {"id": "d2", "account_id": "ZZ", "amount": 1},
                  {"id": "d3", "amount": 1}])
    assert [d.record_id for d in result.assessments()] == ["d1"]
    assert result.unmatched_ids() == ["d2", "d3"]
    with pytest.raises(KeyError, match="not assessed"):
        result.assessment(1)


def test_a_deal_follows_its_accounts_effective_tier_and_shows_the_override() -> None:
    acc = {**ACCOUNT, "override_tier": "high", "override_reason": "Watch", "override_until": "2026-01-01"}
    d = next(run([{"id": "d", "account_id": "A", "amount": 1_000}], acc).assessments())
    assert d.tier == "high" and d.account_tier == "high"
    assert "Watch" not in [r.text for r in d.reasons]  # the override's reason is never a risk reason
    assert d.outputs()["reasons"].startswith("tier high (override: Watch, until 2026-01-01; computed: low)")
    # An override that lowers the tier lowers the deals' too, and the guarantee is no risk reason.
    distressed = {"id": "W", "name": "Wonka Materials", "bureau_score": 10, "internal_rating": 9,
                  "max_days_past_due": 95, "overdue_amount": 90_000, "open_receivables": 100_000,
                  "credit_limit": 200_000, "override_tier": "medium",
                  "override_reason": "Parent company guarantee on file", "override_until": "2026-01-01"}
    deal = next(run([{"id": "w1", "account_id": "W", "amount": 1_000}], distressed).assessments())
    assert deal.account_tier == "medium" and deal.tier == "medium"
    assert all("guarantee" not in r.text for r in deal.reasons)
    assert deal.outputs()["reasons"].startswith(
        "tier medium (override: Parent company guarantee on file, until 2026-01-01; computed: high)")
