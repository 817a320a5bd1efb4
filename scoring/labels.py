"""Bin labels, states and units in the reader's language (`explain`'s value and band columns).

The scorecard labels its bins in English ("30 to 59 days", "80% and above", "missing"); people reading
Chinese get the same label in Chinese: whole phrases from the catalogue's `[band]`, number ranges
rebuilt from `[unit]` ("30 至 59 天", "80% 及以上"). An English reader gets the label unchanged.
"""

from __future__ import annotations

import re

from scoring.catalogue import catalogue, text

__all__ = ["band_label", "unit_value"]

_UNITS = ((" a year", "per_year"), (" days", "days"), (" years", "years"), (" year", "years"))
_RANGE = re.compile(r"(\S+) to (\S+)")
_UNDER = re.compile(r"(?:under|below) (\S+)")
_ABOVE = re.compile(r"(\S+) (?:and above|and more|or more)")


def unit_value(unit: str, n: str, lang: str) -> str:
    """`150 days` / `150 天`; `unit` is days, years or per_year."""
    return text(f"unit.{unit}", lang, n=n)


def band_label(label: str, lang: str) -> str:
    """A bin label (or state, or category) as `lang` reads it."""
    if lang == "en":
        return label
    words = catalogue(lang)
    exact = words.get(f"band.{label}")
    if exact is not None:
        return exact
    core, unit = label, None
    for english, name in _UNITS:
        if english in core:
            core, unit = core.replace(english, ""), name
            break

    def with_unit(value: str) -> str:
        return unit_value(unit, value, lang) if unit else value

    if m := _RANGE.fullmatch(core):
        return with_unit(text("unit.to", lang, low=m.group(1), high=m.group(2)))
    if m := _UNDER.fullmatch(core):
        return text("unit.under", lang, value=with_unit(m.group(1)))
    if m := _ABOVE.fullmatch(core):
        return text("unit.and_above", lang, value=with_unit(m.group(1)))
    return label
