"""Desired state vs the CRM's current values -> `WritePlan`.

Only values that change are written. Tasks are planned for escalations only; the watchlist moves
with hysteresis. `scored_at` follows other changes: rescoring an unchanged record writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connector.config import Job
from connector.crm.base import CRMClient
from connector.mapping import Mapping
from connector.model import (
    Account,
    AssessmentRecord,
    Deal,
    FieldUpdate,
    ObjectKind,
    TagAdd,
    TagRemove,
    TaskCreate,
    WatchRecord,
    WritePlan,
)
from connector.state import OutboxRow, Prior, StateStore
from connector.tables import AssessmentRow
from connector.transforms import Unconvertible, parse_datetime
from scoring.assessment import AssessmentBatch
from scoring.deals import DealAssessmentBatch
from scoring.policy import Task

__all__ = ["TIER_RANK", "BatchPlanner", "Desired", "Planned", "WatchDecision", "diff_outputs", "escalates",
           "next_watch"]

TIER_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
OVER_CREDIT = "DEAL_OVER_CREDIT"  # the deal flag that escalates to a task

# Written only together with a real change (or when the CRM field is still empty).
_FOLLOWERS = ("scored_at",)


@dataclass(frozen=True)
class Desired:
    """The output values riskbridge wants on one record, by canonical output name."""

    object: ObjectKind
    record_id: str
    values: dict[str, Any]


def _same(old: Any, new: Any) -> bool:
    """Compare a CRM value with a desired one, tolerant of the CRM's own formatting."""
    if new is None or new == "":
        return old is None or old == ""
    if old is None or old == "":
        return False
    if isinstance(new, bool):
        return (str(old).strip().casefold() in ("true", "1")) == new if not isinstance(old, bool) else old == new
    if isinstance(new, int | float):
        try:
            return math.isclose(float(old), float(new), rel_tol=0, abs_tol=0.005)
        except (TypeError, ValueError):
            return False
    if isinstance(new, datetime):
        try:
            return parse_datetime(old) == new.replace(microsecond=0) or parse_datetime(old) == new
        except Unconvertible:
            return False
    if isinstance(new, date):
        return str(old)[:10] == new.isoformat()
    return str(old).replace("\r\n", "\n").strip() == str(new).strip()


def diff_outputs(desired: Desired, current: dict[str, Any], fields: dict[str, str], key: str) -> FieldUpdate | None:
    """The update that brings `current` (canonical output -> CRM value) to `desired`, or None."""
    changes: dict[str, tuple[Any, Any]] = {}
    for name, crm_field in fields.items():
        if name in _FOLLOWERS or name not in desired.values:
            continue
        old, new = current.get(name), desired.values[name]
        if not _same(old, new):
            changes[crm_field] = (old, new)
    for name in _FOLLOWERS:
        follower = fields.get(name)
        if follower and name in desired.values and (changes or current.get(name) in (None, "")):
            changes[follower] = (current.get(name), desired.values[name])
    if not changes:
        return None
    return FieldUpdate(desired.object, desired.record_id, changes, key)


def escalates(previous_tier: str | None, tier: str, tiers: list[str]) -> bool:
    """True when the tier rises into one of `tiers` (a first assessment counts as rising from nothing)."""
    if tier not in tiers:
        return False
    return TIER_RANK.get(tier, -1) > TIER_RANK.get(previous_tier or "", -1)


@dataclass(frozen=True)
class WatchDecision:
    on_list: bool
    runs_below: int


def next_watch(on_list: bool, runs_below: int, tier: str, enter_tier: str, exit_after_runs: int) -> WatchDecision:
    """Enter at `enter_tier` or above; leave only after `exit_after_runs` consecutive assessments below it."""
    if TIER_RANK.get(tier, 0) >= TIER_RANK[enter_tier]:
        return WatchDecision(True, 0)
    if not on_list:
        return WatchDecision(False, 0)
    below = runs_below + 1
    return WatchDecision(below < exit_after_runs, 0 if below >= exit_after_runs else below)


@dataclass
class Planned:
    """What to remember about one record once its writes have succeeded."""

    assessment: AssessmentRecord
    watch: WatchRecord | None = None
    outputs: dict[str, Any] = field(default_factory=dict)  # desired canonical outputs
    previous_tier: str | None = None  # as last recorded; None on a first assessment (the plan's tier moves)
    was_on_list: bool = False  # on the watchlist before this assessment


