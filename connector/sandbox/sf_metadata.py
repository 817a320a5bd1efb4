"""Metadata API ``CustomField`` definitions, validated by Salesforce's rules and turned into sandbox field specs.

The rules are those a deploy or a Tooling API create enforces for each type: Text needs a length of 1-255,
LongTextArea 256-131,072 and visible lines, Number, Currency and Percent a precision of at most 18 with a
scale no larger, Checkbox a default value, Picklist a value set; only Text, Number and Email fields can be
external ids or unique. The describe type of each Metadata type is what ``sobjects/X/describe`` reports.
"""

from __future__ import annotations

import re
from typing import Any

from connector.sandbox.sf_fields import FieldSpec

__all__ = ["FIELD_TYPES", "MetadataProblem", "metadata_of", "spec_from_metadata"]

# Metadata API type -> describe type
FIELD_TYPES = {"Text": "string", "TextArea": "textarea", "LongTextArea": "textarea", "Number": "double",
               "Currency": "currency", "Percent": "percent", "Checkbox": "boolean", "Date": "date",
               "DateTime": "datetime", "Picklist": "picklist", "Email": "email", "Phone": "phone", "Url": "url"}
_KEYABLE = frozenset({"Text", "Number", "Email"})
_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)__c$")
_BAD_NAME = ("The Field Name '{name}' can only contain underscores and alphanumeric characters. It must be unique, "
             "begin with a letter, not include spaces, not end with an underscore, and not contain two consecutive "
             "underscores.")


