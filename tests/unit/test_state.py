"""The state store: schema, cursors, outbox idempotency, record issues."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from connector.model import Cursor
from connector.state import OutboxRow, StateStore

NOW = datetime(2026, 11, 29, tzinfo=UTC)


def store(tmp_path: Path) -> StateStore:
    return StateStore(f"sqlite:///{tmp_path / 'state.db'}")


def test_schema_is_created_and_reopened(tmp_path: Path) -> None:
    first = store(tmp_path)
    run = first.start_run("job", dry_run=False, full=True)
    first.finish_run(run, "success", {"objects": {}}, 12)
    first.close()
    again = store(tmp_path)
    [row] = again.runs()
    assert row.status == "success" and row.api_calls == 12


def test_cursor_round_trip(tmp_path: Path) -> None:
    s = store(tmp_path)
    assert s.cursor("job", "accounts") is None
    cursor = Cursor(NOW, frozenset({"a", "b"}))
    s.save_cursor("job", "accounts", cursor)
    assert s.cursor("job", "accounts") == cursor


def test_outbox_keys_are_never_duplicated(tmp_path: Path) -> None:
    s = store(tmp_path)
    row = OutboxRow(key="rb-job-001-tier-high-1", job="job", kind="task", object="accounts", record_id="001",
                    payload={"rule": "tier-high", "episode": 1}, created_at=NOW, updated_at=NOW)
    s.enqueue([row])
    s.enqueue([OutboxRow(**{**{c: getattr(row, c) for c in ("key", "job", "kind", "object", "record_id", "payload",
                                                                "created_at", "updated_at")}})])
    assert [r.key for r in s.pending_outbox("job")] == [row.key]
    s.settle_outbox({row.key: (True, None, "00T1")})
    assert s.pending_outbox("job") == []
    latest = s.latest_tasks("job", ["001"])
    assert latest[("001", "tier-high")].crm_id == "00T1"


def test_record_issues_count_attempts_and_resolve(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.record_issues(1, "job", "accounts", {"001": ("apply", "UNABLE_TO_LOCK_ROW: busy")})
    s.record_issues(2, "job", "accounts", {"001": ("apply", "UNABLE_TO_LOCK_ROW: busy")})
    [issue] = s.issues("job", "accounts")
    assert issue.attempts == 2 and issue.last_run_id == 2
    s.resolve_issues("job", "accounts", ["001"])
    assert s.issues("job") == []


def test_one_lease_per_job(tmp_path: Path) -> None:
    from datetime import timedelta

    s = store(tmp_path)
    minute = timedelta(minutes=1)
    assert s.acquire("job", "a", minute)
    assert not s.acquire("job", "b", minute)  # held and live
    assert s.acquire("job", "a", minute)  # the holder renews
    assert s.acquire("job", "b", minute, take_over=lambda holder: holder == "a")  # a crashed holder
    assert not s.acquire("job", "a", minute)
    assert s.acquire("other", "a", minute)  # leases are per job
    s.release("job", "b")
    assert s.acquire("job", "a", -minute)  # free again; a lapsed lease ...
    assert s.acquire("job", "b", minute)  # ... is taken by the next run


def test_runs_left_running_by_a_crash_are_marked_failed(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.start_run("job", dry_run=False, full=False)
    s.abandon_runs("job")
    [run] = s.runs("job")
    assert run.status == "failed" and "abandoned" in (run.error or "")


def test_due_accounts_are_expired_overrides_and_stale_assessments_not_watchlist_members(tmp_path: Path) -> None:
    from datetime import date, timedelta

    from connector.state import AssessmentRow, WatchRow

    s = store(tmp_path)
    today = date(2026, 11, 29)

    def row(record_id: str, as_of: date, until: date | None = None) -> AssessmentRow:
        return AssessmentRow(job="job", object="accounts", record_id=record_id, score=10.0, tier="low", pd=0.01,
                             model_version="m", inputs_hash="h", scored_at=NOW, as_of=as_of, override_until=until,
                             detail={})

    s.save_assessments(1, "job", "accounts", [row("fresh", today), row("old", today - timedelta(days=9)),
                                              row("expired", today, until=today - timedelta(days=1)),
                                              row("leaving", today)], {})
    s.save_watch_states([WatchRow(job="job", record_id="leaving", on_list=True, runs_below=1, since=NOW)])
    assert s.due_accounts("job", today, today - timedelta(days=7), 10) == ["expired", "old"]


def test_two_replicas_taking_over_one_dead_holder_make_one_winner(tmp_path: Path) -> None:
    from datetime import timedelta

    from connector.state import StateStore

    minute = timedelta(minutes=1)
    a, b = store(tmp_path), StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    assert a.acquire("job", "dead", minute)

    def b_sees_dead(holder: str) -> bool:
        # While b decides that the holder is dead, a reaches the same verdict and takes the lease first.
        assert a.acquire("job", "a", minute, take_over=lambda h: h == "dead")
        return holder == "dead"

    assert not b.acquire("job", "b", minute, take_over=b_sees_dead)
    assert not b.acquire("job", "b", minute)  # a's fresh lease survived b's take-over
    assert a.acquire("job", "a", minute)  # and a still holds it
