"""The validation figures against their textbook definitions."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.validation import auc, calibration, ks, psi, tier_table, warnings_for


def test_auc_matches_scikit_learn_with_ties() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    bad = rng.random(500) < 0.2
    pd = np.round(rng.random(500) * 0.5 + bad * 0.2, 2)  # rounded: many ties
    assert auc(bad, pd) == pytest.approx(metrics.roc_auc_score(bad, pd), abs=1e-12)


def test_ks_psi_and_calibration() -> None:
    bad = np.array([0, 0, 0, 1, 1, 1], dtype=bool)
    assert ks(bad, np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])) == 1.0
    assert ks(bad, np.array([0.5] * 6)) == 0.0
    assert psi([10, 20, 30], [10, 20, 30]) == 0.0
    assert psi([50, 50], [90, 10]) == pytest.approx(0.4 * np.log(1.8) + (-0.4) * np.log(0.2))
    deciles = calibration(bad, np.linspace(0, 1, 6), groups=3)
    assert [d["bad_rate"] for d in deciles] == [0.0, 0.5, 1.0]


def test_tier_table_and_warnings() -> None:
    rows = tier_table(["low", "high", "high"], np.array([0, 1, 0], dtype=bool), np.array([0.1, 0.6, 0.4]),
                      ["low", "medium", "high"])
    assert [(r.tier, r.accounts, r.bads) for r in rows] == [("low", 1, 0), ("medium", 0, 0), ("high", 2, 1)]
    assert rows[2].mean_pd == pytest.approx(0.5)
    codes = [w["code"] for w in warnings_for(0.97, {"a": 1.5, "b": 0.01, "c": 0.3}, 40)]
    assert codes == ["leak_auc", "leak_iv", "weak_iv", "few_bads"]
