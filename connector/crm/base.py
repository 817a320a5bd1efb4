"""What a CRM client does (`CRMClient`), the facts an object spec declares, and one retry policy.

The engine imports only this module; `salesforce.py` and `zoho.py` implement the Protocol.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar, runtime_checkable

from connector.errors import QuotaExhausted, Retriable
from connector.model import ApplyResult, Cursor, ObjectKind, Outcome, Page, WritePlan

__all__ = ["Capabilities", "CRMClient", "DeferredWrites", "FieldInfo", "ObjectSpec", "RetryPolicy", "call_with_retry"]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class ObjectSpec:
    """Fixed facts about one object a job syncs. Behaviour lives in the client, not here."""

    kind: ObjectKind
    name: str  # the CRM's object or module name: "Account", "Opportunity", "Accounts", "Deals"
    cursor_field: str  # "SystemModstamp" or "Modified_Time"
    fields: tuple[str, ...]  # CRM field names to read: mapped inputs, outputs, overrides, cursor, id
    page_size: int = 2000
    parent_field: str | None = None  # on deals: the field that holds the account id (for mappings' sake)


@dataclass(frozen=True)
class FieldInfo:
    name: str
    type: str
    updateable: bool
    external_id: bool = False


@dataclass
class Capabilities:
    """What `check()` learned about the org: its fields, the API allowance and who we are."""

    user_id: str | None = None
    api_used: int | None = None
    api_limit: int | None = None
    fields: dict[str, dict[str, FieldInfo]] = field(default_factory=dict)  # object name -> field name -> info

    def missing(self, object_name: str, names: list[str]) -> list[str]:
        known = {k.lower() for k in self.fields.get(object_name, {})}
        return [n for n in names if n.lower() not in known]

    def not_updateable(self, object_name: str, names: list[str]) -> list[str]:
        known = {k.lower(): v for k, v in self.fields.get(object_name, {}).items()}
        return [n for n in names if n.lower() in known and not known[n.lower()].updateable]


class CRMClient(Protocol):
    """One CRM connection. Every method talks to the CRM over HTTP and never prints."""

    @property
    def api_calls(self) -> int:
        """HTTP calls made to the CRM by this client so far (logins included)."""
        ...

    @property
    def api_usage(self) -> tuple[int, int] | None:
        """(calls used, daily allowance) as the CRM last reported them, when it does."""
        ...

    def check(self, specs: list[ObjectSpec]) -> Capabilities:
        """Authenticate, read metadata and the API allowance."""
        ...

    def extract(self, spec: ObjectSpec, cursor: Cursor | None) -> Iterator[Page]:
        """Rows with ``cursor_field >= cursor.ts`` (all rows when None), ordered by (cursor_field, id)."""
        ...

    def fetch(self, spec: ObjectSpec, ids: list[str]) -> Iterator[Page]:
        """The rows with these ids (for retrying records that failed last run)."""
        ...

    def deleted(self, spec: ObjectSpec, since: datetime) -> list[str]:
        """Ids of records of this object deleted since `since` (an incremental read never returns them)."""
        ...

    def open_task_keys(self, keys: list[str]) -> set[str]:
        """Which of these riskbridge task keys exist in the CRM and are not completed."""
        ...

    def apply(self, plan: WritePlan) -> ApplyResult:
        """Execute the plan through batch endpoints; one `Outcome` per op key. Never raises for a
        record-level failure; raises `QuotaExhausted` (after recording what was done) when the
        allowance runs out."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class DeferredWrites(Protocol):
    """A client that can take a large run's field updates into run-wide jobs (Salesforce Bulk API 2.0):
    `apply` then answers them with deferred outcomes, and the run settles the jobs before it ends."""

    def defer_writes(self, journal: Callable[[ObjectKind, str], None]) -> None:
        """Allow run-wide jobs for this run; `journal(kind, job id)` is called as each job is created,
        before `apply` reports any of its rows taken."""
        ...

    def settle_writes(self) -> Iterator[list[Outcome]]:
        """Send what the jobs still hold, wait for them to end and yield the real outcomes, in chunks."""
        ...

    def settle_left(self, job_ids: list[str]) -> dict[str, str]:
        """Bring jobs a dead run left to an end; record id -> "CODE: message" of their failed rows."""
        ...


@dataclass
class RetryPolicy:
    """Retry transient failures with capped exponential backoff that honours Retry-After.

    `sleep` is injectable so tests never wait. A `Retriable` that outlives every attempt becomes
    `QuotaExhausted` when `exhaust_as_quota` says so (Zoho: a 429 that persists means credits are gone).
    """

    attempts: int = 5
    base_wait: float = 0.5
    max_wait: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def wait_for(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(self.max_wait, max(0.0, retry_after))
        backoff = min(self.max_wait, self.base_wait * (2 ** (attempt - 1)))
        return backoff * (0.5 + self.rng.random() / 2)  # jitter spreads concurrent retries


def call_with_retry(fn: Callable[[], T], policy: RetryPolicy, what: str,
                    exhaust_as_quota: Callable[[Retriable], bool] | None = None) -> T:
    """Run `fn`, retrying `Retriable` failures per `policy`. Never recursive."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Retriable as exc:
            if attempt >= policy.attempts:
                if exhaust_as_quota is not None and exhaust_as_quota(exc):
                    raise QuotaExhausted(f"{what}: still rate limited after {attempt} attempts") from exc
                raise
            wait = policy.wait_for(attempt, exc.retry_after)
            log.warning("%s failed (%s); retry %d/%d in %.1fs", what, exc, attempt, policy.attempts - 1, wait)
            policy.sleep(wait)
