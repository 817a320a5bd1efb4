"""The Salesforce DX project `provision --out` writes: XML that parses, with the types, lengths and
picklists the mapping needs, the task key as a unique External ID, a least-privilege permission set and
the watchlist list view."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from connector.admin.needs import FieldNeed, job_needs
from connector.admin.sfdx import write_project
from connector.config import Job
from connector.mapping import MAPPINGS_DIR, load_mapping

NS = {"md": "http://soap.sforce.com/2006/04/metadata"}
TYPES = {"number": "Number", "currency": "Currency", "text": "Text", "textarea": "LongTextArea", "boolean": "Checkbox",
         "date": "Date", "datetime": "DateTime", "picklist": "Picklist"}


@pytest.fixture
def needs() -> list[FieldNeed]:
    return job_needs(load_mapping(MAPPINGS_DIR / "salesforce.toml"), Job(connection="sf", mapping="m.toml"))


def _text(root: ET.Element, tag: str) -> str | None:
    node = root.find(f"md:{tag}", NS)
    return None if node is None else node.text


def _field_file(base: Path, need: FieldNeed) -> Path:
    folder = "Activity" if need.object == "Task" else need.object
    return base / "force-app/main/default/objects" / folder / "fields" / f"{need.field}.field-meta.xml"


def test_every_created_field_parses_and_matches_its_need(tmp_path: Path, needs: list[FieldNeed]) -> None:
    files = write_project(tmp_path, needs, objects=["Account", "Opportunity", "Task"])
    assert all(f.is_file() for f in files)
    project = json.loads((tmp_path / "sfdx-project.json").read_text())
    assert project["packageDirectories"] == [{"path": "force-app", "default": True}]
    created = [n for n in needs if n.role != "input"]
    assert len(created) == 8 + 7 + 3 + 1  # account outputs, deal outputs, overrides, task key
    for need in created:
        root = ET.parse(_field_file(tmp_path, need)).getroot()
        assert root.tag == "{http://soap.sforce.com/2006/04/metadata}CustomField"
        assert _text(root, "fullName") == need.field and _text(root, "label") == need.label
        assert _text(root, "type") == TYPES[need.kind]
        if need.kind == "text":
            assert int(_text(root, "length") or 0) == need.length
        if need.kind == "textarea":
            assert int(_text(root, "length") or 0) == need.length and _text(root, "visibleLines") == "3"
        if need.kind in ("number", "currency"):
            assert (int(_text(root, "precision") or 0), int(_text(root, "scale") or 0)) == (need.precision, need.scale)
        if need.kind == "picklist":
            values = [v.text for v in root.findall("md:valueSet/md:valueSetDefinition/md:value/md:fullName", NS)]
            assert tuple(values) == need.picklist == ("low", "medium", "high", "critical")
            assert _text(root, "valueSet/md:restricted") == "true"
        assert _text(root, "inlineHelpText") == need.help
    key = ET.parse(tmp_path / "force-app/main/default/objects/Activity/fields/Riskbridge_Key__c.field-meta.xml")
    assert _text(key.getroot(), "externalId") == "true" and _text(key.getroot(), "unique") == "true"
    assert not (tmp_path / "force-app/main/default/objects/Account/fields/Credit_Limit__c.field-meta.xml").exists()


def test_inputs_are_created_only_when_asked(tmp_path: Path, needs: list[FieldNeed]) -> None:
    write_project(tmp_path, needs, objects=["Account"], inputs=True)
    credit = ET.parse(tmp_path / "force-app/main/default/objects/Account/fields/Credit_Limit__c.field-meta.xml")
    assert _text(credit.getroot(), "type") == "Currency"
    opinion = ET.parse(tmp_path / "force-app/main/default/objects/Account/fields/Audit_Opinion__c.field-meta.xml")
    values = [v.text for v in opinion.getroot().findall("md:valueSet/md:valueSetDefinition/md:value/md:fullName", NS)]
    assert values == ["unqualified", "qualified", "adverse", "disclaimer"]
    assert not (tmp_path / "force-app/main/default/objects/Account/fields/Name.field-meta.xml").exists()


def test_permission_set_reads_inputs_and_edits_outputs_only(tmp_path: Path, needs: list[FieldNeed]) -> None:
    write_project(tmp_path, needs, objects=["Account", "Opportunity", "Task"])
    root = ET.parse(tmp_path / "force-app/main/default/permissionsets/Riskbridge_Integration.permissionset-meta.xml"
                    ).getroot()
    grants = {_text(p, "field"): (_text(p, "readable"), _text(p, "editable"))
              for p in root.findall("md:fieldPermissions", NS)}
    assert grants["Account.Risk_Score__c"] == ("true", "true")
    assert grants["Opportunity.Risk_Flags__c"] == ("true", "true")
    assert grants["Activity.Riskbridge_Key__c"] == ("true", "true")
    assert grants["Account.Credit_Limit__c"] == ("true", "false")  # an input: read only
    assert grants["Account.Risk_Override_Tier__c"] == ("true", "false")  # a credit manager's field
    assert "Account.Name" not in grants  # standard fields take no field permissions
    objects = {_text(o, "object"): o for o in root.findall("md:objectPermissions", NS)}
    assert set(objects) == {"Account", "Opportunity"}
    assert all(_text(o, "allowDelete") == "false" and _text(o, "modifyAllRecords") == "false"
               for o in objects.values())
    assert [_text(u, "name") for u in root.findall("md:userPermissions", NS)] == ["EditTask"]


def test_watchlist_list_view_filters_on_the_watchlist_checkbox(tmp_path: Path, needs: list[FieldNeed]) -> None:
    write_project(tmp_path, needs, objects=["Account"])
    root = ET.parse(tmp_path / "force-app/main/default/objects/Account/listViews/Risk_Watchlist.listView-meta.xml"
                    ).getroot()
    assert _text(root, "label") == "Risk watchlist" and _text(root, "filterScope") == "Everything"
    assert (_text(root, "filters/md:field"), _text(root, "filters/md:value")) == ("Risk_Watchlist__c", "1")
    assert "Risk_Score__c" in [c.text for c in root.findall("md:columns", NS)]
