"""Tasks on the first run: records already in a `first_run_tiers` tier when a job first assesses them.

Owners must hear about accounts that are already critical, but installing riskbridge must not flood
anyone: the planner holds every such task back (outbox status ``held``) and each run releases the
riskiest of them, at most `first_run_cap` per run and `first_run_cap_per_owner` per owner. What a run
holds back is released by the next runs, riskiest first, and counted in every run's summary until none
is left. A held task whose record has since fallen below its tier is superseded, never sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from connector.config import TaskPolicy
from connector.model import TaskCreate
from connector.plan import TIER_RANK
from connector.state import HeldTask

__all__ = ["FirstRunTask", "HeldPool", "Release", "from_outbox", "release", "release_order", "summary"]


@dataclass(frozen=True)
class FirstRunTask:
    """A held first-run task, with the Risk Score it is released by."""

    task: TaskCreate
    score: float
    payload: dict[str, Any]  # the outbox payload as it will be sent


@dataclass
class Release:
    """What one run does with the held tasks: send `chosen`, keep `waiting`, close `superseded`."""

    chosen: list[FirstRunTask]
    waiting: int
    superseded: dict[str, tuple[str, str]]  # outbox key -> (status, reason)


def from_outbox(row: HeldTask, today: date, policy: TaskPolicy) -> FirstRunTask | tuple[str, str] | None:
    """A held task as a candidate for release, a (status, reason) that settles it, or None to keep it
    waiting (its record has no recorded assessment yet: its writes failed and are retried)."""
    p = row.payload
    tier = str(p.get("rule", "tier-critical")).removeprefix("tier-")
    if row.tier is None or row.score is None:
        return None
    if TIER_RANK.get(row.tier, 0) < TIER_RANK.get(tier, 3):
        return ("superseded", f"the record is now {row.tier}, below {tier}")
    # Due from the day it is sent, not the day it was held back: the owner gets the usual time.
    due = today + timedelta(days=policy.due_days.get(tier, 3))  # type: ignore[call-overload]
    payload = {**p, "due": due.isoformat(), "score": row.score}
    task = TaskCreate(key=row.key, object="deals" if row.object == "deals" else "accounts", record_id=row.record_id,
                      owner_id=p.get("owner_id"), subject=str(p.get("subject", "")),
                      description=str(p.get("description", "")), due=due, priority=p.get("priority", "High"))
    return FirstRunTask(task, float(row.score), payload)


@dataclass
class HeldPool:
    """Held tasks as they stream from the store: candidates go on, the others are settled or counted."""

    today: date
    policy: TaskPolicy
    rows: int = 0
    waiting: int = 0  # records not recorded yet
    superseded: dict[str, tuple[str, str]] = field(default_factory=dict)  # outbox key -> (status, reason)

    def candidates(self, held: Iterable[HeldTask]) -> Iterator[FirstRunTask]:
        for row in held:
            self.rows += 1
            found = from_outbox(row, self.today, self.policy)
            if found is None:
                self.waiting += 1
            elif isinstance(found, tuple):
                self.superseded[row.key] = found
            else:
                yield found


def release_order(c: FirstRunTask) -> tuple[float, str, str]:
    """Riskiest first; ties by record id, then key, so runs repeat."""
    return (-c.score, c.task.record_id, c.task.key)


def release(candidates: Iterable[FirstRunTask], policy: TaskPolicy, *, waiting: int = 0,
            superseded: dict[str, tuple[str, str]] | None = None) -> Release:
    """The first candidates within the per-run and per-owner caps. `candidates` come in `release_order`
    (`StateStore.held_tasks` streams them so): the rest are counted, never held."""
    chosen: list[FirstRunTask] = []
    per_owner: dict[str | None, int] = {}
    for c in candidates:
        owner = c.task.owner_id
        if len(chosen) >= policy.first_run_cap or per_owner.get(owner, 0) >= policy.first_run_cap_per_owner:
            waiting += 1
            continue
        per_owner[owner] = per_owner.get(owner, 0) + 1
        chosen.append(c)
    return Release(chosen, waiting, superseded or {})


def summary(policy: TaskPolicy, *, first: bool, created: int, held: int) -> dict[str, Any]:
    """The run report's `first_run` entry (JSON-able): what this run did with first-run tasks and why."""
    return {"first_run": first, "tiers": list(policy.first_run_tiers), "created": created, "held": held,
            "cap": policy.first_run_cap, "cap_per_owner": policy.first_run_cap_per_owner}
