"""Fxiaoke's call limits in the sandbox: a sliding window per API path and a daily quota.

The per-path window defaults to the conservative reading of the docs, 60 calls per 20 s (docs/crm-fxiaoke.md
§11; a newer page says 100). A call past it gets `30004`; a refused call does not use up the window,
so a client that backs off gets through once the window slides. The daily quota (the purchased
OpenAPI packs) counts business calls per Beijing calendar day and answers `30002` once spent. Both
read the sandbox's injectable clock, so tests move time instead of sleeping. Every accepted call is
also kept in `accepted` (time, path), so a test can check that a client never crossed the window.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from connector.sandbox.fxiaoke_fields import CHINA_TZ

__all__ = ["DEFAULT_DAILY_QUOTA", "DEFAULT_RATE_LIMIT", "DEFAULT_WINDOW_S", "CallLimits", "max_in_window"]

DEFAULT_RATE_LIMIT, DEFAULT_WINDOW_S, DEFAULT_DAILY_QUOTA = 60, 20.0, 100_000
_KEEP_ACCEPTED = 200_000


@dataclass
class CallLimits:
    """Thread-safe per-path sliding windows plus one daily counter."""

    clock: Callable[[], float]
    rate_limit: int = DEFAULT_RATE_LIMIT
    window_s: float = DEFAULT_WINDOW_S
    daily_quota: int | None = DEFAULT_DAILY_QUOTA
    rejected: int = 0  # calls refused with 30004
    accepted: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=_KEEP_ACCEPTED))
    _windows: dict[str, deque[float]] = field(default_factory=dict, repr=False)
    _day: str = ""
    _used_today: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def admit(self, path: str) -> int:
        """0 if the call may proceed (and count it), else the error code: 30002 quota, 30004 frequency."""
        now = self.clock()
        day = datetime.fromtimestamp(now, tz=CHINA_TZ).date().isoformat()
        with self._lock:
            if day != self._day:  # the quota resets at 00:00 Beijing time
                self._day, self._used_today = day, 0
            if self.daily_quota is not None and self._used_today >= self.daily_quota:
                return 30002
            window = self._windows.setdefault(path, deque())
            while window and window[0] <= now - self.window_s:
                window.popleft()
            if len(window) >= self.rate_limit:
                self.rejected += 1
                return 30004
            window.append(now)
            self._used_today += 1
            self.accepted.append((now, path))
            return 0

    @property
    def used_today(self) -> int:
        return self._used_today

    def spend_quota(self) -> None:
        """Use up today's allowance (what an injected quota fault means on this CRM)."""
        with self._lock:
            self._used_today = self.daily_quota if self.daily_quota is not None else self._used_today

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
            self.accepted.clear()
            self.rejected = 0
            self._day, self._used_today = "", 0


def max_in_window(calls: list[tuple[float, str]], window_s: float) -> dict[str, int]:
    """The most calls any path saw within one window, per path (for checking a client's limiter)."""
    by_path: dict[str, list[float]] = {}
    for at, path in calls:
        by_path.setdefault(path, []).append(at)
    out: dict[str, int] = {}
    for path, times in by_path.items():
        times.sort()
        best, lo = 0, 0
        for hi, at in enumerate(times):
            while times[lo] <= at - window_s:
                lo += 1
            best = max(best, hi - lo + 1)
        out[path] = best
    return out
