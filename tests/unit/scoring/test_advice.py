"""Advice follows the cause: one test per cause, in both languages where the wording matters."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from connector.errors import ConfigError
from scoring import assess, assess_deals, load_scorecard
from scoring.scorecard import DEFAULT_SCORECARD

from .cards import default_raw, write_card

AS_OF = date(2025, 6, 30)
HEALTHY: dict[str, Any] = {
    "id": "c", "name": "Cause Co", "currency": "EUR", "bureau_score": 90, "internal_rating": 1, "country": "DE",
    "industry": "Utilities", "customer_since": "2000-01-01", "max_days_past_due": 0, "avg_days_late": 0,
    "disputes_12m": 0, "complaints_12m": 0, "credit_limit": 100_000, "open_receivables": 10_000,
    "overdue_amount": 0, "current_assets": 300, "current_liabilities": 100, "inventory": 50, "total_assets": 1000,
    "total_liabilities": 300, "net_income": 100, "annual_revenue": 1000, "operating_cash_flow": 300,
    "audit_opinion": "unqualified", "statement_date": "2025-03-31",
}
FRIENDLY_CALL = "Communication:"


def advice(lang: str = "en", **changes: Any) -> tuple[str, ...]:
    return assess([{**HEALTHY, **changes}], as_of=AS_OF).assessment(0, lang).advice


def test_a_sanctions_hit_goes_to_compliance_and_stops_new_business() -> None:
    lines = advice(sanctions_hit=True)
    assert lines[0].startswith("Compliance: refer the customer to the compliance team now and stop new business")
    assert not any(line.startswith((FRIENDLY_CALL, "Credit policy:", "Credit review:")) for line in lines)
    assert not any("payment plan" in line for line in lines)
    zh = advice("zh", sanctions_hit=True)
    assert zh[0].startswith("合规处理:立即移交合规部门") and not any("沟通" in line for line in zh)


def test_insolvency_goes_to_legal_and_collections() -> None:
    lines = advice(insolvency=True)
    assert lines[0].startswith("Legal and collections: hand the account to legal and collections")
    assert not any(line.startswith((FRIENDLY_CALL, "Legal steps:")) for line in lines)  # no double legal line
    assert advice("zh", insolvency=True)[0].startswith("法务与催收")


def test_overdue_invoices_go_to_collections() -> None:
    lines = advice(max_days_past_due=95, overdue_amount=2_000)
    assert lines[0].startswith("Collections: chase the overdue invoices")
    assert not any(line.startswith(FRIENDLY_CALL) for line in lines)
    severe = advice(max_days_past_due=120, overdue_amount=50_000, open_receivables=60_000)
    assert any(line.startswith("Legal steps:") and "120 days past due" in line for line in severe)


def test_a_deal_over_the_remaining_credit_asks_for_prepayment_a_guarantee_or_a_limit_review() -> None:
    accounts = assess([HEALTHY], as_of=AS_OF, deals=[{"id": "d", "account_id": "c", "amount": 500_000}])
    deal = assess_deals([{"id": "d", "account_id": "c", "amount": 500_000}], accounts).assessment(0)
    assert [f.code for f in deal.flags] == ["DEAL_OVER_CREDIT"]
    assert deal.advice == ("Credit headroom: ask for prepayment or a guarantee, or request a credit-limit review, "
                           "before taking orders beyond the remaining credit.",)
    small = assess_deals([{"id": "s", "account_id": "c", "amount": 1_000}], accounts).assessment(0)
    assert small.advice == ()


def test_a_thin_file_asks_for_a_bureau_report_or_financial_statements() -> None:
    thin = {k: v for k, v in HEALTHY.items() if k not in (
        "bureau_score", "current_assets", "current_liabilities", "inventory", "total_assets", "total_liabilities",
        "net_income", "operating_cash_flow", "audit_opinion", "statement_date")}
    a = assess([{**thin, "internal_rating": 7, "max_days_past_due": 40}], as_of=AS_OF)[0]
    assert a.tier != "low" and "CR_BUREAU_MISSING" in [r.code for r in a.reasons]
    assert any(line.startswith("Information: request a credit bureau report or the latest financial statements")
               for line in a.advice)


def test_the_plain_strategies_follow_the_tier_when_no_cause_applies() -> None:
    assert [line.split(":")[0] for line in advice()] == ["Credit policy", "Monitoring"]  # low: nothing more
    high = advice(override_tier="high", override_until="2030-01-01")
    assert [line.split(":")[0] for line in high] == ["Credit review", "Credit policy", "Monitoring", "Communication"]


def test_the_seed_strategies_and_the_causes_live_in_the_scorecard_file() -> None:
    sc = load_scorecard(DEFAULT_SCORECARD)
    assert [rule.cause for rule in sc.advice] == ["compliance", "insolvency", "overdue", "over_credit", "thin_file"]
    assert sc.strategies.communication.zh.startswith("加强沟通")


def test_an_unknown_placeholder_in_an_advice_text_is_reported_with_its_key(tmp_path: Path) -> None:
    raw = default_raw()
    raw["strategies"]["policy"]["en"] = "Credit policy: terms {term_days}"
    with pytest.raises(ConfigError) as info:
        load_scorecard(write_card(tmp_path / "card.toml", raw))
    assert [(p.key, p.message) for p in info.value.problems] == [
        ("strategies.policy.en", "unknown placeholder {term_days}")]


def test_a_scorecard_without_advice_texts_takes_the_default_ones(tmp_path: Path) -> None:
    raw = default_raw()
    del raw["strategies"], raw["advice"]
    sc = load_scorecard(write_card(tmp_path / "card.toml", raw))
    assert sc.advice == load_scorecard().advice and sc.strategies == load_scorecard().strategies


def test_an_insolvent_customer_gets_no_payment_plan_even_with_overdue_invoices() -> None:
    lines = advice(insolvency=True, max_days_past_due=120, overdue_amount=50_000, open_receivables=60_000)
    assert lines[0].startswith("Legal and collections")
    assert not any("payment plan" in line for line in lines)
