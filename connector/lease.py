"""The per-job lease: short, kept alive by a heartbeat while its holder works, so a dead holder's lapses soon.

A lease lives `ttl` (60 s by default, `[service] lease_ttl_s`) from its last renewal. Its holder renews it
every `ttl / 3` from a small thread (`Heartbeat`) and, as before, in the database before every write batch
(`Sync._renew`): a holder that was paused past its TTL finds its lease taken there and stops before writing.
A holder that dies (SIGKILL, a lost host, a network partition) stops renewing, and another replica takes
the job over once the lease lapses: within about a TTL, on any host. On its own host a dead holder is seen
at once by its pid (`LeaseTerms.dead_here`), so a replica there need not wait even that.

An owner is named "host:pid:nonce". The host is the machine's host name unless `[service] host_name` (or
`RISKBRIDGE_SERVICE__HOST_NAME`) names it: replicas that share a host name must share a process table.
Expiry is reckoned by the database's clock on PostgreSQL (`StateStore.acquire`), so hosts' clocks may differ.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from connector.errors import JobBusy

if TYPE_CHECKING:
    from connector.state import StateStore

__all__ = ["DEFAULT_TTL_S", "MIN_TTL_S", "Heartbeat", "LeaseTerms"]

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 60.0
# The floor: a beat comes every ttl/3 and may wait up to 5 s for SQLite's write lock (busy_timeout), and two
# failed beats in a row lose the lease; below 15 s a busy store or a short pause would cost runs.
MIN_TTL_S = 15.0

Wait = Callable[[threading.Event, float], object]  # (stopping, seconds): return after seconds, or once stopping


@dataclass(frozen=True)
class LeaseTerms:
    """What this process's leases are held on: their TTL and the host name their owners carry."""

    ttl: timedelta = timedelta(seconds=DEFAULT_TTL_S)
    host: str = ""

    @classmethod
    def of(cls, service: Any) -> LeaseTerms:
        """From the `[service]` settings (`lease_ttl_s`, `host_name`)."""
        return cls(timedelta(seconds=service.lease_ttl_s), service.host_name or "")

    @property
    def host_name(self) -> str:
        return self.host or socket.gethostname()

    def owner(self) -> str:
        """A fresh lease owner name: "host:pid:nonce" (`dead_here` reads the host and pid back)."""
        return f"{self.host_name}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def dead_here(self, owner: str) -> bool:
        """True if a lease owner ("host:pid:nonce") is a process of this host that no longer exists."""
        host, _, rest = owner.partition(":")
        pid = rest.partition(":")[0]
        if host != self.host_name or not pid.isdigit():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


class Heartbeat:
    """Keeps a held lease alive while its holder works: renews it every `ttl / 3` from a daemon thread.

    The lease is lost when a renewal finds it passed to another owner (or released), or when renewals failed
    (the database did not answer) until it may lapse before the next beat: two failed beats in a row. Then
    the heartbeat ends, and the verdict is kept, never raised in the thread: the holder meets it at its next
    `check()`, before its next write. A single failed beat is logged and tried again at the next one: the
    lease is still ours until it lapses, and the holder's own check before each write asks the database
    anyway. `wait` and `clock` (monotonic seconds) are injected in tests: time stands still unless they move it."""

    def __init__(self, store: StateStore, job: str, owner: str, ttl: timedelta, *, wait: Wait | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.job, self.owner, self.ttl = store, job, owner, ttl
        self.every = ttl.total_seconds() / 3
        self.beats = 0
        self.lost: str | None = None  # why the lease is no longer known to be ours; sticky
        self._wait: Wait = wait or (lambda stopping, seconds: stopping.wait(seconds))
        self._clock = clock
        self._renewed = clock()  # the holder has just taken (or renewed) the lease
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._beat_while_held, name=f"lease-{job}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop beating (before the lease is released, so no beat finds it gone); idempotent."""
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _beat_while_held(self) -> None:
        while True:
            self._wait(self._stopping, self.every)
            if self._stopping.is_set() or not self.beat():
                return

    def beat(self) -> bool:
        """Renew the lease once; False (and `lost` says why) if it is no longer ours. Never raises."""
        if self.lost is not None:
            return False
        asked = self._clock()
        try:
            held = self.store.renew(self.job, self.owner, self.ttl)
        except Exception as exc:  # noqa: BLE001 - kept for the holder's next check: a thread must not die unseen
            # The type and first line only: a driver's message may echo the URL (never its password); say no more.
            first = str(exc).splitlines()[0][:200] if str(exc) else ""
            reason = f"{type(exc).__name__}: {first}"
            unrenewed = asked - self._renewed
            if unrenewed + self.every < self.ttl.total_seconds():
                log.warning("job %s: the heartbeat could not renew lease %s (%s); trying again in %.0fs", self.job,
                            self.owner, reason, self.every, extra={"job": self.job, "event": "lease_not_renewed"})
                return True
            self.lost = f"the heartbeat could not renew it for {unrenewed:.0f}s ({reason})"
        else:
            if held:
                self.beats += 1
                self._renewed = asked
                return True
            self.lost = "it lapsed and passed to another process, or was released"
        if not self._stopping.is_set():
            log.warning("job %s: lease %s lost: %s; the run stops before its next write", self.job, self.owner,
                        self.lost, extra={"job": self.job, "event": "lease_lost"})
        return False

    def check(self) -> None:
        """Raise `JobBusy` if a beat found the lease no longer ours (called before every write batch)."""
        if self.lost is not None:
            raise JobBusy(f"job {self.job!r}: this run's lease was lost ({self.lost}); stopping before writing")
