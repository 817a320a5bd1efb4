"""Reads over a whole job stream from the database: a full run's deal prune and re-score list hold a page
of rows at a time, not the org (the 1,000,000-account run peaked at 968 MiB against 321 MiB at 100,000
while the prune buffered 2,000,000 ORM rows). Measured with tracemalloc, on SQLite and PostgreSQL."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.idset import IdSet
from connector.model import AssessmentRecord, Deal
from connector.state import OutboxRow, StateStore

NOW = datetime(2026, 11, 29, tzinfo=UTC)
DEALS = 40_000
MARKED = 60_000  # accounts marked for re-scoring (more than have deals: the list alone must outgrow the bound)
# A buffered read of 40,000 (id, account) rows costs ~10 MiB in Python objects; a page of 5,000 about 1.3.
BOUND = 4 * 1024 * 1024


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    url = f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else request.getfixturevalue(
        "postgres_urls")()
    opened = StateStore(url)
    opened.save_deals("job", [Deal(f"006{i:015d}", NOW, {"account_id": f"001{i // 2:015d}"}, {})
                              for i in range(DEALS)])
    opened.mark_rescore("job", (f"001{i:015d}" for i in range(MARKED)))
    yield opened
    opened.close()


def _peak(work: Callable[[], object]) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_full_reads_prune_holds_a_page_of_the_snapshot(store: StateStore) -> None:
    seen = IdSet(f"006{i:015d}" for i in range(DEALS) if i != 7)  # the full read missed one deal
    assert len(seen) == DEALS - 1  # merged now: the set's own 18 bytes an id are not the prune's
    accounts, peak = _peak(lambda: store.prune_unseen_deals("job", seen.missing))
    assert accounts == {f"001{3:015d}"}
    assert peak < BOUND, f"prune peaked at {peak / 2**20:.1f} MiB"
    assert [d.id for d in store.deals_for_accounts("job", [f"001{3:015d}"])] == [f"006{6:015d}"]


def test_the_accounts_left_to_rescore_stream_past_the_ones_done(store: StateStore) -> None:
    done = IdSet(f"001{i:015d}" for i in range(MARKED) if i % 1000)  # every 1,000th was not scored
    assert len(done) == MARKED - MARKED // 1000
    rest, peak = _peak(lambda: done.missing(store.rescore_ids("job")))
    assert rest == [f"001{i:015d}" for i in range(0, MARKED, 1000)]
    assert peak < BOUND, f"the re-score list peaked at {peak / 2**20:.1f} MiB"


HELD = 20_000


def test_held_first_run_tasks_stream_riskiest_first_with_ties_ordered_as_python_does(store: StateStore) -> None:
    """A first run over a large org holds back a task for every critical account; a release streams them
    (with each record's tier and score) instead of loading them and every assessment at once."""
    now = datetime(2026, 11, 29, tzinfo=UTC)
    ids = [f"001{i:015d}" for i in range(HELD)] + ["001aaa", "001AAB", "001Zz"]  # ties across case
    scores = {r: 60.0 + (i % 400) / 10 for i, r in enumerate(ids[:HELD])} | {r: 100.0 for r in ids[HELD:]}
    store.enqueue([OutboxRow(key=f"rb-{r}", job="job", kind="task", object="accounts", record_id=r, status="held",
                             payload={"rule": "tier-critical", "subject": f"Review {r}", "owner_id": "u1"},
                             created_at=now, updated_at=now) for r in ids] + [
        OutboxRow(key="rb-unrecorded", job="job", kind="task", object="accounts", record_id="001none",
                  status="held", payload={"rule": "tier-critical"}, created_at=now, updated_at=now)])
    store.save_assessments(1, "job", "accounts", [
        AssessmentRecord(job="job", object="accounts", record_id=r, score=s, tier="critical", pd=0.5,
                         model_version="v", inputs_hash="h", scored_at=now, as_of=now.date(),
                         detail={"name": f"Account {r}", "reasons": ["x" * 200]}) for r, s in scores.items()],
        previous={})

    def riskiest_ten() -> list[tuple[str, float | None]]:
        return [(h.record_id, h.score) for h, _ in zip(store.held_tasks("job"), range(10), strict=False)]

    top, _ = _peak(riskiest_ten)
    assert top[:3] == [("001AAB", 100.0), ("001Zz", 100.0), ("001aaa", 100.0)]  # Python's order, not a collation's
    rows, peak = _peak(lambda: sum(1 for _ in store.held_tasks("job")))
    assert rows == HELD + 4
    assert [h.tier for h in store.held_tasks("job")][-1] is None  # not recorded yet: last
    assert peak < BOUND, f"held tasks peaked at {peak / 2**20:.1f} MiB"
