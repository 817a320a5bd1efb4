"""Rules of the permission objects a provisioning run writes: FieldPermissions and PermissionSetAssignment.

``FieldPermissions.SobjectType`` and ``Field`` are restricted picklists whose values are the org's objects
and its permissionable fields (custom fields, and standard ones that are neither required nor system
fields), so they follow fields the Tooling API adds. Edit needs Read. A permission set holds one
FieldPermissions row per field, and a user is assigned a permission set once.
"""

from __future__ import annotations

from typing import Any

from connector.sandbox.sf_describe import FieldSpec
from connector.sandbox.sf_store import Store

__all__ = ["Problem", "permission_problem"]

Problem = tuple[str, str, list[str]]  # errorCode, message, fields
Staged = dict[str, tuple[str, dict[str, Any]]]
_ACTIVITY = {"activity": "Task"}
_DUPLICATE = "duplicate value found: <unknown> duplicates value on record with id: <unknown>"


def _permissionable(spec: FieldSpec) -> bool:
    if spec.custom:
        return True
    return spec.nillable and (spec.createable or spec.updateable) and spec.type not in ("id",)


def _restricted(label: str, value: Any, field: str) -> Problem:
    return ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", f"{label}: bad value for restricted picklist field: {value}",
            [field])


def _clash(store: Store, obj: str, rec: dict[str, Any], staged: Staged, keys: tuple[str, str]) -> bool:
    def same(other: dict[str, Any]) -> bool:
        return other["Id"] != rec["Id"] and all(str(other.get(k) or "").casefold() == str(rec.get(k) or "").casefold()
                                                 for k in keys)
    if any(same(r) for r in store.rows(obj) if r["Id"] not in staged):
        return True
    return any(o == obj and same(r) for o, r in staged.values())


def _field_permissions(store: Store, rec: dict[str, Any], staged: Staged) -> Problem | None:
    sobject = rec.get("SobjectType")
    s = store.schema(_ACTIVITY.get(str(sobject).lower(), str(sobject))) if isinstance(sobject, str) else None
    if s is None:
        return _restricted("SObject Type Name", sobject, "SobjectType")
    field = rec.get("Field")
    table, _, name = str(field).partition(".")
    spec = s.field(name) if table.casefold() == str(sobject).casefold() and name else None
    if spec is None or not _permissionable(spec):
        return _restricted("Field Name", field, "Field")
    rec["SobjectType"] = sobject if s.name == "Task" else s.name  # stored as the API names them
    rec["Field"] = f"{rec['SobjectType']}.{spec.name}"
    if rec.get("PermissionsEdit") and not rec.get("PermissionsRead"):
        return ("FIELD_INTEGRITY_EXCEPTION", "Permission Edit Field depends on permission(s): Read Field",
                ["PermissionsEdit"])
    if rec.get("PermissionsEdit") and not spec.updateable:
        return ("FIELD_INTEGRITY_EXCEPTION", f"Field {rec['Field']} is not editable, so Edit Field cannot be granted",
                ["PermissionsEdit"])
    if _clash(store, "FieldPermissions", rec, staged, ("ParentId", "Field")):
        return ("DUPLICATE_VALUE", _DUPLICATE, [])
    return None


def permission_problem(store: Store, obj: str, rec: dict[str, Any], staged: Staged) -> Problem | None:
    """Why the API refuses to store `rec` (created or updated) in `obj`, or None; may normalise its names."""
    if obj == "FieldPermissions":
        return _field_permissions(store, rec, staged)
    if obj == "PermissionSetAssignment" and _clash(store, obj, rec, staged, ("AssigneeId", "PermissionSetId")):
        return ("DUPLICATE_VALUE", _DUPLICATE, [])
    return None
