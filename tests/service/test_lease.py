"""The short job lease and its heartbeat (`connector.lease`): beats every third of the TTL, a failed beat is
kept for the holder's next check (never raised in the thread), and the lease settings.

The heartbeat's waits are injected: time stands still unless a test lets a wait pass. No sleeps.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from connector.config import load_config
from connector.errors import ConfigError, JobBusy
from connector.lease import Heartbeat, LeaseTerms
from connector.state import StateStore
from connector.tables import LockRow
from tests.unit.test_scheduler import config as scheduler_config

TTL = timedelta(seconds=60)


class Waits:
    """Heartbeat waits and their clock: the first `passing` waits pass at once (the clock moves on by the
    interval), then time stands still until the heartbeat is stopped; `idle` is set then."""

    def __init__(self, passing: int) -> None:
        self.passing = passing
        self.asked: list[float] = []
        self.idle = threading.Event()
        self.now = 0.0

    def __call__(self, stopping: threading.Event, seconds: float) -> None:
        self.asked.append(seconds)
        if len(self.asked) > self.passing:
            self.idle.set()
            stopping.wait()
        else:
            self.now += seconds

    def clock(self) -> float:
        return self.now


@contextmanager
def refusing(store: StateStore) -> Iterator[None]:
    """The database refuses lease renewals (as a server that is down would), then answers again."""
    with store.session() as s:
        s.execute(text("ALTER TABLE locks RENAME TO locks_away"))
    try:
        yield
    finally:
        with store.session() as s:
            s.execute(text("ALTER TABLE locks_away RENAME TO locks"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()


def expires_at(store: StateStore, job: str = "job") -> datetime:
    with store.session() as s:
        stamp = s.scalar(select(LockRow.expires_at).where(LockRow.job == job))
    assert stamp is not None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def test_the_heartbeat_renews_the_lease_every_third_of_its_ttl(store: StateStore) -> None:
    assert store.acquire("job", "a", timedelta(seconds=1))  # about to lapse, unless kept alive
    waits = Waits(passing=3)
    with Heartbeat(store, "job", "a", TTL, wait=waits) as heartbeat:
        assert waits.idle.wait(30)
        assert heartbeat.beats == 3 and heartbeat.lost is None
        assert expires_at(store) > datetime.now(UTC) + TTL - timedelta(seconds=10)
        heartbeat.check()  # still ours: the holder goes on
    assert waits.asked == [20.0] * 4
    assert not store.acquire("job", "b", TTL)  # live: another holder waits for it to lapse


def test_a_beat_that_finds_the_lease_taken_ends_the_heartbeat_and_the_holder_stops_at_its_next_check(
        store: StateStore, caplog: pytest.LogCaptureFixture) -> None:
    assert store.acquire("job", "a", TTL)
    heartbeat = Heartbeat(store, "job", "a", TTL, wait=Waits(passing=1))
    # The holder was paused past its TTL: its lease lapsed and another replica took the job over.
    with store.session() as s:
        s.execute(LockRow.__table__.update().values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert store.acquire("job", "b", TTL)
    with caplog.at_level(logging.WARNING, logger="connector.lease"), heartbeat:
        heartbeat._thread.join(30)  # the failed beat ends the thread (no exception escapes it)
        assert not heartbeat._thread.is_alive()
    assert heartbeat.beats == 0 and "another process" in (heartbeat.lost or "")
    with pytest.raises(JobBusy, match="lease was lost"):
        heartbeat.check()
    assert [r.message for r in caplog.records if "lost" in r.message]
    assert not store.renew("job", "a", TTL) and store.acquire("job", "b", TTL)  # b's lease is untouched


def test_a_refused_beat_is_tried_again_and_two_in_a_row_lose_the_lease(
        store: StateStore, caplog: pytest.LogCaptureFixture) -> None:
    assert store.acquire("job", "a", TTL)
    now = [0.0]
    heartbeat = Heartbeat(store, "job", "a", TTL, clock=lambda: now[0])
    now[0] = 20.0
    with caplog.at_level(logging.WARNING, logger="connector.lease"), refusing(store):
        assert heartbeat.beat()  # the lease is ours for 40 s more: try again at the next beat
    assert heartbeat.lost is None and "trying again in 20s" in caplog.text
    heartbeat.check()  # the holder goes on (its own check asks the database anyway)
    now[0] = 40.0
    assert heartbeat.beat() and heartbeat.beats == 1  # the database answers again: renewed
    with refusing(store):
        now[0] = 60.0
        assert heartbeat.beat()
        now[0] = 80.0
        assert not heartbeat.beat()  # unrenewed for 40 s: the lease may lapse before the next beat
    assert "could not renew it for 40s" in (heartbeat.lost or "") and "OperationalError" in (heartbeat.lost or "")
    # The verdict is final: the database answers again and the row is still ours, yet the holder stops.
    assert not heartbeat.beat()
    with pytest.raises(JobBusy, match="lease was lost"):
        heartbeat.check()


def test_a_database_down_ends_the_heartbeat_thread_quietly_with_the_verdict_kept(store: StateStore) -> None:
    assert store.acquire("job", "a", TTL)
    waits = Waits(passing=2)
    heartbeat = Heartbeat(store, "job", "a", TTL, wait=waits, clock=waits.clock)
    with refusing(store), heartbeat:
        heartbeat._thread.join(30)  # two refused beats end it; no exception escapes the thread
        assert not heartbeat._thread.is_alive()
    assert waits.asked == [20.0, 20.0] and heartbeat.beats == 0
    with pytest.raises(JobBusy, match="could not renew it for 40s"):
        heartbeat.check()


def test_a_heartbeat_stopped_before_its_holder_releases_never_cries_lost(store: StateStore) -> None:
    assert store.acquire("job", "a", TTL)
    waits = Waits(passing=0)
    heartbeat = Heartbeat(store, "job", "a", TTL, wait=waits)
    with heartbeat:
        assert waits.idle.wait(30)
    store.release("job", "a")
    assert heartbeat.lost is None and not heartbeat._thread.is_alive()
    heartbeat.stop()  # idempotent


def test_lease_settings_default_floor_and_host_name(tmp_path: Path) -> None:
    path = scheduler_config(tmp_path, "*/30 * * * *")
    service = load_config(path, environ={}).service
    assert service.lease_ttl_s == 60 and service.host_name is None
    terms = LeaseTerms.of(service)
    assert terms.ttl == TTL and terms.owner().split(":")[0] == terms.host_name != ""

    named = load_config(path, environ={"RISKBRIDGE_SERVICE__HOST_NAME": "replica-b",
                                       "RISKBRIDGE_SERVICE__LEASE_TTL_S": "30"}).service
    assert LeaseTerms.of(named).owner().startswith("replica-b:") and named.lease_ttl_s == 30

    for key, value in (("lease_ttl_s", "5"), ("host_name", '"a:b"')):
        broken = tmp_path / f"{key}.toml"
        broken.write_text(path.read_text() + f"\n[service]\n{key} = {value}\n")
        with pytest.raises(ConfigError) as err:
            load_config(broken, environ={})
        assert f"service.{key}" in str(err.value)


def test_a_dead_owner_is_seen_at_once_only_on_its_own_host() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    here, there = LeaseTerms(host="host-a"), LeaseTerms(host="host-b")
    dead = f"host-a:{proc.pid}:deadbeef"
    assert here.dead_here(dead)
    assert not there.dead_here(dead)  # another host cannot see the pid: it waits for the lease to lapse
    assert not here.dead_here(here.owner())  # this process is alive


def test_on_postgresql_leases_lapse_by_the_database_clock_not_the_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replicas on several hosts agree on when a 60 s lease lapses, whatever their clocks say: a host whose
    clock runs two minutes fast must not take a live lease over, and a slow one must not keep a lapsed one."""
    from connector import state
    from tests.state_db import fresh_postgresql

    with fresh_postgresql("rb_lease") as url:
        store = StateStore(url)
        try:
            assert store.acquire("job", "host-a:1:a", TTL)
            fast = datetime.now(UTC) + timedelta(minutes=2)
            monkeypatch.setattr(state, "_now", lambda: fast)  # this host's clock (the store's only use of it)
            assert not store.acquire("job", "host-b:2:b", TTL)  # live by the database's clock
            assert store.renew("job", "host-a:1:a", TTL)
            assert expires_at(store) < fast  # renewed to the database's now + TTL, not this host's
            with store.session() as s:  # the lease lapsed (by the database's clock)
                s.execute(text("UPDATE locks SET expires_at = now() - interval '1 second'"))
            monkeypatch.setattr(state, "_now", lambda: fast - timedelta(minutes=4))  # a slow clock
            assert store.acquire("job", "host-b:2:b", TTL)
        finally:
            store.close()
