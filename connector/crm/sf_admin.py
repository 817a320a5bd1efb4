"""Salesforce metadata reader and provisioning writer for `check`, `provision` and `mappings suggest`.

Every call goes through `SalesforceClient.call` (retries, re-login, error classification):

    describe     GET  sobjects/{X}/describe                       one per object; 404 = no such object
    limits       GET  limits                                      DailyApiRequests
    topics       GET  query  SELECT Id, Name FROM Topic WHERE Name IN (...)
    create field POST tooling/sobjects/CustomField  {"FullName": "Account.Risk_Score__c", "Metadata": {...}}
    grant        SELECT/POST PermissionSet, FieldPermissions (POST or PATCH), PermissionSetAssignment

Custom fields on Task are Activity fields in Salesforce's metadata (`Activity.Riskbridge_Key__c`).
"""

from __future__ import annotations

import logging
from typing import Any

from connector.admin.metadata import FieldKind, FieldMeta, FieldSpecLike, ObjectMeta, OrgMeta
from connector.config import SalesforceConnection
from connector.crm.base import RetryPolicy
from connector.crm.salesforce import SalesforceClient
from connector.errors import Fatal

__all__ = ["PERMISSION_SET", "SalesforceAdmin", "metadata_for", "metadata_object"]

log = logging.getLogger(__name__)

PERMISSION_SET = "Riskbridge_Integration"
_KINDS: dict[str, FieldKind] = {
    "string": "text", "email": "text", "phone": "text", "url": "text", "encryptedstring": "text",
    "textarea": "textarea", "picklist": "picklist", "combobox": "picklist", "multipicklist": "multipicklist",
    "double": "number", "currency": "currency", "percent": "percent", "int": "integer", "long": "integer",
    "boolean": "boolean", "date": "date", "datetime": "datetime", "reference": "reference", "id": "id",
}
_ACTIVITY = {"Task", "Event"}  # their custom fields are declared on Activity


def metadata_object(object_name: str) -> str:
    """The object a custom field is declared on in Salesforce metadata (Task fields live on Activity)."""
    return "Activity" if object_name in _ACTIVITY else object_name


def metadata_for(spec: FieldSpecLike) -> dict[str, Any]:
    """The CustomField metadata for a field spec: the Tooling API's `Metadata` and the SFDX file's content."""
    meta: dict[str, Any] = {"label": spec.label}
    if spec.kind == "text":
        meta.update(type="Text", length=spec.length or 255)
    elif spec.kind == "textarea":
        meta.update(type="LongTextArea", length=max(256, spec.length), visibleLines=3)
    elif spec.kind in ("number", "integer"):
        meta.update(type="Number", precision=spec.precision or 18, scale=spec.scale)
    elif spec.kind in ("currency", "percent"):
        meta.update(type=spec.kind.capitalize(), precision=spec.precision or 18, scale=spec.scale)
    elif spec.kind == "boolean":
        meta.update(type="Checkbox", defaultValue="false")
    elif spec.kind == "date":
        meta.update(type="Date")
    elif spec.kind == "datetime":
        meta.update(type="DateTime")
    elif spec.kind == "picklist":
        meta.update(type="Picklist", valueSet={"restricted": True, "valueSetDefinition": {
            "sorted": False, "value": [{"fullName": v, "label": v, "default": False} for v in spec.picklist]}})
    else:
        raise ValueError(f"riskbridge does not create {spec.kind} fields")
    if spec.external_id:
        meta.update(externalId=True, unique=True, caseSensitive=False)
    if spec.help:
        meta.update(inlineHelpText=spec.help[:510], description=spec.help[:1000])
    return meta


def _field(entry: dict[str, Any]) -> FieldMeta:
    sf_type = str(entry.get("type") or "")
    return FieldMeta(
        name=str(entry["name"]), label=str(entry.get("label") or entry["name"]), kind=_KINDS.get(sf_type, "other"),
        crm_type=sf_type, length=int(entry.get("length") or 0), precision=int(entry.get("precision") or 0),
        scale=int(entry.get("scale") or 0),
        picklist=tuple(str(p["value"]) for p in entry.get("picklistValues") or [] if p.get("active", True)),
        updateable=bool(entry.get("updateable")), external_id=bool(entry.get("externalId")),
        unique=bool(entry.get("unique")), custom=bool(entry.get("custom")))


