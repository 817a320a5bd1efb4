"""Zoho CRM metadata reader and provisioning writer for `check`, `provision` and `mappings suggest`.

Calls (under ``{api_url}/crm/v8``), each through `ZohoClient.request` (retries, token refresh):

    fields       GET  settings/fields?module=X          400 INVALID_MODULE = no such module
    who am I     GET  users?type=CurrentUser            profile and role, when the users scope is granted
    tags         GET  settings/tags?module=Accounts
    bulk scope   GET  /crm/bulk/v8/read/1                 401 OAUTH_SCOPE_MISMATCH = no ZohoCRM.bulk.read
    create field POST settings/fields?module=X  {"fields": [{"field_label", "data_type", "length", ...}]}
    create tag   POST settings/tags?module=X    {"tags": [{"name"}]}   DUPLICATE_DATA = it exists

Zoho derives a new field's API name from its label (spaces become underscores), so the label is the
wanted API name spelt with spaces. Field access is set per profile in Zoho's setup, not per API call.
"""

from __future__ import annotations

import logging
from typing import Any

from connector.admin.metadata import FieldKind, FieldMeta, FieldSpecLike, ObjectMeta, OrgMeta
from connector.config import ZohoConnection
from connector.crm.base import RetryPolicy
from connector.crm.zoho import ZohoClient
from connector.crm.zoho_bulk import BULK_SCOPE_HINT, bulk_scope_granted
from connector.crm.zoho_wire import ZohoFatal
from connector.errors import AuthError, Fatal

__all__ = ["ZohoAdmin", "zoho_field_body"]

log = logging.getLogger(__name__)

_KINDS: dict[str, FieldKind] = {
    "text": "text", "email": "text", "phone": "text", "website": "text", "autonumber": "text",
    "textarea": "textarea", "picklist": "picklist", "multiselectpicklist": "multipicklist",
    "integer": "integer", "bigint": "integer", "double": "number", "decimal": "number", "currency": "currency",
    "percent": "percent", "boolean": "boolean", "date": "date", "datetime": "datetime", "lookup": "reference",
    "ownerlookup": "reference", "userlookup": "reference",
}
_DATA_TYPES: dict[str, str] = {"text": "text", "textarea": "textarea", "number": "double", "integer": "integer",
                               "currency": "currency", "percent": "percent", "boolean": "boolean", "date": "date",
                               "datetime": "datetime", "picklist": "picklist"}


def _field(entry: dict[str, Any]) -> FieldMeta:
    data_type = str(entry.get("data_type") or "")
    read_only = bool(entry.get("read_only") or entry.get("field_read_only"))
    return FieldMeta(
        name=str(entry["api_name"]), label=str(entry.get("field_label") or entry.get("display_label") or ""),
        kind=_KINDS.get(data_type, "other"), crm_type=data_type, length=int(entry.get("length") or 0),
        precision=int(entry.get("length") or 0) if data_type in ("double", "currency", "percent", "integer") else 0,
        scale=int(entry.get("decimal_place") or 0),
        picklist=tuple(str(v.get("actual_value")) for v in entry.get("pick_list_values") or []
                       if isinstance(v, dict) and v.get("actual_value") not in (None, "-None-")),
        updateable=not read_only, external_id=bool(entry.get("unique")), unique=bool(entry.get("unique")),
        custom=bool(entry.get("custom_field")))


def zoho_field_body(spec: FieldSpecLike) -> dict[str, Any]:
    """The `settings/fields` create body for one field spec."""
    data_type = _DATA_TYPES.get(spec.kind)
    if data_type is None:
        raise ValueError(f"riskbridge does not create {spec.kind} fields")
    body: dict[str, Any] = {"field_label": spec.field.replace("_", " "), "data_type": data_type}
    if spec.kind in ("text", "textarea"):
        body["length"] = spec.length or 255
    elif spec.kind in ("number", "currency", "percent", "integer"):
        body["length"] = spec.precision or 16
        if spec.kind != "integer":
            body["decimal_place"] = spec.scale
    elif spec.kind == "picklist":
        body["pick_list_values"] = [{"display_value": v, "actual_value": v} for v in spec.picklist]
    if spec.unique:
        body["unique"] = {"case_sensitive": False}
    if spec.help:
        body["tooltip"] = {"name": "static_text", "value": spec.help[:255]}
    return body


