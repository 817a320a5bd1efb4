"""A Salesforce DX source project for what a job needs, for admins who deploy with `sf project deploy start`.

Layout (source format): ``sfdx-project.json``; ``force-app/main/default/objects/<Object>/fields/<Field>
.field-meta.xml`` for every field riskbridge creates (Task fields live on Activity); the
Riskbridge_Integration permission set (read on the mapped inputs, edit on the outputs and the task key);
and a "Risk watchlist" list view on Account. Deploying over an existing field updates it, so the
project is meant for an org that lacks the fields (`provision` without ``--apply`` shows which).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from connector.admin.needs import FieldNeed
from connector.crm.sf_admin import PERMISSION_SET, metadata_for, metadata_object

__all__ = ["write_project"]

NS = "http://soap.sforce.com/2006/04/metadata"
API_VERSION = "59.0"


def _add(parent: ET.Element, key: str, value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _add(parent, key, item)
        return
    child = ET.SubElement(parent, key)
    if isinstance(value, dict):
        for k in sorted(value):
            _add(child, k, value[k])
    elif isinstance(value, bool):
        child.text = "true" if value else "false"
    else:
        child.text = str(value)


def _write(path: Path, root: ET.Element) -> Path:
    ET.indent(root, space="    ")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n")
    return path


def _field_xml(need: FieldNeed) -> ET.Element:
    root = ET.Element("CustomField", xmlns=NS)
    meta = {"fullName": need.field, "required": False, "externalId": need.external_id, **metadata_for(need)}
    if meta["type"] not in ("Checkbox", "Picklist", "LongTextArea"):
        meta.setdefault("unique", need.unique)
    for key in sorted(meta):
        _add(root, key, meta[key])
    return root


def _permission_set(reads: list[tuple[str, str]], edits: list[tuple[str, str]], objects: list[str]) -> ET.Element:
    root = ET.Element("PermissionSet", xmlns=NS)
    _add(root, "description", "riskbridge integration user: read on the fields it scores from, edit on the "
                              "fields it writes.")
    grants: dict[str, bool] = {}
    for (obj, name), edit in [*((r, False) for r in reads), *((e, True) for e in edits)]:
        if name.lower().endswith("__c"):
            key = f"{metadata_object(obj)}.{name}"
            grants[key] = grants.get(key, False) or edit
    for key in sorted(grants):
        _add(root, "fieldPermissions", {"editable": grants[key], "field": key, "readable": True})
    _add(root, "hasActivationRequired", False)
    _add(root, "label", "Riskbridge Integration")
    # Read every account and deal (scores cover the whole book); edit only where sharing allows; never delete.
    for obj in sorted(set(objects) - {"Task", "Event"}):
        _add(root, "objectPermissions", {"allowCreate": False, "allowDelete": False, "allowEdit": True,
                                         "allowRead": True, "modifyAllRecords": False, "object": obj,
                                         "viewAllRecords": True})
    if "Task" in objects:  # tasks are not an object permission in Salesforce, but the "Edit Tasks" user permission
        _add(root, "userPermissions", {"enabled": True, "name": "EditTask"})
    return root


def _list_view(watch_field: str | None, tier_field: str | None, score_field: str | None) -> ET.Element:
    root = ET.Element("ListView", xmlns=NS)
    _add(root, "fullName", "Risk_Watchlist")
    for column in ("ACCOUNT.NAME", score_field, tier_field, "CORE.USERS.ALIAS"):
        if column:
            _add(root, "columns", column)
    _add(root, "filterScope", "Everything")
    if watch_field:
        _add(root, "filters", {"field": watch_field, "operation": "equals", "value": "1"})
    elif tier_field:
        _add(root, "filters", {"field": tier_field, "operation": "equals", "value": "high,critical"})
    _add(root, "label", "Risk watchlist")
    return root


def write_project(out: Path, needs: list[FieldNeed], *, objects: list[str], inputs: bool = False) -> list[Path]:
    """Write the project under `out`; returns the files written. `needs` are every field the job uses;
    the custom ones riskbridge creates (outputs, overrides, task key; credit inputs too with `inputs`)
    get a field file, and all of them a place in the permission set."""
    base = out / "force-app" / "main" / "default"
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "sfdx-project.json"]
    files[0].write_text(json.dumps({"packageDirectories": [{"path": "force-app", "default": True}],
                                    "name": "riskbridge-fields", "namespace": "", "sfdcLoginUrl":
                                    "https://login.salesforce.com", "sourceApiVersion": API_VERSION},
                                   indent=2) + "\n", encoding="utf-8")
    reads: list[tuple[str, str]] = []
    edits: list[tuple[str, str]] = []
    written: set[tuple[str, str]] = set()
    for need in needs:
        (edits if need.role in ("output", "task_key") else reads).append((need.object, need.field))
        key = (metadata_object(need.object), need.field.lower())
        create = need.role != "input" or (inputs and need.creatable)
        if create and need.field.lower().endswith("__c") and need.kind != "other" and key not in written:
            written.add(key)
            target = base / "objects" / metadata_object(need.object) / "fields" / f"{need.field}.field-meta.xml"
            files.append(_write(target, _field_xml(need)))
    files.append(_write(base / "permissionsets" / f"{PERMISSION_SET}.permissionset-meta.xml",
                        _permission_set(reads, edits, objects)))
    outputs = {n.canonical: n.field for n in needs if n.role == "output" and n.section == "accounts"}
    files.append(_write(base / "objects" / "Account" / "listViews" / "Risk_Watchlist.listView-meta.xml",
                        _list_view(outputs.get("watchlist"), outputs.get("risk_tier"), outputs.get("risk_score"))))
    return files