def _soql_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class SalesforceAdmin:
    """An `OrgAdmin` for one Salesforce org."""

    crm = "salesforce"

    def __init__(self, conn: SalesforceConnection, *, policy: RetryPolicy | None = None) -> None:
        self.client = SalesforceClient(conn, policy=policy)

    @property
    def api_calls(self) -> int:
        return self.client.api_calls

    def close(self) -> None:
        self.client.close()

    # -- reading --------------------------------------------------------------------------------------

    def read(self, objects: list[str], *, tags: tuple[str, ...] = ()) -> OrgMeta:
        org = OrgMeta()
        for name in dict.fromkeys(objects):
            try:
                described = self.client.restful(f"describe {name}", f"sobjects/{name}/describe")
            except Fatal as exc:
                if exc.status != 404:
                    raise
                org.objects[name] = ObjectMeta(name, exists=False)
                continue
            body = described or {}
            fields = [_field(e) for e in body.get("fields") or [] if isinstance(e, dict) and e.get("name")]
            org.objects[name] = ObjectMeta(str(body.get("name") or name), label=str(body.get("label") or name),
                                           fields={f.name: f for f in fields})
        try:
            limits = self.client.call("limits", lambda sf: sf.limits()) or {}
        except Fatal as exc:  # without "View Setup" the limits resource is closed; Sforce-Limit-Info still counts
            log.info("cannot read Salesforce limits (%s)", exc)
            limits = {}
        daily = limits.get("DailyApiRequests") or {}
        if "Max" in daily and "Remaining" in daily:
            org.api_used, org.api_limit = int(daily["Max"]) - int(daily["Remaining"]), int(daily["Max"])
        elif self.client.api_usage is not None:
            org.api_used, org.api_limit = self.client.api_usage
        org.user_id = self.client.user_id
        if tags:
            rows = self.client.query_all("watchlist topics", f"SELECT Id, Name FROM Topic WHERE Name IN "
                                         f"({', '.join(_soql_str(t) for t in tags)})")
            org.tags["Account"] = {str(r["Name"]) for r in rows}
        return org

    # -- writing --------------------------------------------------------------------------------------

    def create_field(self, object_name: str, spec: FieldSpecLike) -> str:
        """`POST tooling/sobjects/CustomField`; returns the field's API name."""
        full_name = f"{metadata_object(object_name)}.{spec.field}"
        body = {"FullName": full_name, "Metadata": metadata_for(spec)}
        self.client.call(f"create field {object_name}.{spec.field}",
                         lambda sf: sf.toolingexecute("sobjects/CustomField", method="POST", data=body))
        log.info("created field %s", full_name)
        return spec.field

    def create_tag(self, object_name: str, tag: str) -> None:
        self.client.restful(f"create topic {tag}", "sobjects/Topic/", method="POST", json={"Name": tag})

    def grant(self, reads: list[tuple[str, str]], edits: list[tuple[str, str]]) -> int:
        """Create or update the Riskbridge_Integration permission set and assign it to the integration user.
        Only custom fields take field permissions; a permission already as wide is left alone."""
        wanted: dict[str, bool] = {}  # "Account.Risk_Score__c" -> edit?
        for (obj, name), edit in [*((r, False) for r in reads), *((e, True) for e in edits)]:
            if name.lower().endswith("__c"):
                key = f"{obj}.{name}"
                wanted[key] = wanted.get(key, False) or edit
        if not wanted:
            return 0
        writes = 0
        found = self.client.query_all("permission set", "SELECT Id, Name FROM PermissionSet WHERE Name = "
                                      + _soql_str(PERMISSION_SET))
        if found:
            ps_id = str(found[0]["Id"])
        else:
            created = self.client.restful("create permission set", "sobjects/PermissionSet/", method="POST", json={
                "Name": PERMISSION_SET, "Label": "Riskbridge Integration",
                "Description": "Read on the fields riskbridge scores from, edit on the fields it writes."})
            ps_id, writes = str((created or {})["id"]), writes + 1
        have: dict[str, dict[str, Any]] = {}
        rows = self.client.query_all("field permissions", "SELECT Id, Field, PermissionsRead, PermissionsEdit "
                                     f"FROM FieldPermissions WHERE ParentId = {_soql_str(ps_id)}")
        for row in rows:
            have[str(row["Field"]).lower()] = row
        for key, edit in wanted.items():
            current = have.get(key.lower())
            if current is None:
                self.client.restful(f"grant {key}", "sobjects/FieldPermissions/", method="POST", json={
                    "ParentId": ps_id, "SobjectType": key.split(".", 1)[0], "Field": key,
                    "PermissionsRead": True, "PermissionsEdit": edit})
                writes += 1
            elif not current.get("PermissionsRead") or (edit and not current.get("PermissionsEdit")):
                self.client.restful(f"widen {key}", f"sobjects/FieldPermissions/{current['Id']}", method="PATCH",
                                    json={"PermissionsRead": True, "PermissionsEdit": edit or
                                          bool(current.get("PermissionsEdit"))})
                writes += 1
        user = self.client.user_id
        if user is not None:
            assigned = self.client.query_all("permission set assignment", "SELECT Id FROM PermissionSetAssignment "
                                             f"WHERE PermissionSetId = {_soql_str(ps_id)} AND AssigneeId = "
                                             f"{_soql_str(user)}")
            if not assigned:
                self.client.restful("assign permission set", "sobjects/PermissionSetAssignment/", method="POST",
                                    json={"AssigneeId": user, "PermissionSetId": ps_id})
                writes += 1
        else:
            log.warning("the integration user's id is unknown; assign %s to it by hand", PERMISSION_SET)
        return writes



