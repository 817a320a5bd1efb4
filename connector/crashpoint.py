"""A test hook for the crash-safety suite, inert in production.

With ``RBTEST_CRASH_AT="<point>:<n>"`` in the environment, the process SIGKILLs itself the n-th
time a run reaches `<point>`: a real kill (no cleanup, no finally blocks, no flush) at a precise stage,
without a test having to sleep and guess. Points: ``extracted`` (a page of accounts read, nothing done
with it), ``scored``, ``enqueued`` (outbox rows written, nothing sent), ``applied`` (the CRM answered,
nothing recorded), ``settled`` (outbox status stored, assessments not), ``recorded`` (a batch stored,
its cursor not). A large Salesforce run also passes ``uploaded`` (its run-wide Bulk API jobs uploaded
and closed, none settled); it is left out of `POINTS`, which the seeded crash draws pick from. Unset,
`reached()` is a dictionary lookup and returns.
"""

from __future__ import annotations

import os
import signal

__all__ = ["ENV", "POINTS", "reached"]

ENV = "RBTEST_CRASH_AT"  # not RISKBRIDGE_*: those are config overrides
POINTS = ("extracted", "scored", "enqueued", "applied", "settled", "recorded")
_seen: dict[str, int] = {}


def reached(point: str) -> None:
    """Count one arrival at `point`; die by SIGKILL if the environment names this arrival."""
    target = os.environ.get(ENV)
    if not target:
        return
    name, _, nth = target.partition(":")
    if name != point:
        return
    _seen[point] = _seen.get(point, 0) + 1
    if _seen[point] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
