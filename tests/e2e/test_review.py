"""What people read in the terminal, over a sandbox: the dry-run plan a credit manager approves, its CSV
export, progress counts, the run history, and `explain` on a live record."""

from __future__ import annotations

import csv
import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.config import Config, load_config
from connector.crm.base import RetryPolicy
from connector.state import StateStore
from connector.sync import Sync
from tests.conftest import Org
from tests.e2e.test_sync import by_id, edit

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "320")  # one table row per line, so the assertions read whole cells


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


@pytest.fixture
def config_path(config_path: Path) -> Path:
    """The sandbox config with the job in English: these tests read the English text, and a Fxiaoke job
    defaults to Chinese (the Chinese catalogue has its own tests)."""
    text = config_path.read_text(encoding="utf-8")
    assert "\n[jobs.default]\n" in text
    config_path.write_text(text.replace("\n[jobs.default]\n", '\n[jobs.default]\nlang = "en"\n', 1), encoding="utf-8")
    return config_path


def test_plan_summary_and_operations_on_a_sandbox_dry_run(org: Org, config_path: Path, tmp_path: Path) -> None:
    n = org.names
    config = load_config(config_path)
    assert cli("sync", "--config", str(config_path)).exit_code == 0
    accounts = by_id(org, n.accounts)
    calm = sorted(i for i, a in accounts.items() if a[n.tier] == "medium" and not a.get(n.override_tier))[:3]
    for record_id in calm:
        edit(config, org, "accounts", record_id, {n.sanctions: True})
    guarded = next(i for i, a in sorted(accounts.items()) if a[n.tier] == "high" and not a.get(n.override_tier))
    until = (date.today() + timedelta(days=40)).isoformat()
    edit(config, org, "accounts", guarded, {n.override_tier: "medium", n.override_reason: "Parent company guarantee",
                                            n.override_until: until})
    org.reset_calls()
    out = tmp_path / "plan.csv"
    result = cli("sync", "--config", str(config_path), "--dry-run", "--limit", "1000", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert org.calls()["writes"] == 0
    text = result.stdout
    # The summary a credit manager approves, before the operations.
    assert text.index("Plan summary") < text.index("Dry run:")
    assert re.search(r"3 accounts medium → critical", text), text
    assert "1 accounts high → medium" in text
    entries = re.search(r"Watchlist entries\s*│\s*(\d+): ([^│]*)", text)
    assert entries and int(entries.group(1)) == 3
    name_field = {"salesforce": "Name", "zoho": "Account_Name", "fxiaoke": "name"}[n.crm]
    names = {accounts[i][name_field] for i in calm}
    assert all(name in entries.group(2) for name in names)
    assert re.search(r"Tasks to create\s*│\s*3\b", text)
    assert re.search(rf"accounts: \d+ fields on 4 records \(.*{re.escape(n.tier)}", text)
    assert re.search(r"deals: \d+ fields on \d+ records", text)
    # The operations: names, formatted values, deals, and (Zoho) the watchlist tags.
    lines = [line for line in text.splitlines() if calm[0] in line]
    assert lines and any(name in lines[0] for name in names)
    score = next(line for line in text.splitlines() if f"{n.score} " in line and "│" in line)
    assert not re.search(r"\b\d+\.0\b", score), score  # a score is 47, not 47.0
    assert "override" in text and "Parent company guarantee" in text and "computed: high" in text
    assert "create task" in text and "deals" in text
    if n.crm == "zoho":
        assert "add tag" in text and "credit-watchlist" in text
    # --out has every operation of the plan, however few are listed.
    plan = json.loads(cli("sync", "--config", str(config_path), "--dry-run", "--json").stdout)
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["record_id"], r["operation"]) for r in rows} == {
        (p["id"], {"update": "update", "task": "create task", "tag_add": "add tag", "tag_remove": "remove tag"}[p["op"]])
        for p in plan["plan"]}
    assert len(rows) == sum(len(p.get("changes", {})) or 1 for p in plan["plan"])
    assert plan["plan_summary"]["tasks"] == 3 and plan["plan_summary"]["watchlist"]["entries"] == 3
    limited = cli("sync", "--config", str(config_path), "--dry-run", "--ids", guarded)
    assert "showing" in limited.stdout and calm[0] not in limited.stdout and guarded in limited.stdout


