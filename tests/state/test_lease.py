"""The per-job lease under contention: replicas with engines of their own race for it, round after round;
exactly one wins each round, whether the lease is free or held by a dead owner whose term ran out."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert

from connector.state import StateStore
from connector.tables import LockRow

TTL = timedelta(minutes=10)


def _contend(url: str, replicas: int, rounds: int) -> list[list[bool]]:
    """wins[round][replica]; odd rounds start from a lease an owner that is gone let expire."""
    stores = [StateStore(url) for _ in range(replicas)]
    wins = [[False] * replicas for _ in range(rounds)]
    errors: list[BaseException] = []
    round_no = [0]

    def next_round() -> None:  # run by one thread while all wait: the lease as the round starts
        with stores[0].session() as s:
            s.execute(delete(LockRow))
            if round_no[0] % 2:
                s.execute(insert(LockRow).values(job="nightly", owner="gone",
                                                 expires_at=datetime.now(UTC) - timedelta(seconds=1)))

    start = threading.Barrier(replicas, action=next_round)
    done = threading.Barrier(replicas, action=lambda: round_no.__setitem__(0, round_no[0] + 1))

    def replica(n: int) -> None:
        try:
            for r in range(rounds):
                start.wait()
                wins[r][n] = stores[n].acquire("nightly", f"replica-{n}", TTL)
                done.wait()
        except BaseException as exc:  # the assertion below shows it
            errors.append(exc)
            start.abort()
            done.abort()

    threads = [threading.Thread(target=replica, args=(n,)) for n in range(replicas)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    holder = stores[0].session
    with holder() as s:
        lease = s.get(LockRow, "nightly")
    assert lease is not None and wins[-1][int(lease.owner.split("-")[1])]  # the last winner holds it
    for store in stores:
        store.close()
    return wins


def test_exactly_one_of_eight_replicas_takes_the_lease_each_round(empty_url: str) -> None:
    rounds = 50 if empty_url.startswith("postgresql") else 10  # SQLite serialises writers: fewer rounds say as much
    wins = _contend(empty_url, replicas=8, rounds=rounds)
    assert [sum(w) for w in wins] == [1] * rounds


def test_a_lease_is_kept_renewed_and_released_by_its_owner_only(empty_url: str) -> None:
    a, b = StateStore(empty_url), StateStore(empty_url)
    assert a.acquire("nightly", "a", TTL) and not b.acquire("nightly", "b", TTL)
    assert a.acquire("nightly", "a", TTL)  # renewal by the holder
    b.release("nightly", "b")  # not its lease: nothing happens
    assert not b.acquire("nightly", "b", TTL)
    assert b.acquire("nightly", "b", TTL, take_over=lambda holder: holder == "a")  # a's process is gone
    a.release("nightly", "a")
    assert not a.acquire("nightly", "a", TTL)
    b.release("nightly", "b")
    assert a.acquire("nightly", "a", TTL)
    a.close()
    b.close()
