"""Offline CSV scoring: strict reading that names bad cells, pass-through writing."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from connector.skipped_view import MAX_LINES, skipped_lines
from scoring import assess, read_accounts_csv, write_scored_csv
from scoring.csvfile import SCORED_COLUMNS, InputFileError
from scoring.plaintext import plain_text

AS_OF = date(2025, 6, 30)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_round_trip_keeps_input_columns_and_adds_outputs(tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", "id,name,bureau_score,note,max_days_past_due\n"
                                     "A,Acme,85,keep me,0\nB,Bust,10,,120\n")
    table = read_accounts_csv(src)
    result = assess(table.accounts, as_of=AS_OF)
    assert write_scored_csv(tmp_path / "out.csv", table, result) == 2
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["id", "name", "bureau_score", "note", "max_days_past_due", *SCORED_COLUMNS]
    assert rows[0]["note"] == "keep me" and rows[0]["bureau_score"] == "85"
    assert rows[1]["risk_tier"] == "high"
    assert rows[1]["reasons"].split(" | ")[0] == "Invoices more than 90 days past due"
    assert rows[1]["model_version"] == result.model_version
    assert float(rows[1]["pd"]) == pytest.approx(float(result.pd[1]), abs=1e-6)


def test_reasons_in_chinese_and_existing_output_columns_are_replaced(tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", "id,risk_tier,max_days_past_due\nA,stale,65\n")
    table = read_accounts_csv(src)
    write_scored_csv(tmp_path / "out.csv", table, assess(table.accounts, as_of=AS_OF), lang="zh")
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
        header, row = list(csv.reader(handle))
    assert header.count("risk_tier") == 1
    assert row[header.index("risk_tier")] != "stale"
    assert "发票逾期超过60天" in row[header.index("reasons")]


def test_excel_bom_blank_lines_and_short_rows_are_read(tmp_path: Path) -> None:
    src = tmp_path / "bom.csv"
    src.write_bytes("\ufeffid,name,country\r\nA,Äpfel GmbH,DE\r\n\r\nB,Short\r\n".encode())
    table = read_accounts_csv(src)
    assert table.accounts.ids().tolist() == ["A", "B"]
    assert table.rows[1]["country"] == ""
    assert table.index_of("B") == 1 and table.index_of("nope") is None


def test_every_unreadable_cell_is_listed_and_only_its_row_is_skipped(tmp_path: Path) -> None:
    src = write(tmp_path / "bad.csv", "id,annual_revenue,statement_date,sanctions_hit,country,extra\n"
                                      "A,12abc,2024-01-01,no,DE,whatever\n"
                                      "B,5,31/12/2024,maybe,Deutschland,x\n"
                                      ",1,,,,\n"
                                      "C,n/a,pending,,United States,ok\n"
                                      "D,7,,,Atlantis,\n"
                                      "E,1,2,3,4,5,6\n")
    table = read_accounts_csv(src)
    cells = [(c.row, c.line, c.record_id, c.column, c.value, c.reason) for c in table.skipped]
    assert cells == [
        (1, 2, "A", "annual_revenue", "12abc", "cannot read '12abc' as a number"),
        (2, 3, "B", "statement_date", "31/12/2024", "cannot read '31/12/2024' as an ISO date (YYYY-MM-DD)"),
        (2, 3, "B", "sanctions_hit", "maybe", "cannot read 'maybe' as true/false"),
        (3, 4, "", "id", "", "the id is empty"),
        (5, 6, "D", "country", "Atlantis", "not a country riskbridge knows"),
        (6, 7, "E", "(after extra)", "6", "7 values but only 6 columns"),
    ]
    assert table.skipped_rows == [1, 2, 3, 5, 6]
    assert table.skipped[4].hint.startswith("use an ISO code")
    # The one good row is read, with placeholders as empty and the country converted, as the sync does.
    assert [r["id"] for r in table.rows] == ["C"]
    row = table.accounts.row(0)
    assert (row["annual_revenue"], row["statement_date"], row["country"]) == (None, None, "US")
    assert table.skipped_cells_of("B") == list(table.skipped[1:3])


@pytest.mark.parametrize(("text", "message"), [
    ("", "the file is empty"),
    ("name,country\nAcme,DE\n", "no `id` column"),
    ("id,name,id\nA,B,C\n", "column(s) named twice: id"),
])
def test_malformed_files_fail_clearly(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_accounts_csv(write(tmp_path / "x.csv", text))


def test_missing_or_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="input file not found"):
        read_accounts_csv(tmp_path / "absent.csv")
    with pytest.raises(InputFileError, match="not UTF-8"):
        (tmp_path / "latin.csv").write_bytes("id,name\nA,M\xfcller\n".encode("latin-1"))
        read_accounts_csv(tmp_path / "latin.csv")
    table = read_accounts_csv(write(tmp_path / "ok.csv", "id\nA\n"))
    with pytest.raises(InputFileError, match="cannot write"):
        write_scored_csv(tmp_path / "no" / "such" / "dir.csv", table, assess(table.accounts, as_of=AS_OF))


def test_a_flood_of_bad_cells_is_summarised_and_a_repeated_country_listed_once(tmp_path: Path) -> None:
    src = write(tmp_path / "many.csv", "id,bureau_score,country\n" + "".join(f"A{i},bad,DE\n" for i in range(140))
                + "".join(f"B{i},50,Narnia\n" for i in range(3)))
    table = read_accounts_csv(src)
    assert len(table.skipped) == 143 and table.rows == []
    lines = skipped_lines(table)
    assert lines[0] == "143 rows skipped (0 scored): cells that could not be read"
    assert len(lines) == 1 + MAX_LINES + 1
    assert lines[-1] == "… and 41 more (fix these and run again)"
    few = read_accounts_csv(write(tmp_path / "few.csv", "id,country\nA,DE\nB,Narnia\nC,Narnia\nD,Narnia\n"))
    assert skipped_lines(few) == [
        "3 rows skipped (1 scored): cells that could not be read",
        "column country: 'Narnia' is not a country riskbridge knows (rows 2, 3, 4) (use an ISO code (DE, US, CN) "
        "or a country name in English, German, French, Spanish or Chinese)",
    ]


def test_cells_a_spreadsheet_would_evaluate_are_written_inert(tmp_path: Path) -> None:
    """Formula injection (issue 9 §7): =, +, -, @, tab and CR at the start of a cell get a leading '."""
    src = tmp_path / "in.csv"
    with src.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([
            ["id", "name", "note", "max_days_past_due", "delta"],
            ["=1+1", "=HYPERLINK(\"http://x\",\"click\")", "+cmd|' /C calc'!A0", "0", "-12.5"],
            ["B", "@SUM(A1:A2)", "\tlead tab", "0", "-2+3"],
            ["C", "\rcr", "-", "0", "+7"],
        ])
    table = read_accounts_csv(src)
    result = assess(table.accounts, as_of=AS_OF)
    write_scored_csv(tmp_path / "out.csv", table, result)
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["id"] == "'=1+1" and rows[0]["name"].startswith("'=HYPERLINK")
    assert rows[0]["note"] == "'+cmd|' /C calc'!A0"
    assert rows[1]["name"] == "'@SUM(A1:A2)" and rows[1]["note"] == "'\tlead tab" and rows[1]["delta"] == "'-2+3"
    assert rows[2]["name"] == "'\rcr" and rows[2]["note"] == "'-"
    assert rows[0]["delta"] == "-12.5" and rows[2]["delta"] == "+7"  # plain numbers stay numbers
    formula = tuple("=+-@\t\r")
    for row in rows:
        for column, value in row.items():
            assert not value.startswith(formula) or value in ("-12.5", "+7") or column == "points", (column, value)


