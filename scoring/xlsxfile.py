"""The scored accounts as an Excel workbook (`riskbridge score --format xlsx`); needs openpyxl (extra `xlsx`).

The same columns and cells as the scored CSV, with formula-like cells made inert the same way: openpyxl
would otherwise store a cell starting with ``=`` as a formula.
"""

from __future__ import annotations

from pathlib import Path

from connector.errors import ConfigError, ConfigProblem
from scoring.assessment import AssessmentBatch
from scoring.catalogue import text
from scoring.csvfile import CsvTable, neutralise_cell, scored_columns, scored_rows

__all__ = ["write_scored_xlsx"]

_NUMERIC = ("risk_score", "pd", "points", "recommended_terms_days", "recommended_credit_limit")


def _cell(column: str, value: str) -> str | int | float:
    """Scored numbers as numbers (so Excel can sort and sum them); everything else as inert text."""
    if column in _NUMERIC and value:
        number = float(value)
        return int(number) if number.is_integer() else number
    return neutralise_cell(value)


def write_scored_xlsx(path: str | Path, table: CsvTable, result: AssessmentBatch, lang: str = "en", *,
                      exact: bool = False) -> int:
    """Write one sheet, header row first; returns the number of rows written."""
    try:
        from openpyxl import Workbook
    except ImportError:
        raise ConfigError([ConfigProblem(str(path), "--format", text("score.xlsx_missing", lang))]) from None
    file = Path(path)
    columns = list(scored_columns(table))
    rows = scored_rows(table, result, lang, exact=exact)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("scored")
    sheet.append([neutralise_cell(c) for c in columns])
    for row in rows:
        sheet.append([_cell(c, row.get(c, "")) for c in columns])
    try:
        book.save(file)
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(file), "", f"cannot write the output: {exc.strerror}")]) from None
    return len(rows)
