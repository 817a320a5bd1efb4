"""How good a scorecard is on outcomes it has not seen: AUC, Gini, KS, tiers, calibration, PSI, IV.

Plain numpy, so the same figures serve `train` (holdout), `backtest` (production) and `drift`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["LEAK_AUC", "LEAK_IV", "MIN_BADS", "WEAK_IV", "DRIFT_PSI", "TierRow", "Validation", "auc", "calibration",
           "ks", "psi", "tier_table", "warnings_for"]

LEAK_AUC = 0.95  # a holdout AUC above this is more often a leaked outcome than a great model
LEAK_IV = 1.0  # one characteristic this strong usually records the outcome itself
WEAK_IV = 0.02  # below this a characteristic barely separates good from bad
MIN_BADS = 100  # fewer bads than this and every figure is noise
DRIFT_PSI = 0.25  # the usual line for a population that has shifted materially


def auc(bad: np.ndarray, pd: np.ndarray) -> float:
    """Area under the ROC curve of `pd` ranking bads above goods (ties count half)."""
    bad = np.asarray(bad, dtype=bool)
    n_bad, n_good = int(bad.sum()), int((~bad).sum())
    if n_bad == 0 or n_good == 0:
        return float("nan")
    order = np.argsort(pd, kind="mergesort")
    ranks = np.empty(len(pd), dtype=np.float64)
    sorted_pd = np.asarray(pd)[order]
    # Average ranks over ties, so equal scores count half either way.
    _, first, counts = np.unique(sorted_pd, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[bad].sum() - n_bad * (n_bad + 1) / 2.0) / (n_bad * n_good))


def ks(bad: np.ndarray, pd: np.ndarray) -> float:
    """Kolmogorov-Smirnov: the largest gap between the cumulative shares of bads and goods by pd."""
    bad = np.asarray(bad, dtype=bool)
    if bad.all() or not bad.any():
        return float("nan")
    values = np.unique(pd)
    cum_bad = np.searchsorted(np.sort(np.asarray(pd)[bad]), values, side="right") / bad.sum()
    cum_good = np.searchsorted(np.sort(np.asarray(pd)[~bad]), values, side="right") / (~bad).sum()
    return float(np.max(np.abs(cum_bad - cum_good)))


def psi(expected: np.ndarray, actual: np.ndarray, eps: float = 1e-4) -> float:
    """Population stability index between two distributions over the same bins (counts or shares)."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.sum() == 0 or a.sum() == 0:
        return float("nan")
    # An empty bin on one side would make the log infinite; a tiny floor keeps the index finite.
    e = np.maximum(e / e.sum(), eps)
    a = np.maximum(a / a.sum(), eps)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class TierRow:
    tier: str
    accounts: int
    bads: int
    bad_rate: float
    mean_pd: float


def tier_table(tiers: Sequence[str], bad: np.ndarray, pd: np.ndarray, names: Sequence[str]) -> list[TierRow]:
    """Observed bad rate and mean predicted pd per tier, in tier order."""
    tier_arr = np.asarray(tiers)
    rows = []
    for name in names:
        mask = tier_arr == name
        n = int(mask.sum())
        bads = int(np.asarray(bad, dtype=bool)[mask].sum())
        rows.append(TierRow(name, n, bads, bads / n if n else float("nan"),
                            float(np.asarray(pd)[mask].mean()) if n else float("nan")))
    return rows


def calibration(bad: np.ndarray, pd: np.ndarray, groups: int = 10) -> list[dict[str, float]]:
    """Mean predicted pd against observed bad rate, by pd decile (lowest pd first)."""
    order = np.argsort(pd, kind="mergesort")
    out = []
    for d, chunk in enumerate(np.array_split(order, groups), start=1):
        if chunk.size:
            out.append({"decile": d, "accounts": int(chunk.size), "mean_pd": float(np.asarray(pd)[chunk].mean()),
                        "bad_rate": float(np.asarray(bad, dtype=bool)[chunk].mean())})
    return out


@dataclass
class Validation:
    """The figures of one validation, as printed and as saved with `--report`."""

    auc: float
    gini: float
    ks: float
    bads: int
    accounts: int
    tiers: list[TierRow]
    calibration: list[dict[str, float]]
    psi_train_holdout: float
    iv: dict[str, float]
    # Each warning: {"code": catalogue key under `train.warn`, plus the values its text fills in}.
    warnings: list[dict[str, object]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "auc": self.auc, "gini": self.gini, "ks": self.ks, "bads": self.bads, "accounts": self.accounts,
            "tiers": [vars(r) for r in self.tiers], "calibration": self.calibration,
            "psi_train_holdout": self.psi_train_holdout, "iv": self.iv, "warnings": self.warnings,
        }


def warnings_for(holdout_auc: float, iv: dict[str, float], bads: int) -> list[dict[str, object]]:
    """Likely leakage, weak characteristics and too few bads, as catalogue codes with their values."""
    found: list[dict[str, object]] = []
    if holdout_auc > LEAK_AUC:
        found.append({"code": "leak_auc", "auc": round(holdout_auc, 4), "limit": LEAK_AUC})
    found += [{"code": "leak_iv", "name": name, "iv": round(value, 4), "limit": LEAK_IV}
              for name, value in iv.items() if value > LEAK_IV]
    found += [{"code": "weak_iv", "name": name, "iv": round(value, 4), "limit": WEAK_IV}
              for name, value in iv.items() if value < WEAK_IV]
    if bads < MIN_BADS:
        found.append({"code": "few_bads", "bads": bads, "limit": MIN_BADS})
    return found
