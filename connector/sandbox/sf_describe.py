"""The sandbox org's schema: field specs for validation and the describe payloads built from them.

Account and Opportunity keep every standard field of the real recordings in
``salesforce_describe.json`` (derived from CumulusCI's cassettes, BSD-3, see
``LICENSE-CumulusCI-BSD-3-Clause.txt``). The riskbridge custom fields, and the objects that were never
recorded (Task, User, Topic, TopicAssignment and the permission set objects), are declared below and
rendered through a recorded field entry of the same type, so every field entry carries the same 57 keys a
real org sends. Each org builds its own schemas (`build_schemas`, filtered by its variant in `sf_org`); a
field the Tooling API adds replaces the object's schema with a new one (`ObjectSchema.with_field`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from connector.countries import COUNTRIES
from connector.sandbox.sf_fields import FieldSpec
from connector.sandbox.sf_fields import audit_fields as _audit
from connector.sandbox.sf_fields import declare as _f
from connector.sandbox.sf_fields import read_only as _ro

__all__ = ["FieldSpec", "Keep", "ObjectSchema", "build_schemas", "describe_payload", "find", "global_payload", "schema",
           "schemas"]

_DATA = Path(__file__).with_name("salesforce_describe.json")
_TIERS = ("low", "medium", "high", "critical")
_CURRENCIES = tuple(sorted({c.currency for c in COUNTRIES}))
_SOAP = {"id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "double": "xsd:double",
         "currency": "xsd:double", "percent": "xsd:double", "int": "xsd:int", "date": "xsd:date",
         "datetime": "xsd:dateTime"}
_TEMPLATE_OF = {"email": "string", "combobox": "picklist", "multipicklist": "picklist"}


def _money(*names: str) -> tuple[FieldSpec, ...]:
    return tuple(_f(n, "currency", precision=16, scale=2) for n in names)


def _outputs(deal: bool) -> tuple[FieldSpec, ...]:
    specs = [
        _f("Risk_Score__c", "double", precision=5, scale=1),
        _f("Risk_Tier__c", "picklist", 255, picklist=_TIERS, restricted=True),
        _f("Risk_Reasons__c", "textarea", 1000),
        _f("Risk_Recommended_Terms__c", "double", precision=3),
    ]
    if deal:
        specs.append(_f("Risk_Flags__c", "string", 255))
    else:
        specs += [_f("Risk_Credit_Limit__c", "currency", precision=16, scale=2),
                  _f("Risk_Watchlist__c", "boolean", nillable=False, defaulted=True, default=False)]
    specs += [_f("Risk_Scored_At__c", "datetime"), _f("Risk_Model_Version__c", "string", 40)]
    return tuple(specs)


_CURRENCY_ISO = _f("CurrencyIsoCode", "picklist", 3, picklist=_CURRENCIES, restricted=True, defaulted=True,
                   label="Currency ISO Code")

_ADDED: dict[str, tuple[FieldSpec, ...]] = {
    "Account": (
        _CURRENCY_ISO,
        _f("Bureau_Score__c", "string", 20), _f("Bureau_Rating__c", "string", 5),
        _f("Internal_Rating__c", "double", precision=2), *_money("Credit_Limit__c"),
        _f("Payment_Terms_Days__c", "double", precision=3),
        *_money("Current_Assets__c", "Current_Liabilities__c", "Inventory__c", "Total_Assets__c",
                "Total_Liabilities__c", "Net_Income__c", "Operating_Cash_Flow__c"),
        _f("Audit_Opinion__c", "picklist", 255, picklist=("unqualified", "qualified", "adverse", "disclaimer")),
        _f("Statement_Date__c", "string", 30), *_money("Open_Receivables__c", "Overdue_Amount__c"),
        _f("Max_Days_Past_Due__c", "double", precision=4), _f("Avg_Days_Late__c", "double", precision=5, scale=1),
        _f("Disputes_12m__c", "double", precision=3), _f("Complaints_12m__c", "double", precision=3),
        _f("Customer_Since__c", "date"),
        _f("Sanctions_Hit__c", "boolean", nillable=False, defaulted=True, default=False),
        _f("Insolvency__c", "boolean", nillable=False, defaulted=True, default=False),
        *_outputs(deal=False),
        _f("Risk_Override_Tier__c", "picklist", 255, picklist=_TIERS, restricted=True),
        _f("Risk_Override_Reason__c", "string", 255), _f("Risk_Override_Until__c", "date"),
    ),
    "Opportunity": (_CURRENCY_ISO, _f("Payment_Terms_Days__c", "double", precision=3), *_outputs(deal=True)),
}

_DECLARED: dict[str, tuple[FieldSpec, ...]] = {
    "Task": (
        _ro("Id", "id", length=18, nillable=False, defaulted=True, id_lookup=True, label="Activity ID"),
        _f("WhoId", "reference", 18, reference_to=("Contact", "Lead"), relationship="Who", label="Name ID"),
        _f("WhatId", "reference", 18, reference_to=("Account", "Opportunity"), relationship="What",
           label="Related To ID"),
        _f("Subject", "combobox", 255),
        _f("ActivityDate", "date", label="Due Date Only"),
        _f("Status", "picklist", 40, nillable=False, defaulted=True, default="Not Started",
           picklist=("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")),
        _f("Priority", "picklist", 40, nillable=False, defaulted=True, default="Normal",
           picklist=("High", "Normal", "Low")),
        _ro("IsHighPriority", "boolean", nillable=False, defaulted=True, default=False, label="High Priority"),
        _f("OwnerId", "reference", 18, nillable=False, defaulted=True, reference_to=("User",),
           relationship="Owner", label="Assigned To ID"),
        _f("Description", "textarea", 32000, label="Comments"),
        _ro("AccountId", "reference", length=18, reference_to=("Account",), relationship="Account",
            label="Account ID"),
        _ro("IsClosed", "boolean", nillable=False, defaulted=True, default=False, label="Closed"),
        *_audit(),
        _f("TaskSubtype", "picklist", 40, updateable=False, picklist=("Task", "Email", "Call"),
           restricted=True, label="Task Subtype"),
        _f("Riskbridge_Key__c", "string", 120, external_id=True, unique=True, id_lookup=True),
    ),
    "User": (
        _ro("Id", "id", length=18, nillable=False, defaulted=True, id_lookup=True, label="User ID"),
        _f("Username", "string", 80, nillable=False, unique=True, id_lookup=True),
        _f("LastName", "string", 80, nillable=False, label="Last Name"),
        _f("FirstName", "string", 40, label="First Name"),
        _ro("Name", "string", length=121, nillable=False, label="Full Name"),
        _f("Email", "email", 128, nillable=False),
        _f("Alias", "string", 8, nillable=False),
        _f("IsActive", "boolean", nillable=False, defaulted=True, default=True, label="Active"),
        *_audit()[1:],
    ),
    "Topic": (
        _ro("Id", "id", length=18, nillable=False, defaulted=True, id_lookup=True, label="Topic ID"),
        _f("Name", "string", 99, nillable=False, label="Name"),
        _f("Description", "textarea", 1000),
        _ro("TalkingAbout", "int", nillable=False, defaulted=True, default=0, label="Talking About"),
        *(s for s in _audit() if s.name in ("CreatedDate", "CreatedById", "SystemModstamp")),
    ),
    "TopicAssignment": (
        _ro("Id", "id", length=18, nillable=False, defaulted=True, id_lookup=True, label="Topic Assignment ID"),
        _f("TopicId", "reference", 18, nillable=False, updateable=False, reference_to=("Topic",),
           relationship="Topic", label="Topic ID"),
        _f("EntityId", "reference", 18, nillable=False, updateable=False, reference_to=("Account", "Opportunity"),
           relationship="Entity", label="Entity ID"),
        _ro("EntityKeyPrefix", "string", length=3, nillable=False, label="Entity Key Prefix"),
        _ro("EntityType", "picklist", length=40, nillable=False, picklist=("Account", "Opportunity"),
            label="Entity Type"),
        *(s for s in _audit() if s.name in ("IsDeleted", "CreatedDate", "CreatedById", "SystemModstamp")),
    ),
    # Setup objects a provisioning run writes; field lists follow the Object Reference (API 59.0).
    "PermissionSet": (
        _ro("Id", "id", length=18, nillable=False, defaulted=True, id_lookup=True, label="Permission Set ID"),
        _f("Name", "string", 80, nillable=False, unique=True, label="Name"),
        _f("Label", "string", 80, nillable=False, label="Label"),
        _f("Description", "textarea", 255),
        _ro("IsOwnedByProfile", "boolean", nillable=False, defaulted=True, default=False, label="Is Owned by Profile"),
        _ro("IsCustom", "boolean", nillable=False, defaulted=True, default=True, label="Custom"),
        _ro("ProfileId", "reference", length=18, reference_to=("Profile",), relationship="Profile",
            label="Profile ID"),
        _ro("NamespacePrefix", "string", length=15, label="Namespace Prefix"),
        _ro("Type", "picklist", length=40, picklist=("Regular", "Group", "Profile", "Session", "Standard"),
            restricted=True, defaulted=True, default="Regular", label="Permission Set Type"),
        _f("PermissionsApiEnabled", "boolean", nillable=False, defaulted=True, default=False, label="API Enabled"),
        _f("PermissionsViewSetup", "boolean", nillable=False, defaulted=True, default=False,
           label="View Setup and Configuration"),
        *_audit(),
    ),
    "FieldPermissions": (
        _ro("Id", "id", length=18, nillable=False, defaulted=True, id_lookup=True, label="Field Permissions ID"),
        _f("ParentId", "reference", 18, nillable=False, updateable=False, reference_to=("PermissionSet",),
           relationship="Parent", label="Parent ID"),
        # Restricted picklists in a real org, whose values are every permissionable field; `sf_permissions`
        # checks them against the org's live schema, since fields come and go.
        _f("SobjectType", "picklist", 40, nillable=False, updateable=False, label="SObject Type Name"),
        _f("Field", "picklist", 40, nillable=False, updateable=False, label="Field Name"),
        _f("PermissionsEdit", "boolean", nillable=False, defaulted=True, default=False, label="Edit Field"),
        _f("PermissionsRead", "boolean", nillable=False, defaulted=True, default=False, label="Read Field"),
        *(s for s in _audit() if s.name == "SystemModstamp"),
    ),
    "PermissionSetAssignment": (
        _ro("Id", "id", length=18, nillable=False, defaulted=True, id_lookup=True,
            label="Permission Set Assignment ID"),
        _f("PermissionSetId", "reference", 18, nillable=False, updateable=False, reference_to=("PermissionSet",),
           relationship="PermissionSet", label="Permission Set ID"),
        _f("PermissionSetGroupId", "reference", 18, updateable=False, reference_to=("PermissionSetGroup",),
           relationship="PermissionSetGroup", label="Permission Set Group ID"),
        _f("AssigneeId", "reference", 18, nillable=False, updateable=False, reference_to=("User",),
           relationship="Assignee", label="Assignee ID"),
        _ro("IsActive", "boolean", nillable=False, defaulted=True, default=True, label="Is Active"),
        _f("ExpirationDate", "datetime", label="Expiration Date"),
        *(s for s in _audit() if s.name == "SystemModstamp"),
    ),
}

_OBJECTS = {  # name: (key prefix, plural label, object-level overrides for the describe)
    "Account": ("001", "Accounts", {}),
    "Opportunity": ("006", "Opportunities", {}),
    "Task": ("00T", "Tasks", {"mergeable": False, "feedEnabled": True}),
    "User": ("005", "Users", {"mergeable": False, "deletable": False, "undeletable": False}),
    "Topic": ("0TO", "Topics", {"mergeable": False, "undeletable": False, "feedEnabled": True}),
    "TopicAssignment": ("0FT", "Topic Assignments", {"mergeable": False, "updateable": False, "undeletable": False,
                                                     "searchable": False, "layoutable": False,
                                                     "feedEnabled": False, "replicateable": False}),
    "PermissionSet": ("0PS", "Permission Sets", {"mergeable": False, "undeletable": False, "feedEnabled": False,
                                                 "searchable": False, "layoutable": False}),
    "FieldPermissions": ("01k", "Field Permissions", {"mergeable": False, "undeletable": False,
                                                      "feedEnabled": False, "searchable": False,
                                                      "layoutable": False, "replicateable": False}),
    "PermissionSetAssignment": ("0Pa", "Permission Set Assignments", {
        "mergeable": False, "updateable": False, "undeletable": False, "feedEnabled": False, "searchable": False,
        "layoutable": False}),
}


_LABELS = {"TopicAssignment": "Topic Assignment", "PermissionSet": "Permission Set",
           "FieldPermissions": "Field Permissions", "PermissionSetAssignment": "Permission Set Assignment"}


@dataclass
class ObjectSchema:
    """One sObject: its key prefix, field specs in describe order, and their describe entries."""

    name: str
    prefix: str
    label_plural: str
    fields: dict[str, FieldSpec]
    entries: list[dict[str, Any]]
    skeleton: dict[str, Any]
    by_lower: dict[str, FieldSpec] = field(init=False)
    relationships: dict[str, FieldSpec] = field(init=False)

    _payloads: dict[tuple[str, str], bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._payloads = {}
        self.by_lower = {n.lower(): s for n, s in self.fields.items()}
        self.relationships = {s.relationship.lower(): s for s in self.fields.values()
                              if s.relationship and s.type == "reference"}

    def field(self, name: str) -> FieldSpec | None:
        return self.by_lower.get(name.lower())

    @property
    def updateable(self) -> bool:
        return bool(self.skeleton.get("updateable", True))

    def payload(self, version: str, instance: str) -> bytes:
        """``GET sobjects/{name}/describe`` as JSON bytes (an object schema never changes once built)."""
        key = (version, instance)
        cached = self._payloads.get(key)
        if cached is None:
            cached = self._payloads[key] = _fill({**self.skeleton, "fields": self.entries}, version, instance)
        return cached

    def with_field(self, spec: FieldSpec) -> ObjectSchema:
        """A new schema with `spec` appended, as a field created through the Tooling API appears."""
        entries = [*self.entries, _entry(spec, _raw()["field_templates"])]
        return ObjectSchema(self.name, self.prefix, self.label_plural, {**self.fields, spec.name: spec}, entries,
                            self.skeleton)


@cache
def _raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_DATA.read_text(encoding="utf-8"))
    return data


def _entry(spec: FieldSpec, templates: dict[str, Any]) -> dict[str, Any]:
    e: dict[str, Any] = copy.deepcopy(templates[_TEMPLATE_OF.get(spec.type, spec.type)])
    bytes_per_char = 3 if spec.type not in _SOAP else 1
    e.update({
        "name": spec.name, "label": spec.label, "type": spec.type, "length": spec.length,
        "byteLength": spec.length * bytes_per_char, "precision": spec.precision, "scale": spec.scale,
        "digits": 9 if spec.type == "int" else 0, "nillable": spec.nillable, "createable": spec.createable,
        "updateable": spec.updateable, "custom": spec.custom, "externalId": spec.external_id,
        "unique": spec.unique, "idLookup": spec.id_lookup, "restrictedPicklist": spec.restricted,
        "referenceTo": list(spec.reference_to), "relationshipName": spec.relationship,
        "polymorphicForeignKey": len(spec.reference_to) > 1, "filterable": spec.filterable,
        "sortable": spec.sortable, "groupable": spec.sortable and spec.type not in ("double", "currency", "percent"),
        "defaultedOnCreate": spec.defaulted, "defaultValue": spec.default,
        "soapType": _SOAP.get(spec.type, "xsd:string"),
        "permissionable": spec.nillable and (spec.createable or spec.updateable), "nameField": spec.name == "Name",
        "picklistValues": [{"active": True, "defaultValue": v == spec.default, "label": spec.picklist_label(i),
                            "validFor": None, "value": v} for i, v in enumerate(spec.picklist)],
        "extraTypeInfo": ("plaintextarea" if spec.type == "textarea" else None),
        "caseSensitive": False, "calculated": False, "calculatedFormula": None,
    })
    if spec.help_text is not None:
        e["inlineHelpText"] = spec.help_text
    return e


def _skeleton(name: str, prefix: str, plural: str, overrides: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    if name in raw["objects"]:
        top = {k: v for k, v in raw["objects"][name].items() if k != "fields"}
        return copy.deepcopy(top)
    text = json.dumps({k: v for k, v in raw["objects"]["Opportunity"].items() if k != "fields"})
    top = json.loads(text.replace("/sobjects/Opportunity", f"/sobjects/{name}").replace("/006/e", f"/{prefix}/e"))
    top.update({"name": name, "label": _LABELS.get(name, name),
                "labelPlural": plural, "keyPrefix": prefix, "childRelationships": [], "custom": False,
                "supportedScopes": [{"label": f"All {plural.lower()}", "name": "everything"}],
                **overrides})
    return top


Keep = Callable[[str, FieldSpec], bool]


def build_schemas(keep: Keep | None = None, extra: dict[str, tuple[FieldSpec, ...]] | None = None,
                  ) -> dict[str, ObjectSchema]:
    """A fresh set of sObject schemas for one org: the fields `keep(object, spec)` accepts, then `extra`.

    Without arguments this is the provisioned org, with every riskbridge field in place.
    """
    raw = _raw()
    out: dict[str, ObjectSchema] = {}
    for name, (prefix, plural, overrides) in _OBJECTS.items():
        if name in raw["objects"]:
            entries = list(raw["objects"][name]["fields"])
            specs = [FieldSpec.from_entry(e) for e in entries]
            added = _ADDED.get(name, ())
        else:
            entries, specs, added = [], [], _DECLARED[name]
        if keep is not None:
            added = tuple(s for s in added if keep(name, s))
        added = (*added, *(extra or {}).get(name, ()))
        entries += [_entry(s, raw["field_templates"]) for s in added]
        specs += list(added)
        out[name] = ObjectSchema(name, prefix, plural, {s.name: s for s in specs}, entries,
                                 _skeleton(name, prefix, plural, overrides, raw))
    return out


@cache
def schemas() -> dict[str, ObjectSchema]:
    """Every sObject of the provisioned sandbox org, by API name."""
    return build_schemas()


def find(all_: dict[str, ObjectSchema], name: str) -> ObjectSchema | None:
    """The schema of an sObject by its case-insensitive API name."""
    return all_.get(name) or next((s for n, s in all_.items() if n.lower() == name.lower()), None)


def schema(name: str) -> ObjectSchema | None:
    """The provisioned org's schema of an sObject by its case-insensitive API name."""
    return find(schemas(), name)


def _fill(payload: Any, version: str, instance: str) -> bytes:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return text.replace("@@VERSION@@", version).replace("@@INSTANCE@@", instance).encode("utf-8")


def describe_payload(name: str, version: str, instance: str) -> bytes:
    """``GET sobjects/{name}/describe`` of the provisioned org as JSON bytes."""
    return schemas()[name].payload(version, instance)


def global_payload(version: str, instance: str, all_: dict[str, ObjectSchema] | None = None) -> bytes:
    """``GET sobjects/`` as JSON bytes: the objects this sandbox serves."""
    raw = _raw()
    entries = []
    for name, s in (all_ if all_ is not None else schemas()).items():
        if name in raw["global"]["entries"]:
            entries.append(raw["global"]["entries"][name])
            continue
        keys = raw["global"]["entries"]["Account"].keys()
        top = {k: v for k, v in s.skeleton.items() if k in keys}
        top.setdefault("associateEntityType", None)
        top.setdefault("associateParentEntity", None)
        entries.append({k: top.get(k) for k in keys})
    return _fill({"encoding": raw["global"]["encoding"], "maxBatchSize": raw["global"]["maxBatchSize"],
                  "sobjects": entries}, version, instance)
