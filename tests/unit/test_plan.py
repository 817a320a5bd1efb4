"""Planning: only changed values are written; escalation and hysteresis rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.model import Cursor
from connector.plan import Desired, diff_outputs, escalates, next_watch, recorded_since
from connector.state import OutboxRow, Prior

FIELDS = {"risk_score": "Risk_Score__c", "risk_tier": "Risk_Tier__c", "watchlist": "Risk_Watchlist__c",
          "scored_at": "Risk_Scored_At__c"}
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def desired(**values: object) -> Desired:
    return Desired("accounts", "001A", {"risk_score": 72.5, "risk_tier": "high", "watchlist": True,
                                        "scored_at": NOW, **values})


def test_unchanged_values_write_nothing_even_if_rescored() -> None:
    current = {"risk_score": "72.50", "risk_tier": "high", "watchlist": True, "scored_at": "2026-11-01T00:00:00.000+0000"}
    assert diff_outputs(desired(), current, FIELDS, "k") is None


def test_changed_value_writes_it_and_scored_at() -> None:
    current = {"risk_score": 60.0, "risk_tier": "high", "watchlist": True, "scored_at": "2026-11-01T00:00:00Z"}
    update = diff_outputs(desired(), current, FIELDS, "k")
    assert update is not None
    assert set(update.changes) == {"Risk_Score__c", "Risk_Scored_At__c"}
    assert update.values["Risk_Score__c"] == 72.5


def test_empty_crm_gets_everything() -> None:
    update = diff_outputs(desired(), {}, FIELDS, "k")
    assert update is not None and len(update.changes) == 4


def test_escalation_only_when_rising_into_task_tiers() -> None:
    tiers = ["high", "critical"]
    assert escalates(None, "high", tiers)
    assert escalates("medium", "critical", tiers)
    assert escalates("high", "critical", tiers)
    assert not escalates("high", "high", tiers)
    assert not escalates("critical", "high", tiers)
    assert not escalates("low", "medium", tiers)


def test_watchlist_hysteresis() -> None:
    state = next_watch(False, 0, "high", "high", 3)
    assert state.on_list
    for expected_on in (True, True, False):
        state = next_watch(state.on_list, state.runs_below, "medium", "high", 3)
        assert state.on_list is expected_on
    assert next_watch(True, 2, "critical", "high", 3).runs_below == 0  # rising again resets the count


def test_cursor_boundary() -> None:
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    cursor = Cursor(ts).advance(ts, "b").advance(ts, "a")
    assert cursor.seen(ts, "a") and not cursor.seen(ts, "c")
    later = cursor.advance(datetime(2026, 1, 2, tzinfo=UTC), "z")
    assert later.ids == frozenset({"z"})
    assert Cursor.from_json(later.to_json()) == later


def closed_task(created_at: datetime, run: int | None) -> OutboxRow:
    payload: dict[str, object] = {"rule": "tier-critical", "episode": 1}
    if run is not None:
        payload["run"] = run
    return OutboxRow(key="rb-default-001A-tier-critical-1", job="default", kind="task", object="accounts",
                     record_id="001A", payload=payload, status="done", created_at=created_at, updated_at=created_at)


def test_a_task_made_by_a_run_that_started_in_the_same_second_as_the_last_assessment_comes_after_it() -> None:
    """The flake of the Zoho crash test: the killed run began within the second of the run before it, and
    a time comparison at one-second resolution called the owner's closed task a past episode (and would
    have called an owed task superseded by the earlier, lower assessment)."""
    assert not recorded_since(Prior("medium", NOW, [], run_id=7), closed_task(NOW, run=8))


def test_runs_order_an_assessment_and_a_task_whatever_the_hosts_clocks_say() -> None:
    # A replica whose clock runs 5 s ahead recorded the assessment; another made the task in a later run.
    assert not recorded_since(Prior("medium", NOW + timedelta(seconds=5), [], run_id=7), closed_task(NOW, run=8))
    # ...and an assessment recorded after the task, by a clock that lags, is still after it.
    assert recorded_since(Prior("medium", NOW - timedelta(seconds=5), [], run_id=9), closed_task(NOW, run=8))
    assert recorded_since(Prior("critical", NOW, [], run_id=8), closed_task(NOW, run=8))  # the run that made it


def test_rows_stored_before_runs_were_kept_are_ordered_by_time() -> None:
    old_assessment = Prior("medium", NOW, [], run_id=None)
    assert not recorded_since(old_assessment, closed_task(NOW + timedelta(seconds=1), run=8))
    assert recorded_since(old_assessment, closed_task(NOW, run=None))
    assert not recorded_since(Prior("medium", NOW, [], run_id=3), closed_task(NOW + timedelta(seconds=1), run=None))
