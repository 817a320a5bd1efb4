"""Whether an existing CRM field suits what the job needs of it: a status and a hint for the admin.

Inputs are judged by their transform (a `date` transform on a number field can never convert; a
`number` on a picklist works only if every value is numeric), outputs by what riskbridge writes into
them (type, text length, the tier picklist's values), the task key by being a unique external id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from connector.admin.metadata import NUMERIC, TEXTUAL, FieldMeta
from connector.admin.needs import FieldNeed

__all__ = ["Fit", "Status", "fit"]

Status = Literal["ok", "warning", "error", "missing"]

# transform -> (kinds that suit it, kinds that may work but deserve a look); anything else is an error.
_TRANSFORM_KINDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "text": (frozenset({"text", "textarea", "picklist", "reference", "id", "other"}),
             frozenset({"number", "currency", "percent", "integer", "boolean", "date", "datetime", "multipicklist"})),
    "number": (NUMERIC, TEXTUAL | {"picklist"}),
    "integer": (NUMERIC, TEXTUAL | {"picklist"}),
    "bool": (frozenset({"boolean"}), TEXTUAL | {"picklist"}),
    "date": (frozenset({"date", "datetime"}), TEXTUAL),
    "datetime": (frozenset({"datetime", "date"}), TEXTUAL),
    "country": (frozenset({"text", "picklist"}), frozenset({"textarea"})),
    "lower": (frozenset({"text", "picklist"}), frozenset({"textarea"})),
    "rating": (frozenset({"text", "picklist"}), frozenset({"textarea"})),
    "stage_closed": (frozenset({"picklist", "text"}), frozenset()),
    "stage_won": (frozenset({"picklist", "text"}), frozenset()),
    "status_closed": (frozenset({"picklist", "text"}), frozenset()),
    "status_won": (frozenset({"picklist", "text"}), frozenset()),
}


@dataclass(frozen=True)
class Fit:
    status: Status
    hint: str = ""


def fit(need: FieldNeed, field: FieldMeta | None) -> Fit:
    """How well `field` serves `need`; ``missing`` when it does not exist."""
    if field is None:
        return Fit("missing", f"create it as {need.describe_type()}" if need.creatable else
                   "no such field: fix the mapping (riskbridge mappings suggest lists candidates)")
    if need.role == "input" or (need.role == "override" and need.transform is not None):
        result = _input(need, field)
        if need.role == "override" and result.status == "ok" and not field.updateable:
            return Fit("ok", "read-only to the integration user; fine, riskbridge only reads it")
        return result
    if need.role == "task_key":
        return _task_key(need, field)
    return _output(need, field)


def _input(need: FieldNeed, field: FieldMeta) -> Fit:
    transform = need.transform or "text"
    good, maybe = _TRANSFORM_KINDS.get(transform, (frozenset(), frozenset()))
    if field.kind in good:
        if transform in ("lower", "rating") and need.picklist and field.picklist:
            unknown = sorted({v.casefold() for v in field.picklist} - {p.casefold() for p in need.picklist})
            if unknown and need.canonical in ("override_tier", "audit_opinion"):
                return Fit("warning", f"picklist values riskbridge does not know: {', '.join(unknown)}")
        return Fit("ok")
    what = f"a {field.crm_type} field"
    if field.kind in maybe:
        if field.kind in TEXTUAL:
            return Fit("ok", f"{what} read with transform {transform!r}; values that do not convert are skipped "
                             "as record issues")
        return Fit("warning", f"transform {transform!r} on {what}: check that every value converts")
    return Fit("error", f"transform {transform!r} cannot read {what}; use "
                        f"{_suggest_transform(field)!r} or map another field")


def _suggest_transform(field: FieldMeta) -> str:
    return {"number": "number", "currency": "number", "percent": "number", "integer": "integer",
            "boolean": "bool", "date": "date", "datetime": "datetime"}.get(field.kind, "text")


def _output(need: FieldNeed, field: FieldMeta) -> Fit:
    if not field.updateable:
        return Fit("error", "read-only to the integration user: grant edit access (field-level security or "
                            "the Riskbridge_Integration permission set) or map another field")
    kind = need.kind
    if kind in ("number", "currency"):
        if field.kind not in NUMERIC:
            return Fit("error", f"riskbridge writes a number; this is a {field.crm_type} field")
        if field.kind == "integer" and need.scale:
            return Fit("warning", f"an integer field; riskbridge writes {need.scale} decimal(s), they are rounded")
        whole = need.precision - need.scale
        if field.precision and field.precision - field.scale < whole:
            return Fit("error", f"holds {field.precision - field.scale} digits before the point; "
                                f"riskbridge needs {whole}")
        return Fit("ok")
    if kind == "picklist":
        if field.kind in TEXTUAL:
            return Fit("ok" if field.length == 0 or field.length >= 8 else "error",
                       "" if field.length == 0 or field.length >= 8 else "text too short for a tier name")
        if field.kind != "picklist":
            return Fit("error", f"riskbridge writes one of {', '.join(need.picklist)}; this is a "
                                f"{field.crm_type} field")
        lacking = [v for v in need.picklist if v.casefold() not in {p.casefold() for p in field.picklist}]
        if lacking:
            return Fit("error", f"picklist lacks the value(s) {', '.join(lacking)}: add them in the CRM's setup")
        return Fit("ok")
    if kind in ("text", "textarea"):
        if field.kind not in TEXTUAL:
            return Fit("error", f"riskbridge writes text; this is a {field.crm_type} field")
        if field.length and field.length < min(need.length, 255) // 2:
            return Fit("error", f"holds {field.length} characters; riskbridge writes up to {need.length}")
        if field.length and field.length < need.length:
            return Fit("warning", f"holds {field.length} characters; riskbridge writes up to {need.length}, "
                                  "longer values fail to write")
        return Fit("ok")
    if kind == "boolean" and need.canonical == "watchlist" and field.kind == "multipicklist":
        return Fit("ok", "a multi-select: riskbridge adds or removes its watchlist option (Fxiaoke "
                         "watchlist_style = \"select_many\")")
    if kind == "boolean":
        return Fit("ok") if field.kind == "boolean" else Fit("error", f"needs a checkbox; this is a "
                                                                      f"{field.crm_type} field")
    if kind == "datetime":
        if field.kind == "datetime":
            return Fit("ok")
        return Fit("error", f"needs a date/time field; this is a {field.crm_type} field")
    return Fit("ok")


def _task_key(need: FieldNeed, field: FieldMeta) -> Fit:
    if field.kind not in TEXTUAL:
        return Fit("error", f"the task key must be text; this is a {field.crm_type} field")
    problems = []
    if not field.external_id:  # Zoho has no such flag: its reader counts a unique field as one
        problems.append("not an External ID")
    if not field.unique:
        problems.append("not unique")
    if problems:
        return Fit("error", f"{' and '.join(problems)}: tasks could be duplicated after a retry; recreate it as "
                            f"a unique External ID {need.describe_type()}")
    return Fit("ok")
