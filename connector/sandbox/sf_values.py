"""Salesforce wire values: record ids, datetime text, and converting written values to stored ones.

Stored values are the JSON the API sends: datetimes as ``2020-10-22T21:03:23.000+0000`` (UTC, fixed
width, so text order is time order), dates as ``YYYY-MM-DD``, numbers as floats, checkboxes as bools.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connector.sandbox.sf_fields import FieldSpec

__all__ = ["IdFactory", "ValueProblem", "coerce", "fmt_date", "fmt_datetime", "from_org_value", "normalize_id",
           "parse_datetime", "to18", "to_org_value"]

_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # ASCII order = id order
_B62_RE = re.compile(r"^[0-9A-Za-z]+$")
_DT_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
                    r"\s*(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE)
_NUMBER_TYPES = frozenset({"double", "currency", "percent", "int"})
_DIRTY_DATES = ("%d/%m/%Y", "%Y.%m.%d", "%b %d, %Y")  # as `data._dirty_date` writes them


def to18(id15: str) -> str:
    """The case-safe 18-character form of a 15-character Salesforce id."""
    suffix = ""
    for chunk in range(3):
        flags = sum(1 << i for i, ch in enumerate(id15[chunk * 5:chunk * 5 + 5]) if "A" <= ch <= "Z")
        suffix += _SUFFIX[flags]
    return id15 + suffix


def normalize_id(value: Any) -> str | None:
    """The canonical 18-character id for a 15- or 18-character id (any letter case), or None if malformed."""
    if not isinstance(value, str) or not _B62_RE.match(value):
        return None
    if len(value) == 15:
        return to18(value)
    if len(value) != 18 or any(c not in _SUFFIX for c in value[15:].upper()):
        return None
    chars = list(value[:15])
    for chunk, flag_char in enumerate(value[15:].upper()):
        flags = _SUFFIX.index(flag_char)
        for i in range(5):
            pos = chunk * 5 + i
            chars[pos] = chars[pos].upper() if flags >> i & 1 else chars[pos].lower()
    return to18("".join(chars))


class IdFactory:
    """Deterministic ids for one key prefix: prefix + pod + base62 counter, in creation order."""

    def __init__(self, prefix: str, start: int) -> None:
        self.prefix = prefix
        self.next = start

    def __call__(self) -> str:
        n, digits = self.next, ""
        self.next += 1
        for _ in range(6):
            n, r = divmod(n, 62)
            digits = _BASE62[r] + digits
        return to18(f"{self.prefix}5g0000{digits}")


def fmt_datetime(dt: datetime) -> str:
    """``2020-10-22T21:03:23.000+0000``: UTC, milliseconds, offset without a colon."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "+0000"


def fmt_date(d: date) -> str:
    return d.isoformat()


def parse_datetime(text: str) -> datetime | None:
    """An aware datetime from ISO 8601 text (``Z``, ``+00:00`` or ``+0000``; naive means UTC), or None."""
    m = _DT_RE.match(text.strip())
    if not m:
        return None
    year, month, day, hour, minute, sec, frac, tz = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        dt = datetime(int(year), int(month), int(day), int(hour), int(minute), int(sec or 0), micro, tzinfo=UTC)
    except ValueError:
        return None
    if tz and tz.upper() != "Z":
        sign = 1 if tz[0] == "+" else -1
        hh, mm = int(tz[1:3]), int(tz[-2:])
        dt -= sign * timedelta(hours=hh, minutes=mm)
    return dt


class ValueProblem(ValueError):
    """A written value the field cannot take. `code` is the Salesforce error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _bad_type(spec: FieldSpec, value: Any, kind: str) -> ValueProblem:
    # The REST API rejects these while parsing JSON, before any record is looked at.
    return ValueProblem("JSON_PARSER_ERROR",
                        f"Cannot deserialize instance of {kind} from VALUE_STRING value {value} "
                        f"or request may be missing a required field")


def coerce(spec: FieldSpec, value: Any, *, csv: bool = False) -> Any:
    """The stored value for `value` written to `spec`. Raises `ValueProblem` when it cannot be stored.

    JSON callers pass decoded JSON; Bulk API callers pass CSV text (`csv=True`), where ``#N/A`` means null.
    """
    if csv and value == "#N/A":
        value = None
    if value is None:
        if spec.type == "boolean":
            return False  # a checkbox has no null: clearing it unchecks it
        if not spec.nillable and not spec.defaulted:
            raise ValueProblem("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{spec.name}]")
        return None
    t = spec.type
    if t in _NUMBER_TYPES:
        if isinstance(value, bool):
            raise _bad_type(spec, value, "double")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _bad_type(spec, value, "double") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise _bad_type(spec, value, "double")
        if spec.precision and abs(round(number, spec.scale)) >= 10 ** (spec.precision - spec.scale):
            raise ValueProblem("NUMBER_OUTSIDE_VALID_RANGE",
                               f"{spec.label}: value outside of valid range on numeric field: {value}")
        number = round(number, spec.scale)
        return int(number) if t == "int" else number
    if t == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0", ""):
            return False
        raise _bad_type(spec, value, "boolean")
    if t == "date":
        text = str(value).strip()
        try:
            return date.fromisoformat(text).isoformat() if len(text) == 10 else _date_of(text)
        except ValueError:
            raise _bad_type(spec, value, "date") from None
    if t == "datetime":
        dt = parse_datetime(str(value))
        if dt is None:
            raise _bad_type(spec, value, "datetime")
        return fmt_datetime(dt)
    if t in ("id", "reference"):
        ident = normalize_id(str(value)) if value != "" else None
        if ident is None:
            if value == "":
                return None
            raise ValueProblem("MALFORMED_ID", f"{spec.label}: id value of incorrect type: {value}")
        return ident
    text = value if isinstance(value, str) else _plain(value)
    if csv and text == "":
        return None
    if spec.length and len(text) > spec.length:
        raise ValueProblem("STRING_TOO_LONG",
                           f"{spec.label}: data value too large: {text[:80]} (max length={spec.length})")
    if spec.restricted and spec.picklist and text not in spec.picklist:
        raise ValueProblem("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                           f"{spec.label}: bad value for restricted picklist field: {text}")
    return text


def _date_of(value: Any) -> str:
    dt = parse_datetime(str(value))
    if dt is None:
        raise ValueError(value)
    return dt.date().isoformat()


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _parse_date(value: str) -> str | None:
    text = value.strip()
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        pass
    for fmt in _DIRTY_DATES:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def to_org_value(spec: FieldSpec, value: Any) -> Any:
    """A canonical generated value as a field of `spec`'s type stores it; None where the type cannot hold it.

    An org whose bureau score is a Number field never received "n/a"; one whose statement date is a Date field
    holds the date the clerk meant.
    """
    if spec.type == "boolean":
        return bool(value)
    if value is None:
        return None
    if spec.type in ("double", "currency", "percent"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return round(number, spec.scale)
    if spec.type == "date":
        return _parse_date(str(value))
    text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if spec.picklist and text not in spec.picklist:
        return None
    return text


def from_org_value(spec: FieldSpec, value: Any) -> Any:
    """The canonical value of a stored field value (the inverse of `to_org_value` where it is defined)."""
    if value is None or spec.type not in ("string", "picklist"):
        return value
    text = str(value)
    return int(text) if text.isdigit() else text
