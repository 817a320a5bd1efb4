"""How the sandbox declares one Salesforce field: `FieldSpec`, and helpers for the fields every object shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["FieldSpec", "audit_fields", "declare", "read_only"]


@dataclass(frozen=True)
class FieldSpec:
    """What the sandbox needs to know about one field to validate reads and writes."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    custom: bool = False
    external_id: bool = False
    unique: bool = False
    id_lookup: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship: str | None = None
    filterable: bool = True
    sortable: bool = True
    defaulted: bool = False
    default: Any = None
    help_text: str | None = None
    picklist_labels: tuple[str, ...] = ()  # shown for `picklist` values; the values themselves where empty

    def picklist_label(self, index: int) -> str:
        return self.picklist_labels[index] if index < len(self.picklist_labels) else self.picklist[index]

    @property
    def long_text(self) -> bool:
        return self.type == "textarea" and self.length > 255

    @classmethod
    def from_entry(cls, e: dict[str, Any]) -> FieldSpec:
        return cls(
            name=e["name"], type=e["type"], label=e["label"], length=e["length"], precision=e["precision"],
            scale=e["scale"], nillable=e["nillable"], createable=e["createable"], updateable=e["updateable"],
            custom=e["custom"], external_id=e["externalId"], unique=e["unique"], id_lookup=e["idLookup"],
            picklist=tuple(p["value"] for p in e["picklistValues"] if p["active"]),
            restricted=e["restrictedPicklist"], reference_to=tuple(e["referenceTo"]),
            relationship=e["relationshipName"], filterable=e["filterable"], sortable=e["sortable"],
            defaulted=e["defaultedOnCreate"], default=e["defaultValue"],
        )


def declare(name: str, type_: str, length: int = 0, precision: int = 0, scale: int = 0, **kw: Any) -> FieldSpec:
    custom = name.endswith("__c")
    label = kw.pop("label", None) or name.removesuffix("__c").replace("_", " ")
    if type_ == "textarea" and length > 255:  # long text areas cannot be filtered or sorted
        kw.setdefault("filterable", False)
        kw.setdefault("sortable", False)
    return FieldSpec(name=name, type=type_, label=label, length=length, precision=precision, scale=scale,
                     custom=custom, **kw)


def read_only(name: str, type_: str, **kw: Any) -> FieldSpec:
    return declare(name, type_, createable=False, updateable=False, **kw)


def audit_fields() -> tuple[FieldSpec, ...]:
    return (
        read_only("IsDeleted", "boolean", nillable=False, defaulted=True, default=False, label="Deleted"),
        read_only("CreatedDate", "datetime", nillable=False, defaulted=True, label="Created Date"),
        read_only("CreatedById", "reference", length=18, nillable=False, defaulted=True, reference_to=("User",),
            relationship="CreatedBy", label="Created By ID"),
        read_only("LastModifiedDate", "datetime", nillable=False, defaulted=True, label="Last Modified Date"),
        read_only("LastModifiedById", "reference", length=18, nillable=False, defaulted=True, reference_to=("User",),
            relationship="LastModifiedBy", label="Last Modified By ID"),
        read_only("SystemModstamp", "datetime", nillable=False, defaulted=True, label="System Modstamp"),
    )
