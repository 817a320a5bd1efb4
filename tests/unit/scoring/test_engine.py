"""Assessments: score, tiers, knockouts, overrides, reasons, and the batch API the sync engine uses."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pytest

from scoring import OUTPUT_FIELDS, Batch, assess, default_scorecard
from scoring.fields import ACCOUNT_FIELDS

AS_OF = date(2025, 6, 30)
STRONG: dict[str, Any] = {
    "id": "S", "name": "Strong GmbH", "country": "DE", "industry": "Utilities", "bureau_score": 90,
    "internal_rating": 1, "credit_limit": 100_000, "open_receivables": 10_000, "overdue_amount": 0,
    "max_days_past_due": 0, "avg_days_late": 0, "disputes_12m": 0, "complaints_12m": 0,
    "customer_since": "2005-01-01", "current_assets": 300, "current_liabilities": 100, "inventory": 50,
    "total_assets": 1000, "total_liabilities": 300, "net_income": 100, "annual_revenue": 1000,
    "operating_cash_flow": 300, "audit_opinion": "unqualified", "statement_date": "2025-03-31",
}


def one(account: dict[str, Any], **kwargs: Any) -> Any:
    return assess([account], as_of=AS_OF, **kwargs)[0]


def test_a_strong_account_is_low_with_no_reasons() -> None:
    a = one(STRONG)
    assert (a.tier, a.risk_score, a.reasons, a.knockouts) == ("low", 0, (), ())
    assert a.score == default_scorecard().max_total


def test_pd_follows_the_scaling() -> None:
    sc = default_scorecard()
    a = one(STRONG)
    odds = sc.spec.scaling.base_odds * 2 ** ((a.score - sc.spec.scaling.base_points) / sc.spec.scaling.pdo)
    assert a.pd == pytest.approx(1 / (1 + odds))
    assert one({"id": "x"}).pd > a.pd


@pytest.mark.parametrize(("field", "code"), [("sanctions_hit", "KO_SANCTIONS"), ("insolvency", "KO_INSOLVENCY")])
def test_sanctions_or_insolvency_make_it_critical(field: str, code: str) -> None:
    a = one({**STRONG, field: True})
    assert a.tier == "critical" and a.model_tier == "low"
    assert [k.code for k in a.knockouts] == [code]
    assert a.reasons[0].code == code
    assert a.risk_score >= default_scorecard().spec.tiers.critical  # score and tier never disagree


def test_more_than_90_days_past_due_means_at_least_high() -> None:
    a = one({**STRONG, "max_days_past_due": 91})
    assert a.tier == "high"
    assert [r.code for r in a.reasons][:1] == ["KO_DPD_90"]
    assert "HIST_DAYS_PAST_DUE" not in [r.code for r in a.reasons]  # the knockout already says it
    assert one({**STRONG, "max_days_past_due": 90}).knockouts == ()
    # A knockout never lowers a tier that is already worse.
    worst = one({"id": "w", "bureau_score": 5, "internal_rating": 10, "max_days_past_due": 200,
                 "open_receivables": 100, "overdue_amount": 100, "credit_limit": 10, "country": "RU"})
    assert worst.tier == "critical"


def test_an_active_override_wins_and_is_shown_with_the_tier_never_as_a_risk_reason() -> None:
    acc = {**STRONG, "sanctions_hit": True, "override_tier": "Medium", "override_reason": "Cleared by compliance",
           "override_until": "2025-06-30"}
    a = one(acc)
    assert (a.tier, a.computed_tier) == ("medium", "critical")
    assert "OVERRIDE" not in [r.code for r in a.reasons]
    assert "Cleared by compliance" not in [r.text for r in a.reasons]
    assert a.tier_text == "tier medium (override: Cleared by compliance, until 2025-06-30; computed: critical)"
    assert a.outputs()["reasons"] == (a.tier_text + " | Sanctions or anti-money-laundering screening hit")
    assert a.override is not None and a.override.state == "active"
    assert [k.code for k in a.knockouts] == ["KO_SANCTIONS"]  # still recorded


def test_an_expired_or_incomplete_override_is_ignored() -> None:
    expired = one({**STRONG, "override_tier": "critical", "override_until": "2025-06-29"})
    assert expired.tier == "low" and expired.override is not None and expired.override.state == "expired"
    assert "OVERRIDE" not in [r.code for r in expired.reasons]
    no_date = one({**STRONG, "override_tier": "critical"})
    assert no_date.tier == "low" and no_date.override is not None and no_date.override.state == "ignored"
    bad_tier = one({**STRONG, "override_tier": "purple", "override_until": "2030-01-01"})
    assert bad_tier.tier == "low" and bad_tier.override is not None and bad_tier.override.state == "ignored"
    assert one(STRONG).override is None


def test_an_override_without_a_reason_names_a_credit_manager_in_both_languages() -> None:
    acc = {**STRONG, "override_tier": "high", "override_until": "2026-01-01"}
    a = one(acc)
    assert a.reasons == ()  # computed low: nothing material pushes the risk up
    assert a.outputs()["reasons"] == ("tier high (override by a credit manager, until 2026-01-01; computed: low)"
                                      " | No material risk found")
    zh = assess([acc], as_of=AS_OF).assessment(0, "zh")
    assert zh.outputs()["reasons"] == "风险等级 高(信用经理人工调整,有效期至 2026-01-01;系统评定:低) | 未发现重大风险"


def test_a_low_tier_account_gets_no_risk_reasons_only_one_calm_line() -> None:
    # Debts at 45% of assets, a bureau score of 70 and a moderate-risk country cost a few points each:
    # none of them is a reason, and the account is low.
    a = one({**STRONG, "total_liabilities": 450, "bureau_score": 70, "internal_rating": 3, "country": "FR"})
    assert a.tier == "low" and a.risk_score > 0
    assert a.reasons == ()
    assert a.outputs()["reasons"] == "No material risk found"
    assert assess([STRONG], as_of=AS_OF).assessment(0, "zh").reasons_text == "未发现重大风险"


def test_a_reason_needs_the_characteristic_to_really_cost_points() -> None:
    sc = default_scorecard()
    # Debt at 45% of assets loses 5 points: not a reason. At 70% it loses 12: a reason, worded for its band,
    # and it outranks paying 12 days late on average (9 points).
    base = {**STRONG, "bureau_score": 10, "internal_rating": 8, "max_days_past_due": 65, "avg_days_late": 12}
    at45 = one({**base, "total_liabilities": 450})
    at70 = one({**base, "total_liabilities": 700})
    assert at45.tier == at70.tier == "medium"
    assert [r.code for r in at45.reasons] == ["CR_BUREAU_LOW", "CR_INTERNAL_WEAK", "HIST_DAYS_PAST_DUE",
                                              "HIST_PAYS_LATE"]
    assert [r.code for r in at70.reasons] == ["CR_BUREAU_LOW", "CR_INTERNAL_WEAK", "HIST_DAYS_PAST_DUE",
                                              "FIN_LEVERAGE"]
    assert at70.reasons[3].text == "Debts at 60% to 80% of total assets"
    assert sc.spec.reasons.min_points_lost == 9


def test_reasons_are_ordered_by_points_lost_at_most_four() -> None:
    acc = {**STRONG, "bureau_score": 30, "internal_rating": 6, "max_days_past_due": 40, "audit_opinion": "qualified",
           "country": "IN", "avg_days_late": 12, "industry": "Retail"}
    a = one(acc)
    assert a.tier == "medium"
    # Points lost: bureau 30, internal 18 and days past due 18 (a tie: scorecard order), industry 15,
    # then avg days late 9, audit 8, country 8, which no longer fit in four.
    assert [r.code for r in a.reasons] == ["CR_BUREAU_LOW", "CR_INTERNAL_WEAK", "HIST_DAYS_PAST_DUE", "IND_SECTOR"]
    # Stable: the same inputs anywhere in a batch give the same reasons.
    again = assess([{**acc, "id": "b", "bureau_score": 10}, acc, STRONG], as_of=AS_OF)
    assert [r.code for r in again[1].reasons] == [r.code for r in a.reasons]


def test_ties_break_by_scorecard_order_and_shared_codes_are_listed_once() -> None:
    a = one({"id": "t", **{k: v for k, v in STRONG.items() if k not in (
        "current_assets", "current_liabilities", "inventory", "total_assets", "total_liabilities", "net_income",
        "annual_revenue", "operating_cash_flow", "statement_date")}, "bureau_score": 30, "internal_rating": 8,
        "max_days_past_due": 65})
    codes = [r.code for r in a.reasons]
    assert codes == ["CR_BUREAU_LOW", "CR_INTERNAL_WEAK", "HIST_DAYS_PAST_DUE", "FIN_STATEMENTS_MISSING"]
    assert a.reasons[3].text == "No balance sheet on file"  # current_ratio: first of the 11-point ties


def test_texts_in_chinese() -> None:
    a = assess([{**STRONG, "bureau_score": 10, "internal_rating": 8, "max_days_past_due": 65, "avg_days_late": 12,
                 "total_liabilities": 700}], as_of=AS_OF).assessment(0, "zh")
    assert [r.text for r in a.reasons] == ["征信评分或评级很差", "内部信用评级偏弱(10 级中的 7 至 8 级)", "发票逾期超过60天",
                                           "负债占总资产的 60% 至 80%"]
    assert a.tier_text == "风险等级 中"


def test_watchlist_entry_tier_is_a_parameter() -> None:
    accounts = [STRONG, {"id": "m"}, {**STRONG, "id": "h", "max_days_past_due": 120}]
    assert assess(accounts, as_of=AS_OF).watchlist.tolist() == [False, False, True]
    assert assess(accounts, as_of=AS_OF, watchlist_tier="medium").watchlist.tolist() == [False, True, True]
    with pytest.raises(ValueError, match="watchlist_tier"):
        assess(accounts, as_of=AS_OF, watchlist_tier="severe")


def test_outputs_carry_the_design_fields() -> None:
    stamp = datetime(2025, 6, 30, 8, 0, tzinfo=UTC)
    a = one({**STRONG, "max_days_past_due": 65, "bureau_score": 10, "internal_rating": 8, "total_liabilities": 700},
            scored_at=stamp)
    out = a.outputs()
    assert tuple(out) == OUTPUT_FIELDS
    assert out["scored_at"] == stamp and out["model_version"] == default_scorecard().version
    assert out["reasons"] == ("Very poor credit bureau score or rating | Weak internal credit rating (7 to 8 of 10)"
                              " | Invoices 60+ days past due | Debts at 60% to 80% of total assets")
    assert out["points"] == a.score and out["risk_tier"] == a.tier


def test_inputs_hash_changes_with_inputs_only() -> None:
    a, b, c = assess([STRONG, dict(STRONG), {**STRONG, "bureau_score": 89}], as_of=AS_OF).assessments()
    assert a.inputs_hash == b.inputs_hash != c.inputs_hash


def test_records_columns_and_batches_give_the_same_result() -> None:
    records = [STRONG, {"id": "x", "bureau_score": "55", "customer_since": date(2020, 1, 1), "country": "tr"}]
    batch = Batch.from_records(records, ACCOUNT_FIELDS)
    columns = {name: [r.get(name) for r in records] for name in ACCOUNT_FIELDS}
    results = [assess(src, as_of=AS_OF) for src in (records, batch, columns)]
    for other in results[1:]:
        assert np.array_equal(other.risk_score, results[0].risk_score)
        assert np.array_equal(other.reason_ids, results[0].reason_ids)
    first = results[0]
    assert first.points.sum(axis=1).tolist() == first.score.tolist()
    assert dict(zip(first.scorecard.names, first.points[1].tolist(), strict=True)) == first[1].points


def test_an_empty_batch_is_fine() -> None:
    result = assess([], as_of=AS_OF)
    assert len(result) == 0 and list(result.assessments()) == []


def test_large_batches_are_scored_in_chunks_consistently() -> None:
    import scoring.engine as engine

    records = [{**STRONG, "id": str(i), "max_days_past_due": i % 120, "bureau_score": i % 100} for i in range(300)]
    whole = assess(records, as_of=AS_OF)
    chunk, engine.CHUNK = engine.CHUNK, 7
    try:
        pieces = assess(records, as_of=AS_OF)
    finally:
        engine.CHUNK = chunk
    assert np.array_equal(whole.risk_score, pieces.risk_score)
    assert np.array_equal(whole.reason_ids, pieces.reason_ids)
    assert np.array_equal(whole.bins, pieces.bins)


def test_deals_add_to_exposure() -> None:
    acc = {**STRONG, "open_receivables": 50_000, "credit_limit": 100_000}
    deals = [{"id": "d1", "account_id": "S", "amount": 60_000, "probability": 50},
             {"id": "d2", "account_id": "S", "amount": 10_000, "probability": 90, "is_closed": True},
             {"id": "d3", "account_id": "other", "amount": 10**9}]
    without = one(acc)
    with_deals = one(acc, deals=deals)
    assert with_deals.exposure == 80_000 and without.exposure == 50_000
    assert with_deals.points["credit_utilisation"] < without.points["credit_utilisation"]
