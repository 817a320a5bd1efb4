"""`riskbridge score` and `riskbridge explain`: thin commands, clear failures with exit code 2."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app

from .cards import default_raw, write_card

ACCOUNTS = ("id,name,country,industry,bureau_score,internal_rating,credit_limit,open_receivables,"
            "overdue_amount,max_days_past_due,customer_since,crm_note\n"
            "A1,Acme GmbH,DE,Manufacturing,82,2,50000,20000,0,0,2012-03-01,keep me\n"
            "A2,Shaky Ltd,TR,Retail,25,8,20000,30000,18000,75,2024-11-01,\n")


@pytest.fixture
def accounts_csv(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.csv"
    path.write_text(ACCOUNTS, encoding="utf-8")
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_score_writes_the_scored_csv(accounts_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "scored.csv"
    code, stdout, _ = run("score", "--input", str(accounts_csv), "--output", str(out), "--as-of", "2025-06-30")
    assert code == 0, stdout
    assert "scored 2 accounts" in stdout
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["risk_tier"] for r in rows] == ["low", "high"]
    assert rows[0]["crm_note"] == "keep me"
    assert rows[1]["reasons"].startswith("Weak credit bureau score or rating (20 to 40 of 100) | ")


def test_score_in_chinese_with_a_custom_scorecard(accounts_csv: Path, tmp_path: Path) -> None:
    raw = default_raw()
    raw["tiers"]["high"] = 80
    raw["tiers"]["critical"] = 90
    card = write_card(tmp_path / "lenient.toml", raw)
    out = tmp_path / "scored.csv"
    code, stdout, _ = run("score", "--input", str(accounts_csv), "--output", str(out), "--scorecard", str(card),
                          "--lang", "zh", "--as-of", "2025-06-30")
    assert code == 0, stdout
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[1]["risk_tier"] == "medium"
    assert rows[1]["model_version"].startswith("lenient-")
    assert "征信评分或评级较弱" in rows[1]["reasons"]


def test_explain_prints_the_points_table_and_the_rest(accounts_csv: Path) -> None:
    code, stdout, _ = run("explain", "--input", str(accounts_csv), "--id", "A2", "--as-of", "2025-06-30")
    assert code == 0, stdout
    for text in ("factor", "points for this factor", "points lost", "share of invoices overdue", "60%", "TR (high)",
                 "Risk Score 73 of 100 (higher is riskier)", "Risk tier high",
                 "Probability of default within 12 months:", "Knockouts: none", "Override: none",
                 "Recommended action: payment terms 15 days", "Collections: chase the overdue invoices",
                 "Task: High credit risk: Shaky Ltd"):
        assert text in stdout, text
    assert "pd " not in stdout and "points alone" not in stdout


def test_explain_in_chinese_is_chinese_all_the_way(accounts_csv: Path) -> None:
    code, stdout, _ = run("explain", "--input", str(accounts_csv), "--id", "A2", "--as-of", "2025-06-30",
                          "--lang", "zh")
    assert code == 0, stdout
    for text in ("因素", "该因素的得分", "失分", "逾期金额占比", "风险评分 73(满分 100,越高风险越大)", "风险等级 高",
                 "12 个月内违约概率", "一票否决项:无", "人工调整:无", "建议措施:付款期限 15 天", "催收:立即催收逾期发票",
                 "任务:信用风险高:Shaky Ltd"):
        assert text in stdout, text
    assert "60 至 89 天" in stdout and "75 天" in stdout  # bands and units too
    for english in ("Risk Score", "Reasons", "Override", "Recommended", "Task:", "points", "missing", " days"):
        assert english not in stdout, english


def test_explain_shows_an_override_with_the_computed_tier(tmp_path: Path) -> None:
    src = tmp_path / "o.csv"
    src.write_text("id,name,bureau_score,internal_rating,max_days_past_due,override_tier,override_reason,"
                   "override_until\nW,Wonka Materials,10,9,95,medium,Parent company guarantee on file,2026-01-31\n",
                   encoding="utf-8")
    code, stdout, _ = run("explain", "--input", str(src), "--id", "W", "--as-of", "2025-06-30")
    assert code == 0, stdout
    line = "tier medium (override: Parent company guarantee on file, until 2026-01-31; computed: high)"
    assert f"Risk {line}" in " ".join(stdout.split())
    reasons = next(x for x in stdout.splitlines() if x.startswith("Reasons:"))
    assert "guarantee" not in reasons
    assert "Override:" not in stdout  # the tier line already says it, once
    code, stdout, _ = run("explain", "--input", str(src), "--id", "W", "--as-of", "2026-02-01")
    assert code == 0 and "Risk tier high" in stdout
    assert "Override: override to medium expired on 2026-01-31; the computed tier applies" in " ".join(stdout.split())


MESSY = ("id,name,country,annual_revenue,bureau_score,max_days_past_due,statement_date\n"
         "G1,Good One,Germany,5000000,80,0,2025-03-31\n"
         "B1,Bad Revenue,DE,about 5M,80,0,2025-03-31\n"
         "G2,Placeholders,USA,n/a,pending,0,\n"
         "B2,Unknown Land,Atlantis,100,50,0,\n"
         "G3,中国客户,中国,1000000,40,35,2025-01-31\n"
         "B3,Unknown Again,Atlantis,100,50,0,\n")


def test_score_a_messy_csv_scores_the_good_rows_lists_the_bad_and_exits_1(tmp_path: Path) -> None:
    src, out = tmp_path / "messy.csv", tmp_path / "scored.csv"
    src.write_text(MESSY, encoding="utf-8")
    code, stdout, stderr = run("score", "--input", str(src), "--output", str(out), "--as-of", "2025-06-30")
    assert code == 1, stderr
    assert "scored 3 accounts" in stdout
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == ["G1", "G2", "G3"]
    assert rows[1]["country"] == "USA"  # the input passes through; the converted code is what was scored
    listed = " ".join(stderr.split())
    assert "3 rows skipped (3 scored)" in listed
    assert "row 2, column annual_revenue: 'about 5M': cannot read 'about 5M' as a number" in listed
    assert listed.count("'Atlantis'") == 1 and "(rows 4, 6)" in listed  # once per distinct value
    assert "use an ISO code" in listed
    assert "G1" not in listed and "pending" not in listed


def test_score_excel_starts_with_a_bom_and_xlsx_writes_a_workbook(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    src = tmp_path / "in.csv"
    src.write_text(MESSY.split("B1,")[0] + "G3,中国客户,中国,1000000,40,35,2025-01-31\n", encoding="utf-8")
    csv_out, xlsx_out = tmp_path / "scored.csv", tmp_path / "scored.xlsx"
    code, _, stderr = run("score", "--input", str(src), "--output", str(csv_out), "--excel", "--lang", "zh",
                          "--as-of", "2025-06-30")
    assert code == 0, stderr
    raw = csv_out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "中国客户".encode() in raw
    plain = tmp_path / "plain.csv"
    assert run("score", "--input", str(src), "--output", str(plain), "--as-of", "2025-06-30")[0] == 0
    assert not plain.read_bytes().startswith(b"\xef\xbb\xbf")
    code, _, stderr = run("score", "--input", str(src), "--output", str(xlsx_out), "--format", "xlsx",
                          "--as-of", "2025-06-30")
    assert code == 0, stderr
    sheet = load_workbook(xlsx_out).active
    values = list(sheet.values)
    header = list(values[0])
    assert header[:3] == ["id", "name", "country"] and "risk_tier" in header and "advice" in header
    assert [v[0] for v in values[1:]] == ["G1", "G3"]
    assert isinstance(values[1][header.index("risk_score")], int)
    code, _, stderr = run("score", "--input", str(src), "--output", str(xlsx_out), "--format", "pdf")
    assert code == 2 and "--format must be csv or xlsx" in stderr


def test_explain_a_row_that_was_skipped_says_why(tmp_path: Path) -> None:
    src = tmp_path / "messy.csv"
    src.write_text(MESSY, encoding="utf-8")
    code, stdout, _ = run("explain", "--input", str(src), "--id", "G3", "--as-of", "2025-06-30")
    assert code == 0 and "中国客户" in stdout and "│ CN" in stdout and "country risk" in stdout
    code, _, stderr = run("explain", "--input", str(src), "--id", "B1")
    assert code == 2
    assert "row 2 (line 3), column annual_revenue" in " ".join(stderr.split())


@pytest.mark.parametrize(("content", "message"), [
    (None, "input file not found"),
    ("name,country\nAcme,DE\n", "no `id` column"),
])
@pytest.mark.parametrize("command", ["score", "explain"])
def test_bad_input_exits_2_with_a_clear_message(tmp_path: Path, content: str | None, message: str,
                                               command: str) -> None:
    path = tmp_path / "in.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    extra = ["--output", str(tmp_path / "o.csv")] if command == "score" else ["--id", "A"]
    code, stdout, stderr = run(command, "--input", str(path), *extra)
    assert code == 2
    assert message in " ".join(stderr.split()), stderr
    assert stdout == ""


@pytest.mark.parametrize("command", ["score", "explain"])
def test_a_bad_scorecard_exits_2_naming_the_key(accounts_csv: Path, tmp_path: Path, command: str) -> None:
    raw = default_raw()
    raw["tiers"]["high"] = 10
    card = write_card(tmp_path / "bad.toml", raw)
    extra = ["--output", str(tmp_path / "o.csv")] if command == "score" else ["--id", "A1"]
    code, _, stderr = run(command, "--input", str(accounts_csv), "--scorecard", str(card), *extra)
    assert code == 2
    assert "tiers.high" in stderr


def test_explain_an_unknown_id_and_bad_options(accounts_csv: Path, tmp_path: Path) -> None:
    code, _, stderr = run("explain", "--input", str(accounts_csv), "--id", "NOPE")
    assert code == 2 and "no account with id 'NOPE'" in stderr
    code, _, stderr = run("score", "--input", str(accounts_csv), "--output", str(tmp_path / "o.csv"),
                          "--lang", "fr")
    assert code == 2 and "--lang must be en or zh" in stderr
    code, _, stderr = run("score", "--input", str(accounts_csv), "--output", str(tmp_path / "o.csv"),
                          "--as-of", "30/06/2025")
    assert code == 2 and "--as-of must be a date" in stderr
