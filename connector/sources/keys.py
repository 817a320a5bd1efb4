"""Key normalisation: an ERP number, DUNS, tax id or 统一社会信用代码 as typed in two systems, made comparable.

Both sides go through the same function: trimmed, inner blanks and dashes dropped, case folded and
(for numbers kept with zero padding in one system only) leading zeros stripped, as the source configures.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from connector.sources.spec import SourceKey

__all__ = ["KeyIndex", "normalise_key"]

_NOISE = re.compile(r"[\s\-_./]+")


def normalise_key(value: Any, key: SourceKey) -> str | None:
    """The comparable form of one key value; None for a blank key (such a row matches nothing)."""
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:  # NaN: an empty cell
            return None
        if value.is_integer():
            value = int(value)  # 10042.0 from a spreadsheet is the number 10042
    text = _NOISE.sub("", str(value).strip())
    if key.case == "fold":
        text = text.casefold()
    if key.leading_zeros == "strip":
        text = text.lstrip("0") or ("0" if text else "")
    return text or None


@dataclass
class KeyIndex:
    """Source rows by normalised key, with the keys seen more than once (their rows are not used)."""

    rows: dict[str, int] = field(default_factory=dict)  # key -> row position
    duplicates: dict[str, int] = field(default_factory=dict)  # key -> number of rows carrying it
    blank: int = 0

    @classmethod
    def build(cls, keys: Iterable[str | None]) -> KeyIndex:
        index = cls()
        counts: dict[str, int] = {}
        for position, k in enumerate(keys):
            if k is None:
                index.blank += 1
                continue
            counts[k] = counts.get(k, 0) + 1
            index.rows.setdefault(k, position)
        index.duplicates = {k: n for k, n in counts.items() if n > 1}
        return index