def test_first_run_plan_formats_money_with_currency(org: Org, config_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.csv"
    result = cli("sync", "--config", str(config_path), "--dry-run", "--out", str(out), "--limit", "3")
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    limits = [r for r in rows if "credit_limit" in r["field"].lower() and r["raw_after"]]
    assert limits and all(re.fullmatch(r"[A-Z]{3} \d{1,3}(,\d{3})*", r["after"]) for r in limits), limits[:3]
    assert any("," in r["after"] for r in limits)  # thousands separators
    scores = [r for r in rows if r["field"] == org.names.score]
    assert scores and all(re.fullmatch(r"\d{1,3}", r["after"]) for r in scores)
    assert all(r["name"] for r in rows if r["object"] == "accounts")
    assert "new → " in result.stdout and "showing 3 of" in result.stdout


def test_plan_options_are_checked_before_any_call(org: Org, config_path: Path, tmp_path: Path) -> None:
    org.reset_calls()
    result = cli("sync", "--config", str(config_path), "--out", str(tmp_path / "none" / "plan.csv"), "--ids", "x",
                 "--limit", "0")
    assert result.exit_code == 2
    assert "--limit" in result.stderr and "--ids" in result.stderr and "does not exist" in result.stderr
    assert org.calls()["total"] == 0


def test_progress_counts_add_up_to_the_summary(org: Org, config: Config, no_wait: RetryPolicy) -> None:
    for touch in (0, 7):
        org.touch(org.names.accounts, touch) if touch else None
        seen: dict[str, int] = {}
        totals: dict[str, int] = {}

        def progress(stage: str, n: int, total: int | None, seen: dict[str, int] = seen,
                     totals: dict[str, int] = totals) -> None:
            seen[stage] = seen.get(stage, 0) + n
            if total is not None:
                totals[stage] = total

        report = Sync(config, policy=no_wait, progress=progress).run()
        acc, deals = report.objects["accounts"], report.objects["deals"]
        assert seen.get("accounts_read", 0) == acc.extracted
        assert seen.get("deals_read", 0) == deals.extracted
        assert seen.get("accounts_scored", 0) == acc.scored
        assert seen.get("records_written", 0) == acc.written + deals.written
        assert totals.get("records_written", 0) >= acc.written + deals.written
        assert acc.written > 0


def test_runs_shows_why_in_80_columns_and_one_run_in_full(org: Org, config_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ids = sorted(r[org.names.id] for r in org.records(org.names.accounts))[:2]
    code = "FIELD_CUSTOM_VALIDATION_EXCEPTION" if org.names.crm == "salesforce" else "INVALID_DATA"
    org.faults(record_errors={i: code for i in ids})
    assert cli("sync", "--config", str(config_path)).exit_code == 1
    org.faults()
    assert cli("sync", "--config", str(config_path)).exit_code == 0
    monkeypatch.setenv("COLUMNS", "80")
    listing = cli("runs", "--config", str(config_path))
    assert listing.exit_code == 0
    assert all(len(line) <= 80 for line in listing.stdout.splitlines()), listing.stdout
    assert "partial" in listing.stdout and "writes" in listing.stdout and code[:8] in listing.stdout
    detail = cli("runs", "--config", str(config_path), "--id", "1")
    assert detail.exit_code == 0, detail.output
    for label in ("Run 1", "partial", "Counts", "Failures: ", "API calls", ids[0]):
        assert label in detail.stdout, label
    assert ("org usage today" in detail.stdout) == (org.names.crm == "salesforce")  # Zoho reports no usage
    one = json.loads(cli("runs", "--config", str(config_path), "--id", "1", "--json").stdout)
    assert one["run_id"] == 1 and one["status"] == "partial" and "writes failed" in one["reason"]
    assert {f["id"] for f in one["summary"]["failures"]} == set(ids)
    missing = cli("runs", "--config", str(config_path), "--id", "99")
    assert missing.exit_code == 2 and "no run 99" in missing.stderr


def test_explain_a_live_record_from_the_store_and_refreshed_from_the_crm(org: Org, config_path: Path) -> None:
    # explain counts the account's stored open deals in its exposure, as the sync did: on Fxiaoke's seed the
    # target's credit-utilisation band depends on them (without them explain said 30 where the sync wrote 33).
    n = org.names
    config = load_config(config_path)
    assert cli("sync", "--config", str(config_path)).exit_code == 0
    store = StateStore(config.state_url)
    accounts = by_id(org, n.accounts)
    target = next(i for i, a in sorted(accounts.items()) if a[n.tier] == "medium" and not a.get(n.override_tier))
    stored = store.assessments("default", "accounts", [target])[target]
    org.reset_calls()
    live = cli("explain", "--config", str(config_path), "--id", target)
    assert live.exit_code == 0, live.output
    assert org.calls()["total"] == 0  # from the state store alone
    assert f"Risk Score {stored.score:.0f} of 100" in live.stdout and "points for this factor" in live.stdout
    assert f"run {stored.detail['run_id']}" in live.stdout
    edit(config, org, "accounts", target, {n.sanctions: True})
    again = cli("explain", "--config", str(config_path), "--id", target)
    assert f"Risk Score {stored.score:.0f} of 100" in again.stdout  # still the latest assessment
    org.reset_calls()
    fresh = cli("explain", "--config", str(config_path), "--id", target, "--refresh")
    assert fresh.exit_code == 0, fresh.output
    assert "critical" in fresh.stdout and "Read from the CRM just now" in fresh.stdout
    assert org.calls()["writes"] == 0
    assert store.assessments("default", "accounts", [target])[target].score == stored.score
    unknown = cli("explain", "--config", str(config_path), "--id", "nope")
    assert unknown.exit_code == 2 and "no assessment" in unknown.stderr
    zh = cli("explain", "--config", str(config_path), "--id", target, "--lang", "zh")
    assert zh.exit_code == 0 and "风险" in zh.stdout


def test_a_config_problem_found_by_the_checks_is_not_a_failed_run(org: Org, config_path: Path,
                                                                  tmp_path: Path) -> None:
    config = load_config(config_path)
    source = Path(config.mappings["default"].source)
    mapping = tmp_path / "mapping.toml"
    field = {"salesforce": "AnnualRevenue", "zoho": "Annual_Revenue", "fxiaoke": "annual_revenue"}[org.names.crm]
    text = source.read_text(encoding="utf-8")
    assert f'"{field}"' in text
    mapping.write_text(text.replace(f'"{field}"', f'"{field}_Typo"'), encoding="utf-8")
    config_path.write_text(config_path.read_text().replace(str(source), str(mapping)))
    result = cli("sync", "--config", str(config_path))
    assert result.exit_code == 2 and f"{field}_Typo" in result.stderr
    assert "┃ object" not in result.stdout  # no run summary, no table of zeros
    runs = json.loads(cli("runs", "--config", str(config_path), "--json").stdout)
    assert runs == []


def test_flags_show_no_value_in_help() -> None:
    commands = [["sync"], ["runs"], ["demo"], ["explain"], ["check"], ["provision"], ["score"], ["schedule"],
                ["audit", "verify"], ["sandbox", "serve"], ["mappings", "suggest"], []]
    for command in commands:
        result = cli(*command, "--help")
        assert result.exit_code == 0, command
        assert "<bool>" not in result.stdout, command
    assert "--dry-run" in cli("sync", "--help").stdout


def test_the_demo_speaks_chinese_all_the_way() -> None:
    result = cli("demo", "--accounts", "60", "--lang", "zh")
    assert result.exit_code == 0, result.output
    for heading in ("riskbridge 演示", "运行 1", "对象", "已写入", "首次评估", "按等级统计客户", "风险最高的客户"):
        assert heading in result.stdout, heading
    for english in ("riskiest", "accounts by tier", "tasks created", "a credit clerk", "written"):
        assert english not in result.stdout, english
