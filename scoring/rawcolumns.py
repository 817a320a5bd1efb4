"""Raw-column characteristics: an input column binned as it stands, not through a canonical feature.

A scorecard characteristic with `column = "checking_status"` reads that column of the input: a
canonical account field from the batch's typed columns, any other column from the batch's raw text
(a CSV's extra columns; a CRM record has none, see `crm_unsuppliable`). Values become a `Feature`
like any canonical one, so binning, points and reasons need nothing special:

    numeric      the number; empty or a placeholder (`n/a`) is `missing`, unreadable text `invalid`
    categorical  the level, stripped, matched exactly against the card's categories; an empty cell is
                 `missing`, a level the card does not list is `unknown` (its declared `unseen` bin)

Placeholders stay levels in a categorical column: "none" is a real answer there, not a blank.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from scoring.batch import Batch
from scoring.features import INVALID, MISSING, UNKNOWN, VALUE, Feature, FeatureSpec, compute_features
from scoring.fields import ACCOUNT_FIELDS, EMPTY_PLACEHOLDERS, FieldKind, read_value

if TYPE_CHECKING:
    from scoring.scorecard import Scorecard

__all__ = [
    "NUMERIC_FIELDS", "TEXT_FIELDS", "card_features", "crm_unsuppliable", "raw_categories", "raw_feature_spec",
    "raw_numbers",
]

NUMERIC_FIELDS = (FieldKind.NUMBER, FieldKind.BOOL)
TEXT_FIELDS = (FieldKind.TEXT, FieldKind.CATEGORY)


def raw_feature_spec(name: str, column: str, kind: Literal["numeric", "categorical"],
                     higher: str | None = None) -> FeatureSpec:
    """The feature a raw-column characteristic bins: `higher` ("safer"/"riskier") gives it a direction."""
    direction = {"safer": 1, "riskier": -1}.get(higher or "", 0)
    states = ("missing", "invalid") if kind == "numeric" else ("missing", "unknown")
    return FeatureSpec(name, kind, states, (column,), f"input column {column!r} as it stands", direction)


def _number(text: str) -> float | None:
    """A raw cell as a number; None when empty; raises ValueError when unreadable."""
    if text.casefold() in EMPTY_PLACEHOLDERS:
        return None
    value = read_value(FieldKind.NUMBER, text)
    return None if value is None else float(value)  # type: ignore[arg-type]


def raw_numbers(batch: Batch, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, missing, invalid) of a column read as numbers; values are NaN unless readable."""
    if ACCOUNT_FIELDS.get(column) in NUMERIC_FIELDS:
        values = batch.column(column).astype(np.float64)
        invalid = batch.bad(column)
        return values, np.isnan(values) & ~invalid, invalid
    text = batch.raw.get(column)
    if text is None:
        return np.full(len(batch), np.nan), np.ones(len(batch), dtype=bool), np.zeros(len(batch), dtype=bool)
    # Each distinct cell is read once; the records then take their value by index.
    distinct, inverse = np.unique(text, return_inverse=True)
    parsed = np.full(len(distinct), np.nan)
    bad = np.zeros(len(distinct), dtype=bool)
    for i, cell in enumerate(distinct.tolist()):
        try:
            value = _number(str(cell).strip())
        except ValueError:
            bad[i] = True
            continue
        if value is not None and np.isfinite(value):
            parsed[i] = value
        elif value is not None:
            bad[i] = True
    values, invalid = parsed[inverse.reshape(-1)], bad[inverse.reshape(-1)]
    return values, np.isnan(values) & ~invalid, invalid


def raw_categories(batch: Batch, column: str) -> np.ndarray:
    """A column's levels as stripped text, "" where empty."""
    if ACCOUNT_FIELDS.get(column) in TEXT_FIELDS:
        return np.char.strip(batch.column(column).astype(np.str_))
    text = batch.raw.get(column)
    return np.char.strip(text) if text is not None else np.full(len(batch), "", dtype=np.str_)


def _raw_feature(batch: Batch, column: str, kind: str, vocabulary: tuple[str, ...]) -> Feature:
    if kind == "numeric":
        values, missing, invalid = raw_numbers(batch, column)
        state = np.full(len(batch), VALUE, dtype=np.int8)
        state[missing] = MISSING
        state[invalid] = INVALID
        return Feature(values, state)
    levels = raw_categories(batch, column)
    distinct, inverse = np.unique(levels, return_inverse=True)
    index = {c: i for i, c in enumerate(vocabulary)}
    code_of = np.array([index.get(str(d), -1) for d in distinct.tolist()] or [-1], dtype=np.int64)
    codes = code_of[inverse.reshape(-1)] if len(levels) else np.zeros(0, dtype=np.int64)
    state = np.where(codes >= 0, VALUE, UNKNOWN).astype(np.int8)
    state[levels == ""] = MISSING
    return Feature(np.where(state == VALUE, codes, -1), state, vocabulary)


def card_features(card: Scorecard, batch: Batch, *, as_of: date, pipeline: np.ndarray | None = None
                  ) -> dict[str, Feature]:
    """Every characteristic's feature: canonical ones computed, raw-column ones read from their column."""
    canonical = tuple(c.name for c in card.characteristics if c.column is None)
    out = compute_features(batch, card.lookups, canonical, as_of=as_of, pipeline=pipeline)
    for c in card.characteristics:
        if c.column is not None:
            out[c.name] = _raw_feature(batch, c.column, c.feature.kind, c.vocabulary)
    return out


def crm_unsuppliable(scorecard_file: str | Path) -> list[str]:
    """The raw columns a scorecard file reads that are not canonical account fields: no CRM mapping can
    supply them, so a sync would score them all as missing. An unreadable file gives [] (the scorecard
    checks report it)."""
    try:
        raw = tomllib.loads(Path(scorecard_file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    chars = raw.get("characteristics")
    if not isinstance(chars, dict):
        return []
    columns = [ch.get("column") for ch in chars.values() if isinstance(ch, dict)]
    return [c for c in columns if isinstance(c, str) and c not in ACCOUNT_FIELDS]
