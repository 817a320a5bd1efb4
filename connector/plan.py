"""Desired state vs the CRM's current values -> `WritePlan`.

Only values that change are written. Tasks are planned for escalations only; the watchlist moves
with hysteresis. `scored_at` follows other changes: rescoring an unchanged record writes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from connector.model import FieldUpdate, ObjectKind
from connector.transforms import Unconvertible, parse_datetime

__all__ = ["TIER_RANK", "Desired", "WatchDecision", "diff_outputs", "escalates", "next_watch"]

TIER_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}

# Written only together with a real change (or when the CRM field is still empty).
_FOLLOWERS = ("scored_at",)


@dataclass(frozen=True)
class Desired:
    """The output values riskbridge wants on one record, by canonical output name."""

    object: ObjectKind
    record_id: str
    values: dict[str, Any]


def _same(old: Any, new: Any) -> bool:
    """Compare a CRM value with a desired one, tolerant of the CRM's own formatting."""
    if new is None or new == "":
        return old is None or old == ""
    if old is None or old == "":
        return False
    if isinstance(new, bool):
        return (str(old).strip().casefold() in ("true", "1")) == new if not isinstance(old, bool) else old == new
    if isinstance(new, int | float):
        try:
            return math.isclose(float(old), float(new), rel_tol=0, abs_tol=0.005)
        except (TypeError, ValueError):
            return False
    if isinstance(new, datetime):
        try:
            return parse_datetime(old) == new.replace(microsecond=0) or parse_datetime(old) == new
        except Unconvertible:
            return False
    if isinstance(new, date):
        return str(old)[:10] == new.isoformat()
    return str(old).replace("\r\n", "\n").strip() == str(new).strip()


def diff_outputs(desired: Desired, current: dict[str, Any], fields: dict[str, str], key: str) -> FieldUpdate | None:
    """The update that brings `current` (canonical output -> CRM value) to `desired`, or None."""
    changes: dict[str, tuple[Any, Any]] = {}
    for name, crm_field in fields.items():
        if name in _FOLLOWERS or name not in desired.values:
            continue
        old, new = current.get(name), desired.values[name]
        if not _same(old, new):
            changes[crm_field] = (old, new)
    for name in _FOLLOWERS:
        follower = fields.get(name)
        if follower and name in desired.values and (changes or current.get(name) in (None, "")):
            changes[follower] = (current.get(name), desired.values[name])
    if not changes:
        return None
    return FieldUpdate(desired.object, desired.record_id, changes, key)


def escalates(previous_tier: str | None, tier: str, tiers: list[str]) -> bool:
    """True when the tier rises into one of `tiers` (a first assessment counts as rising from nothing)."""
    if tier not in tiers:
        return False
    return TIER_RANK.get(tier, -1) > TIER_RANK.get(previous_tier or "", -1)


@dataclass(frozen=True)
class WatchDecision:
    on_list: bool
    runs_below: int


def next_watch(on_list: bool, runs_below: int, tier: str, enter_tier: str, exit_after_runs: int) -> WatchDecision:
    """Enter at `enter_tier` or above; leave only after `exit_after_runs` consecutive assessments below it."""
    if TIER_RANK.get(tier, 0) >= TIER_RANK[enter_tier]:
        return WatchDecision(True, 0)
    if not on_list:
        return WatchDecision(False, 0)
    below = runs_below + 1
    return WatchDecision(below < exit_after_runs, 0 if below >= exit_after_runs else below)