class MetadataProblem(ValueError):
    """Metadata the API rejects: `code` is its errorCode, `fields` the metadata keys at fault."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.fields = code, message, fields or []


def _integrity(message: str, *fields: str) -> MetadataProblem:
    return MetadataProblem("FIELD_INTEGRITY_EXCEPTION", message, list(fields))


def _int(meta: dict[str, Any], key: str, kind: str) -> int | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MetadataProblem("JSON_PARSER_ERROR", f"Cannot deserialize instance of int from {key}: {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise MetadataProblem("JSON_PARSER_ERROR",
                              f"Cannot deserialize instance of int from VALUE_STRING value {value}") from None
    if number < 0:
        raise _integrity(f"{key.capitalize()}: the value of '{key}' for a CustomField of type {kind} must not be "
                         "negative", key)
    return number


def _required(meta: dict[str, Any], key: str, kind: str) -> int:
    value = _int(meta, key, kind)
    if value is None:
        raise _integrity(f"Must specify '{key}' for a CustomField of type {kind}", key)
    return value


def _picklist(meta: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...], str | None, bool]:
    value_set = meta.get("valueSet")
    definition = value_set.get("valueSetDefinition") if isinstance(value_set, dict) else None
    values = definition.get("value") if isinstance(definition, dict) else None
    if not isinstance(values, list) or not values:
        raise _integrity("You must specify either picklist, globalPicklist, or valueSet", "valueSet")
    names: list[str] = []
    labels: list[str] = []
    default: str | None = None
    for v in values:
        name = v.get("fullName") if isinstance(v, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise _integrity("Picklist value: fullName is required", "valueSet")
        if name in names:
            raise MetadataProblem("DUPLICATE_VALUE", f"Duplicate picklist value: {name}", ["valueSet"])
        if len(name) > 255:
            raise _integrity(f"Picklist value {name[:40]}…: values can have at most 255 characters", "valueSet")
        names.append(name)
        label = v.get("label")
        labels.append(label if isinstance(label, str) and label.strip() else name)
        if v.get("default") is True:
            if default is not None:
                raise _integrity("Only one picklist value can be the default", "valueSet")
            default = name
    assert isinstance(value_set, dict)
    return tuple(names), tuple(labels), default, bool(value_set.get("restricted", False))


def spec_from_metadata(name: str, meta: dict[str, Any]) -> FieldSpec:
    """The field spec a valid ``Metadata`` creates for field `name` (``X__c``); raises `MetadataProblem`."""
    if not _NAME.match(name) or len(name) > 43:
        raise _integrity(_BAD_NAME.format(name=name.removesuffix("__c")), "FullName")
    kind = meta.get("type")
    if not isinstance(kind, str) or kind not in FIELD_TYPES:
        raise MetadataProblem("JSON_PARSER_ERROR", f"Cannot deserialize instance of enumerated type FieldType from "
                              f"VALUE_STRING value {kind} or request may be missing a required field")
    label = meta.get("label")
    if not isinstance(label, str) or not label.strip():
        raise _integrity(f"Must specify 'label' for a CustomField of type {kind}", "label")
    if len(label) > 40:
        raise _integrity(f"Field label: data value too large: {label} (max length=40)", "label")
    external_id, unique = bool(meta.get("externalId")), bool(meta.get("unique"))
    if (external_id or unique) and kind not in _KEYABLE:
        key = "externalId" if external_id else "unique"
        raise _integrity(f"Can not specify '{key}' for a CustomField of type {kind}", key)
    help_text = meta.get("inlineHelpText")
    if help_text is not None and (not isinstance(help_text, str) or len(help_text) > 510):
        raise _integrity("Help text can have at most 510 characters", "inlineHelpText")
    kw: dict[str, Any] = {"external_id": external_id, "unique": unique, "id_lookup": external_id or unique,
                          "nillable": not meta.get("required"), "help_text": help_text}
    if kind == "Text":
        length = _required(meta, "length", kind)
        if not 1 <= length <= 255:
            raise _integrity("Length: the length of a Text field must be between 1 and 255", "length")
        kw["length"] = length
    elif kind == "TextArea":
        kw["length"] = 255
    elif kind == "LongTextArea":
        length = _required(meta, "length", kind)
        if not 256 <= length <= 131_072:
            raise _integrity("Length: the length of a Long Text Area must be between 256 and 131,072", "length")
        _required(meta, "visibleLines", kind)
        kw.update(length=length, filterable=False, sortable=False)
    elif kind in ("Number", "Currency", "Percent"):
        precision = _required(meta, "precision", kind)
        scale = _int(meta, "scale", kind) or 0
        if not 1 <= precision <= 18:
            raise _integrity("Precision: the precision must be between 1 and 18", "precision")
        if scale > precision:
            raise _integrity("Scale: the scale cannot be larger than the precision", "scale")
        kw.update(precision=precision, scale=scale)
    elif kind == "Checkbox":
        default = meta.get("defaultValue")
        if default is None:
            raise _integrity(f"Must specify 'defaultValue' for a CustomField of type {kind}", "defaultValue")
        text = str(default).strip().lower()
        if text not in ("true", "false"):
            raise _integrity(f"Default value: '{default}' is not a valid Checkbox default (true or false)",
                             "defaultValue")
        kw.update(nillable=False, defaulted=True, default=text == "true")
    elif kind == "Picklist":
        values, labels, default, restricted = _picklist(meta)
        kw.update(length=255, picklist=values, picklist_labels=labels, restricted=restricted, default=default,
                  defaulted=default is not None)
    elif kind == "Email":
        kw["length"] = 80
    elif kind == "Phone":
        kw["length"] = 40
    elif kind == "Url":
        kw["length"] = 255
    return FieldSpec(name=name, type=FIELD_TYPES[kind], label=label.strip(), custom=True, **kw)


def metadata_of(spec: FieldSpec, description: str | None = None) -> dict[str, Any]:
    """The Tooling API's ``Metadata`` of a field (the subset of keys this sandbox keeps)."""
    kind = next((k for k, t in FIELD_TYPES.items() if t == spec.type), "Text")
    if spec.type == "textarea":
        kind = "LongTextArea" if spec.length > 255 else "TextArea"
    meta: dict[str, Any] = {
        "label": spec.label, "type": kind, "description": description, "inlineHelpText": spec.help_text,
        "externalId": spec.external_id, "unique": spec.unique, "required": not spec.nillable and kind != "Checkbox",
        "length": spec.length if kind in ("Text", "LongTextArea") else None,
        "precision": spec.precision if kind in ("Number", "Currency", "Percent") else None,
        "scale": spec.scale if kind in ("Number", "Currency", "Percent") else None,
        "visibleLines": 3 if kind == "LongTextArea" else None,
        "defaultValue": ("true" if spec.default else "false") if kind == "Checkbox" else None,
        "valueSet": None,
    }
    if kind == "Picklist":
        meta["valueSet"] = {"restricted": spec.restricted, "valueSetDefinition": {"sorted": False, "value": [
            {"fullName": v, "label": spec.picklist_label(i), "default": v == spec.default}
            for i, v in enumerate(spec.picklist)]}}
    return meta
