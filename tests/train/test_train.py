"""Training a scorecard on a labelled set with a known structure: ranks, drops noise, warns about the leak,
and scores the same through the card, the engine and the training pipeline."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("optbinning")
pytest.importorskip("sklearn")

from scoring import assess, load_scorecard, read_accounts_csv  # noqa: E402
from scoring.train import TrainResult, train_scorecard  # noqa: E402
from tests.train.labelled import AS_OF, labelled_rows, write_csv  # noqa: E402

NOISE = ("current_ratio", "tenure_years")
INFORMATIVE = ("bureau_score", "internal_rating", "avg_days_late")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("train") / "labelled.csv", labelled_rows(4000))


@pytest.fixture(scope="module")
def trained(data: Path) -> TrainResult:
    return train_scorecard(read_accounts_csv(data), target="status", bad="default", as_of=AS_OF)


@pytest.fixture(scope="module")
def clean(data: Path) -> TrainResult:
    return train_scorecard(read_accounts_csv(data), target="status", bad="default", as_of=AS_OF,
                           exclude=["max_days_past_due"])


def _points(result: TrainResult, name: str) -> list[float]:
    ch = result.scorecard.spec.characteristics[name]
    return [b.points for b in ch.bins if b.state is None]


def test_keeps_the_informative_and_drops_the_noise(clean: TrainResult) -> None:
    assert set(INFORMATIVE) <= set(clean.selected)
    assert not set(NOISE) & set(clean.selected)
    assert {w["name"] for w in clean.validation.warnings if w["code"] == "weak_iv"} == set(NOISE)
    # The stronger a characteristic in the generating model, the higher its information value.
    iv = clean.validation.iv
    assert iv["bureau_score"] > iv["avg_days_late"] > max(iv[n] for n in NOISE)
    assert 0.65 < clean.validation.auc < 0.9 and 0.2 < clean.validation.ks < 0.7


def test_points_rank_the_way_the_structure_says(clean: TrainResult) -> None:
    bureau, rating = _points(clean, "bureau_score"), _points(clean, "internal_rating")
    assert len(bureau) >= 3 and bureau == sorted(bureau) and bureau[-1] > bureau[0]  # higher score, safer
    assert rating == sorted(rating, reverse=True) and rating[0] > rating[-1]  # higher rating number, riskier
    tiers = clean.validation.tiers
    rates = [t.bad_rate for t in tiers if t.accounts >= 30]
    assert rates == sorted(rates)  # each tier up is observed to be worse


def test_warns_about_the_leak(trained: TrainResult) -> None:
    codes = {(w["code"], w.get("name")) for w in trained.validation.warnings}
    assert ("leak_iv", "max_days_past_due") in codes
    assert trained.validation.iv["max_days_past_due"] > 1.0


def test_card_pd_equals_the_pipeline_on_new_accounts(clean: TrainResult, tmp_path: Path) -> None:
    fresh = read_accounts_csv(write_csv(tmp_path / "fresh.csv", labelled_rows(1500, seed=99)))
    card_pd = assess(fresh.accounts, clean.scorecard, as_of=AS_OF).pd
    assert np.max(np.abs(card_pd - clean.pipeline_pd(fresh, AS_OF))) < 1e-9
    assert clean.agreement < 1e-9


def test_the_card_keeps_the_default_rules(clean: TrainResult) -> None:
    default = load_scorecard()
    spec = clean.scorecard.spec
    assert spec.knockouts[:2] == default.spec.knockouts[:2]
    assert spec.tiers == default.spec.tiers and spec.policy == default.spec.policy
    assert spec.scaling == default.spec.scaling
    text = clean.card_text
    assert "sha256 " in text and "rows: 4000" in text and "holdout: AUC" in text


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "connector.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_train_then_score_round_trip(data: Path, clean: TrainResult, tmp_path: Path) -> None:
    card, report, scored = tmp_path / "card.toml", tmp_path / "report.json", tmp_path / "scored.csv"
    run = _cli("train", "--data", str(data), "--target", "status", "--bad", "default", "--out", str(card),
               "--exclude", "max_days_past_due", "--report", str(report), "--as-of", AS_OF.isoformat())
    assert run.returncode == 0, run.stderr
    assert load_scorecard(card).spec == clean.scorecard.spec  # same data, seed and date: the same card
    figures = json.loads(report.read_text(encoding="utf-8"))
    assert figures["auc"] == pytest.approx(clean.validation.auc) and len(figures["calibration"]) == 10
    assert {t["tier"] for t in figures["tiers"]} == {"low", "medium", "high", "critical"}
    assert "tenure_years barely separates" in run.stderr
    fresh = write_csv(tmp_path / "fresh.csv", labelled_rows(500, seed=5))
    run = _cli("score", "--input", str(fresh), "--output", str(scored), "--scorecard", str(card),
               "--as-of", AS_OF.isoformat())
    assert run.returncode == 0, run.stderr
    with scored.open(encoding="utf-8") as handle:
        pd_csv = np.array([float(r["pd"]) for r in csv.DictReader(handle)])
    pipeline_pd = clean.pipeline_pd(read_accounts_csv(fresh), AS_OF)
    assert np.max(np.abs(pd_csv - pipeline_pd)) <= 5e-7  # the CSV carries six decimals


def test_bad_options_are_all_reported_before_fitting(data: Path, tmp_path: Path) -> None:
    run = _cli("train", "--data", str(data), "--target", "outcome", "--bad", "default", "--out",
               str(tmp_path / "c.toml"), "--characteristics", "bureau_scor,country_risk", "--test-size", "0.9")
    assert run.returncode == 2
    for words in ("no column 'outcome'", "unknown characteristic 'bureau_scor'", "country_risk is categorical",
                  "--test-size"):
        assert words in run.stderr
    assert not (tmp_path / "c.toml").exists()


def test_without_the_extra_train_names_it(data: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "blocked" / "optbinning"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('blocked for the test')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker.parent), os.environ.get("PYTHONPATH", "")])}
    run = _cli("train", "--data", str(data), "--target", "status", "--bad", "default", "--out",
               str(tmp_path / "c.toml"), env=env)
    assert run.returncode == 2
    assert "riskbridge[train]" in run.stderr and "optbinning" in run.stderr
