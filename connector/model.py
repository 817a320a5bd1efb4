"""Canonical records, cursors and the write plan: the values that flow through one sync run.

extract -> map -> score -> plan -> apply -> record
  `Page`  -> `Account`/`Deal` -> Assessment -> `WritePlan` -> `ApplyResult`
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

__all__ = [
    "ACCOUNT_FIELDS",
    "DEAL_FIELDS",
    "Account",
    "ApplyResult",
    "AssessmentRecord",
    "Cursor",
    "Deal",
    "FieldUpdate",
    "ObjectKind",
    "Outcome",
    "Page",
    "TagAdd",
    "TagRemove",
    "TaskCreate",
    "WriteOp",
    "WatchRecord",
    "WritePlan",
]

ObjectKind = Literal["accounts", "deals"]

# Canonical names (DESIGN.md §4): the columns of `riskbridge score` CSVs and the left side of mappings.
ACCOUNT_FIELDS: tuple[str, ...] = (
    "id", "name", "owner_id", "country", "industry", "currency", "annual_revenue",
    "bureau_score", "bureau_rating", "internal_rating", "credit_limit", "payment_terms_days",
    "current_assets", "current_liabilities", "inventory", "total_assets", "total_liabilities", "net_income",
    "operating_cash_flow", "audit_opinion", "statement_date",
    "open_receivables", "overdue_amount", "max_days_past_due", "avg_days_late", "disputes_12m",
    "complaints_12m", "customer_since", "sanctions_hit", "insolvency",
    "override_tier", "override_reason", "override_until",
)
DEAL_FIELDS: tuple[str, ...] = (
    "id", "account_id", "name", "owner_id", "amount", "stage", "close_date", "probability",
    "payment_terms_days", "is_closed", "is_won",
)


@dataclass(frozen=True)
class Cursor:
    """How far an object has been read: the last modification time and the ids seen at exactly it.

    The next read asks for ``modstamp >= ts`` and drops the ids listed, so ties at the boundary are
    neither missed nor read twice.
    """

    ts: datetime
    ids: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {"ts": self.ts.isoformat(), "ids": sorted(self.ids)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cursor:
        return cls(datetime.fromisoformat(data["ts"]), frozenset(data.get("ids", ())))

    def advance(self, ts: datetime, record_id: str) -> Cursor:
        """The cursor after seeing one more record, read in (modstamp, id) order."""
        if ts > self.ts:
            return Cursor(ts, frozenset((record_id,)))
        if ts == self.ts:
            return Cursor(ts, self.ids | {record_id})
        return self

    def seen(self, ts: datetime, record_id: str) -> bool:
        """True if this record was already read by the run that left this cursor."""
        return ts < self.ts or (ts == self.ts and record_id in self.ids)


@dataclass
class Page:
    """One page of raw CRM rows (CRM field names), in modstamp order when read incrementally."""

    rows: list[dict[str, Any]]


@dataclass
class Account:
    """A customer in canonical form, plus the CRM's current output values (for diffing)."""

    id: str
    modstamp: datetime | None
    values: dict[str, Any]  # canonical name -> Python value (str, float, int, bool, date or None)
    current: dict[str, Any] = field(default_factory=dict)  # canonical output name -> value in the CRM now
    tags: frozenset[str] = frozenset()

    @property
    def owner_id(self) -> str | None:
        owner = self.values.get("owner_id")
        return str(owner) if owner else None

    @property
    def name(self) -> str:
        return str(self.values.get("name") or self.id)


@dataclass
class Deal:
    """An opportunity in canonical form, plus the CRM's current output values."""

    id: str
    modstamp: datetime | None
    values: dict[str, Any]
    current: dict[str, Any] = field(default_factory=dict)

    @property
    def account_id(self) -> str | None:
        acc = self.values.get("account_id")
        return str(acc) if acc else None

    @property
    def owner_id(self) -> str | None:
        owner = self.values.get("owner_id")
        return str(owner) if owner else None


@dataclass(frozen=True)
class FieldUpdate:
    """Set some output fields of one record. `changes` maps CRM field name -> (old, new)."""

    object: ObjectKind
    record_id: str
    changes: dict[str, tuple[Any, Any]]
    key: str

    @property
    def values(self) -> dict[str, Any]:
        return {name: new for name, (_old, new) in self.changes.items()}


@dataclass(frozen=True)
class TaskCreate:
    """A follow-up task for a record's owner; `key` makes the create idempotent in the CRM."""

    key: str
    object: ObjectKind  # what the task is about
    record_id: str
    owner_id: str | None
    subject: str
    description: str
    due: date
    priority: Literal["High", "Normal", "Low"]


@dataclass(frozen=True)
class TagAdd:
    object: ObjectKind
    record_id: str
    tag: str
    key: str


@dataclass(frozen=True)
class TagRemove:
    object: ObjectKind
    record_id: str
    tag: str
    key: str


WriteOp = FieldUpdate | TaskCreate | TagAdd | TagRemove


@dataclass
class WritePlan:
    """Everything one batch wants to change in the CRM, each op with an idempotency key."""

    updates: list[FieldUpdate] = field(default_factory=list)
    tasks: list[TaskCreate] = field(default_factory=list)
    tag_adds: list[TagAdd] = field(default_factory=list)
    tag_removes: list[TagRemove] = field(default_factory=list)
    # First-run tasks held back for the caps: stored in the outbox, sent only when a run releases them.
    held: list[TaskCreate] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.updates) + len(self.tasks) + len(self.tag_adds) + len(self.tag_removes)

    def ops(self) -> list[WriteOp]:
        return [*self.updates, *self.tasks, *self.tag_adds, *self.tag_removes]

    def extend(self, other: WritePlan) -> None:
        self.updates += other.updates
        self.tasks += other.tasks
        self.tag_adds += other.tag_adds
        self.tag_removes += other.tag_removes
        self.held += other.held


@dataclass(frozen=True)
class Outcome:
    """The CRM's answer for one write op."""

    key: str
    ok: bool
    error: str | None = None  # e.g. "UNABLE_TO_LOCK_ROW: unable to obtain exclusive access"
    crm_id: str | None = None
    # Taken into a run-wide bulk job (`CRMClient.settle_writes`): recorded as written for now, and its
    # real answer comes when the run settles the job (a failure then becomes a record issue).
    deferred: bool = False


@dataclass
class ApplyResult:
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # by op key
    stopped: str | None = None  # why the apply stopped early (quota), if it did

    def add(self, outcome: Outcome) -> None:
        self.outcomes[outcome.key] = outcome

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes.values() if not o.ok]


@dataclass(slots=True)
class AssessmentRecord:
    """One record's assessment as the store keeps it (the columns of `tables.AssessmentRow`), built by the
    planner for every record of a run: a plain object, since an ORM instance costs ten times as much."""

    job: str
    object: str
    record_id: str
    score: float
    tier: str
    pd: float
    model_version: str
    inputs_hash: str
    scored_at: datetime
    as_of: date | None
    override_until: date | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class WatchRecord:
    """One account's watchlist state as the store keeps it (the columns of `tables.WatchRow`), built by the
    planner for every account of a run."""

    job: str
    record_id: str
    on_list: bool
    runs_below: int
    since: datetime
