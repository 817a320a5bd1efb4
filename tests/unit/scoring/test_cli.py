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
    for text in ("characteristic", "shortfall", "overdue_ratio", "60%", "TR (high)",
                 "Risk Score 73, tier high", "Knockouts: none", "Override: none", "Recommended action: terms 15 days",
                 "Task: High credit risk: Shaky Ltd"):
        assert text in stdout, text


@pytest.mark.parametrize(("content", "message"), [
    (None, "input file not found"),
    ("name,country\nAcme,DE\n", "no `id` column"),
    ("id,bureau_score\nA,82\nB,eighty\n", "row 2 (line 3), column bureau_score: cannot read 'eighty'"),
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
