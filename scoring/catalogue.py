"""The texts people read, one catalogue per language (`scoring/texts/<lang>.toml`).

    from scoring.catalogue import text, tier_name
    text("plan.summary_title", "zh")                      # "计划摘要"
    text("plan.tier_move", "en", count=37, before="medium", after="high")
    tier_name("high", "zh")                               # "高"

Keys are dotted paths into the TOML tables. Every language has the same keys and the same
{placeholders} (a unit test fails otherwise), so a caller never falls back to another language
mid-screen. An unknown key or language raises KeyError: a missing text is a bug, not a blank.
Scorecard reasons and advice live in the scorecard file, next to the bins they describe.
"""

from __future__ import annotations

import string
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["LANGS", "catalogue", "placeholders", "text", "tier_name"]

LANGS: tuple[str, ...] = ("en", "zh")
_DIR = Path(__file__).with_name("texts")


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, path + "."))
        else:
            out[path] = str(value)
    return out


@cache
def catalogue(lang: str) -> dict[str, str]:
    """Every text of `lang`, by dotted key (read once)."""
    if lang not in LANGS:
        raise KeyError(f"no text catalogue for language {lang!r}; known: {', '.join(LANGS)}")
    with (_DIR / f"{lang}.toml").open("rb") as handle:
        return _flatten(tomllib.load(handle))


def placeholders(template: str) -> frozenset[str]:
    """The {names} a template fills."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


def text(key: str, lang: str = "en", /, **values: object) -> str:
    """The text `key` in `lang`, with `values` filled in."""
    template = catalogue(lang)[key]
    return template.format(**values) if values else template


def tier_name(tier: str, lang: str = "en") -> str:
    """A tier (`low` … `critical`) as people read it in `lang`."""
    return text(f"tier.{tier}", lang)
