"""CSV in, CSV out, for offline scoring (`riskbridge score`, `riskbridge explain`).

Columns are the canonical account fields (DESIGN.md §4); other columns pass through untouched, and a
scorecard's raw-column characteristics read them as they stand (`scoring.rawcolumns`).
Every row that can be read is scored. A row with a cell that cannot be read (`about 5M`, a country no
one knows) is skipped and listed with its row, column, value and reason, so a person can fix the file;
only a problem with the file itself (missing, not UTF-8, no `id` column) stops the read. Placeholders
such as `n/a` or `pending` are empty, as in the sync. Numbers are read by `scoring.numbers` and countries
by `connector.countries`, the same readers the sync uses.

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

from connector.countries import COUNTRY_HINT, to_iso2
from connector.errors import ConfigError, ConfigProblem
from scoring.assessment import AssessmentBatch
from scoring.batch import Batch
from scoring.fields import ACCOUNT_FIELDS, EMPTY_PLACEHOLDERS, read_value
from scoring.scorecard_spec import TIERS

__all__ = [
    "SCORED_COLUMNS", "CsvTable", "InputFileError", "SkippedCell", "neutralise_cell", "read_accounts_csv",
    "scored_rows", "write_scored_csv",
]

# Added to the input columns by `write_scored_csv`, in this order.
SCORED_COLUMNS: tuple[str, ...] = (
    "risk_score", "risk_tier", "computed_tier", "pd", "points", "reasons", "advice", "recommended_terms_days",
    "recommended_credit_limit", "model_version",
)
ADVICE_SEPARATOR = " / "
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


class InputFileError(ConfigError):
    """An input CSV is missing, unreadable, or holds values that cannot be read."""


@dataclass(frozen=True)
class SkippedCell:
    """A cell that could not be read; its row was not scored."""

    row: int  # data row, 1 = the first row under the header
    line: int  # line in the file
    record_id: str  # the row's id cell, as written
    column: str
    value: str
    reason: str
    hint: str = ""


@dataclass(frozen=True)
class CsvTable:
    """A read CSV: its header and raw cells (for pass-through) and the scorable accounts as a batch.

    `rows` and `accounts` hold only the rows that could be read; `skipped` lists every cell that made a
    row unreadable (a row can have several), in file order."""

    path: Path
    header: list[str]
    rows: list[dict[str, str]]
    accounts: Batch
    skipped: tuple[SkippedCell, ...] = ()

    @property
    def skipped_rows(self) -> list[int]:
        """The data rows that were not scored, in file order."""
        return sorted({cell.row for cell in self.skipped})

    def skipped_cells_of(self, record_id: str) -> list[SkippedCell]:
        """The unreadable cells of the skipped rows whose id is `record_id`."""
        return [c for c in self.skipped if c.record_id.strip() == record_id.strip()]

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

    skipped: list[SkippedCell] = []
    rows: list[dict[str, str]] = []
    records: list[dict[str, object]] = []
    for number, (line, cells) in enumerate(lines, start=1):
        if not any(c.strip() for c in cells):
            continue  # blank lines are common at the end of exported files
        if len(cells) > len(header):
            extra = ",".join(cells[len(header):])
            skipped.append(SkippedCell(number, line, cells[header.index("id")], f"(after {header[-1]})", extra[:80],
                                       f"{len(cells)} values but only {len(header)} columns",
                                       "quote values that contain a comma"))
            continue
        raw = dict(zip(header, [*cells, *[""] * (len(header) - len(cells))], strict=True))
        record, bad = _read_row(number, line, raw)
        if bad:
            skipped += bad
            continue
        rows.append(raw)
        records.append(record)
    return CsvTable(path=file, header=header, rows=rows, accounts=Batch.from_records(records, ACCOUNT_FIELDS),
                    skipped=tuple(skipped))


def _read_row(number: int, line: int, raw: dict[str, str]) -> tuple[dict[str, object], list[SkippedCell]]:
    """One row's canonical values, and the cells that could not be read."""
    record: dict[str, object] = {}
    bad: list[SkippedCell] = []
    rid = raw.get("id", "")
    for column, text in raw.items():
        kind = ACCOUNT_FIELDS.get(column)
        if kind is None:
            record[column] = text  # kept as raw text for raw-column characteristics (`scoring.rawcolumns`)
            continue
        if text.strip().casefold() in EMPTY_PLACEHOLDERS:
            record[column] = None  # `n/a`, `pending`: empty, as the sync reads them
            continue
        if column == "country":
            code = to_iso2(text)
            if code is None:
                bad.append(SkippedCell(number, line, rid, column, text, "not a country riskbridge knows", COUNTRY_HINT))
            record[column] = code
            continue
        try:
            record[column] = read_value(kind, text)
        except ValueError as exc:
            bad.append(SkippedCell(number, line, rid, column, text, str(exc)))
    if not record.get("id"):
        bad.insert(0, SkippedCell(number, line, rid, "id", rid, "the id is empty"))
    return record, bad


def _number(value: float) -> str:
    if np.isnan(value):
        return ""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def scored_rows(table: CsvTable, result: AssessmentBatch, lang: str = "en", *, exact: bool = False
                ) -> list[dict[str, str]]:
    """The input rows with the assessment outputs added (or replaced, if the input had them); `exact`
    writes pd and points with every digit (`repr`, which reads back bit for bit) instead of rounded."""
    tiers = np.array(TIERS)[result.tier]
    computed = np.array(TIERS)[result.computed_tier]
    out = []
    for i, raw in enumerate(table.rows):
        row = dict(raw)
        a = result.assessment(i, lang)
        row.update({
            "risk_score": str(int(result.risk_score[i])),
            "risk_tier": str(tiers[i]),
            "computed_tier": str(computed[i]),
            "pd": repr(float(result.pd[i])) if exact else f"{result.pd[i]:.6f}",
            "points": repr(float(result.score[i])) if exact else _number(float(result.score[i])),
            "reasons": a.reasons_text,
            "advice": ADVICE_SEPARATOR.join(a.advice),
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


def write_scored_csv(path: str | Path, table: CsvTable, result: AssessmentBatch, lang: str = "en", *,
                     excel: bool = False, exact: bool = False) -> int:
    """Write the input columns plus SCORED_COLUMNS; returns the number of rows written.

    `excel` starts the file with a UTF-8 byte order mark: without it Excel reads UTF-8 as the local code
    page and Chinese text turns to mojibake."""
    columns = scored_columns(table)
    rows = scored_rows(table, result, lang, exact=exact)
    file = Path(path)
    try:
        with file.open("w", encoding="utf-8-sig" if excel else "utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            csv.writer(handle).writerow([neutralise_cell(c) for c in columns])  # a header cell can be a formula too
            writer.writerows({k: neutralise_cell(v) for k, v in row.items()} for row in rows)
    except OSError as exc:
        raise _fail(file, f"cannot write the output: {exc.strerror}") from None
    return len(rows)


def scored_columns(table: CsvTable) -> Sequence[str]:
    """The output's columns: the input's, then the SCORED_COLUMNS it did not have."""
    return [*table.header, *(c for c in SCORED_COLUMNS if c not in table.header)]
