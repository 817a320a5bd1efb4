"""A run report lists the first LISTED failed and skipped records and counts them all."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from rich.console import Console

from connector.outcome import LISTED, Listed, RunReport
from connector.report import failures_table, run_detail, run_reason


def failure(i: int) -> dict[str, str]:
    return {"object": "accounts", "id": f"001{i:012d}", "op": "update",
            "reason": "FIELD_CUSTOM_VALIDATION_EXCEPTION: Risk fields are locked"}


def shown(table: Any) -> str:
    console = Console(width=200, force_terminal=False)
    with console.capture() as capture:
        console.print(table)
    return capture.get()


def test_a_run_where_every_write_fails_keeps_a_thousand_lines_and_counts_the_rest() -> None:
    """The 1,000,000-account run's 490,000 false failures grew the sync's memory by ~300 MiB, then its
    stored summary: a validation rule that refuses every record would do the same."""
    report = RunReport(run_id=1, job="default", dry_run=False)
    for i in range(25_000):
        report.failures.append(failure(i))
    assert len(report.failures) == LISTED and report.failures.total == 25_000
    out = report.to_json()
    assert len(out["failures"]) == LISTED and out["failures_total"] == 25_000
    table = shown(failures_table(report))
    assert "25,000 failed writes" in table and "and 24,950 more" in table


def test_failures_gathered_apart_are_counted_whole_when_added() -> None:
    resent = Listed(failure(i) for i in range(LISTED + 5))
    report = RunReport(run_id=1, job="default", dry_run=False)
    report.failures.append(failure(-1))
    report.failures += resent
    assert report.failures.total == LISTED + 6 and len(report.failures) == LISTED


def test_taking_back_an_entry_counts_it_out_whether_listed_or_not() -> None:
    failures = Listed(failure(i) for i in range(LISTED))
    listed, counted = failures[3], failure(LISTED)
    failures.append(counted)  # over the limit: counted only
    failures.take_back([listed, counted])
    assert failures.total == LISTED - 1 and listed not in failures and len(failures) == LISTED - 1
    failures.take_back(list(failures))
    assert failures.total == 0 and not failures and failures.to_json("failures") == {}


def test_a_stored_summary_reports_the_count_not_just_the_lines_it_lists() -> None:
    report = RunReport(run_id=7, job="default", dry_run=False, status="partial")
    report.failures += [failure(i) for i in range(LISTED + 250)]
    run = SimpleNamespace(id=7, job="default", status="partial", error=None, summary=report.to_json(plan=False),
                          dry_run=False, full=True, api_calls=3, started_at=datetime(2026, 11, 30, tzinfo=UTC),
                          finished_at=datetime(2026, 11, 30, 0, 5, tzinfo=UTC))
    assert run_reason(run).startswith("1,250 writes failed, e.g. accounts 001")  # type: ignore[arg-type]
    assert run_reason(run, "zh").startswith("1,250 项写入失败,例如 客户 001")  # type: ignore[arg-type]
    detail = "".join(shown(t) for t in run_detail(run))  # type: ignore[arg-type]
    assert f"Failures: {LISTED + 250:,}" in detail and "and 250 more" in detail