class ZohoAdmin:
    """An `OrgAdmin` for one Zoho CRM org."""

    crm = "zoho"

    def __init__(self, conn: ZohoConnection, *, policy: RetryPolicy | None = None) -> None:
        self.client = ZohoClient(conn, policy=policy)
        self._bulk = conn.bulk_read_threshold > 0

    @property
    def api_calls(self) -> int:
        return self.client.api_calls

    def close(self) -> None:
        self.client.close()

    def read(self, objects: list[str], *, tags: tuple[str, ...] = ()) -> OrgMeta:
        org = OrgMeta()
        for module in dict.fromkeys(objects):
            try:
                reply = self.client.request("GET", "settings/fields", f"fields of {module}", params={"module": module})
            except ZohoFatal as exc:
                if exc.code not in ("INVALID_MODULE", "INVALID_DATA", "NOT_SUPPORTED"):
                    raise
                org.objects[module] = ObjectMeta(module, exists=False)
                continue
            entries = (reply.body or {}).get("fields") or []
            fields = [_field(e) for e in entries if isinstance(e, dict) and e.get("api_name")]
            org.objects[module] = ObjectMeta(module, label=module, fields={f.name: f for f in fields})
        self._who(org)
        if self._bulk and not bulk_scope_granted(self.client.request):
            org.scope_warnings["ZohoCRM.bulk.read"] = BULK_SCOPE_HINT
        org.credits_remaining = self.client.credits_remaining
        if tags and org.object("Accounts").exists:
            org.tags["Accounts"] = self._tags("Accounts")
        return org

    def _who(self, org: OrgMeta) -> None:
        try:
            reply = self.client.request("GET", "users", "current user", params={"type": "CurrentUser"})
        except (ZohoFatal, AuthError) as exc:  # no ZohoCRM.users.READ scope: nothing to show, nothing wrong
            if isinstance(exc, AuthError) and "OAUTH_SCOPE_MISMATCH" not in str(exc):
                raise
            log.info("cannot read the current user (%s)", exc)
            return
        users = (reply.body or {}).get("users") or []
        if users and isinstance(users[0], dict):
            user = users[0]
            org.user_id = str(user.get("id") or "") or None
            org.user_name = str(user.get("full_name") or user.get("email") or "") or None
            profile = user.get("profile")
            org.profile = str(profile.get("name")) if isinstance(profile, dict) and profile.get("name") else None

    def _tags(self, module: str) -> set[str]:
        try:
            reply = self.client.request("GET", "settings/tags", f"tags of {module}", params={"module": module})
        except Fatal as exc:
            log.info("cannot list the tags of %s (%s)", module, exc)
            return set()
        return {str(t.get("name")) for t in (reply.body or {}).get("tags") or [] if isinstance(t, dict)}

    def create_field(self, object_name: str, spec: FieldSpecLike) -> str:
        body = zoho_field_body(spec)
        reply = self.client.request("POST", "settings/fields", f"create field {object_name}.{spec.field}",
                                    params={"module": object_name}, body={"fields": [body]})
        entries = (reply.body or {}).get("fields") or (reply.body or {}).get("data") or []
        entry = entries[0] if entries and isinstance(entries[0], dict) else {}
        if str(entry.get("status", "success")).lower() != "success":
            raise Fatal(f"create field {object_name}.{spec.field}: {entry.get('code')}: {entry.get('message')}",
                        code=str(entry.get("code") or "") or None)
        details = entry.get("details")
        name = str((details if isinstance(details, dict) else {}).get("api_name") or body["field_label"].replace(" ", "_"))
        log.info("created field %s.%s", object_name, name)
        return name

    def create_tag(self, object_name: str, tag: str) -> None:
        try:
            self.client.request("POST", "settings/tags", f"create tag {tag}", params={"module": object_name},
                                body={"tags": [{"name": tag}]})
        except ZohoFatal as exc:
            if exc.code != "DUPLICATE_DATA":
                raise

    def grant(self, reads: list[tuple[str, str]], edits: list[tuple[str, str]]) -> int:
        return 0  # Zoho sets field access per profile in its setup; `check` shows what the user can write
