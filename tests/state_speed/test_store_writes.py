"""The set-based writes of the store keep the row-by-row semantics they replaced, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from connector.model import Deal
from connector.state import AssessmentRow, OutboxRow, StateStore
from connector.store_rows import as_stored

NOW = datetime(2026, 11, 29, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    url = f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else request.getfixturevalue(
        "postgres_urls")()
    opened = StateStore(url)
    yield opened
    opened.close()


def _task(key: str, record: str, **values: object) -> OutboxRow:
    return OutboxRow(key=key, job="job", kind="task", object="accounts", record_id=record,
                     payload={"rule": "r", "episode": 1}, created_at=NOW, updated_at=NOW, **values)


def test_deal_outputs_merge_into_the_stored_values(store: StateStore) -> None:
    store.save_deals("job", [Deal("D1", NOW, {"account_id": "A1"}, {"tier": "low", "score": 20.0, "kept": "x"}),
                             Deal("D2", NOW, {"account_id": "A1"}, {}),
                             Deal("D3", NOW, {"account_id": "A2"}, {"tier": "high"})])
    store.update_deal_outputs("job", {
        "D1": {"tier": "high", "score": 75.0, "flags": None, "scored_at": NOW, "due": date(2026, 12, 1)},
        "D2": {"tier": "medium", "score": 41.5, "flags": None, "scored_at": NOW, "due": date(2026, 12, 1)},
        "D3": {"reasons": 'say "why" — 理由', "terms": 30},  # another set of names: another statement
        "D9": {"tier": "high"},  # not in the snapshot: nothing to update
    })
    current = {d.id: d.current for d in store.deals_for_accounts("job", ["A1", "A2"])}
    assert current == {
        "D1": {"tier": "high", "score": 75.0, "kept": "x", "flags": None, "scored_at": "2026-11-29 00:00:00+00:00",
               "due": "2026-12-01"},
        "D2": {"tier": "medium", "score": 41.5, "flags": None, "scored_at": "2026-11-29 00:00:00+00:00",
               "due": "2026-12-01"},
        "D3": {"tier": "high", "reasons": 'say "why" — 理由', "terms": 30},
    }
    assert isinstance(current["D1"]["score"], float) and isinstance(current["D3"]["terms"], int)
    store.update_deal_outputs("job", {})


def test_settle_outbox_counts_attempts_and_keeps_a_known_crm_id(store: StateStore) -> None:
    store.enqueue([_task("k1", "A1"), _task("k2", "A2"), _task("k3", "A3")])
    store.settle_outbox({"k1": (True, None, "00T1"), "k2": (False, "INVALID_FIELD", None), "gone": (True, None, "x")})
    store.settle_outbox({"k1": (True, None, ""), "k2": (True, None, "00T2")})
    rows = store.outbox(["k1", "k2", "k3", "gone"])
    assert {k: (r.status, r.attempts, r.last_error, r.crm_id) for k, r in rows.items()} == {
        "k1": ("done", 2, None, "00T1"), "k2": ("done", 2, None, "00T2"), "k3": ("pending", 0, None, None)}
    assert rows["k1"].updated_at != NOW  # stamped when settled


def test_close_and_release_touch_only_their_keys(store: StateStore) -> None:
    store.enqueue([_task("h1", "A1", status="held"), _task("h2", "A2", status="held"), _task("p1", "A3")])
    store.release_held({"h1": {"rule": "r", "episode": 1, "subject": "sent"}, "p1": {"rule": "changed"}})
    store.close_outbox({"h2": ("superseded", "tier fell back"), "nope": ("abandoned", "x")})
    rows = store.outbox(["h1", "h2", "p1"])
    assert {k: (r.status, r.last_error, r.payload) for k, r in rows.items()} == {
        "h1": ("pending", None, {"rule": "r", "episode": 1, "subject": "sent"}),
        "h2": ("superseded", "tier fell back", {"rule": "r", "episode": 1}),
        "p1": ("pending", None, {"rule": "r", "episode": 1}),  # not held: release leaves it
    }
    store.release_held({})
    store.close_outbox({})


def test_saved_assessments_take_the_column_defaults(store: StateStore) -> None:
    row = AssessmentRow(job="job", object="accounts", record_id="A1", score=50.0, tier="medium", pd=0.1,
                        model_version="v1", inputs_hash="h", scored_at=NOW, as_of=date(2026, 11, 29))
    store.save_assessments(1, "job", "accounts", [row], {})
    [saved] = store.assessments("job", "accounts", ["A1"]).values()
    assert (saved.detail, saved.override_until, saved.tier) == ({}, None, "medium")


@pytest.mark.parametrize("values", [
    {"a": 1, "b": 2.5, "c": None, "d": True, "e": "x", "f": date(2026, 1, 2), "g": datetime(2026, 1, 2, 3, 4, 5, 6, UTC)},
    {"naive": datetime(2026, 1, 2), "nan": float("nan"), "inf": float("inf"), "big": 10**30},
    {"tuple": (1, date(2026, 1, 1))}, {1: "int key"}, {"decimal": Decimal("1.5")}, {},
])
def test_values_are_stored_as_the_json_round_trip_gives_them(values: dict[object, object]) -> None:
    """The fast path for flat canonical values gives what the JSON round trip gives (NaN compared as text)."""
    want = json.loads(json.dumps(values, default=str))
    assert json.dumps(as_stored(values)) == json.dumps(want)  # type: ignore[arg-type]


def test_a_planned_assessment_record_is_stored_as_the_orm_row_would_be(store: StateStore) -> None:
    from connector.model import AssessmentRecord

    detail = {"name": "Acme 中文", "reasons": ["Invoices 60+ days past due"], "exposure": None}
    values = dict(job="job", object="accounts", score=61.5, tier="high", pd=0.2, model_version="v1",
                  inputs_hash="h", scored_at=NOW, as_of=date(2026, 11, 29), override_until=date(2026, 12, 31))
    store.save_assessments(1, "job", "accounts", [AssessmentRow(record_id="orm", detail=detail, **values),
                                                  AssessmentRecord(record_id="plain", detail=detail, **values)], {})
    saved = store.assessments("job", "accounts", ["orm", "plain"])
    columns = [c.name for c in AssessmentRow.__table__.columns if c.name != "record_id"]
    assert [getattr(saved["plain"], c) for c in columns] == [getattr(saved["orm"], c) for c in columns]
    assert store.scores("job", "accounts", ["plain", "none"]) == {"plain": ("high", 61.5)}
    store.save_assessments(2, "job", "accounts", [AssessmentRecord(record_id="plain", detail=detail, **values)],
                           store.scores("job", "accounts", ["plain"]))  # unchanged: no history row
    with store.session() as s:
        from connector.tables import HistoryRow
        assert sorted(r.run_id for r in s.query(HistoryRow).filter_by(record_id="plain")) == [1]


def test_fingerprints_read_out_of_the_detail_equal_the_full_rows(store: StateStore) -> None:
    from connector.model import AssessmentRecord

    outputs = {"risk_score": 61.0, "risk_tier": "high", "reasons": "Überfällig | 逾期 \"60+\" days", "watchlist": True,
               "recommended_credit_limit": None, "recommended_terms_days": 15, "model_version": "v1"}
    base = dict(job="job", object="accounts", score=61.0, tier="high", pd=0.2, model_version="v1", inputs_hash="h",
                scored_at=NOW, as_of=date(2026, 11, 29))
    store.save_assessments(1, "job", "accounts", [
        AssessmentRecord(record_id="full", detail={"as_of": "2026-11-29", "values_hash": "abc", "outputs": outputs,
                                                   "inputs": {"name": "x"}}, **base),
        AssessmentRecord(record_id="bare", detail={}, **base),
        AssessmentRecord(record_id="deal", detail={"as_of": "2026-11-29"}, **{**base, "object": "deals"}),
    ], {})
    found = store.fingerprints("job", ["full", "bare", "deal", "none"])
    rows = store.assessments("job", "accounts", ["full", "bare"])
    assert set(found) == {"full", "bare"}
    for rid, row in rows.items():
        assert found[rid] == (row.model_version, row.detail.get("as_of"), row.detail.get("values_hash"),
                              row.detail.get("outputs", {}))


def test_priors_and_watch_states_equal_the_full_rows(store: StateStore) -> None:
    from connector.model import AssessmentRecord, WatchRecord
    from connector.tables import WatchRow

    base = dict(job="job", score=61.0, tier="high", pd=0.2, model_version="v1", inputs_hash="h", scored_at=NOW,
                as_of=date(2026, 11, 29))
    store.save_assessments(1, "job", "deals", [
        AssessmentRecord(object="deals", record_id="D1", detail={"flags": ["DEAL_OVER_CREDIT"], "name": "x"}, **base),
        AssessmentRecord(object="deals", record_id="D2", detail={"name": "no flags"}, **base)], {})
    store.save_assessments(1, "job", "accounts", [AssessmentRecord(object="accounts", record_id="A1",
                                                                   detail={"flags": ["ignored"]}, **base)], {})
    deals = store.priors("job", "deals", ["D1", "D2", "A1"])
    full = store.assessments("job", "deals", ["D1", "D2"])
    assert {k: (p.tier, p.scored_at, p.flags) for k, p in deals.items()} == {
        k: (r.tier, r.scored_at, r.detail.get("flags", [])) for k, r in full.items()}
    assert store.priors("job", "accounts", ["A1"])["A1"].flags == []  # only a deal's flags are read
    store.save_watch_states([WatchRecord("job", "A1", True, 2, NOW), WatchRow(job="job", record_id="A2", since=NOW)])
    states = store.watch_states("job", ["A1", "A2", "A3"])
    assert {k: (w.on_list, w.runs_below, w.since.replace(tzinfo=None)) for k, w in states.items()} == {
        "A1": (True, 2, NOW.replace(tzinfo=None)), "A2": (False, 0, NOW.replace(tzinfo=None))}
