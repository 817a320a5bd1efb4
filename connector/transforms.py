"""The fixed registry of value transforms a mapping may name. No eval: an unknown name is an error."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from connector.countries import COUNTRY_HINT, to_iso2
from scoring.fields import EMPTY_PLACEHOLDERS
from scoring.numbers import NumberError, parse_number

__all__ = ["TRANSFORMS", "Unconvertible", "parse_datetime"]


class Unconvertible(ValueError):
    """A CRM value that cannot be read as the mapped type; the record becomes a record issue."""


# Placeholders people type into CRM fields instead of leaving them empty.
_EMPTY = EMPTY_PLACEHOLDERS


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().casefold() in _EMPTY)


def text(value: Any) -> str | None:
    if type(value) is str:  # the common case first: one strip, no further type checks
        stripped = value.strip()
        return None if stripped.casefold() in _EMPTY else stripped
    if _blank(value):
        return None
    if isinstance(value, dict):  # a lookup such as Zoho's Owner {name, id}
        value = value.get("id") or value.get("name")
    if isinstance(value, list):  # an employee field such as Fxiaoke's owner ["1000"]: the first one
        return text(value[0]) if value else None
    return str(value).strip()


def number(value: Any) -> float | None:
    if type(value) is float or type(value) is int:  # JSON numbers, the common case (bool is neither type)
        result = float(value)
        if math.isnan(result) or math.isinf(result):
            raise Unconvertible(f"expected a finite number, got {value!r}")
        return result
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise Unconvertible(f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        result = float(value)
    else:
        try:
            result = parse_number(str(value))  # the same reader as `riskbridge score`
        except NumberError as exc:
            raise Unconvertible(f"expected a number, got {str(value)[:40]!r}: it {exc}") from None
    if math.isnan(result) or math.isinf(result):
        raise Unconvertible(f"expected a finite number, got {value!r}")
    return result


def integer(value: Any) -> int | None:
    result = number(value)
    return None if result is None else int(round(result))


def boolean(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    folded = str(value).strip().casefold()
    if folded in ("true", "yes", "y", "1", "x"):
        return True
    if folded in ("false", "no", "n", "0"):
        return False
    raise Unconvertible(f"expected true or false, got {str(value)[:40]!r}")


_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%Y.%m.%d", "%d.%m.%Y", "%b %d, %Y", "%d %b %Y", "%B %d, %Y", "%Y/%m/%d")


def to_date(value: Any) -> date | None:
    if _blank(value):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    moment = _epoch_ms(value)
    if moment is not None:  # Fxiaoke sends a date as epoch milliseconds of its midnight in China
        return moment.astimezone(_CST).date()
    raw = str(value).strip()
    if "T" in raw:
        return parse_datetime(raw).date()
    if len(raw) == 10 and raw[4] == raw[7] == "-":  # ISO, what the CRMs send: no strptime (a tenth of the time)
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass  # not a real day: the formats below say so
    global _last_format
    # The format that read the last date goes first: a field keeps one format, so the loop rarely runs.
    # No date string matches two of these formats with different results, so the order never changes one.
    for fmt in (_last_format, *_DATE_FORMATS):
        try:
            parsed = datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
        _last_format = fmt
        return parsed
    raise Unconvertible(f"expected a date, got {raw[:40]!r}")


_last_format = _DATE_FORMATS[0]


_CST = timezone(timedelta(hours=8), "CST")  # China Standard Time: Fxiaoke's dates are midnights there
_EPOCH_MS = re.compile(r"^\d{11,14}$")


def _epoch_ms(value: Any) -> datetime | None:
    """An epoch-milliseconds value (Fxiaoke's dates and times) as a UTC datetime; None if it is not one."""
    if isinstance(value, bool):
        return None
    # A number is a moment only in the same shape as the string form (11-14 digits, whole): a score such as
    # 61.5 read through a "date" transform is a mapping mistake, not a moment in January 1970.
    if isinstance(value, int | float) and not _EPOCH_MS.match(f"{value:.0f}" if float(value).is_integer() else ""):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and _epoch_digits(value.strip())):
        try:
            return datetime.fromtimestamp(float(value) / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise Unconvertible(f"expected epoch milliseconds, got {value!r}") from None
    return None


def _epoch_digits(text: str) -> bool:
    """`_EPOCH_MS` without the regex: 11 to 14 decimal digits (checked for every datetime read)."""
    return 11 <= len(text) <= 14 and text.isdecimal()


def parse_datetime(value: Any) -> datetime:
    """Read a CRM datetime (``2020-10-22T21:03:23.000+0000``, ``2026-05-14T11:36:17+03:00`` or epoch
    milliseconds) as UTC."""
    moment = _epoch_ms(value)
    if moment is not None:
        parsed = moment
    elif isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and (fast := _iso(value)) is not None:
        parsed = fast
    else:
        raw = str(value).strip().replace("Z", "+00:00")
        if re.search(r"[+-]\d{4}$", raw):  # Salesforce writes the offset without a colon
            raw = raw[:-2] + ":" + raw[-2:]
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            raise Unconvertible(f"expected a datetime, got {raw[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _iso(value: str) -> datetime | None:
    """Python 3.11 reads every ISO form the CRMs send (``Z``, ``+0000``, ``+03:00``) directly, as the
    rewriting path below does, at a third of the cost; anything else takes that path."""
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def to_datetime(value: Any) -> datetime | None:
    return None if _blank(value) else parse_datetime(value)


def country(value: Any) -> str | None:
    if _blank(value):
        return None
    code = to_iso2(str(value))
    if code is None:
        raise Unconvertible(f"unknown country {str(value)[:40]!r}: {COUNTRY_HINT}")
    return code


def lower(value: Any) -> str | None:
    result = text(value)
    return result.casefold() if result else None


def rating(value: Any) -> str | None:
    result = text(value)
    return result.upper() if result else None


_CLOSED_STAGES = {"closed won", "closed lost", "closed-lost to competition", "closed - won", "closed - lost"}


def stage_closed(value: Any) -> bool | None:
    result = text(value)
    return None if result is None else result.casefold() in _CLOSED_STAGES


def stage_won(value: Any) -> bool | None:
    result = text(value)
    return None if result is None else result.casefold() in ("closed won", "closed - won")


# Fxiaoke NewOpportunityObj sales_status option values: 1 open, 2 won, 3 lost, 4 void.
_STATUS_CLOSED = {"2", "3", "4", "won", "lost", "void", "赢单", "输单", "无效"}
_STATUS_WON = {"2", "won", "赢单"}


def status_closed(value: Any) -> bool | None:
    result = text(value)
    return None if result is None else result.casefold() in _STATUS_CLOSED


def status_won(value: Any) -> bool | None:
    result = text(value)
    return None if result is None else result.casefold() in _STATUS_WON


TRANSFORMS: dict[str, Callable[[Any], Any]] = {
    "text": text,
    "number": number,
    "integer": integer,
    "bool": boolean,
    "date": to_date,
    "datetime": to_datetime,
    "country": country,
    "lower": lower,
    "rating": rating,
    "stage_closed": stage_closed,
    "stage_won": stage_won,
    "status_closed": status_closed,
    "status_won": status_won,
}
