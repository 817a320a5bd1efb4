"""Fxiaoke field definitions and the wire formats of their values (docs/crm-fxiaoke.md §10).

Values are stored exactly as the OpenAPI returns them, so reads need no conversion:
number, currency and percentile as strings with the field's decimal places (`"100.01"`); date and
date_time as epoch milliseconds; select_one as the option `value`; select_many as a list of values;
employee and department fields as lists of ids even for one (`["1000"]`); object_reference as the
target's `_id`; true_or_false as a JSON boolean. `coerce` turns a client's write value into that form
or says why it cannot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["CHINA_TZ", "NUMERIC", "TEMPORAL", "FieldDef", "FieldProblem", "coerce", "date_ms", "describe_field",
           "fmt_number", "ms_to_date"]

CHINA_TZ = timezone(timedelta(hours=8))  # tenants on 纷享云 keep dates at Beijing midnight
NUMERIC = frozenset({"number", "currency", "percentile"})
TEMPORAL = frozenset({"date", "date_time"})
_TEXT = frozenset({"text", "long_text", "email", "phone_number", "url", "auto_number"})


@dataclass(frozen=True)
class FieldDef:
    """One field of an object's describe."""

    api_name: str
    label: str
    type: str
    required: bool = False
    custom: bool = False  # define_type "custom" (api name ends with __c) vs "package"
    options: tuple[tuple[str, str], ...] = ()  # (value, label)
    decimal_places: int | None = None
    max_length: int | None = None
    target: str | None = None  # object_reference: the target object's api name
    read_only: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def values(self) -> frozenset[str]:
        return frozenset(v for v, _ in self.options)


class FieldProblem(ValueError):
    """A write value the field cannot hold; the message names field and reason."""


def describe_field(fd: FieldDef) -> dict[str, Any]:
    """The field's entry under `data.describe.fields` of `object/describe`."""
    out: dict[str, Any] = {
        "api_name": fd.api_name, "label": fd.label, "type": fd.type, "is_required": fd.required,
        "define_type": "custom" if fd.custom else ("system" if fd.read_only else "package"),
        "is_active": True, "is_readonly": fd.read_only, "is_unique": False, "description": "",
    }
    if fd.options:
        out["options"] = [{"label": label, "value": value, "not_usable": False} for value, label in fd.options]
    if fd.decimal_places is not None:
        out["decimal_places"] = fd.decimal_places
        out["length"] = 14
    if fd.type == "currency":
        out["currency_unit"] = "￥"
    if fd.max_length is not None:
        out["max_length"] = fd.max_length
    if fd.target:
        out["target_api_name"] = fd.target
    if fd.type == "date":
        out["date_format"] = "yyyy-MM-dd"
    if fd.type == "date_time":
        out.update({"date_format": "yyyy-MM-dd HH:mm", "time_zone": "GMT+8"})
    out.update(fd.extra)
    return out


def fmt_number(fd: FieldDef, value: Any) -> str:
    """A number as the field renders it: a string with its decimal places (`"1200.00"`)."""
    places = fd.decimal_places or 0
    quantum = Decimal(1).scaleb(-places)
    return str(Decimal(str(value)).quantize(quantum))


def date_ms(day: date) -> int:
    """A calendar day as Fxiaoke stores it: epoch milliseconds of Beijing midnight."""
    return int(datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ).timestamp() * 1000)


def ms_to_date(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(CHINA_TZ).date()


def coerce(fd: FieldDef, value: Any, known_ids: frozenset[str] | None = None) -> Any:
    """A client's write value in the stored form; None clears the field. Raises FieldProblem."""
    if value is None or (value == "" and fd.type not in _TEXT):  # an empty string clears a typed field
        return None
    kind = fd.type
    if kind in _TEXT:
        if not isinstance(value, str):
            raise FieldProblem(f"字段 {fd.api_name} 应为文本 (text), got {type(value).__name__}")
        if fd.max_length and len(value) > fd.max_length:
            raise FieldProblem(f"字段 {fd.api_name} 超过最大长度 {fd.max_length}")
        return value
    if kind in NUMERIC:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise FieldProblem(f"字段 {fd.api_name} 应为数字字符串, got {value!r}")
        try:
            return fmt_number(fd, Decimal(str(value).strip()))
        except InvalidOperation:
            raise FieldProblem(f"字段 {fd.api_name} 不是合法数字: {value!r}") from None
    if kind in TEMPORAL:
        if isinstance(value, bool):
            raise FieldProblem(f"字段 {fd.api_name} 应为毫秒时间戳, got {value!r}")
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if not isinstance(value, int):
            raise FieldProblem(f"字段 {fd.api_name} 应为毫秒时间戳 (epoch ms), got {value!r}")
        if kind == "date":  # a date keeps its day: Beijing midnight of the day the instant falls on
            return date_ms(ms_to_date(value))
        return value
    if kind == "true_or_false":
        if not isinstance(value, bool):
            raise FieldProblem(f"字段 {fd.api_name} 应为布尔值 true/false, got {value!r}")
        return value
    if kind == "select_one":
        if not isinstance(value, str) or value not in fd.values:
            raise FieldProblem(f"字段 {fd.api_name} 的选项值 {value!r} 不存在; options: {sorted(fd.values)}")
        return value
    if kind == "select_many":
        if not isinstance(value, list) or not all(isinstance(v, str) and v in fd.values for v in value):
            raise FieldProblem(f"字段 {fd.api_name} 应为选项值列表, one of {sorted(fd.values)}; got {value!r}")
        return list(dict.fromkeys(value))
    if kind in ("employee", "department"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise FieldProblem(f"字段 {fd.api_name} 应为列表 (e.g. [\"1000\"]), got {value!r}")
        if known_ids is not None and any(v not in known_ids for v in value):
            raise FieldProblem(f"字段 {fd.api_name}: 员工不存在 {value!r}")
        return list(value)
    if kind == "object_reference":
        if not isinstance(value, str):
            raise FieldProblem(f"字段 {fd.api_name} 应为关联对象的 _id 字符串, got {value!r}")
        if known_ids is not None and value not in known_ids:
            raise FieldProblem(f"字段 {fd.api_name}: 关联数据不存在 {value!r}")
        return value
    return value  # embedded lists such as related_object_data are stored as sent
