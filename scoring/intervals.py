"""The numeric bins a trained card gets from its split points: one interval between each pair of edges,
labelled in words, with a stand-in value inside it to price its points. Canonical and raw-column training
bin numbers alike; only the reason texts differ."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Interval", "edge_keys", "intervals", "label_apart"]


@dataclass(frozen=True)
class Interval:
    lower: float  # -inf when open below
    upper: float  # inf when open above
    side: str  # any, below, above, between: which words describe it
    stand_in: float  # a value inside it, priced by the binning to get the bin's points
    label: str
    lo: str  # the edges as the label writes them
    up: str


def intervals(splits: list[float]) -> Iterator[Interval]:
    edges = [-math.inf, *splits, math.inf]
    for lower, upper in zip(edges, edges[1:], strict=False):
        lo, up = f"{lower:.6g}", f"{upper:.6g}"
        if math.isinf(lower) and math.isinf(upper):
            yield Interval(lower, upper, "any", 0.0, "any value", lo, up)
        elif math.isinf(lower):
            yield Interval(lower, upper, "below", upper - 1.0 - abs(upper), f"below {up}", lo, up)
        elif math.isinf(upper):
            yield Interval(lower, upper, "above", lower + 1.0 + abs(lower), f"{lo} and above", lo, up)
        else:
            yield Interval(lower, upper, "between", (lower + upper) / 2.0, f"{lo} to {up}", lo, up)


def edge_keys(interval: Interval) -> dict[str, float]:
    """The bin's `lower`/`upper` keys: an open side has none."""
    keys = {}
    if not math.isinf(interval.lower):
        keys["lower"] = interval.lower
    if not math.isinf(interval.upper):
        keys["upper"] = interval.upper
    return keys


def label_apart(bins: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Splits closer than six digits would share a label; the exact edges tell them apart."""
    labels = [b["label"] for b in bins]
    for b in bins:
        if labels.count(b["label"]) > 1:
            b["label"] = f"{b.get('lower', '-inf')!r} to {b.get('upper', 'inf')!r}"
    return bins
