"""The rows `riskbridge score` skipped, as lines a person can fix the file from.

Each unreadable cell is listed as row, column, value and reason; an unknown country is listed once per
distinct value, with the rows that hold it and a hint, since one misspelling usually repeats.
"""

from __future__ import annotations

from scoring.catalogue import text
from scoring.csvfile import CsvTable, SkippedCell

__all__ = ["MAX_LINES", "skipped_lines"]

MAX_LINES = 100  # a file with thousands of bad cells needs the pattern, not every cell


def _rows(cells: list[SkippedCell]) -> str:
    rows = sorted({c.row for c in cells})
    shown = ", ".join(str(r) for r in rows[:10])
    return shown + (f", … (+{len(rows) - 10})" if len(rows) > 10 else "")


def skipped_lines(table: CsvTable, lang: str = "en") -> list[str]:
    """The title, then one line per unreadable cell (per distinct value for countries), capped."""
    countries: dict[str, list[SkippedCell]] = {}
    lines: list[str] = []
    for cell in table.skipped:
        if cell.column == "country":
            if cell.value not in countries:
                lines.append(f"country:{cell.value}")  # placeholder, filled in below in first-seen order
            countries.setdefault(cell.value, []).append(cell)
            continue
        line = text("score.skipped_row", lang, row=cell.row, column=cell.column, value=cell.value, reason=cell.reason)
        lines.append(line + (f" ({cell.hint})" if cell.hint else ""))
    for i, line in enumerate(lines):
        if line.startswith("country:"):
            value = line.removeprefix("country:")
            cells = countries[value]
            lines[i] = (text("score.country_unknown", lang, value=value, rows=_rows(cells))
                        + f" ({text('score.country_hint', lang)})")
    if len(lines) > MAX_LINES:
        lines = [*lines[:MAX_LINES], text("score.skipped_more", lang, count=len(lines) - MAX_LINES)]
    return [text("score.skipped_title", lang, count=len(table.skipped_rows), scored=len(table.rows)), *lines]
