"""Deals: each inherits its account's assessment and adds flags of its own.

Flags (codes from the scorecard's `[deal_flags]`):
  over_credit      the amount exceeds the account's remaining credit:
                   limit - open receivables - the other open deals (probability-weighted)
  terms_too_long   the deal's payment terms are longer than the policy allows for the account's tier
Each raised flag adds its `raise_by` tiers to the account's tier, capped at critical.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from scoring.assessment import AssessmentBatch, Reason, compact_reasons
from scoring.batch import Batch, deals_batch
from scoring.scorecard_spec import TIERS

__all__ = ["DealAssessment", "DealAssessmentBatch", "DealOutcome", "assess_deals", "match_accounts", "weighted_pipeline"]

OVER_CREDIT, TERMS_TOO_LONG = 0, 1


def lookup(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of `values` in the sorted `keys`, and whether each was found."""
    if keys.size == 0:
        return np.zeros(values.shape, dtype=np.intp), np.zeros(values.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(keys, values), keys.size - 1)
    return pos, keys[pos] == values


def match_accounts(account_ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Row of each wanted id among `account_ids` (the first, if repeated); -1 where absent."""
    order = np.argsort(account_ids, kind="stable")
    pos, found = lookup(account_ids[order], wanted)
    return np.where(found & (wanted != ""), order[pos] if order.size else -1, -1)


def _open_weights(deals: Batch) -> tuple[np.ndarray, np.ndarray]:
    """(is the deal open, probability-weighted amount of each open deal)."""
    closed = (deals.column("is_closed") == 1.0) | (deals.column("is_won") == 1.0)
    amount = deals.column("amount")
    # Without a probability the deal counts in full: an unknown chance of closing is not a zero one.
    probability = np.clip(np.nan_to_num(deals.column("probability"), nan=100.0), 0.0, 100.0)
    is_open = ~closed & (amount >= 0)
    return is_open, np.where(is_open, amount * probability / 100.0, 0.0)


def weighted_pipeline(accounts: Batch, deals: Batch) -> np.ndarray:
    """Each account's open deals, weighted by probability (0 when it has none)."""
    idx = match_accounts(accounts.ids(), deals.column("account_id"))
    _, weights = _open_weights(deals)
    mine = idx >= 0
    return np.bincount(idx[mine], weights=weights[mine], minlength=len(accounts)).astype(np.float64)


@dataclass(frozen=True)
class DealAssessment:
    """One deal's assessment: its account's, raised by the deal's own flags."""

    record_id: str
    account_id: str
    tier: str
    account_tier: str
    risk_score: int
    pd: float
    reasons: tuple[Reason, ...]  # the deal's flags, then its account's risk reasons
    flags: tuple[Reason, ...]
    reasons_text: str  # the CRM reasons field: the account's override tier line first, if one is active
    advice: tuple[str, ...]  # what to do about this deal, by cause (e.g. over the remaining credit)
    remaining_credit: float | None
    recommended_terms_days: int
    max_terms_days: int
    recommended_credit_limit: float | None
    watchlist: bool
    model_version: str
    scored_at: datetime

    def outputs(self) -> dict[str, Any]:
        """The DESIGN.md §4 outputs that apply to a deal."""
        return {
            "risk_score": self.risk_score, "risk_tier": self.tier, "pd": self.pd,
            "reasons": self.reasons_text,
            "recommended_terms_days": self.recommended_terms_days,
            "recommended_credit_limit": self.recommended_credit_limit, "watchlist": self.watchlist,
            "model_version": self.model_version, "scored_at": self.scored_at,
        }


@dataclass(frozen=True)
class DealOutcome:
    """The part of one deal's `DealAssessment` the sync writes and records (`DealAssessmentBatch.outcome`):
    no advice, no limits."""

    record_id: str
    tier: str
    risk_score: int
    pd: float
    reasons: tuple[Reason, ...]
    flags: tuple[Reason, ...]
    reasons_text: str
    remaining_credit: float | None
    recommended_terms_days: int
    model_version: str


@dataclass(frozen=True, eq=False)
class DealAssessmentBatch:
    """Deal assessments as arrays; deals whose account was not assessed have `account_row` -1."""

    deals: Batch
    accounts: AssessmentBatch
    ids: np.ndarray
    account_row: np.ndarray  # row in `accounts`, -1 if the account was not in the batch
    flags: np.ndarray  # (n, 2) over_credit, terms_too_long
    remaining_credit: np.ndarray  # NaN where no limit is known
    tier: np.ndarray  # -1 where unmatched
    risk_score: np.ndarray  # -1 where unmatched
    reason_ids: np.ndarray  # (n, 4)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def matched(self) -> np.ndarray:
        return self.account_row >= 0

    def unmatched_ids(self) -> list[str]:
        """Deals that could not be assessed because their account was not in the account batch."""
        return [str(x) for x in self.ids[~self.matched]]

    def assessment(self, i: int, lang: str = "en") -> DealAssessment:
        row = int(self.account_row[i])
        if row < 0:
            raise KeyError(f"deal {self.ids[i]}: its account {self.deals.text('account_id', i)!r} was not assessed")
        acc = self.accounts
        sc = acc.scorecard
        reasons = tuple(Reason(sc.reason_codes[rid], sc.reason_text(int(rid), lang)) for rid in self.reason_ids[i]
                        if rid >= 0)
        codes = {r.code for r in reasons} | {sc.reason_codes[sc.knockout_reason_ids[k]]
                                             for k in np.flatnonzero(acc.knockouts[row])}
        # The deal follows its account's effective tier; an override shows with it, never as a reason.
        reasons_text = acc.reasons_text(row, lang, reasons)
        flags = tuple(Reason(sc.reason_codes[sc.deal_flag_reason_ids[f]], sc.reason_text(sc.deal_flag_reason_ids[f], lang))
                      for f in np.flatnonzero(self.flags[i]))
        remaining = float(self.remaining_credit[i])
        limit = float(acc.policy.recommended_credit_limit[row])
        tier = int(self.tier[i])
        return DealAssessment(
            record_id=str(self.ids[i]),
            account_id=str(acc.ids[row]),
            tier=TIERS[tier],
            account_tier=TIERS[int(acc.tier[row])],
            risk_score=int(self.risk_score[i]),
            pd=float(acc.pd[row]),
            reasons=reasons,
            flags=flags,
            reasons_text=reasons_text,
            advice=tuple(rule.text.get(lang) for rule in sc.advice
                         if any(c in codes for c in rule.codes) and not any(c in codes for c in rule.unless)),
            remaining_credit=None if np.isnan(remaining) else remaining,
            recommended_terms_days=int(acc.policy.recommended_terms_days[row]),
            max_terms_days=int(acc.policy.max_terms_days[row]),
            recommended_credit_limit=None if np.isnan(limit) else limit,
            watchlist=tier >= TIERS.index(acc.watchlist_tier),
            model_version=acc.model_version,
            scored_at=acc.scored_at,
        )

    def outcome(self, i: int, lang: str = "en") -> DealOutcome:
        """What the sync writes and records of deal `i` (its account must have been assessed): the
        `assessment` without the advice, from reasons built once per combination in the batch."""
        row = int(self.account_row[i])
        if row < 0:
            raise KeyError(f"deal {self.ids[i]}: its account {self.deals.text('account_id', i)!r} was not assessed")
        acc = self.accounts
        sc = acc.scorecard
        reasons = acc.reasons_of(tuple(self.reason_ids[i].tolist()), lang)
        flags = acc.reasons_of(tuple(sc.deal_flag_reason_ids[f] for f in np.flatnonzero(self.flags[i]).tolist()), lang)
        remaining = float(self.remaining_credit[i])
        return DealOutcome(
            record_id=str(self.ids[i]),
            tier=TIERS[int(self.tier[i])],
            risk_score=int(self.risk_score[i]),
            pd=float(acc.pd[row]),
            reasons=reasons,
            flags=flags,
            reasons_text=acc.reasons_text(row, lang, reasons),  # the deal follows its account's override
            remaining_credit=None if np.isnan(remaining) else remaining,
            recommended_terms_days=int(acc.policy.recommended_terms_days[row]),
            model_version=acc.model_version,
        )

    def assessments(self, lang: str = "en") -> Iterator[DealAssessment]:
        """Every deal whose account was assessed, in input order."""
        for i in np.flatnonzero(self.matched):
            yield self.assessment(int(i), lang)


def assess_deals(deals: Batch | Sequence[Mapping[str, object]] | Mapping[str, Any],
                 accounts: AssessmentBatch) -> DealAssessmentBatch:
    """Assess deals against their accounts' assessments (from `assess`, which holds the scorecard)."""
    batch = deals_batch(deals)
    acc = accounts
    sc = acc.scorecard
    inputs = acc.accounts
    row = match_accounts(inputs.ids(), batch.column("account_id"))
    ok = row >= 0
    r = np.where(ok, row, 0)  # a safe index; results for unmatched deals are masked out below

    is_open, weights = _open_weights(batch)
    pipeline = weighted_pipeline(inputs, batch)
    current_limit = inputs.column("credit_limit")
    limit = np.where(current_limit >= 0, current_limit, acc.policy.recommended_credit_limit)[r]
    open_ar = inputs.column("open_receivables")
    receivables = np.where(open_ar >= 0, open_ar, 0.0)  # missing or negative counts as nothing owed
    others = pipeline[r] - weights  # the deal's own weight is not "other"
    remaining = np.where(ok, limit - receivables[r] - others, np.nan)

    flags = np.zeros((len(batch), 2), dtype=bool)
    flags[:, OVER_CREDIT] = ok & is_open & (batch.column("amount") > remaining)
    flags[:, TERMS_TOO_LONG] = ok & is_open & (batch.column("payment_terms_days") > acc.policy.max_terms_days[r])

    spec = sc.spec.deal_flags
    raise_by = np.array([spec.over_credit.raise_by, spec.terms_too_long.raise_by])
    tier = np.minimum(acc.tier[r] + (flags * raise_by).sum(axis=1), len(TIERS) - 1).astype(np.int8)
    risk = np.maximum(acc.risk_score[r], sc.tier_floors[tier]).astype(np.int64)

    flag_ids = np.where(flags, np.array(sc.deal_flag_reason_ids, dtype=np.intp), -1)
    reasons = compact_reasons(np.concatenate([flag_ids, acc.reason_ids[r]], axis=1))
    return DealAssessmentBatch(
        deals=batch,
        accounts=acc,
        ids=batch.ids(),
        account_row=row,
        flags=flags,
        remaining_credit=remaining,
        tier=np.where(ok, tier, -1).astype(np.int8),
        risk_score=np.where(ok, risk, -1),
        reason_ids=np.where(ok[:, None], reasons, -1),
    )
