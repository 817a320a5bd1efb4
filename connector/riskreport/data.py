"""What the report shows, read from the state store: tiers now and at the period start, movers, exposure,
reasons, watchlist and task movements, overrides and run health. No network call but `open_tasks`."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.state import StateStore
from connector.tables import AssessmentRow, AuditRow, HistoryRow, OutboxRow, RunRow
from scoring.scorecard import Scorecard

__all__ = ["TIERS", "Mover", "ReportData", "RunLine", "gather", "psi"]

TIERS = ("low", "medium", "high", "critical")
NEW = "new"  # not yet scored at the period start
EXPIRY_WINDOW = timedelta(days=14)
TOP = 10


@dataclass(frozen=True)
class Mover:
    record_id: str
    name: str
    before_tier: str
    after_tier: str
    before_score: float
    after_score: float
    reasons: list[str]
    link: str

    @property
    def delta(self) -> float:
        return self.after_score - self.before_score


@dataclass(frozen=True)
class RunLine:
    id: int
    as_of: datetime  # the moment the run scored as of (the engine clock)
    status: str
    api_calls: int
    seconds: float | None
    written: int


@dataclass
class ReportData:
    job: str
    since: datetime
    until: datetime
    currency: str  # the main currency: charts and per-owner/per-reason exposure count only its accounts
    currency_accounts: int  # how many accounts are in it
    tiers_now: dict[str, int]
    tiers_start: dict[str, int]
    migration: dict[str, dict[str, int]]  # start tier (or "new") -> tier now -> accounts
    exposure_by_tier: dict[str, float]  # main currency
    exposure_by_currency: dict[str, dict[str, float]]  # every currency -> tier -> exposure (never converted)
    exposure_by_owner: list[tuple[str, float]]
    movers_up: list[Mover]
    movers_down: list[Mover]
    reasons: list[tuple[str, int, float]]  # reason text, accounts, their exposure
    watch_entries: int
    watch_exits: int
    tasks_opened: int
    tasks_closed: int | None  # None: the CRM was not asked
    overrides: list[tuple[str, str, str, str, date]]  # id, name, tier, reason, until
    expiring: list[tuple[str, str, str, str, date]]
    drift: list[tuple[str, float]] | None  # None: the scorecard has no development distribution
    stability: float | None  # PSI of the tier mix now against the period start
    runs: list[RunLine] = field(default_factory=list)


def psi(expected: list[float], actual: list[float], floor: float = 1e-4) -> float:
    """Population stability index of two distributions over the same bins (shares are normalised)."""
    total_e, total_a = sum(expected) or 1.0, sum(actual) or 1.0
    out = 0.0
    for e, a in zip(expected, actual, strict=True):
        pe, pa = max(e / total_e, floor), max(a / total_a, floor)
        out += (pa - pe) * math.log(pa / pe)
    return out


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def gather(store: StateStore, job: str, *, since: datetime, until: datetime, scorecard: Scorecard,
           link: Callable[[str], str], lang: str = "en", watch_field: str | None = None,
           open_tasks: Callable[[list[str]], set[str]] | None = None) -> ReportData:
    """Everything the report shows for `job` between `since` and `until` (UTC).

    A run belongs to the period by the moment it scored as of (its assessments' `scored_at`, the engine's
    clock), not by the wall time the store stamped on it; outbox rows carry the engine's clock already.
    `watch_field` is the CRM field the watchlist flag is written to, when the job writes one."""
    since, until = _utc(since), _utc(until)
    with store.session() as s:
        now_rows = list(s.scalars(select(AssessmentRow).where(AssessmentRow.job == job,
                                                              AssessmentRow.object == "accounts")))
        history = list(s.scalars(select(HistoryRow).where(HistoryRow.job == job, HistoryRow.object == "accounts")
                                 .order_by(HistoryRow.scored_at, HistoryRow.id)))
        outbox = list(s.scalars(select(OutboxRow).where(OutboxRow.job == job, OutboxRow.object == "accounts")))
        runs = list(s.scalars(select(RunRow).where(RunRow.job == job, RunRow.dry_run.is_(False))
                              .order_by(RunRow.id)))
        moments = _run_moments(runs, history)
        period_runs = [r for r in runs if since <= moments[r.id] <= until]
        flags = _watch_flags(s, job, [r.id for r in period_runs], watch_field) if watch_field else []
    start: dict[str, HistoryRow] = {}
    for h in history:  # the last change before the period is the state at its start
        if _utc(h.scored_at) < since:
            start[h.record_id] = h
    codes = _reason_texts(scorecard, lang)
    tiers_now = Counter(r.tier for r in now_rows)
    tiers_start = Counter(h.tier for h in start.values())
    migration: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(TIERS, 0))
    # Amounts are never converted between currencies (riskbridge has no rates): every figure that adds
    # exposures up adds only those of the main currency, and the table by currency shows the rest.
    currencies = Counter(str((r.detail or {}).get("currency") or "") for r in now_rows)
    currency = currencies.most_common(1)[0][0] if currencies else ""
    by_currency: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(TIERS, 0.0))
    by_tier: dict[str, float] = dict.fromkeys(TIERS, 0.0)
    by_owner: dict[str, float] = defaultdict(float)
    reason_count: Counter[str] = Counter()
    reason_exposure: dict[str, float] = defaultdict(float)
    movers: list[Mover] = []
    overrides = []
    for row in now_rows:
        detail = row.detail or {}
        exposure = float(detail.get("exposure") or 0.0)
        before = start.get(row.record_id)
        migration[before.tier if before else NEW][row.tier] += 1
        own = str(detail.get("currency") or "")
        by_currency[own][row.tier] = by_currency[own].get(row.tier, 0.0) + exposure
        if own != currency:
            exposure = 0.0  # still counted by tier and reason, but adds nothing to main-currency sums
        by_tier[row.tier] = by_tier.get(row.tier, 0.0) + exposure
        by_owner[str((detail.get("inputs") or {}).get("owner_id") or "—")] += exposure
        texts = [codes.get(c, t) for c, t in zip(detail.get("codes") or [], detail.get("reasons") or [], strict=False)]
        for reason in texts:
            reason_count[reason] += 1
            reason_exposure[reason] += exposure
        if before is not None and abs(row.score - before.score) >= 0.05:
            movers.append(Mover(row.record_id, str(detail.get("name") or row.record_id), before.tier, row.tier,
                                before.score, row.score, texts, link(row.record_id)))
        if row.override_until is not None:
            o = detail.get("override") or {}
            overrides.append((row.record_id, str(detail.get("name") or row.record_id), row.tier,
                              str(o.get("reason") or ""), row.override_until))
    # Outbox rows are stamped with the engine's clock when planned (connector/plan.py).
    in_period = [o for o in outbox if o.status == "done" and since <= _utc(o.created_at) <= until]
    tasks = [o for o in in_period if o.kind == "task"]
    closed: int | None = None
    if open_tasks is not None and tasks:
        still_open = open_tasks([t.key for t in tasks])
        closed = sum(1 for t in tasks if t.key not in still_open)
    elif open_tasks is not None:
        closed = 0
    today = until.date()
    overrides.sort(key=lambda o: (o[4], o[0]))
    movers.sort(key=lambda m: (-abs(m.delta), m.record_id))
    start_mix = [float(tiers_start.get(t, 0)) for t in TIERS]
    return ReportData(
        job=job, since=since, until=until, currency=currency, currency_accounts=currencies.get(currency, 0),
        exposure_by_currency=dict(sorted(by_currency.items(), key=lambda kv: (-currencies[kv[0]], kv[0]))),
        tiers_now={t: tiers_now.get(t, 0) for t in TIERS}, tiers_start={t: tiers_start.get(t, 0) for t in TIERS},
        migration={k: migration[k] for k in (*TIERS, NEW) if k in migration},
        exposure_by_tier=by_tier,
        exposure_by_owner=sorted(((o, v) for o, v in by_owner.items() if v > 0),
                                 key=lambda kv: (-kv[1], kv[0]))[:TOP],
        movers_up=[m for m in movers if m.delta > 0][:TOP], movers_down=[m for m in movers if m.delta < 0][:TOP],
        reasons=sorted(((r, n, reason_exposure[r]) for r, n in reason_count.items()),
                       key=lambda x: (-x[1], -x[2], x[0]))[:TOP],
        watch_entries=sum(1 for o in in_period if o.kind == "tag_add") + flags.count(True),
        watch_exits=sum(1 for o in in_period if o.kind == "tag_remove") + flags.count(False),
        tasks_opened=len(tasks), tasks_closed=closed, overrides=overrides,
        expiring=[o for o in overrides if today <= o[4] <= today + EXPIRY_WINDOW],
        # PSI per characteristic needs the bin shares of the scorecard's development sample; the scorecard
        # format has no place for them, so the report says so instead of inventing a baseline.
        drift=None, stability=psi(start_mix, [float(tiers_now.get(t, 0)) for t in TIERS])
        if sum(start_mix) else None,
        runs=[_run_line(r, moments[r.id]) for r in period_runs])


def _run_moments(runs: list[RunRow], history: list[HistoryRow]) -> dict[int, datetime]:
    """Run id -> the moment it scored as of; a run that changed no assessment keeps its start time."""
    first: dict[int, datetime] = {}
    for h in history:
        at = _utc(h.scored_at)
        if h.run_id not in first or at < first[h.run_id]:
            first[h.run_id] = at
    return {r.id: first.get(r.id, _utc(r.started_at)) for r in runs}


def _watch_flags(session: Session, job: str, run_ids: list[int], watch_field: str) -> list[bool]:
    """The watchlist flag values accepted by the CRM in `run_ids`, one per change (True: entry, False: exit)."""
    if not run_ids:
        return []
    out: list[bool] = []
    rows = session.scalars(select(AuditRow).where(AuditRow.job == job, AuditRow.object == "accounts",
                                                  AuditRow.action == "update", AuditRow.run_id.in_(run_ids)))
    for row in rows:
        change = ((row.detail or {}).get("changes") or {}).get(watch_field)
        if isinstance(change, list) and len(change) == 2 and bool(change[0]) != bool(change[1]):
            out.append(bool(change[1]))
    return out


def _reason_texts(scorecard: Scorecard, lang: str) -> dict[str, str]:
    """Reason code -> the scorecard's words in `lang`, so a Chinese report reads Chinese reasons whatever
    language the job writes to the CRM."""
    out: dict[str, str] = {k.code: str(getattr(k.text, lang)) for k in scorecard.spec.knockouts}
    for ch in scorecard.spec.characteristics.values():
        out[ch.reason_code] = str(getattr(ch.reason, lang))
        for b in ch.bins:
            if b.reason_code and b.reason:
                out[b.reason_code] = str(getattr(b.reason, lang))
    return out


def _run_line(r: RunRow, moment: datetime) -> RunLine:
    summary: dict[str, Any] = r.summary if isinstance(r.summary, dict) else {}
    seconds = summary.get("duration_s")
    written = sum(int(o.get("written", 0) or 0) for o in (summary.get("objects") or {}).values())
    return RunLine(r.id, moment, r.status, r.api_calls or 0,
                   float(seconds) if seconds is not None else None, written)
