"""Mappings: validation lists every problem; dirty values become record issues, not crashes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from connector.errors import MappingError
from connector.mapping import MAPPINGS_DIR, load_mapping, map_rows
from connector.model import Account, Deal


def test_default_mappings_load() -> None:
    for crm in ("salesforce", "zoho"):
        mapping = load_mapping(MAPPINGS_DIR / f"{crm}.toml")
        assert mapping.crm == crm
        assert set(mapping.accounts.outputs) >= {"risk_score", "risk_tier", "reasons", "watchlist"}


def test_unknown_transform_and_names_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text("""
crm = "salesforce"
[accounts]
object = "Account"
cursor_field = "SystemModstamp"
[accounts.inputs]
bureau_score = { field = "Bureau_Score__c", transform = "evaluate" }
credit_lmit = "Credit_Limit__c"
""", encoding="utf-8")
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    text = str(err.value)
    assert "unknown transform 'evaluate'" in text and "number" in text  # lists the valid names


def test_map_rows_converts_and_skips_bad_records() -> None:
    mapping = load_mapping(MAPPINGS_DIR / "salesforce.toml")
    rows = [
        {"Id": "001A", "SystemModstamp": "2026-01-02T03:04:05.000+0000", "Name": "Müller GmbH", "OwnerId": "005X",
         "BillingCountry": "Deutschland", "Bureau_Score__c": "n/a", "Statement_Date__c": "31/12/2025",
         "Sanctions_Hit__c": False, "Risk_Tier__c": "high"},
        {"Id": "001B", "SystemModstamp": "2026-01-02T03:04:05.000+0000", "Bureau_Score__c": "see report"},
    ]
    records, issues = map_rows(mapping, "accounts", rows)
    assert len(records) == 1 and isinstance(records[0], Account)
    acc = records[0]
    assert acc.values["country"] == "DE" and acc.values["bureau_score"] is None
    assert acc.values["statement_date"] == date(2025, 12, 31)
    assert acc.current["risk_tier"] == "high"
    assert [i.record_id for i in issues] == ["001B"] and "Bureau_Score__c" in issues[0].reason


def test_zoho_lookups_and_stage_flags() -> None:
    mapping = load_mapping(MAPPINGS_DIR / "zoho.toml")
    rows = [{"id": "7328395000000693003", "Modified_Time": "2026-05-14T11:36:17+03:00", "Deal_Name": "Renewal",
             "Account_Name": {"name": "Zylker", "id": "7328395000000686003"}, "Owner": {"id": "1", "name": "P"},
             "Stage": "Closed Won", "Amount": 1200.5}]
    records, issues = map_rows(mapping, "deals", rows)
    assert not issues
    deal = records[0]
    assert isinstance(deal, Deal)
    assert deal.account_id == "7328395000000686003" and deal.values["is_closed"] and deal.values["is_won"]
    assert deal.modstamp is not None and deal.modstamp.hour == 8  # normalised to UTC


def test_an_output_may_not_overwrite_an_input_or_override(tmp_path: Path) -> None:
    text = (MAPPINGS_DIR / "salesforce.toml").read_text()
    path = tmp_path / "m.toml"
    path.write_text(text.replace('risk_tier = "Risk_Tier__c"', 'risk_tier = "Risk_Override_Tier__c"'))
    with pytest.raises(MappingError, match="Risk_Override_Tier__c.*also read as inputs"):
        load_mapping(path)


def test_a_deal_without_an_account_maps_with_no_account() -> None:
    # The engine decides what an unlinked deal means (it drops it from its old account's exposure).
    mapping = load_mapping(MAPPINGS_DIR / "zoho.toml")
    rows = [{"id": "1", "Modified_Time": "2026-05-14T11:36:17+03:00", "Deal_Name": "Orphan", "Stage": "Qualification",
             "Account_Name": {"name": "Zylker"}}]  # a lookup without the id the mapping reads
    records, issues = map_rows(mapping, "deals", rows)
    assert issues == [] and isinstance(records[0], Deal) and records[0].account_id is None


MAPPING = """
crm = "salesforce"
[accounts]
object = "Account"
cursor_field = "SystemModstamp"
[accounts.inputs]
name = "Name"
bureau_score = { field = "Bureau_Score__c", transform = "number" }
[accounts.outputs]
risk_score = "Risk_Score__c"
reasons = "Risk_Reasons__c"
"""


def mapping_problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "m.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    return [f"{p.key}: {p.message}" for p in err.value.problems]


def test_two_outputs_on_one_crm_field_are_refused(tmp_path: Path) -> None:
    [problem] = mapping_problems_of(tmp_path, MAPPING + 'model_version = "risk_reasons__c"\n')
    assert problem.startswith("accounts.outputs: reasons -> Risk_Reasons__c and model_version -> risk_reasons__c")
    assert "one CRM field" in problem


def test_misspellings_get_did_you_mean_each_under_its_own_key(tmp_path: Path) -> None:
    text = MAPPING.replace("bureau_score =", "bureau_scroe =").replace("risk_score =", "risk_scroe =")
    problems = mapping_problems_of(tmp_path, text.replace('"number"', '"numbr"'))
    assert any(p.startswith("accounts.inputs.bureau_scroe.transform: unknown transform 'numbr' (did you mean number?)")
               for p in problems)
    problems = mapping_problems_of(tmp_path, text)
    assert "accounts.inputs.bureau_scroe: unknown canonical field 'bureau_scroe' (did you mean bureau_score?)" in problems
    assert "accounts.outputs.risk_scroe: unknown output 'risk_scroe' (did you mean risk_score?)" in problems


def test_empty_names_and_folders_are_problems(tmp_path: Path) -> None:
    assert mapping_problems_of(tmp_path, MAPPING.replace('object = "Account"', 'object = ""')) == [
        "accounts.object: must not be empty"]
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    with pytest.raises(MappingError, match="is a folder, not a file"):
        load_mapping(folder)


def test_an_input_failing_on_most_of_a_batch_is_a_mapping_suspect(tmp_path: Path) -> None:
    from connector.mapping import suspect_mappings

    path = tmp_path / "m.toml"
    path.write_text(MAPPING.replace('"number"', '"date"'), encoding="utf-8")
    mapping = load_mapping(path)

    def batch(bad: int, total: int) -> list[dict[str, object]]:
        return [{"Id": f"a{i}", "Name": "x", "Bureau_Score__c": 61.5 if i < bad else None} for i in range(total)]

    rows = batch(12, 20)
    _, issues = map_rows(mapping, "accounts", rows)
    [suspect] = suspect_mappings(mapping, "accounts", len(rows), issues)
    assert (suspect.canonical, suspect.field, suspect.transform, suspect.failed, suspect.rows) == (
        "bureau_score", "Bureau_Score__c", "date", 12, 20)
    assert suspect.sample == "61.5" and "61.5" in suspect.message
    for bad, total in ((9, 20), (12, 19)):  # under half, or too few rows to tell
        rows = batch(bad, total)
        assert suspect_mappings(mapping, "accounts", len(rows), map_rows(mapping, "accounts", rows)[1]) == []
