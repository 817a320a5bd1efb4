"""The reviewable plan: values as people read them, the summary derived from the operations, the CSV, and
the run history in 80 columns, in English and Chinese."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from rich.console import Console

from connector.outcome import RunReport
from connector.plan_review import format_value, rows, summary, write_csv
from connector.report import plan_summary_table, plan_table, runs_table, summary_table
from connector.tables import RunRow

LINES = [
    {"op": "update", "object": "accounts", "id": "A1", "name": "Wonka Materials", "currency": "EUR",
     "changes": {"Risk_Score__c": [40.0, 86.0], "Risk_Tier__c": ["high", "medium"],
                 "Recommended_Credit_Limit__c": [None, 1250000.0], "Risk_Watchlist__c": [False, True]},
     "canonical": {"Risk_Score__c": "risk_score", "Risk_Tier__c": "risk_tier",
                   "Recommended_Credit_Limit__c": "recommended_credit_limit", "Risk_Watchlist__c": "watchlist"},
     "override": {"tier": "medium", "computed": "high", "reason": "Parent company guarantee", "until": "2027-01-31"}},
    {"op": "update", "object": "deals", "id": "D1", "name": "=HYPERLINK(\"x\")", "changes": {"Risk_Tier__c": [None, "high"]},
     "canonical": {"Risk_Tier__c": "risk_tier"}},
    {"op": "task", "object": "accounts", "id": "A1", "name": "Wonka Materials", "key": "k", "owner": "005",
     "subject": "Credit risk review: Wonka Materials", "due": "2026-12-01", "priority": "High"},
    {"op": "tag_add", "object": "accounts", "id": "A1", "name": "Wonka Materials", "tag": "credit-watchlist"},
]


def render(renderable: object, width: int = 200) -> str:
    console = Console(width=width, force_terminal=False, emoji=False)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


def test_values_are_formatted_for_people() -> None:
    assert format_value("risk_score", 47.0, "en") == "47"
    assert format_value("risk_score", "47.0", "en") == "47"
    assert format_value("recommended_credit_limit", 1250000.4, "en", "EUR") == "EUR 1,250,000"
    assert format_value("recommended_credit_limit", 1250000, "en") == "1,250,000"
    assert format_value("recommended_terms_days", 30, "zh") == "30 天"
    assert format_value("risk_tier", "critical", "zh") == "极高"
    assert format_value("watchlist", "true", "en") == "yes" and format_value("watchlist", False, "zh") == "否"
    assert format_value("reasons", None, "en") == "∅"


def test_summary_counts_what_the_operations_hold() -> None:
    moves = {"accounts|medium|critical": 37, "accounts||high": 2, "deals|medium|high": 5}
    s = summary(LINES, moves, {"entries": ["A1"], "exits": []}, {"held": 7})
    assert s["tier_moves"][0] == {"object": "accounts", "before": "medium", "after": "critical", "count": 37}
    assert s["tasks"] == 1 and s["tasks_held_back"] == 7 and s["tags"] == {"add": 1, "remove": 0}
    assert s["fields"]["accounts"] == {"records": 1, "fields": {
        "Recommended_Credit_Limit__c": 1, "Risk_Score__c": 1, "Risk_Tier__c": 1, "Risk_Watchlist__c": 1}}
    assert s["watchlist"] == {"entries": 1, "exits": 0} and s["operations"] == 4


def report() -> RunReport:
    r = RunReport(run_id=3, job="default", dry_run=True, status="success")
    r.plan = LINES
    r.tier_moves = {"accounts|medium|critical": 37, "deals|medium|high": 5}
    r.watch_moves = {"entries": ["A1"]}
    r.first_run = {"first_run": True, "tiers": ["critical"], "created": 50, "held": 12, "cap": 50,
                   "cap_per_owner": 5}
    return r


def test_the_plan_reads_as_a_review_in_english_and_chinese() -> None:
    en = render(plan_summary_table(report(), "en")) + render(plan_table(report(), lang="en"))
    assert "37 accounts medium → critical" in en and "5 deals medium → high" in en
    assert "1: Wonka Materials" in en and "held back" in en and "12" in en
    assert "EUR 1,250,000" in en and " 86 " in en and "86.0" not in en
    assert "tier medium (override: Parent company guarantee, until 2027-01-31; computed: high)" in en
    assert "create task" in en and "credit-watchlist" in en and "owner 005" in en
    zh = render(plan_summary_table(report(), "zh")) + render(plan_table(report(), lang="zh")) + \
        render(summary_table(report(), "zh"))
    for heading in ("计划摘要", "等级变化", "列入观察名单", "待创建任务", "字段变更", "创建任务", "首次评估"):
        assert heading in zh, heading
    for english in ("Plan summary", "Tier moves", "Watchlist entries", "Tasks to create", "Fields changed", "planned"):
        assert english not in zh, english


def test_limit_and_ids_choose_what_is_listed() -> None:
    shown = render(plan_table(report(), limit=1))
    assert "A1" in shown and "D1" not in shown and "showing 1 of 4" in shown
    only = render(plan_table(report(), ids=["D1"]))
    assert "D1" in only and "Wonka" not in only


def test_the_csv_has_every_operation_and_no_formula(tmp_path: Path) -> None:
    out = tmp_path / "plan.csv"
    assert write_csv(out, LINES, "en") == len(rows(LINES, "en")) == 4 + 1 + 1 + 1
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    with out.open(encoding="utf-8-sig", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert {(r["operation"], r["record_id"]) for r in table} == {("update", "A1"), ("update", "D1"),
                                                                 ("create task", "A1"), ("add tag", "A1")}
    assert next(r for r in table if r["record_id"] == "D1")["name"].startswith("'=")


def test_runs_fit_80_columns_with_the_reason() -> None:
    partial = RunRow(id=12, job="nightly-eu-accounts", status="partial", started_at=datetime(2026, 11, 30, 5, 1),
                     dry_run=False, full=False, api_calls=40, error=None,
                     summary={"objects": {"accounts": {"extracted": 59877, "written": 59800, "failed": 77}},
                              "failures": [{"object": "accounts", "id": "0015g0000004Yo4AAE",
                                            "reason": "UNABLE_TO_LOCK_ROW: unable to obtain exclusive access"}]})
    failed = RunRow(id=11, job="default", status="failed", started_at=datetime(2026, 11, 30, 4, 1), dry_run=True,
                    full=False, api_calls=1, summary={}, error="ConnectionFailed: cannot reach 127.0.0.1:9")
    for lang in ("en", "zh"):
        text = render(runs_table([partial, failed], lang), width=80)
        assert all(len(line) <= 80 for line in text.splitlines())
        assert "59,877/59,800/77" in text and "UNABLE_TO_LOCK" in text and "ConnectionFailed" in text


def test_the_riskiest_list_shows_an_override_as_such() -> None:
    from connector.report import riskiest_table
    from connector.tables import AssessmentRow

    def row(name: str, tier: str, score: float, **detail: object) -> AssessmentRow:
        return AssessmentRow(job="default", object="accounts", record_id=name, score=score, tier=tier, pd=0.1,
                             model_version="v", inputs_hash="h", scored_at=datetime(2026, 11, 30), as_of=None,
                             detail={"name": name, "reasons": ["Invoices 90+ days past due"], **detail})

    wonka = row("Wonka Materials", "medium", 86, override={"tier": "medium", "computed": "high",
                                                           "reason": "Parent company guarantee on file",
                                                           "until": "2027-01-31"})
    plain = row("Acme", "critical", 90)
    en = render(riskiest_table([plain, wonka], "en"))
    assert "tier medium (override: Parent company guarantee on file, until 2027-01-31; computed: high)" in en
    assert en.count("Parent company guarantee") == 1  # with the tier, never among the risk reasons
    zh = render(riskiest_table([plain, wonka], "zh"))
    assert "风险最高的客户" in zh and "极高" in zh and "Parent company guarantee on file" in zh
    assert "riskiest" not in zh
