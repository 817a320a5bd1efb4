"""Scorecard files for tests: the default as a dict to mutate, and a tiny TOML writer."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

from scoring import DEFAULT_SCORECARD


def default_raw() -> dict[str, Any]:
    """A fresh, mutable copy of the default scorecard's TOML data."""
    with DEFAULT_SCORECARD.open("rb") as handle:
        return copy.deepcopy(tomllib.load(handle))


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value))


def to_toml(raw: dict[str, Any]) -> str:
    """TOML for `raw`, every table inline (valid TOML 1.0, if not pretty)."""
    return "".join(f"{json.dumps(k, ensure_ascii=False)} = {_value(v)}\n" for k, v in raw.items())


def write_card(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(to_toml(raw), encoding="utf-8")
    return path


def bins(raw: dict[str, Any], characteristic: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = raw["characteristics"][characteristic]["bins"]
    return result


def bin_index(raw: dict[str, Any], characteristic: str, label: str) -> int:
    return next(i for i, b in enumerate(bins(raw, characteristic)) if b["label"] == label)
