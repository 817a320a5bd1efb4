"""Training on raw columns, numeric and categorical, on a labelled set with a known structure (see
`labelled.py`): the card ranks as the structure says, drops the noise, warns about the leaks, explains
with the column's name and the bin's levels, and scores through `riskbridge score` exactly as the
training pipeline's predict_proba, unseen levels, empty and unreadable cells included."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("optbinning")
pytest.importorskip("sklearn")

from connector.cli import app  # noqa: E402
from scoring import assess, load_scorecard, read_accounts_csv  # noqa: E402
from scoring.train import TrainResult, train_scorecard  # noqa: E402
from tests.train.labelled import AS_OF, RAW_COLUMNS, UNSEEN_LEVEL, labelled_rows, write_csv  # noqa: E402

LEAKS = ["max_days_past_due", "sent_to_collections"]
NOISE = ("current_ratio", "tenure_years", "purpose")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("raw") / "labelled.csv", labelled_rows(3000, raw=True), RAW_COLUMNS)


@pytest.fixture(scope="module")
def clean(data: Path) -> TrainResult:
    return train_scorecard(read_accounts_csv(data), target="status", bad="default", as_of=AS_OF, exclude=LEAKS)


def _points(result: TrainResult, name: str) -> dict[str, float]:
    """Points per level of a categorical raw characteristic."""
    ch = result.scorecard.spec.characteristics[name]
    return {c: b.points for b in ch.bins for c in (b.categories or [])}


def test_raw_columns_rank_as_the_structure_says_and_noise_is_dropped(clean: TrainResult) -> None:
    assert {"bureau_score", "internal_rating", "checking_status", "duration_months"} <= set(clean.selected)
    assert not set(NOISE) & set(clean.selected)
    assert {"purpose"} <= {w["name"] for w in clean.validation.warnings if w["code"] == "weak_iv"}
    assert clean.raw["checking_status"].kind == "categorical" and clean.raw["duration_months"].kind == "numeric"
    level = _points(clean, "checking_status")
    assert level["< 0 DM"] < level["0 <= ... < 200 DM"] < min(level[">= 200 DM"], level["no checking account"])
    duration = clean.scorecard.spec.characteristics["duration_months"]
    steps = [b.points for b in duration.bins if b.kind == "interval"]
    assert duration.higher == "riskier" and steps == sorted(steps, reverse=True) and steps[0] > steps[-1]
    iv = clean.validation.iv
    assert iv["checking_status"] > iv["duration_months"] > iv["purpose"]


def test_the_card_names_the_column_its_levels_and_the_unseen_bin(clean: TrainResult) -> None:
    ch = clean.scorecard.spec.characteristics["checking_status"]
    assert ch.column == "checking_status" and ch.kind == "categorical" and ch.reason_code == "RAW_CHECKING_STATUS"
    overdrawn = next(b for b in ch.bins if b.categories == ["< 0 DM"])
    assert overdrawn.reason is not None
    assert (overdrawn.reason.en, overdrawn.reason.zh) == ("checking_status is '< 0 DM'", "checking_status 为 '< 0 DM'")
    unseen = next(b for b in ch.bins if b.label == ch.unseen)
    assert unseen.categories == [] and unseen.reason is not None and "not seen in training" in unseen.reason.en
    missing = next(b for b in ch.bins if b.state == "missing")
    assert missing.reason is not None and missing.reason.zh == "checking_status 缺失"
    # A canonical characteristic keeps the catalogue's words.
    assert clean.scorecard.spec.characteristics["bureau_score"].reason == \
        load_scorecard().spec.characteristics["bureau_score"].reason


def test_warns_about_leaks_in_raw_and_canonical_columns(data: Path) -> None:
    leaky = train_scorecard(read_accounts_csv(data), target="status", bad="default", as_of=AS_OF,
                            characteristics=["bureau_score", "checking_status", *LEAKS])
    flagged = {w.get("name") for w in leaky.validation.warnings if w["code"] == "leak_iv"}
    assert flagged == set(LEAKS)


def _fresh(path: Path) -> Path:
    """New accounts: a tenth with a checking level training never saw, some empty and unreadable durations."""
    rows = labelled_rows(800, seed=99, raw=True, unseen=0.1)
    for i, row in enumerate(rows):
        if i % 23 == 0:
            row["duration_months"] = ""
        elif i % 29 == 0:
            row["duration_months"] = "about a year"
        elif i % 31 == 0:
            row["duration_months"] = "n/a"
    return write_csv(path, rows, RAW_COLUMNS)


def test_score_cli_gives_the_pipelines_pd_with_unseen_levels_and_missing_values(clean: TrainResult,
                                                                                  tmp_path: Path) -> None:
    card, scored = tmp_path / "card.toml", tmp_path / "scored.csv"
    card.write_text(clean.card_text, encoding="utf-8")
    fresh = _fresh(tmp_path / "fresh.csv")
    run = CliRunner().invoke(app, ["score", "--input", str(fresh), "--output", str(scored), "--scorecard", str(card),
                                   "--as-of", AS_OF.isoformat(), "--exact"])
    assert run.exit_code == 0, run.output
    with scored.open(encoding="utf-8") as handle:
        out = list(csv.DictReader(handle))
    pd_cli = np.array([float(r["pd"]) for r in out])
    table = read_accounts_csv(fresh)
    pipeline_pd = clean.pipeline_pd(table, AS_OF)
    assert len(pd_cli) == len(pipeline_pd) == 800
    assert np.max(np.abs(pd_cli - pipeline_pd)) < 1e-9
    # The cases that matter were there, and fell in the bins the card declares for them.
    sc = load_scorecard(card)
    bins = assess(table.accounts, sc, as_of=AS_OF).bins
    j, k = sc.names.index("checking_status"), sc.names.index("duration_months")
    checking, duration = sc.characteristics[j], sc.characteristics[k]
    levels = [r["checking_status"] for r in out]
    unseen_rows = [i for i, v in enumerate(levels) if v == UNSEEN_LEVEL]
    assert len(unseen_rows) > 40
    assert {checking.bins[bins[i, j]].label for i in unseen_rows} == {sc.spec.characteristics["checking_status"].unseen}
    assert {checking.bins[bins[i, j]].state for i, v in enumerate(levels) if v == ""} == {"missing"}
    blank = [i for i, r in enumerate(out) if r["duration_months"] in ("", "about a year", "n/a")]
    assert len(blank) > 40 and {duration.bins[bins[i, k]].state for i in blank} == {"missing"}


def test_train_cli_takes_raw_column_names_and_reports_unusable_ones(data: Path, tmp_path: Path) -> None:
    card = tmp_path / "card.toml"
    run = CliRunner().invoke(app, ["train", "--data", str(data), "--target", "status", "--bad", "default",
                                   "--out", str(card), "--characteristics", "bureau_score,checking_status,purpose",
                                   "--as-of", AS_OF.isoformat()])
    assert run.exit_code == 0, run.output
    chars = load_scorecard(card).spec.characteristics
    assert set(chars) == {"bureau_score", "checking_status"} and chars["checking_status"].unseen is not None
    run = CliRunner().invoke(app, ["train", "--data", str(data), "--target", "status", "--bad", "default",
                                   "--out", str(tmp_path / "bad.toml"), "--characteristics", "checking,name,status",
                                   "--as-of", AS_OF.isoformat()])
    assert run.exit_code == 2
    for words in ("unknown characteristic 'checking'", "name has 3000 distinct values", "status is the outcome"):
        assert words in run.output
    assert not (tmp_path / "bad.toml").exists()
