"""Assessment results: columnar for a batch (`AssessmentBatch`), one object per record on demand.

The arrays are the fast path (the sync engine can diff whole columns); `batch[i]` or
`batch.assessments()` builds `Assessment` objects with texts in the requested language.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

from scoring.batch import Batch
from scoring.catalogue import text as catalogue_text
from scoring.fields import UNREADABLE
from scoring.policy import Action, PolicyBatch, Task, describe_action
from scoring.scorecard import Scorecard
from scoring.scorecard_spec import TIERS
from scoring.tierline import tier_line

__all__ = [
    "MAX_REASONS",
    "OUTPUT_FIELDS",
    "OVERRIDE_STATES",
    "Assessment",
    "AssessmentBatch",
    "Outcome",
    "Override",
    "Reason",
    "compact_reasons",
    "inputs_hash",
]

# The assessment outputs of DESIGN.md §4, as `Assessment.outputs()` returns them.
OUTPUT_FIELDS: tuple[str, ...] = (
    "risk_score", "risk_tier", "pd", "points", "reasons", "recommended_terms_days", "recommended_credit_limit",
    "watchlist", "model_version", "scored_at",
)
# Override status per record; index = `AssessmentBatch.override_state`.
OVERRIDE_STATES: tuple[str, ...] = ("none", "active", "expired", "ignored")
REASONS_SEPARATOR = " | "
MAX_REASONS = 4


@dataclass(frozen=True)
class Reason:
    """A reason code and its plain-language text."""

    code: str
    text: str


@dataclass(frozen=True)
class Override:
    """A human override as read from the record; `state` says whether it applied."""

    state: str  # active, expired, or ignored (unknown tier or no expiry date)
    tier: str | None
    reason: str | None
    until: date | None


@dataclass(frozen=True)
class Assessment:
    """One record's assessment (DESIGN.md §4)."""

    record_id: str
    points: dict[str, float]  # by characteristic
    bins: dict[str, str]  # bin label by characteristic
    score: float  # total points; more is safer
    pd: float  # probability of default from the scorecard's scaling
    risk_score: int  # 0-100, higher is riskier
    tier: str  # effective: after knockouts and any active override
    model_tier: str  # from the points alone
    computed_tier: str  # after knockouts, before any override
    tier_text: str  # the tier as people read it: an active override says so, with the computed tier
    reasons: tuple[Reason, ...]  # risk reasons, at most four: knockouts, then the largest point losses
    knockouts: tuple[Reason, ...]
    override: Override | None
    recommended_terms_days: int
    max_terms_days: int
    recommended_credit_limit: float | None
    limit_rationale: str
    prepayment_share: float
    review_every_days: int
    task: Task | None
    advice: tuple[str, ...]  # what to do, by cause first
    legal_action: bool
    exposure: float | None
    watchlist: bool
    model_version: str
    scored_at: datetime
    inputs_hash: str
    reasons_text: str  # what the CRM reasons field shows (see `AssessmentBatch.reasons_text`)

    def outputs(self) -> dict[str, Any]:
        """The DESIGN.md §4 assessment outputs; `reasons` joined with " | " for a CRM text field."""
        return {
            "risk_score": self.risk_score,
            "risk_tier": self.tier,
            "pd": self.pd,
            "points": self.score,
            "reasons": self.reasons_text,
            "recommended_terms_days": self.recommended_terms_days,
            "recommended_credit_limit": self.recommended_credit_limit,
            "watchlist": self.watchlist,
            "model_version": self.model_version,
            "scored_at": self.scored_at,
        }


@dataclass(frozen=True)
class Outcome:
    """The part of one record's `Assessment` the sync writes and records (`AssessmentBatch.outcome`)."""

    record_id: str
    pd: float
    risk_score: int
    tier: str
    computed_tier: str
    tier_text: str
    reasons: tuple[Reason, ...]
    knockouts: tuple[Reason, ...]
    override: Override | None
    recommended_terms_days: int
    recommended_credit_limit: float | None
    exposure: float | None
    model_version: str
    inputs_hash: str
    reasons_text: str


def compact_reasons(candidates: np.ndarray) -> np.ndarray:
    """Move each row's reason ids (>= 0) to the front, keeping their order; keep the first four."""
    present = candidates >= 0
    slot = np.cumsum(present, axis=1) - 1
    keep = present & (slot < MAX_REASONS)
    rows, cols = np.nonzero(keep)
    out = np.full((candidates.shape[0], MAX_REASONS), -1, dtype=np.intp)
    out[rows, slot[rows, cols]] = candidates[rows, cols]
    return out


def _jsonable(value: object) -> object:
    if value is UNREADABLE:
        return "<unreadable>"
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not a canonical value: {type(value).__name__}")


# json.dumps with these options, built once: one hash per scored record.
_INPUTS_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=_jsonable)


def inputs_hash(record: dict[str, object]) -> str:
    """A stable hash of a record's canonical inputs (sha256 of canonical JSON, 16 hex digits)."""
    canonical = _INPUTS_JSON.encode(record)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, eq=False)
