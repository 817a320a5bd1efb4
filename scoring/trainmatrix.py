"""The feature matrix a scorecard is trained on, built the same way scoring reads a batch.

Each canonical numeric feature becomes one column. Where a record's feature is in a special state
the column holds the value that state must score like, so the training pipeline and the scorecard
place every record in bins worth the same points:

    value              the value itself (+/-inf clipped to a huge finite number: the outermost bin)
    zero_denominator   the feature's "better" end of `zero_between` (its points then sit inside the
                       bounds the scorecard checks demand), or missing when the feature has no bound
    negative_equity    `negative_equity_at_most` (never more points than that value)
    missing, invalid   NaN: optbinning's own Missing bin
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import numpy as np

from scoring.batch import Batch
from scoring.features import (
    FEATURES,
    NEGATIVE_EQUITY,
    VALUE,
    ZERO_DENOMINATOR,
    Feature,
    FeatureSpec,
    Lookups,
    compute_features,
)
from scoring.trainraw import RawColumn, raw_frame_column

__all__ = ["HUGE", "TRAINABLE", "feature_matrix", "state_stand_in", "training_frame"]

HUGE = 1e300  # stands in for +inf; optbinning needs finite numbers
TRAINABLE: tuple[str, ...] = tuple(name for name, spec in FEATURES.items() if spec.kind == "numeric")


def state_stand_in(spec: FeatureSpec, state: str) -> float:
    """The value a special state is trained (and scored) as; NaN means the Missing bin."""
    if state == "zero_denominator" and spec.zero_between is not None:
        worse, better = spec.zero_between
        chosen = better if better is not None else worse
        return float("nan") if chosen is None else float(np.clip(chosen, -HUGE, HUGE))
    if state == "negative_equity" and spec.negative_equity_at_most is not None:
        return spec.negative_equity_at_most
    return float("nan")


def _column(spec: FeatureSpec, feature: Feature) -> np.ndarray:
    column = np.clip(np.where(feature.state == VALUE, feature.values, np.nan), -HUGE, HUGE)
    column[feature.state == ZERO_DENOMINATOR] = state_stand_in(spec, "zero_denominator")
    column[feature.state == NEGATIVE_EQUITY] = state_stand_in(spec, "negative_equity")
    return column


def feature_matrix(batch: Batch, lookups: Lookups, names: tuple[str, ...], *, as_of: date) -> np.ndarray:
    """(records, characteristics) float matrix of the named numeric features."""
    features = compute_features(batch, lookups, names, as_of=as_of)
    if not names:
        return np.zeros((len(batch), 0))
    return np.column_stack([_column(FEATURES[name], features[name]) for name in names])


def training_frame(batch: Batch, lookups: Lookups, names: tuple[str, ...], raw: Mapping[str, RawColumn], *,
                   as_of: date) -> Any:
    """A pandas DataFrame, one column per characteristic in `names`: canonical features as in
    `feature_matrix`, raw columns (those in `raw`) as `trainraw.raw_frame_column` reads them."""
    import pandas as pd

    canonical = tuple(n for n in names if n not in raw)
    matrix = feature_matrix(batch, lookups, canonical, as_of=as_of)
    columns = {n: matrix[:, canonical.index(n)] if n not in raw else raw_frame_column(batch, raw[n]) for n in names}
    return pd.DataFrame(columns, columns=list(names))
