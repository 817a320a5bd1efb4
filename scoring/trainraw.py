"""Raw columns in training: which columns can be trained, how each is read, and its scorecard bins.

A raw column is numeric when every non-empty cell reads as a number, else categorical (text levels
such as "< 0 DM"). The training frame feeds optbinning the very values scoring reads
(`scoring.rawcolumns`): numbers with NaN for empty or unreadable cells, levels as stripped text with
None for empty cells, so the card and the pipeline bin every row alike. Each bin's points come from
the fitted binning's own transform of a value in that bin, as for canonical features; a level the
training never saw gets the pipeline's weight for unknown levels, in the card's declared `unseen` bin.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from connector.errors import ConfigProblem
from scoring.batch import Batch
from scoring.catalogue import text
from scoring.csvfile import SCORED_COLUMNS, CsvTable
from scoring.features import FEATURES
from scoring.fields import ACCOUNT_FIELDS
from scoring.intervals import edge_keys, intervals, label_apart
from scoring.rawcolumns import NUMERIC_FIELDS, TEXT_FIELDS, raw_categories, raw_numbers

__all__ = [
    "MAX_LEVELS", "RawColumn", "raw_candidates", "raw_characteristic", "raw_column", "raw_frame_column",
    "reason_code", "taken_codes", "to_object", "unseen_level",
]

logger = logging.getLogger(__name__)

MAX_LEVELS = 50  # more distinct levels than this is an identifier or free text, not a characteristic
_LABEL_CHARS = 200
# A level no data set holds: what the pipeline is asked about to learn where unseen levels score.
_UNSEEN = "\x00riskbridge: a level not seen in training\x00"


def unseen_level() -> str:
    return _UNSEEN


@dataclass(frozen=True)
class RawColumn:
    """A raw column chosen for training."""

    column: str
    kind: Literal["numeric", "categorical"]
    levels: int = 0  # distinct non-empty levels, for categorical columns


def raw_column(batch: Batch, column: str) -> RawColumn | str:
    """How `column` is trained, or the reason it cannot be."""
    field = ACCOUNT_FIELDS.get(column)
    if field is not None and field in NUMERIC_FIELDS:
        return RawColumn(column, "numeric")
    if field is not None and field not in TEXT_FIELDS:
        return f"{column} is a {field.value} field; only numbers and text levels are trained as raw columns"
    if field is None:
        values, missing, invalid = raw_numbers(batch, column)
        if missing.all():
            return f"{column} is empty in every row"
        if not invalid.any():
            return RawColumn(column, "numeric")
    levels = raw_categories(batch, column)
    distinct = int(np.unique(levels[levels != ""]).size)
    if distinct == 0:
        return f"{column} is empty in every row"
    if distinct > MAX_LEVELS:
        return f"{column} has {distinct} distinct values, more than {MAX_LEVELS}; an identifier or free text " \
               "does not make a characteristic"
    return RawColumn(column, "categorical", distinct)


def raw_frame_column(batch: Batch, raw: RawColumn) -> np.ndarray:
    """The column as the training pipeline sees it (see the module docstring)."""
    if raw.kind == "numeric":
        return raw_numbers(batch, raw.column)[0]
    levels = raw_categories(batch, raw.column).astype(object)
    levels[levels == ""] = None
    return levels


def reason_code(column: str, taken: Sequence[str]) -> str:
    """A reason code for a raw column, e.g. RAW_CHECKING_STATUS, unique among `taken`."""
    stem = ("RAW_" + re.sub(r"[^A-Z0-9]+", "_", column.upper()).strip("_"))[:36].rstrip("_")
    code, n = stem, 2
    while code in taken:
        code, n = f"{stem}_{n}", n + 1
    return code


def _texts(key: str, **values: object) -> dict[str, str]:
    return {lang: text(f"train.raw.{key}", lang, **values) for lang in ("en", "zh")}


def _levels_label(levels: list[str], lang: str = "en") -> str:
    joined = text("train.raw.level_join", lang).join(f"'{c}'" for c in levels)
    if len(joined) <= _LABEL_CHARS:
        return joined
    shown = joined[:_LABEL_CHARS].rsplit(text("train.raw.level_join", lang), 1)[0]
    return f"{shown} … ({len(levels)})"


def _numeric_bins(raw: RawColumn, splits: list[float], points: Callable[[Any], float]) -> list[dict[str, Any]]:
    column = raw.column
    out: list[dict[str, Any]] = [{"label": "missing", "state": "missing", "points": points(float("nan")),
                                  "reason": _texts("missing", column=column)}]
    for iv in intervals(splits):
        reason = _texts(iv.side, column=column, lower=iv.lo, upper=iv.up)  # each text names the edges it has
        out.append({"label": iv.label, "points": points(iv.stand_in), "reason": reason, **edge_keys(iv)})
    return label_apart(out)


def _level_bins(raw: RawColumn, groups: list[list[str]], points: Callable[[Any], float]) -> list[dict[str, Any]]:
    column = raw.column
    unseen = text("train.raw.unseen_label", "en")
    out: list[dict[str, Any]] = [{"label": "missing", "state": "missing", "points": points(None),
                                  "reason": _texts("missing", column=column)}]
    for levels in groups:
        reason = {lang: text("train.raw.levels", lang, column=column, levels=_levels_label(levels, lang))
                  for lang in ("en", "zh")}
        out.append({"label": _levels_label(levels), "categories": levels, "points": points(levels[0]),
                    "reason": reason})
    out.append({"label": unseen, "categories": [], "points": points(_UNSEEN),
                "reason": _texts("unseen", column=column)})
    return out


def raw_characteristic(optb: Any, raw: RawColumn, points: Callable[[Any], float], code: str) -> dict[str, Any]:
    """The scorecard entry of a fitted raw column; `points(value)` is the fitted points of a value."""
    entry: dict[str, Any] = {"column": raw.column, "kind": raw.kind, "group": "credit", "reason_code": code,
                             "reason": _texts("reason", column=raw.column)}
    if raw.kind == "numeric":
        bins = _numeric_bins(raw, [float(s) for s in optb.splits], points)
        steps = [b["points"] for b in bins if "state" not in b]
        rising = all(b >= a for a, b in zip(steps, steps[1:], strict=False))
        falling = all(b <= a for a, b in zip(steps, steps[1:], strict=False))
        if rising != falling:  # a one-way column keeps its direction, so a hand edit cannot break it
            entry["higher"] = "safer" if rising else "riskier"
    else:
        groups = [sorted(str(c) for c in split) for split in optb.splits]
        bins = _level_bins(raw, groups, points)
        entry["unseen"] = bins[-1]["label"]
    entry["bins"] = bins
    return entry


def to_object(value: Any) -> np.ndarray:
    """One value as the one-row array optbinning transforms (object dtype keeps text levels intact)."""
    return np.array([value], dtype=object)


def raw_candidates(table: CsvTable, target: str, asked: Sequence[str], exclude: Sequence[str],
                    problems: list[ConfigProblem]) -> dict[str, RawColumn]:
    """The raw columns to try: those asked for, or else every column of the data that is no canonical
    field, outcome or score. A column asked for that cannot be trained is a problem; one merely found
    is left out (logged)."""
    names = [n for n in asked if n not in FEATURES] if asked else [
        c for c in table.header if c not in ACCOUNT_FIELDS and c not in SCORED_COLUMNS and c != target]
    out: dict[str, RawColumn] = {}
    for name in names:
        if name in exclude:
            continue
        if name in FEATURES:  # the name means the canonical feature, computed from its inputs
            logger.info("not training on column %s as a raw column: it has a canonical characteristic's name", name)
            continue
        found = raw_column(table.accounts, name)
        if isinstance(found, RawColumn):
            out[name] = found
        elif asked:
            problems.append(ConfigProblem(str(table.path), "--characteristics", found))
        else:
            logger.info("not training on column %s: %s", name, found)
    return out


def taken_codes(card: dict[str, Any]) -> list[str]:
    """Every reason code a card already uses."""
    codes = [c["reason_code"] for c in card["characteristics"].values()]
    codes += [k["code"] for k in card.get("knockouts", [])]
    flags = card.get("deal_flags", {})
    return [*codes, card["override"]["code"], *(f["code"] for f in flags.values())]
