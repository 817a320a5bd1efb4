"""How a population spreads over a scorecard's bins: the development shares a trained card records,
and the live shares `riskbridge drift` compares them with."""

from __future__ import annotations

from datetime import date

import numpy as np

from scoring.batch import Batch
from scoring.rawcolumns import card_features
from scoring.scorecard import Scorecard
from scoring.validation import psi

__all__ = ["bin_counts", "characteristic_psi"]


def bin_counts(card: Scorecard, batch: Batch, as_of: date) -> dict[str, np.ndarray]:
    """Records per bin of every characteristic, in the card's bin order."""
    features = card_features(card, batch, as_of=as_of)
    return {c.name: np.bincount(c.bin_of(features[c.name]), minlength=len(c.bins)) for c in card.characteristics}


def characteristic_psi(card: Scorecard, counts: dict[str, np.ndarray]) -> dict[str, float | None]:
    """PSI per characteristic between the card's `dev_share`s and `counts`; None where the card has no shares."""
    out: dict[str, float | None] = {}
    for c in card.characteristics:
        shares = [b.dev_share for b in c.bins]
        out[c.name] = None if any(s is None for s in shares) else psi(np.array(shares, dtype=np.float64),
                                                                         counts[c.name])
    return out