@dataclass
class BatchPlanner:
    """Builds the `WritePlan` of one batch from its assessments and the CRM's current values."""

    job_name: str
    job: Job
    mapping: Mapping
    crm: str
    run_id: int
    now: datetime
    store: StateStore
    client: CRMClient
    model_version: str
    baseline: bool = False  # the job's first run: today's tiers are a starting point, not escalations
    episodes: dict[str, tuple[str, int]] = field(default_factory=dict)  # task key -> (rule, episode)
    scores: dict[str, float] = field(default_factory=dict)  # record id -> Risk Score, to release held tasks by
    # record id -> (values, their hash) of the batch `changed_accounts` last looked at: `accounts()` hashes no
    # input twice
    _hashes: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.now = self.now.replace(microsecond=0)
        self.native_tags = self.crm == "zoho" or self.job.watchlist.topic

    # --- accounts ---------------------------------------------------------------------------------
    def changed_accounts(self, accounts: list[Account], force: set[str]) -> list[Account]:
        """Drop accounts whose inputs and CRM outputs are exactly as this job last left them, scored today
        with the same model: re-scoring them would change nothing."""
        previous = self.store.fingerprints(self.job_name, [a.id for a in accounts])
        outputs = self.mapping.object("accounts").outputs
        self._hashes = {a.id: (a.values, values_hash(a.values)) for a in accounts}  # read again by `accounts()`
        today = self.now.date().isoformat()
        keep = []
        for account in accounts:
            before = previous.get(account.id)
            if account.id in force or before is None or before.as_of != today \
                    or before.values_hash != self._hashes[account.id][1] \
                    or before.model_version != self.model_version \
                    or diff_outputs(Desired("accounts", account.id, before.outputs),
                                    account.current, outputs, key="") is not None:
                keep.append(account)
        return keep

    def accounts(self, accounts: list[Account], scored: AssessmentBatch) -> tuple[WritePlan, list[Planned]]:
        plan, planned = WritePlan(), []
        outputs = self.mapping.object("accounts").outputs
        previous = self.store.priors(self.job_name, "accounts", [a.id for a in accounts])
        watch = self.store.watch_states(self.job_name, [a.id for a in accounts])
        policy = self.job.watchlist
        escalations: list[tuple[Account | Deal, str, str, str | None]] = []
        first_run: list[tuple[Account | Deal, str, str, str | None]] = []  # held back until a run releases them
        hashes, self._hashes = self._hashes, {}
        for i, account in enumerate(accounts):
            # What is written and recorded; the recommendation's words only for a record that gets a task.
            a = scored.outcome(i, self.job.lang)
            values: dict[str, Any] = {
                "risk_score": float(a.risk_score), "risk_tier": a.tier, "reasons": a.reasons_text,
                "recommended_terms_days": a.recommended_terms_days,
                "recommended_credit_limit": None if a.recommended_credit_limit is None
                else round(a.recommended_credit_limit, 2),
                "scored_at": self.now, "model_version": a.model_version,
            }
            state = watch.get(account.id)
            crm_on = _truthy(account.current.get("watchlist")) or policy.tag in account.tags
            on_before = state.on_list if state else crm_on
            watch_row = None
            if policy.enabled:
                decision = next_watch(on_before, state.runs_below if state else 0, a.tier, policy.enter_tier,
                                      policy.exit_after_runs)
                values["watchlist"] = decision.on_list
                watch_row = WatchRecord(job=self.job_name, record_id=account.id, on_list=decision.on_list,
                                        runs_below=decision.runs_below,
                                        since=state.since if state and state.on_list == decision.on_list else self.now)
                if self.native_tags:
                    has = policy.tag in account.tags if self.crm == "zoho" else on_before
                    key = f"tag:{self.job_name}:{account.id}:{policy.tag}:{self.run_id}"
                    if decision.on_list and not has:
                        plan.tag_adds.append(TagAdd("accounts", account.id, policy.tag, key + ":add"))
                    elif has and not decision.on_list:
                        plan.tag_removes.append(TagRemove("accounts", account.id, policy.tag, key + ":remove"))
            update = diff_outputs(Desired("accounts", account.id, values), account.current, outputs,
                                  key=f"upd:{self.job_name}:accounts:{account.id}:{self.run_id}")
            if update is not None:
                plan.updates.append(update)
            # The previous tier comes from recorded assessments only, never from the CRM: a run that wrote
            # the fields but stopped before its task leaves the new tier in the CRM, not in the store.
            before = previous.get(account.id)
            prior = before.tier if before else None
            first = prior is None and self.baseline and not self.job.tasks.on_first_assessment
            if self.job.tasks.enabled and (escalates(prior, a.tier, list(self.job.tasks.tiers)) if not first
                                           else a.tier in self.job.tasks.first_run_tiers):
                text = scored.task(i, self.job.lang) or _fallback_task(account.name, a.tier,
                                                                       [r.text for r in a.reasons])
                (first_run if first else escalations).append((account, f"tier-{a.tier}", text.subject,
                                                              text.description))
                self.scores[account.id] = float(a.risk_score)
            detail = {"name": account.name, "reasons": [r.text for r in a.reasons],
                      "values_hash": _hash_of(account, hashes), "as_of": self.now.date().isoformat(),
                      "outputs": _jsonable({k: v for k, v in values.items() if k != "scored_at"}),
                      "codes": [r.code for r in a.reasons], "knockouts": [r.code for r in a.knockouts],
                      "recommended_credit_limit": a.recommended_credit_limit,
                      "recommended_terms_days": a.recommended_terms_days, "exposure": a.exposure}
            override_until = a.override.until if a.override and a.override.state == "active" else None
            if a.override is not None and a.override.state == "active":  # shown as such wherever the tier is
                detail["override"] = {"tier": a.tier, "computed": a.computed_tier, "reason": a.override.reason,
                                      "until": _jsonable({"u": override_until})["u"]}
                detail["tier_text"] = a.tier_text
            if account.values.get("currency"):
                detail["currency"] = account.values["currency"]
            # The inputs as scored: `riskbridge explain --id` rebuilds the points table from them.
            detail["run_id"] = self.run_id
            detail["inputs"] = _jsonable({k: v for k, v in account.values.items() if v is not None and v != ""})
            planned.append(Planned(AssessmentRecord(
                job=self.job_name, object="accounts", record_id=account.id, score=float(a.risk_score), tier=a.tier,
                pd=a.pd, model_version=a.model_version, inputs_hash=a.inputs_hash, scored_at=self.now,
                as_of=self.now.date(), override_until=override_until, detail=detail), watch_row, values,
                previous_tier=prior, was_on_list=on_before))
        tiers = {p.assessment.record_id: p.assessment.tier for p in planned}
        plan.tasks += self._tasks("accounts", escalations, tiers, previous)
        plan.held += self._tasks("accounts", first_run, tiers, previous)
        return plan, planned

    # --- deals ------------------------------------------------------------------------------------
    def deals(self, deals: list[Deal], scored: DealAssessmentBatch) -> tuple[WritePlan, list[Planned]]:
        plan, planned = WritePlan(), []
        outputs = self.mapping.object("deals").outputs
        previous = self.store.priors(self.job_name, "deals", [d.id for d in deals])
        escalations: list[tuple[Account | Deal, str, str, str | None]] = []
        matched = scored.matched  # a property over the whole batch: read once, not once per deal
        for i, deal in enumerate(deals):
            if not matched[i]:
                continue
            d = scored.outcome(i, self.job.lang)
            values: dict[str, Any] = {
                "risk_score": float(d.risk_score), "risk_tier": d.tier, "reasons": d.reasons_text,
                "recommended_terms_days": d.recommended_terms_days, "flags": " | ".join(r.text for r in d.flags),
                "scored_at": self.now, "model_version": d.model_version,
            }
            update = diff_outputs(Desired("deals", deal.id, values), deal.current, outputs,
                                  key=f"upd:{self.job_name}:deals:{deal.id}:{self.run_id}")
            if update is not None:
                plan.updates.append(update)
            flags = [r.code for r in d.flags]
            before = previous.get(deal.id)
            if self.job.tasks.enabled and self.job.tasks.deal_over_credit and OVER_CREDIT in flags and (
                    (before is None and (not self.baseline or self.job.tasks.on_first_assessment))
                    or (before is not None and OVER_CREDIT not in before.flags)):
                name = str(deal.values.get("name") or deal.id)
                remaining = "unknown" if d.remaining_credit is None else f"{d.remaining_credit:,.0f}"
                escalations.append((deal, "deal-over-credit", f"Credit check: deal {name} exceeds remaining credit",
                                    f"The deal amount {deal.values.get('amount')} exceeds the customer's remaining "
                                    f"credit ({remaining}). Agree prepayment or a credit-limit review before closing."))
            planned.append(Planned(AssessmentRecord(
                job=self.job_name, object="deals", record_id=deal.id, score=float(d.risk_score), tier=d.tier, pd=d.pd,
                model_version=d.model_version, inputs_hash="", scored_at=self.now, as_of=self.now.date(),
                detail={"name": deal.values.get("name"), "account_id": deal.account_id, "flags": flags,
                        "reasons": [r.text for r in d.reasons]}), None, values,
                previous_tier=before.tier if before else None))
        plan.tasks += self._tasks("deals", escalations, {p.assessment.record_id: p.assessment.tier for p in planned},
                                  previous)
        return plan, planned

    # --- tasks ------------------------------------------------------------------------------------
    def _tasks(self, kind: ObjectKind, escalations: list[tuple[Account | Deal, str, str, str | None]],
               tiers: dict[str, str], recorded: dict[str, Prior]) -> list[TaskCreate]:
        """One task per escalation episode, none while that escalation's last task is still open.

        A task created after the record's last recorded assessment belongs to this same escalation (the
        run that created it stopped before recording it): no new episode, even if the owner closed it."""
        if not escalations:
            return []
        latest = self.store.latest_tasks(self.job_name, [r.id for r, _, _, _ in escalations])
        done = [row.key for row in latest.values() if row.status == "done"]
        still_open = self.client.open_task_keys(done) if done else set()
        tasks = []
        for record, rule, subject, description in escalations:
            prior = latest.get((record.id, rule))
            if prior is not None and prior.key in still_open:
                continue  # the owner is still working on the last one
            before = recorded.get(record.id)
            if prior is not None and prior.status == "done" and (before is None or not recorded_since(before, prior)):
                continue  # created for this very escalation by a run that did not get to record it
            if prior is not None and prior.status != "done":
                episode = int(prior.payload.get("episode", 1))  # resend under the same key: the upsert dedupes
            else:
                episode = int(prior.payload.get("episode", 0)) + 1 if prior is not None else 1
            tier = tiers.get(record.id, "high")
            tasks.append(TaskCreate(
                key=f"rb-{self.job_name}-{record.id}-{rule}-{episode}"[:120], object=kind, record_id=record.id,
                owner_id=record.owner_id, subject=subject[:255], description=description or subject,
                due=self.now.date() + timedelta(days=self.job.tasks.due_days.get(tier, 3)),  # type: ignore[call-overload]
                priority="High" if tier in ("high", "critical") else "Normal"))
            self.episodes[tasks[-1].key] = (rule, episode)
        return tasks

    def outbox(self, plan: WritePlan) -> list[OutboxRow]:
        """Outbox rows for the plan's tasks and tags, written before they are sent; first-run tasks held
        back by the caps are written as ``held``, with the Risk Score they are released by."""
        rows = []
        for task, status in [*((t, "pending") for t in plan.tasks), *((t, "held") for t in plan.held)]:
            rule, episode = self.episodes.get(task.key, ("", 1))
            rows.append(OutboxRow(key=task.key, job=self.job_name, kind="task", object=task.object,
                                  record_id=task.record_id, created_at=self.now, updated_at=self.now, status=status,
                                  payload={"rule": rule, "episode": episode, "run": self.run_id, "subject": task.subject,
                                           "description": task.description, "due": task.due.isoformat(),
                                           "owner_id": task.owner_id, "priority": task.priority,
                                           "score": self.scores.get(task.record_id)}))
        tag_ops: list[TagAdd | TagRemove] = [*plan.tag_adds, *plan.tag_removes]
        for op in tag_ops:
            rows.append(OutboxRow(key=op.key, job=self.job_name, kind="tag_add" if isinstance(op, TagAdd)
                                  else "tag_remove", object=op.object, record_id=op.record_id,
                                  payload={"tag": op.tag}, created_at=self.now, updated_at=self.now))
        return rows


