"""First-run tasks: which held tasks a run releases (riskiest first, both caps), and which it supersedes."""

from __future__ import annotations

from datetime import date

from connector.config import TaskPolicy
from connector.first_run import FirstRunTask, from_outbox, release, release_order
from connector.model import TaskCreate
from connector.state import HeldTask

TODAY = date(2026, 11, 30)


def candidate(record_id: str, owner: str | None, score: float) -> FirstRunTask:
    task = TaskCreate(key=f"rb-default-{record_id}-tier-critical-1", object="accounts", record_id=record_id,
                      owner_id=owner, subject=f"review {record_id}", description="", due=TODAY, priority="High")
    return FirstRunTask(task, score, {})


def test_the_riskiest_go_first_within_the_run_and_owner_caps() -> None:
    policy = TaskPolicy(first_run_cap=4, first_run_cap_per_owner=2)
    pool = [candidate("a", "u1", 90), candidate("b", "u1", 95), candidate("c", "u1", 99), candidate("d", "u2", 80),
            candidate("e", "u3", 70), candidate("f", None, 85), candidate("g", "u2", 80)]
    chosen = release(sorted(pool, key=release_order), policy, waiting=2)
    assert [c.task.record_id for c in chosen.chosen] == ["c", "b", "f", "d"]  # u1's third (a) waits its turn
    assert chosen.waiting == 2 + 3  # a, e, g here, plus the two whose records are not recorded yet


def test_ties_are_broken_by_record_id_so_runs_repeat() -> None:
    policy = TaskPolicy(first_run_cap=2, first_run_cap_per_owner=5)
    pool = [candidate(i, "u", 50) for i in ("z", "m", "a")]
    pool.sort(key=release_order)
    assert [c.task.record_id for c in release(pool, policy).chosen] == ["a", "m"]
    assert release(pool, TaskPolicy(first_run_cap=0)).chosen == []


def held(tier: str | None, score: float | None, tier_rule: str = "tier-critical") -> HeldTask:
    """A held task of record "a", with its record's recorded tier and score (None: not recorded yet)."""
    return HeldTask(key="k", object="accounts", record_id="a", tier=tier, score=score,
                    payload={"rule": tier_rule, "episode": 1, "subject": "s", "description": "d",
                             "due": "2026-11-30", "owner_id": "u", "priority": "High", "score": 90})


def test_a_held_task_is_released_at_its_record_s_latest_score_due_from_today() -> None:
    found = from_outbox(held("critical", 93), TODAY, TaskPolicy())
    assert isinstance(found, FirstRunTask)
    assert found.score == 93 and found.task.due == date(2026, 12, 1)  # critical: due in one day from release
    assert found.payload["due"] == "2026-12-01" and found.payload["rule"] == "tier-critical"


def test_a_held_task_whose_record_fell_is_superseded_and_one_not_yet_recorded_waits() -> None:
    assert from_outbox(held("high", 60), TODAY, TaskPolicy()) == \
        ("superseded", "the record is now high, below critical")
    assert from_outbox(held(None, None), TODAY, TaskPolicy()) is None
