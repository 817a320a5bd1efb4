"""Explaining one account: the points table and everything under it."""

from __future__ import annotations

from datetime import date

from scoring import explain, load_scorecard

AS_OF = date(2025, 6, 30)


def test_rows_cover_every_characteristic_and_add_up() -> None:
    e = explain({"id": "E", "name": "Ex", "current_assets": 90, "current_liabilities": 100, "country": "tr",
                 "customer_since": "2024-06-30", "credit_limit": 0, "open_receivables": 5}, as_of=AS_OF)
    sc = load_scorecard()
    assert [r.characteristic for r in e.rows] == list(sc.names)
    assert sum(r.points for r in e.rows) == e.score
    assert all(r.shortfall == r.maximum - r.points for r in e.rows)
    by_name = {r.characteristic: r for r in e.rows}
    assert (by_name["current_ratio"].value, by_name["current_ratio"].bin) == ("0.90", "0.8 to 1.0")
    assert (by_name["country_risk"].value, by_name["country_risk"].bin) == ("tr (high)", "high")
    assert by_name["tenure_years"].value == "1.0 years"
    assert by_name["credit_utilisation"].value == "∞"
    assert (by_name["bureau_score"].value, by_name["bureau_score"].points) == ("missing", 20.0)
    assert e.max_score == sc.max_total and e.name == "Ex"


def test_knockouts_override_and_action_are_included() -> None:
    e = explain({"id": "K", "insolvency": True, "override_tier": "high", "override_until": "2025-07-01",
                 "override_reason": "Administrator appointed; monitoring"}, as_of=AS_OF, lang="zh")
    assert [k.code for k in e.knockouts] == ["KO_INSOLVENCY"]
    assert e.override is not None and (e.override.state, e.override.tier) == ("active", "high")
    assert (e.model_tier, e.tier) == ("medium", "high")
    assert e.action.task is not None and "法务与催收" in e.action.task.description
    assert "加强沟通" not in e.action.task.description  # insolvency goes to legal, not to a friendly call
    assert e.reasons[0].code == "KO_INSOLVENCY"
    assert e.tier_text == "风险等级 高(人工调整:Administrator appointed; monitoring,有效期至 2025-07-01;系统评定:极高)"
