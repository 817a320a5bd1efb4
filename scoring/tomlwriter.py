"""Write a scorecard back to TOML: the stdlib reads TOML but does not write it.

Covers exactly what a scorecard holds: tables, strings, numbers, booleans and lists (of scalars or
tables, written inline). Floats are written with `repr`, which reads back bit for bit, so trained
points and bin edges survive the round trip exactly.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping

__all__ = ["dumps"]

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE.match(key) else json.dumps(key, ensure_ascii=False)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"a scorecard holds finite numbers only, not {value!r}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, Mapping) for v in value):
            return "[\n" + "".join(f"  {_value(v)},\n" for v in value) + "]"
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to a scorecard")


def _table(data: Mapping[str, object], path: tuple[str, ...], out: list[str]) -> None:
    tables = [(k, v) for k, v in data.items() if isinstance(v, Mapping) and not _is_text(v)]
    plain = [(k, v) for k, v in data.items() if not (isinstance(v, Mapping) and not _is_text(v))]
    if path and (plain or not tables):
        out.append("\n[" + ".".join(_key(p) for p in path) + "]")
    out += [f"{_key(k)} = {_value(v)}" for k, v in plain]
    for k, v in tables:
        assert isinstance(v, Mapping)
        _table(v, (*path, k), out)


def _is_text(value: Mapping[str, object]) -> bool:
    # {en, zh} texts read best inline, next to the key they describe.
    return set(value) == {"en", "zh"}


def dumps(data: Mapping[str, object], header: str = "") -> str:
    """TOML text for `data`, after `header` (comment lines)."""
    out: list[str] = [header.rstrip("\n")] if header else []
    _table(data, (), out)
    return "\n".join(out) + "\n"