def test_an_override_reason_reaches_the_reasons_text_without_markup(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    reason = ("<b>Agreed</b> with [bold red]CFO[/] [link=https://evil.example]see[/link] "
              "&lt;script&gt;alert(1)&lt;/script&gt;\x1b[31m\u202eplan\x07\n  in place")
    with src.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([
            ["id", "max_days_past_due", "override_tier", "override_reason", "override_until"],
            ["A", "0", "high", reason, "2099-01-01"],
        ])
    table = read_accounts_csv(src)
    result = assess(table.accounts, as_of=AS_OF)
    assert [r.code for r in result.reasons(0)] == [r.code for r in assess([{"id": "A", "max_days_past_due": 0}], as_of=AS_OF).reasons(0)]
    line = result.reasons_text(0).split(" | ")[0]
    assert line == "tier high (override: Agreed with CFO see alert(1) plan in place, until 2099-01-01; computed: medium)"
    for bad in ("<", ">", "[bold", "[/", "[link", "\x1b", "\u202e", "\x07", "\n"):
        assert bad not in line
    assert plain_text("Agreed [per CFO] until Q3 [#ff0000]now[/]") == "Agreed [per CFO] until Q3 now"


def test_score_writes_a_header_a_spreadsheet_cannot_run(tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", "id,=cmd|' /C calc'!A0,max_days_past_due\nA,x,0\n")
    table = read_accounts_csv(src)
    write_scored_csv(tmp_path / "out.csv", table, assess(table.accounts, as_of=AS_OF))
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    assert header[:3] == ["id", "'=cmd|' /C calc'!A0", "max_days_past_due"]
