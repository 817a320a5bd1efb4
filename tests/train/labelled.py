"""A labelled data set with a known structure, for training tests and the closing figures.

    informative  bureau_score (strong, safer when higher), internal_rating (strong, riskier when higher),
                 avg_days_late (moderate, riskier when higher)
    noise        current_ratio (current_assets / current_liabilities), tenure_years (customer_since)
    leaky        max_days_past_due: recorded after the outcome, so a bad has 90+ days past due
Some values are missing, so every characteristic's Missing bin is exercised.

With `raw=True` the rows also carry columns that are no canonical field, binned as raw columns:

    checking_status   categorical, informative: "< 0 DM" is riskiest, ">= 200 DM" and "no checking
                      account" safest; 4% empty. `unseen` of the rows get a level training never saw.
    duration_months   numeric, informative: riskier when longer
    purpose           categorical noise
    sent_to_collections  categorical, leaky: "yes" for most bads, recorded after the outcome
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import numpy as np

AS_OF = date(2026, 6, 30)
COLUMNS = ("id", "name", "bureau_score", "internal_rating", "avg_days_late", "current_assets",
           "current_liabilities", "customer_since", "max_days_past_due", "status")
RAW_COLUMNS = (*COLUMNS[:-1], "checking_status", "duration_months", "purpose", "sent_to_collections", COLUMNS[-1])
CHECKING = {"< 0 DM": 0.9, "0 <= ... < 200 DM": 0.3, ">= 200 DM": -0.5, "no checking account": -0.8}
UNSEEN_LEVEL = "overdraft facility (new product)"
PURPOSES = ("car (new)", "car (used)", "furniture/equipment", "radio/tv", "education", "business")


def labelled_rows(n: int, seed: int = 7, *, leaky: bool = True, raw: bool = False,
                  unseen: float = 0.0) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    extra = np.random.default_rng(seed + 1000)  # the raw columns' own draws leave the canonical ones as they were
    levels = list(CHECKING)
    checking = extra.choice(len(levels), n, p=[0.3, 0.25, 0.15, 0.3])
    duration = extra.integers(6, 61, n)
    purpose = extra.choice(len(PURPOSES), n)
    blank_checking = extra.random(n) < 0.04
    new_level = extra.random(n) < unseen
    collected = extra.random(n)
    bureau = rng.uniform(0, 100, n)
    rating = rng.integers(1, 11, n)
    late = np.clip(rng.normal(8, 12, n), -10, 90)
    logit = -2.2 - 0.03 * (bureau - 50) + 0.25 * (rating - 5.5) + 0.03 * late
    if raw:
        logit = logit + np.array([CHECKING[v] for v in levels])[checking] + 0.03 * (duration - 30)
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    assets = rng.uniform(1e4, 1e6, n)
    liabilities = rng.uniform(1e4, 1e6, n)
    since = rng.integers(30, 3650, n)
    # Most bads went 90+ days past due after the fact; a few goods are slow payers too.
    late_after = np.where(bad, rng.random(n) < 0.85, rng.random(n) < 0.04)
    dpd = np.where(late_after, rng.integers(91, 240, n), rng.integers(0, 30, n)) if leaky else rng.integers(0, 60, n)
    rows = []
    for i in range(n):
        rows.append({
            "id": f"A{i:06d}", "name": f"Account {i}",
            "bureau_score": "" if rng.random() < 0.05 else f"{bureau[i]:.1f}",
            "internal_rating": "" if rng.random() < 0.05 else str(int(rating[i])),
            "avg_days_late": f"{late[i]:.1f}",
            "current_assets": f"{assets[i]:.0f}", "current_liabilities": f"{liabilities[i]:.0f}",
            "customer_since": (AS_OF - timedelta(days=int(since[i]))).isoformat(),
            "max_days_past_due": str(int(dpd[i])),
            "status": "default" if bad[i] else "ok",
        })
        if raw:
            level = UNSEEN_LEVEL if new_level[i] else "" if blank_checking[i] else levels[checking[i]]
            rows[-1].update({"checking_status": level, "duration_months": str(int(duration[i])),
                             "purpose": PURPOSES[purpose[i]],
                             "sent_to_collections": "yes" if collected[i] < (0.8 if bad[i] else 0.03) else "no"})
    return rows


def write_csv(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path