_VALUES_JSON = json.JSONEncoder(sort_keys=True, default=str, ensure_ascii=False)  # json.dumps's, built once


def values_hash(values: dict[str, Any]) -> str:
    """A stable hash of a record's canonical input values."""
    canonical = _VALUES_JSON.encode(values)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20]


def _hash_of(account: Account, hashed: dict[str, tuple[dict[str, Any], str]]) -> str:
    """The account's values hash, taken from `hashed` when it was computed over these very values."""
    seen = hashed.get(account.id)
    return seen[1] if seen is not None and seen[0] is account.values else values_hash(account.values)


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}  # datetimes too


def recorded_since(assessment: Prior | AssessmentRow, task: OutboxRow) -> bool:
    """Whether `assessment` was recorded since `task` was planned: by the run that planned it, or later.

    Runs are ordered by their ids, not their clocks: two runs can start within one second (the times are
    whole seconds), and replicas on different hosts have different clocks. Rows stored before the store
    kept run ids (0006) fall back to the times."""
    run = task.payload.get("run")
    if assessment.run_id is not None and isinstance(run, int):
        return assessment.run_id >= run
    return _naive(assessment.scored_at) >= _naive(task.created_at)


def _naive(stamp: datetime) -> datetime:
    """SQLite hands stored datetimes back without a zone; compare them all as UTC wall times."""
    return stamp.astimezone(UTC).replace(tzinfo=None) if stamp.tzinfo else stamp


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().casefold() in ("true", "1")


def _fallback_task(name: str, tier: str, reasons: list[str]) -> Task:
    return Task(subject=f"Credit risk review: {name} is now {tier}",
                description="Top reasons: " + "; ".join(reasons) if reasons else f"{name} is now {tier}.")