class AssessmentBatch:
    """Assessments of a batch of accounts as arrays, one row per account, in input order.

    Tiers are indices into `TIERS` (low, medium, high, critical); reason ids index the scorecard's
    reason table, -1 where a slot is empty.
    """

    scorecard: Scorecard
    accounts: Batch
    as_of: date
    scored_at: datetime
    watchlist_tier: str
    ids: np.ndarray  # (n,) record ids
    bins: np.ndarray  # (n, k) bin index per characteristic
    score: np.ndarray  # (n,) total points
    pd: np.ndarray  # (n,)
    risk_score: np.ndarray  # (n,) int 0-100
    model_tier: np.ndarray  # (n,) from the points alone
    tier: np.ndarray  # (n,) effective: after knockouts and any active override
    computed_tier: np.ndarray  # (n,) after knockouts, before any override
    knockouts: np.ndarray  # (n, number of knockout rules) bool
    override_state: np.ndarray  # (n,) index into OVERRIDE_STATES
    reason_ids: np.ndarray  # (n, 4)
    exposure: np.ndarray  # (n,) NaN when unknown
    policy: PolicyBatch

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @functools.cached_property
    def points(self) -> np.ndarray:
        """(n, k) points per characteristic (built on first use)."""
        out = np.empty(self.bins.shape)
        for j, ch in enumerate(self.scorecard.characteristics):
            out[:, j] = ch.points[self.bins[:, j]]
        return out

    def points_of(self, i: int) -> dict[str, float]:
        """Record `i`'s points by characteristic."""
        chars = self.scorecard.characteristics
        return {c.name: c.bins[b].points for c, b in zip(chars, self.bins[i].tolist(), strict=True)}

    @property
    def model_version(self) -> str:
        return self.scorecard.version

    @property
    def watchlist(self) -> np.ndarray:
        """True where the final tier is at or above `watchlist_tier`."""
        return self.tier >= TIERS.index(self.watchlist_tier)

    def on_watchlist(self, i: int) -> bool:
        return int(self.tier[i]) >= TIERS.index(self.watchlist_tier)

    def tier_names(self) -> np.ndarray:
        return np.array(TIERS)[self.tier]

    @functools.cached_property
    def _texts(self) -> dict[tuple[Any, ...], Any]:
        """Reasons and texts already built for this batch, by what they are built from: a few hundred
        combinations of reason ids recur over thousands of records."""
        return {}

    def reasons(self, i: int, lang: str = "en") -> tuple[Reason, ...]:
        """Record `i`'s reasons (at most four), with texts in `lang` (en or zh)."""
        return self.reasons_of(tuple(self.reason_ids[i].tolist()), lang)

    def reasons_of(self, ids: tuple[int, ...], lang: str = "en") -> tuple[Reason, ...]:
        """The reasons of these reason ids (-1 skipped), with texts in `lang`."""
        key = ("reasons", ids, lang)
        found: tuple[Reason, ...] | None = self._texts.get(key)
        if found is None:
            sc = self.scorecard
            found = self._texts[key] = tuple(Reason(sc.reason_codes[rid], sc.reason_text(rid, lang))
                                             for rid in ids if rid >= 0)
        return found

    def knockout_reasons(self, i: int, lang: str = "en") -> tuple[Reason, ...]:
        """The knockouts that fired on record `i`, as reasons."""
        fired = tuple(np.flatnonzero(self.knockouts[i]).tolist())
        key = ("knockouts", fired, lang)
        found: tuple[Reason, ...] | None = self._texts.get(key)
        if found is None:
            sc = self.scorecard
            found = self._texts[key] = tuple(Reason(sc.reason_codes[sc.knockout_reason_ids[k]],
                                                    sc.reason_text(sc.knockout_reason_ids[k], lang)) for k in fired)
        return found

    def tier_text(self, i: int, lang: str = "en") -> str:
        """Record `i`'s tier as people read it; an active override names its reason, expiry and the computed tier."""
        active = OVERRIDE_STATES[int(self.override_state[i])] == "active"
        tier, computed = TIERS[int(self.tier[i])], TIERS[int(self.computed_tier[i])]
        if not active:
            key = ("tier_text", tier, lang)
            found: str | None = self._texts.get(key)
            if found is None:
                found = self._texts[key] = tier_line(tier, lang)
            return found
        until = self.accounts.row(i)["override_until"]
        return tier_line(tier, lang, computed=computed, overridden=True,
                         override_reason=self.accounts.text("override_reason", i),
                         override_until=until if isinstance(until, date) else None)

    def reasons_text(self, i: int, lang: str = "en", reasons: tuple[Reason, ...] | None = None) -> str:
        """The CRM reasons field: an active override's tier line first, then the risk reasons, or one
        calm line when nothing material pushes the risk up."""
        reasons = reasons if reasons is not None else self.reasons(i, lang)
        active = OVERRIDE_STATES[int(self.override_state[i])] == "active"
        key = ("reasons_text", reasons, lang)
        if not active and key in self._texts:  # without an override the text depends on the reasons alone
            found: str = self._texts[key]
            return found
        texts = [r.text for r in reasons]
        if not texts:
            texts = [catalogue_text("reasons.none", lang)]
        if active:
            texts.insert(0, self.tier_text(i, lang))
            return REASONS_SEPARATOR.join(texts)
        joined = self._texts[key] = REASONS_SEPARATOR.join(texts)
        return joined

    def override(self, i: int) -> Override | None:
        state = OVERRIDE_STATES[int(self.override_state[i])]
        if state == "none":
            return None
        row = self.accounts.row(i)
        until = row["override_until"]
        tier = str(row["override_tier"] or "").strip().lower()
        return Override(state=state, tier=tier if tier in TIERS else None,
                        reason=row["override_reason"] if isinstance(row["override_reason"], str) else None,
                        until=until if isinstance(until, date) else None)

    def __getitem__(self, i: int) -> Assessment:
        return self.assessment(i)

    def _action(self, i: int, lang: str, reasons: tuple[Reason, ...], tier_text: str) -> Action:
        """Record `i`'s recommendation in words: the costly part of an `Assessment` (advice, rationale)."""
        sc = self.scorecard
        fired = np.flatnonzero(self.knockouts[i])
        codes = {r.code for r in reasons} | {sc.reason_codes[sc.knockout_reason_ids[k]] for k in fired}
        return describe_action(self.policy, i, self.accounts, tier=TIERS[int(self.tier[i])],
                               band_names=sc.spec.policy.band_names, risk_score=int(self.risk_score[i]),
                               reasons=[r.text for r in reasons], lang=lang, strategies=sc.strategies,
                               advice=sc.advice, codes=codes, tier_text=tier_text)

    def outcome(self, i: int, lang: str = "en") -> Outcome:
        """What the sync writes and records of record `i`: an `Assessment` without the points, bins and
        the recommendation's words, which the sync builds only for a record that gets a task (`task`)."""
        reasons = self.reasons(i, lang)
        limit = float(self.policy.recommended_credit_limit[i])
        exposure = float(self.exposure[i])
        return Outcome(
            record_id=str(self.ids[i]),
            pd=float(self.pd[i]),
            risk_score=int(self.risk_score[i]),
            tier=TIERS[int(self.tier[i])],
            computed_tier=TIERS[int(self.computed_tier[i])],
            tier_text=self.tier_text(i, lang),
            reasons=reasons,
            knockouts=self.knockout_reasons(i, lang),
            override=self.override(i),
            recommended_terms_days=int(self.policy.recommended_terms_days[i]),  # as `describe_action` reads them
            recommended_credit_limit=None if np.isnan(limit) else limit,
            exposure=None if np.isnan(exposure) else exposure,
            model_version=self.model_version,
            inputs_hash=inputs_hash(self.accounts.row(i)),
            reasons_text=self.reasons_text(i, lang, reasons),
        )

    def task(self, i: int, lang: str = "en") -> Task | None:
        """The task record `i`'s policy calls for (None when it calls for none), as `Assessment.task`."""
        if not self.policy.task_warranted[i]:
            return None
        return self._action(i, lang, self.reasons(i, lang), self.tier_text(i, lang)).task

    def assessment(self, i: int, lang: str = "en") -> Assessment:
        """Record `i` as an `Assessment`, with texts in `lang`."""
        sc = self.scorecard
        reasons = self.reasons(i, lang)
        tier = TIERS[int(self.tier[i])]
        tier_text = self.tier_text(i, lang)
        fired = np.flatnonzero(self.knockouts[i])
        action = self._action(i, lang, reasons, tier_text)
        exposure = float(self.exposure[i])
        return Assessment(
            record_id=str(self.ids[i]),
            points=self.points_of(i),
            bins={c.name: c.bins[b].label for c, b in zip(sc.characteristics, self.bins[i].tolist(), strict=True)},
            score=float(self.score[i]),
            pd=float(self.pd[i]),
            risk_score=int(self.risk_score[i]),
            tier=tier,
            model_tier=TIERS[int(self.model_tier[i])],
            computed_tier=TIERS[int(self.computed_tier[i])],
            tier_text=tier_text,
            reasons=reasons,
            knockouts=tuple(Reason(sc.reason_codes[sc.knockout_reason_ids[k]],
                                   sc.reason_text(sc.knockout_reason_ids[k], lang)) for k in fired),
            override=self.override(i),
            recommended_terms_days=action.terms_days,
            max_terms_days=int(self.policy.max_terms_days[i]),
            recommended_credit_limit=action.credit_limit,
            limit_rationale=action.limit_rationale,
            prepayment_share=action.prepayment_share,
            review_every_days=action.review_every_days,
            task=action.task,
            advice=action.advice,
            legal_action=bool(self.policy.legal_action[i]),
            exposure=None if np.isnan(exposure) else exposure,
            watchlist=self.on_watchlist(i),
            model_version=self.model_version,
            scored_at=self.scored_at,
            inputs_hash=inputs_hash(self.accounts.row(i)),
            reasons_text=self.reasons_text(i, lang, reasons),
        )

    def assessments(self, lang: str = "en") -> Iterator[Assessment]:
        """Every record's `Assessment`, in input order."""
        for i in range(len(self)):
            yield self.assessment(i, lang)
