"""Fault injection for the sandbox CRMs.

The same JSON spec is read from ``--faults FILE`` and from ``POST /__sandbox/faults``::

    {
      "rate_limit":  {"every": 10},                  # SF 403 REQUEST_LIMIT_EXCEEDED, Zoho 429
      "error_500":   {"probability": 0.05},
      "error_503":   {"every": 7, "times": 2},       # HTML body, as a proxy or maintenance page sends
      "drop":        {"every": 50, "method": "GET"}, # connection closed mid-response
      "latency_ms":  20,
      "session_expiry_after": 100,                    # every 100 calls all access tokens die
      "session_expiry": {"every": 1, "times": 1, "path": "/jobs/ingest"},  # tokens die at this call
      "quota_after": 5000,                            # daily allowance used up after 5000 calls
      "quota": {"every": 1, "path": "Task"},          # used up at the first matching call, for good
      "record_errors": {"001000000000001AAA": "UNABLE_TO_LOCK_ROW"},
      "seed": 7
    }

A trigger fires on the calls it matches (``path`` substring, ``method``) either on every Nth such
call or with a probability, at most ``times`` times. ``session_expiry`` and ``quota`` take a trigger
too, so a test can stop a run at one stage (say the task upsert): when ``quota`` fires, that call and
every later one find the allowance used up until the spec is set again. Inspection calls under
``/__sandbox/`` are never faulted.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["FaultInjector", "FaultKind", "FaultSpec", "Trigger"]

FaultKind = Literal["quota", "rate_limit", "error_500", "error_503", "drop"]


class Trigger(BaseModel):
    """When a fault fires: every Nth matching call, or with a probability, at most `times` times."""

    model_config = ConfigDict(extra="forbid")

    every: int | None = Field(default=None, ge=1)
    probability: float | None = Field(default=None, ge=0.0, le=1.0)
    times: int | None = Field(default=None, ge=0)
    path: str | None = None
    exclude: str | None = None  # skip calls whose path contains this (Salesforce tasks share a prefix)
    method: str | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> Trigger:
        if (self.every is None) == (self.probability is None):
            raise ValueError("give exactly one of 'every' or 'probability'")
        return self


class FaultSpec(BaseModel):
    """The whole fault configuration of one sandbox."""

    model_config = ConfigDict(extra="forbid")

    rate_limit: Trigger | None = None
    error_500: Trigger | None = None
    error_503: Trigger | None = None
    drop: Trigger | None = None
    latency_ms: int = Field(default=0, ge=0)
    session_expiry_after: int | None = Field(default=None, ge=1)
    session_expiry: Trigger | None = None
    quota_after: int | None = Field(default=None, ge=0)
    quota: Trigger | None = None
    record_errors: dict[str, str] = Field(default_factory=dict)
    seed: int = 0


@dataclass
class _TriggerState:
    matched: int = 0
    fired: int = 0


@dataclass
class FaultInjector:
    """Decides, call by call, which fault (if any) the sandbox answers with. Thread-safe."""

    spec: FaultSpec = field(default_factory=FaultSpec)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _states: dict[str, _TriggerState] = field(default_factory=dict, repr=False)
    _calls: int = 0
    _since_expiry: int = 0
    _quota_gone: bool = False
    _watchers: list[Callable[[str, str], bool]] = field(default_factory=list, repr=False)

    def watch(self, observer: Callable[[str, str], bool]) -> None:
        """Call `observer(method, path)` as each faultable call arrives, before it is handled; if it returns
        True the call is refused unhandled (HTTP 500). The crash suite kills a sync at a precise call
        this way, without sleeping, and the CRM never sees that call's work."""
        self._watchers.append(observer)

    def configure(self, spec: FaultSpec) -> None:
        with self._lock:
            self.spec = spec
            self._rng = random.Random(spec.seed)
            self._states = {}
            self._calls = 0
            self._since_expiry = 0
            self._quota_gone = False

    def on_call(self, method: str, path: str) -> tuple[FaultKind | None, bool]:
        """Account for one API call; return the fault to answer with and whether sessions expire now."""
        if [observer for observer in list(self._watchers) if observer(method, path)]:
            return "error_500", False
        with self._lock:
            spec = self.spec
            self._calls += 1
            expire = False
            if spec.session_expiry_after is not None:
                self._since_expiry += 1
                if self._since_expiry > spec.session_expiry_after:
                    self._since_expiry = 1
                    expire = True
            if spec.session_expiry is not None and self._fires("session_expiry", spec.session_expiry, method, path):
                expire = True
            if spec.quota is not None and not self._quota_gone:
                self._quota_gone = self._fires("quota", spec.quota, method, path)
            if self._quota_gone or (spec.quota_after is not None and self._calls > spec.quota_after):
                return "quota", expire
            kinds: tuple[FaultKind, ...] = ("rate_limit", "error_500", "error_503", "drop")
            for kind in kinds:
                trigger = getattr(spec, kind)
                if trigger is not None and self._fires(kind, trigger, method, path):
                    return kind, expire
            return None, expire

    def _fires(self, kind: str, trigger: Trigger, method: str, path: str) -> bool:
        if trigger.method and trigger.method.upper() != method.upper():
            return False
        if trigger.path and trigger.path not in path:
            return False
        if trigger.exclude and trigger.exclude in path:
            return False
        state = self._states.setdefault(kind, _TriggerState())
        state.matched += 1
        if trigger.times is not None and state.fired >= trigger.times:
            return False
        if trigger.every is not None:
            hit = state.matched % trigger.every == 0
        else:
            hit = self._rng.random() < (trigger.probability or 0.0)
        if hit:
            state.fired += 1
        return hit

    @property
    def calls(self) -> int:
        """API calls seen since the spec was last set (the sandbox's daily usage)."""
        return self._calls

    @property
    def latency_s(self) -> float:
        return self.spec.latency_ms / 1000.0

    def record_error(self, record_id: str) -> str | None:
        """The per-record error code configured for this id, if any."""
        return self.spec.record_errors.get(record_id)
