"""CSV in, CSV out, for offline scoring (`riskbridge score`, `riskbridge explain`).

Columns are the canonical account fields (DESIGN.md §4); other columns pass through untouched.
Reading is strict, unlike the sync path: a cell that cannot be read for a known column is an error
naming its row and column, because a person can fix the file. Numbers are read by `scoring.numbers`,
the same reader the sync uses.

Writing neutralises formula injection: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return (what a spreadsheet would evaluate) is written with a leading ``'``, unless it is a
plain number such as ``-12.5``. Values from the CRM or the input file cannot run in Excel that way.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from connector.errors import ConfigError, ConfigProblem
from scoring.assessment import REASONS_SEPARATOR, AssessmentBatch
from scoring.batch import Batch
from scoring.fields import ACCOUNT_FIELDS, read_value
from scoring.scorecard_spec import TIERS

__all__ = ["SCORED_COLUMNS", "CsvTable", "InputFileError", "neutralise_cell", "read_accounts_csv", "write_scored_csv"]

# Added to the input columns by `write_scored_csv`, in this order.
SCORED_COLUMNS: tuple[str, ...] = (
    "risk_score", "risk_tier", "pd", "points", "reasons", "recommended_terms_days", "recommended_credit_limit",
    "model_version",
)
_MAX_LISTED = 25  # a file with thousands of bad cells needs the pattern, not every cell
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


class InputFileError(ConfigError):
    """An input CSV is missing, unreadable, or holds values that cannot be read."""


@dataclass(frozen=True)
class CsvTable:
    """A read CSV: its header and raw cells (for pass-through) and the accounts as a batch."""

    path: Path
    header: list[str]
    rows: list[dict[str, str]]
    accounts: Batch

    def index_of(self, record_id: str) -> int | None:
        """Row index of the first account with this id, or None."""
        hits = np.flatnonzero(self.accounts.ids() == record_id.strip())
        return int(hits[0]) if hits.size else None


def _fail(path: Path, message: str, hint: str = "") -> InputFileError:
    return InputFileError([ConfigProblem(str(path), "", message, hint)])


def read_accounts_csv(path: str | Path) -> CsvTable:
    """Read accounts from a CSV with a header row; raises InputFileError listing every bad cell."""
    file = Path(path)
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            lines = [(reader.line_num, cells) for cells in reader]
    except FileNotFoundError:
        raise _fail(file, "input file not found") from None
    except IsADirectoryError:
        raise _fail(file, "is a directory, not a CSV file") from None
    except UnicodeDecodeError:
        raise _fail(file, "not UTF-8 text", "save the file as CSV UTF-8") from None
    except (OSError, csv.Error) as exc:
        raise _fail(file, f"cannot read the file: {exc}") from None
    if header is None:
        raise _fail(file, "the file is empty; it needs a header row naming the columns")
    header = [h.strip() for h in header]
    if "id" not in header:
        raise _fail(file, "no `id` column in the header row",
                    f"name the columns with canonical field names, e.g. {', '.join(list(ACCOUNT_FIELDS)[:6])}, ...")
    duplicates = sorted({h for h in header if header.count(h) > 1 and h})
    if duplicates:
        raise _fail(file, f"column(s) named twice: {', '.join(duplicates)}")

    problems: list[ConfigProblem] = []
    rows: list[dict[str, str]] = []
    records: list[dict[str, object]] = []
    for number, (line, cells) in enumerate(lines, start=1):
        if not any(c.strip() for c in cells):
            continue  # blank lines are common at the end of exported files
        where = f"row {number} (line {line})"
        if len(cells) > len(header):
            problems.append(ConfigProblem(str(file), where, f"{len(cells)} values but only {len(header)} columns"))
            continue
        raw = dict(zip(header, [*cells, *[""] * (len(header) - len(cells))], strict=True))
        record: dict[str, object] = {}
        for column, text in raw.items():
            kind = ACCOUNT_FIELDS.get(column)
            if kind is None:
                continue
            try:
                record[column] = read_value(kind, text)
            except ValueError as exc:
                problems.append(ConfigProblem(str(file), f"{where}, column {column}", str(exc)))
        if not record.get("id"):
            problems.append(ConfigProblem(str(file), f"{where}, column id", "the id is empty"))
        rows.append(raw)
        records.append(record)
    if problems:
        shown = problems[:_MAX_LISTED]
        if len(problems) > _MAX_LISTED:
            shown.append(ConfigProblem(str(file), "", f"... and {len(problems) - _MAX_LISTED} more problems"))
        raise InputFileError(shown)
    return CsvTable(path=file, header=header, rows=rows, accounts=Batch.from_records(records, ACCOUNT_FIELDS))


def _number(value: float) -> str:
    if np.isnan(value):
        return ""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def scored_rows(table: CsvTable, result: AssessmentBatch, lang: str = "en") -> list[dict[str, str]]:
    """The input rows with the assessment outputs added (or replaced, if the input had them)."""
    tiers = np.array(TIERS)[result.tier]
    out = []
    for i, raw in enumerate(table.rows):
        row = dict(raw)
        row.update({
            "risk_score": str(int(result.risk_score[i])),
            "risk_tier": str(tiers[i]),
            "pd": f"{result.pd[i]:.6f}",
            "points": _number(float(result.score[i])),
            "reasons": REASONS_SEPARATOR.join(r.text for r in result.reasons(i, lang)),
            "recommended_terms_days": str(int(result.policy.recommended_terms_days[i])),
            "recommended_credit_limit": _number(float(result.policy.recommended_credit_limit[i])),
            "model_version": result.model_version,
        })
        out.append(row)
    return out


def neutralise_cell(value: str) -> str:
    """`value` as a spreadsheet shows it without evaluating it (OWASP's CSV-injection advice)."""
    if value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def write_scored_csv(path: str | Path, table: CsvTable, result: AssessmentBatch, lang: str = "en") -> int:
    """Write the input columns plus SCORED_COLUMNS; returns the number of rows written."""
    columns: Sequence[str] = [*table.header, *(c for c in SCORED_COLUMNS if c not in table.header)]
    rows = scored_rows(table, result, lang)
    file = Path(path)
    try:
        with file.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            csv.writer(handle).writerow([neutralise_cell(c) for c in columns])  # a header cell can be a formula too
            writer.writerows({k: neutralise_cell(v) for k, v in row.items()} for row in rows)
    except OSError as exc:
        raise _fail(file, f"cannot write the output: {exc.strerror}") from None
    return len(rows)
