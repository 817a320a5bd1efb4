"""`IdSet`: exact membership of the ids a run has seen, added page by page; the full read's deal prune with it."""

from __future__ import annotations

import random
from pathlib import Path

from connector.idset import IdSet
from connector.model import Deal
from connector.state import StateStore


def test_membership_is_exact_across_pages_and_widths() -> None:
    rng = random.Random(5)
    ids = [f"{rng.getrandbits(64):x}"[: rng.randint(1, 16)] for _ in range(3000)] + ["é-1", "0015g0000004lAN"]
    seen = IdSet()
    for start in range(0, 2000, 300):  # pages, and looks in between
        seen.update(ids[start:start + 300])
        assert ids[start] in seen
    seen.update(ids[2000:2500])
    expected = set(ids[:2500])
    probe = ids + ["", "0015g0000004lA", "0015g0000004lANX", "é"]
    assert [i in seen for i in probe] == [i in expected for i in probe]
    assert seen.missing(probe) == [i for i in probe if i not in expected]
    assert len(seen) == len(expected)


def test_an_empty_set_holds_nothing() -> None:
    seen = IdSet()
    assert "a" not in seen and seen.missing(["a", "b"]) == ["a", "b"] and len(seen) == 0
    assert 3 not in IdSet(["3"])


def test_a_full_read_prunes_exactly_the_snapshot_deals_it_did_not_return(tmp_path: Path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    deals = [Deal(f"d{i}", None, {"account_id": f"a{i % 700}", "amount": float(i)}) for i in range(12_000)]
    store.save_deals("job", deals)
    store.save_deals("other", deals[:5])  # another job's snapshot is not this read's business
    gone = {f"d{i}" for i in range(0, 12_000, 997)}
    seen = IdSet()
    for start in range(0, 12_000, 2000):
        seen.update(d.id for d in deals[start:start + 2000] if d.id not in gone)
    accounts = store.prune_unseen_deals("job", seen.missing)
    assert accounts == {str(d.account_id) for d in deals if d.id in gone}
    left = {d.id for d in store.deals_for_accounts("job", {f"a{i}" for i in range(700)})}
    assert left == {d.id for d in deals} - gone
    assert len(store.deals_for_accounts("other", ["a0", "a1", "a2", "a3", "a4"])) == 5
