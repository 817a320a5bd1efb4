"""Judge a scorecard in production: recorded assessments against later outcomes (backtest), and the last
run's population against the card's development distribution (drift).

    outcomes = read_outcomes("outcomes.csv")          # account_id, outcome_date, bad
    result = backtest(store, "nightly", outcomes)     # AUC and bad rate per tier at the time
    report = drift(store, "nightly", scorecard)       # PSI per characteristic, flagged above 0.25
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from sqlalchemy import select

from connector.errors import ConfigError, ConfigProblem
from connector.state import StateStore
from connector.tables import AssessmentRow, HistoryRow
from scoring.batch import accounts_batch
from scoring.binshares import bin_counts, characteristic_psi
from scoring.scorecard import Scorecard
from scoring.scorecard_spec import TIERS
from scoring.validation import DRIFT_PSI, TierRow, auc, tier_table

__all__ = ["BacktestResult", "DriftResult", "Outcome", "backtest", "drift", "read_outcomes"]

_BAD = {"1": True, "true": True, "yes": True, "bad": True, "0": False, "false": False, "no": False, "good": False}
_COLUMNS = ("account_id", "outcome_date", "bad")


@dataclass(frozen=True)
class Outcome:
    account_id: str
    outcome_date: date
    bad: bool


def read_outcomes(path: str | Path) -> list[Outcome]:
    """The outcomes CSV (account_id, outcome_date YYYY-MM-DD, bad 1/0); ConfigError lists every bad row."""
    file = Path(path)
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
            header = [h.strip() for h in (rows[0].keys() if rows else [])]
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(str(file), "", "outcomes file not found")]) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError([ConfigProblem(str(file), "", f"cannot read the outcomes: {exc}")]) from None
    missing = [c for c in _COLUMNS if c not in header]
    if not rows or missing:
        raise ConfigError([ConfigProblem(str(file), "header", f"needs the columns {', '.join(_COLUMNS)}",
                                         f"missing: {', '.join(missing or _COLUMNS)}")])
    problems: list[ConfigProblem] = []
    out: list[Outcome] = []
    for number, row in enumerate(rows, start=2):
        account, day, flag = (str(row.get(c) or "").strip() for c in _COLUMNS)
        try:
            when = date.fromisoformat(day)
        except ValueError:
            problems.append(ConfigProblem(str(file), f"line {number}", f"outcome_date {day!r} is not YYYY-MM-DD"))
            continue
        if flag.lower() not in _BAD:
            problems.append(ConfigProblem(str(file), f"line {number}", f"bad {flag!r} is not 1/0, true/false"))
            continue
        if not account:
            problems.append(ConfigProblem(str(file), f"line {number}", "account_id is empty"))
            continue
        out.append(Outcome(account, when, _BAD[flag.lower()]))
    if problems:
        raise ConfigError(problems)
    return out


@dataclass(frozen=True)
class BacktestResult:
    matched: int  # outcomes with an assessment recorded before the outcome date
    unmatched: int
    bads: int
    auc: float  # of the Risk Score at the time, ranking later bads above goods
    tiers: list[TierRow]  # mean_pd here is the mean Risk Score / 100 at the time


def backtest(store: StateStore, job: str, outcomes: list[Outcome]) -> BacktestResult:
    """Each outcome against the last assessment recorded for its account before the outcome date."""
    ids = sorted({o.account_id for o in outcomes})
    history: dict[str, list[HistoryRow]] = {}
    with store.session() as s:
        for start in range(0, len(ids), 500):
            for row in s.scalars(select(HistoryRow).where(
                    HistoryRow.job == job, HistoryRow.object == "accounts",
                    HistoryRow.record_id.in_(ids[start:start + 500])).order_by(HistoryRow.scored_at)):
                history.setdefault(row.record_id, []).append(row)
    scores, tiers, bad = [], [], []
    for o in outcomes:
        before = [h for h in history.get(o.account_id, []) if h.scored_at.date() < o.outcome_date]
        if before:
            scores.append(before[-1].score)
            tiers.append(before[-1].tier)
            bad.append(o.bad)
    flags = np.array(bad, dtype=bool)
    risk = np.array(scores, dtype=np.float64)
    return BacktestResult(matched=len(scores), unmatched=len(outcomes) - len(scores), bads=int(flags.sum()),
                          auc=auc(flags, risk), tiers=tier_table(tiers, flags, risk / 100.0, TIERS))


@dataclass(frozen=True)
class DriftResult:
    run_id: int | None
    accounts: int
    psi: dict[str, float | None]  # None: the card records no development shares for it
    flagged: list[str]


def drift(store: StateStore, job: str, card: Scorecard) -> DriftResult:
    """PSI per characteristic between the card's development shares and the accounts of the job's last run."""
    with store.session() as s:
        rows = list(s.scalars(select(AssessmentRow).where(AssessmentRow.job == job,
                                                          AssessmentRow.object == "accounts")))
    runs: list[int] = [v for r in rows if isinstance(v := r.detail.get("run_id"), int)]
    if not runs:
        return DriftResult(None, 0, {n: None for n in card.names}, [])
    last = max(runs)
    scored = [r for r in rows if r.detail.get("run_id") == last]
    # Each group of one scoring day is binned as of that day, as the run did.
    counts = {c.name: np.zeros(len(c.bins), dtype=np.int64) for c in card.characteristics}
    for day in sorted({r.as_of or r.scored_at.date() for r in scored}):
        inputs = [dict(r.detail.get("inputs") or {}) for r in scored if (r.as_of or r.scored_at.date()) == day]
        for name, n in bin_counts(card, accounts_batch(inputs), day).items():
            counts[name] += n
    psi = characteristic_psi(card, counts)
    return DriftResult(last, len(scored), psi, [n for n, v in psi.items() if v is not None and v > DRIFT_PSI])
