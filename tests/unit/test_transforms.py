"""One number reader for sync's `number` transform and `score`'s CSV reader (issue 9 §7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.transforms import TRANSFORMS, Unconvertible
from scoring.csvfile import read_accounts_csv
from scoring.fields import FieldKind, read_value
from scoring.numbers import NumberError, parse_number

ACCEPTED = [
    ("42", 42.0), ("-3.5", -3.5), ("+7", 7.0), (" 12 ", 12.0), (".5", 0.5), ("1.", 1.0),
    ("1,234,567.89", 1234567.89), ("1 234", 1234.0), ("1\u00a0234", 1234.0), ("1\u202f234", 1234.0),
    ("1e3", 1000.0), ("1.5E+06", 1_500_000.0), ("2e-3", 0.002),
    ("\u0661\u0662\u0663", 123.0),  # Arabic-Indic ١٢٣
    ("\u06f1\u06f2\u06f3", 123.0),  # Extended Arabic-Indic (Persian) ۱۲۳
    ("\u0661\u066c\u0662\u0663\u0664\u066b\u0665", 1234.5),  # ١٬٢٣٤٫٥ with the Arabic separators
    ("\uff11\uff12\uff13", 123.0),  # full-width １２３
    ("\uff11\uff0c\uff12\uff13\uff14\uff0e\uff15", 1234.5),  # full-width １，２３４．５
    ("\u22125", -5.0),  # U+2212 minus sign
    ("\u0967\u0968", 12.0),  # Devanagari १२
]

REJECTED = [
    ("1_0", "underscore"), ("1_000", "underscore"),
    ("1,23", "comma"), ("12,3456", "comma"), ("1,2,3", "comma"),
    ("nan", "not a number"), ("NaN", "not a number"), ("inf", "not a number"), ("-Infinity", "not a number"),
    ("1e999", "finite"),
    ("12%", "percent"), ("12 %", "percent"),
    ("$10", "not a number"), ("(10)", "not a number"), ("1-2", "not a number"), ("0x1f", "not a number"),
    ("1\u0662", "scripts"),  # 1٢: digits of two scripts
    ("10\u00b2", "superscript"),  # 10²: NFKC would make it 102
    ("\u00bd", "superscript"),  # ½
    ("", "empty"), ("--5", "not a number"), ("1e", "not a number"),
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED)
def test_accepted_numbers_read_the_same_in_sync_and_score(text: str, expected: float) -> None:
    assert parse_number(text) == pytest.approx(expected)
    assert TRANSFORMS["number"](text) == pytest.approx(expected)
    assert read_value(FieldKind.NUMBER, text) == pytest.approx(expected)


@pytest.mark.parametrize(("text", "why"), REJECTED)
def test_rejected_numbers_are_rejected_by_both_paths_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(NumberError, match=why):
        parse_number(text)
    if text:  # an empty cell is "no value" to both readers, not an error
        with pytest.raises(Unconvertible, match=why):
            TRANSFORMS["number"](text)
        with pytest.raises(ValueError, match=why if why not in NumberError.GENERIC else "as a number$"):
            read_value(FieldKind.NUMBER, text)


def test_native_numbers_and_booleans() -> None:
    assert TRANSFORMS["number"](12) == 12.0 and TRANSFORMS["number"](2.5) == 2.5
    assert TRANSFORMS["integer"]("\u0661\u0662") == 12
    for bad in (True, float("nan"), float("inf")):
        with pytest.raises(Unconvertible):
            TRANSFORMS["number"](bad)


def test_the_csv_reader_names_each_bad_cell_with_the_shared_reasons(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("id,annual_revenue,bureau_score,overdue_amount\n"
                    "a,1_0,\u0667\u0665,1,234\n"  # ٧٥ is 75; "1,234" unquoted is two cells: too many values
                    'b,"1,234",50%,nan\n'
                    "c,\uff15\uff10\uff10,+12,1e3\n", encoding="utf-8")
    table = read_accounts_csv(path)
    cells = {(c.row, c.line, c.column): c.reason for c in table.skipped}
    assert cells[(1, 2, "(after overdue_amount)")] == "5 values but only 4 columns"
    assert "percent" in cells[(2, 3, "bureau_score")] and (2, 3, "overdue_amount") in cells
    assert not any(row == 3 for row, _, _ in cells)  # full-width 500, +12 and 1e3 are numbers
    assert [r["id"] for r in table.rows] == ["c"]
    path.write_text("id,annual_revenue,bureau_score\na,1_0,\u0667\u0665\n", encoding="utf-8")
    assert "underscore" in read_accounts_csv(path).skipped[0].reason
    path.write_text("id,annual_revenue,bureau_score\na,\"1,000\",\u0667\u0665\n", encoding="utf-8")
    table = read_accounts_csv(path)
    assert table.accounts.row(0)["bureau_score"] == 75.0 and table.accounts.row(0)["annual_revenue"] == 1000.0
