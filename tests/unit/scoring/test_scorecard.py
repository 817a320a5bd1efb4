"""The scorecard file: the default's content, its version, and every kind of invalid file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from connector.errors import ConfigError
from scoring import DEFAULT_SCORECARD, load_scorecard
from scoring.scorecard_spec import GROUPS

from .cards import bin_index, bins, default_raw, to_toml, write_card

SALESFORCE_INDUSTRIES = (
    "Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications", "Construction",
    "Consulting", "Education", "Electronics", "Energy", "Engineering", "Entertainment", "Environmental", "Finance",
    "Food & Beverage", "Government", "Healthcare", "Hospitality", "Insurance", "Machinery", "Manufacturing", "Media",
    "Not For Profit", "Other", "Recreation", "Retail", "Shipping", "Technology", "Telecommunications",
    "Transportation", "Utilities",
)


def problems_of(tmp_path: Path, raw: dict[str, Any]) -> dict[str, str]:
    """Load a mutated scorecard and return its problems as {key: message}; it must fail."""
    with pytest.raises(ConfigError) as info:
        load_scorecard(write_card(tmp_path / "card.toml", raw))
    return {p.key: p.message for p in info.value.problems}


# --- the default scorecard ----------------------------------------------------------------------


def test_default_scorecard_covers_all_five_bases_and_knockouts() -> None:
    sc = load_scorecard()
    assert {c.group for c in sc.characteristics} == set(GROUPS)
    assert {k.field for k in sc.spec.knockouts} == {"sanctions_hit", "insolvency", "max_days_past_due"}
    assert len(sc.spec.countries) >= 40
    assert set(SALESFORCE_INDUSTRIES) <= set(sc.spec.industries)


def test_default_reasons_are_plain_words_in_both_languages() -> None:
    sc = load_scorecard()
    for lang in ("en", "zh"):
        texts = sc.reason_texts[lang]
        assert all(t.strip() for t in texts)
        assert not any("score" in t.lower() and "low" in t.lower() and "bureau" not in t.lower() for t in texts)
    assert "Invoices 60+ days past due" in sc.reason_texts["en"]
    assert "发票逾期超过60天" in sc.reason_texts["zh"]


def test_every_default_characteristic_has_a_rationale_comment() -> None:
    lines = DEFAULT_SCORECARD.read_text(encoding="utf-8").splitlines()
    headers = [i for i, line in enumerate(lines) if line.startswith("[characteristics.")]
    assert len(headers) == len(load_scorecard().characteristics)
    assert all(lines[i - 1].startswith("# ") for i in headers)


def test_version_is_the_file_stem_and_a_content_hash(tmp_path: Path) -> None:
    text = DEFAULT_SCORECARD.read_text(encoding="utf-8")
    a = tmp_path / "acme.toml"
    a.write_text(text, encoding="utf-8")
    b = tmp_path / "acme_copy.toml"
    b.write_text(text, encoding="utf-8")
    version = load_scorecard(a).version
    assert version.startswith("acme-") and len(version) == len("acme-") + 12
    assert load_scorecard(b).version.split("-")[1] == version.split("-")[1]
    a.write_text(text.replace("pdo = 30", "pdo = 31"), encoding="utf-8")
    assert load_scorecard(a).version != version


def test_the_test_writer_round_trips_the_default(tmp_path: Path) -> None:
    raw = default_raw()
    assert tomllib.loads(to_toml(raw)) == raw
    assert load_scorecard(write_card(tmp_path / "same.toml", raw)).names == load_scorecard().names


# --- invalid files ------------------------------------------------------------------------------


def test_several_problems_are_all_reported_with_their_key_paths(tmp_path: Path) -> None:
    raw = default_raw()
    bins(raw, "current_ratio")[4]["points"] = "ten"
    raw["characteristics"]["quick_ratio"]["weight"] = 2
    raw["tiers"]["high"] = 20
    raw["countries"]["DE"] = "mythical"
    del raw["knockouts"][0]["text"]["zh"]
    problems = problems_of(tmp_path, raw)
    assert "characteristics.current_ratio.bins[4].points" in problems
    assert problems["characteristics.quick_ratio.weight"] == "unknown key"
    assert "tiers.high" in problems
    assert "mythical" in problems["countries.DE"]
    assert "knockouts[0].text.zh" in problems


def test_a_typo_gets_a_did_you_mean_hint(tmp_path: Path) -> None:
    raw = default_raw()
    bins(raw, "net_margin")[3]["pionts"] = bins(raw, "net_margin")[3].pop("points")
    raw["tier"] = raw.pop("tiers")
    with pytest.raises(ConfigError) as info:
        load_scorecard(write_card(tmp_path / "card.toml", raw))
    by_key = {p.key: p for p in info.value.problems}
    assert by_key["characteristics.net_margin.bins[3].pionts"].hint == "did you mean 'points'?"
    assert by_key["tier"].hint == "did you mean 'tiers'?"
    assert by_key["tiers"].message == "required key is missing"


def test_a_gap_between_bins_is_named(tmp_path: Path) -> None:
    raw = default_raw()
    i = bin_index(raw, "current_ratio", "1.0 to 1.5")
    bins(raw, "current_ratio")[i]["lower"] = 1.1
    problems = problems_of(tmp_path, raw)
    assert "gap" in problems[f"characteristics.current_ratio.bins[{i}].lower"]


def test_overlapping_or_unordered_bins_are_named(tmp_path: Path) -> None:
    raw = default_raw()
    i = bin_index(raw, "current_ratio", "1.0 to 1.5")
    bins(raw, "current_ratio")[i]["lower"] = 0.9
    problems = problems_of(tmp_path, raw)
    assert "overlap" in problems[f"characteristics.current_ratio.bins[{i}].lower"]


def test_open_ends_are_required(tmp_path: Path) -> None:
    raw = default_raw()
    bins(raw, "quick_ratio")[-1]["upper"] = 9.0
    problems = problems_of(tmp_path, raw)
    assert "covers every higher value" in problems[f"characteristics.quick_ratio.bins[{len(bins(raw, 'quick_ratio')) - 1}].upper"]


def test_a_missing_bin_for_missing_data_is_required(tmp_path: Path) -> None:
    raw = default_raw()
    raw["characteristics"]["tenure_years"]["bins"] = [b for b in bins(raw, "tenure_years") if b.get("state") != "missing"]
    problems = problems_of(tmp_path, raw)
    assert problems["characteristics.tenure_years.bins"] == "no bin for state 'missing'"


def test_points_that_would_break_monotonicity_are_rejected(tmp_path: Path) -> None:
    raw = default_raw()
    i = bin_index(raw, "max_days_past_due", "60 to 89 days")
    bins(raw, "max_days_past_due")[i]["points"] = 25  # more than 30-59 days gets
    i_zero = bin_index(raw, "current_ratio", "empty balance sheet")
    bins(raw, "current_ratio")[i_zero]["points"] = 30  # above the best ratio's 20
    i_neg = bin_index(raw, "debt_to_asset", "negative equity")
    bins(raw, "debt_to_asset")[i_neg]["points"] = 10  # above 80%-and-above's 3
    i_q = bin_index(raw, "audit_opinion", "qualified")
    bins(raw, "audit_opinion")[i_q]["points"] = 20  # above unqualified
    problems = problems_of(tmp_path, raw)
    assert "must not move against it" in problems[f"characteristics.max_days_past_due.bins[{i}].points"]
    assert "at most 20" in problems[f"characteristics.current_ratio.bins[{i_zero}].points"]
    assert "negative equity" in problems[f"characteristics.debt_to_asset.bins[{i_neg}].points"]
    assert "'qualified' scores 20" in problems[f"characteristics.audit_opinion.bins[{i_q}].points"]


def test_negative_cash_flow_must_score_flat(tmp_path: Path) -> None:
    raw = default_raw()
    cash = bins(raw, "ocf_to_liabilities")
    i = bin_index(raw, "ocf_to_liabilities", "negative")
    cash[i:i + 1] = [{**cash[i], "label": "very negative", "upper": -0.5},
                     {**cash[i], "label": "slightly negative", "lower": -0.5, "points": 2}]
    problems = problems_of(tmp_path, raw)
    assert "score the same" in problems[f"characteristics.ocf_to_liabilities.bins[{i + 1}].points"]


def test_unknown_characteristics_states_and_categories(tmp_path: Path) -> None:
    raw = default_raw()
    raw["characteristics"]["shoe_size"] = raw["characteristics"]["tenure_years"]
    bins(raw, "current_ratio")[0]["state"] = "absent"
    bins(raw, "audit_opinion")[2]["categories"] = ["spotless"]
    problems = problems_of(tmp_path, raw)
    assert problems["characteristics.shoe_size"] == "unknown characteristic"
    assert problems["characteristics.current_ratio.bins[0].state"] == "unknown state 'absent'"
    assert problems["characteristics.audit_opinion.bins[2].categories"] == "unknown category 'spotless'"
    assert problems["characteristics.audit_opinion.bins"] == "no bin for category 'unqualified'"


def test_tables_must_name_known_classes_and_iso_codes(tmp_path: Path) -> None:
    raw = default_raw()
    raw["countries"]["Germany"] = "low"
    raw["industries"]["Retail"] = "doomed"
    raw["industries"]["retail"] = "high"
    problems = problems_of(tmp_path, raw)
    assert "ISO 3166" in problems['countries.Germany']
    assert "'doomed' is not a category" in problems["industries.Retail"]
    assert "same entry" in problems["industries.retail"]


def test_knockout_rules_are_checked(tmp_path: Path) -> None:
    raw = default_raw()
    raw["knockouts"][0]["field"] = "sanction"
    raw["knockouts"][1]["when"] = "above"
    del raw["knockouts"][2]["value"]
    raw["knockouts"][2]["supersedes"] = "days_late"
    raw["knockouts"][1]["code"] = "KO_SANCTIONS"
    problems = problems_of(tmp_path, raw)
    assert "unknown account field" in problems["knockouts[0].field"]
    assert "needs a number field" in problems["knockouts[1].when"]
    assert problems["knockouts[2].value"] == "a 'above' rule needs a value"
    assert "not a characteristic" in problems["knockouts[2].supersedes"]
    assert "already used" in problems["knockouts[1].code"]


def test_policy_must_tighten_with_risk(tmp_path: Path) -> None:
    raw = default_raw()
    raw["policy"]["high"]["terms_days"] = [30, 45, 15]
    raw["policy"]["band_names"] = ["small", "large"]
    raw["policy"]["critical"]["prepayment_share"] = [1.0, 1.0]
    problems = problems_of(tmp_path, raw)
    assert "longer terms than medium" in problems["policy.high.terms_days[1]"]
    assert "2 names for 3 bands" in problems["policy.band_names"]
    assert "2 entries for 3 bands" in problems["policy.critical.prepayment_share"]


def test_a_broken_characteristic_does_not_hide_problems_elsewhere(tmp_path: Path) -> None:
    raw = default_raw()
    bins(raw, "tenure_years")[0]["points"] = "many"
    raw["countries"]["FR"] = "nowhere"
    problems = problems_of(tmp_path, raw)
    assert "characteristics.tenure_years.bins[0].points" in problems
    assert "countries.FR" in problems


def test_toml_syntax_errors_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[scaling\nbase_points = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_scorecard(bad)
    with pytest.raises(ConfigError, match="scorecard file not found"):
        load_scorecard(tmp_path / "absent.toml")
