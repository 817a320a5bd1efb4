"""The one reader of numbers typed by people: sync's `number` transform and `riskbridge score`'s CSV reader.

Both paths must read a cell the same way, so the rules live here and nowhere else:

    accepted                                   rejected
    42  -3.5  +7  .5  1.                       1_0            (Python's float() would say 10)
    1,234,567.89   1 234   1 234 (NBSP)        1,23  12,3456  (a decimal comma, or groups not of three)
    1.5e6  2E-3  (spreadsheet exports)         nan  inf  -Infinity
    ١٢٣ (Arabic-Indic)  ۱۲۳ (Persian)          12%            (percent: 12 or 0.12? say it in the value)
    １２３ (full-width)  −5 (U+2212 minus)      $10  (10)  1-2  0x1f  1٢ (digits of two scripts)

Digits of any script are read as their decimal value (`unicodedata.decimal`), full-width signs and
separators are folded by NFKC, and the Arabic decimal and thousands separators (U+066B, U+066C) count as
`.` and `,`. A number must use digits of one script: `1٢` is a typo, not 12.
"""

from __future__ import annotations

import math
import re
import unicodedata

__all__ = ["NumberError", "parse_number"]

_GROUP_MARKS = {",", " ", "\u00a0", "\u202f", "\u2009", "\u066c"}  # comma, spaces, Arabic thousands separator
_SIGNS = {"\u2212": "-", "\ufe63": "-", "\uff0d": "-"}  # minus sign, small and full-width hyphen-minus
_PLAIN = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?([eE][+-]?\d+)?")


class NumberError(ValueError):
    """Text that is not a number by the rules above; the message says why."""

    GENERIC = "is not a number"


def _ascii_digits(text: str) -> str:
    """Digits of any single script as ASCII; other characters unchanged."""
    out, scripts = [], set()
    for ch in text:
        value = unicodedata.decimal(ch, None) if not ch.isascii() else None
        if value is not None:
            scripts.add(unicodedata.name(ch, "").split(" DIGIT")[0])
            out.append(str(value))
        else:
            if ch.isdigit():
                scripts.add("ASCII")
            out.append(ch)
    if len(scripts) > 1:
        raise NumberError("mixes digits of different scripts")
    return "".join(out)


def parse_number(text: str) -> float:
    """A finite float from `text`, or `NumberError` saying why not."""
    if any(ch.isnumeric() and unicodedata.decimal(ch, None) is None for ch in text):
        raise NumberError("has a superscript, fraction or circled digit")  # NFKC would make 10² read 102
    folded = unicodedata.normalize("NFKC", text).strip()
    folded = "".join(_SIGNS.get(ch, ch) for ch in folded).replace("\u066b", ".")
    if not folded:
        raise NumberError("is empty")
    if "_" in folded:
        raise NumberError("has an underscore; write 1000 or 1,000")
    if "%" in folded:
        raise NumberError("has a percent sign; write the number without it")
    digits = _ascii_digits(folded)
    grouped = "".join("," if ch in _GROUP_MARKS else ch for ch in digits)
    if _PLAIN.fullmatch(grouped):
        result = float(grouped)
    elif _GROUPED.fullmatch(grouped):
        result = float(grouped.replace(",", ""))
    elif "," in grouped and re.fullmatch(r"[+-]?[\d,]+(\.\d*)?", grouped):
        raise NumberError("has a comma that is not a thousands separator (groups of three digits); "
                          "write decimals with a point")
    else:
        raise NumberError(NumberError.GENERIC)
    if not math.isfinite(result):
        raise NumberError("is too large to be a finite number")
    return result
