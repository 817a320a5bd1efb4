"""Score a batch of accounts: points, score, pd, Risk Score, tier, knockouts, override, reasons, policy.

Everything here works on whole columns; the only Python loops run over characteristics, knockout
rules and the four reason slots, never over records.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from scoring.assessment import MAX_REASONS, OVERRIDE_STATES, AssessmentBatch, compact_reasons
from scoring.batch import Batch, accounts_batch, deals_batch
from scoring.deals import weighted_pipeline
from scoring.features import exposure
from scoring.policy import PolicyBatch, recommend
from scoring.rawcolumns import card_features
from scoring.scorecard import Scorecard, load_scorecard
from scoring.scorecard_spec import TIERS

__all__ = ["assess", "default_scorecard"]

logger = logging.getLogger(__name__)

_ACTIVE, _EXPIRED, _IGNORED = (OVERRIDE_STATES.index(s) for s in ("active", "expired", "ignored"))

CHUNK = 65_536  # records scored at a time
Records = Batch | Sequence[Mapping[str, object]] | Mapping[str, Any]


@functools.cache
def default_scorecard() -> Scorecard:
    """The bundled default scorecard, loaded once."""
    return load_scorecard()


def _points(sc: Scorecard, batch: Batch, as_of: date, pipeline: np.ndarray | None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bins, reason keys, total points); bins and keys as (characteristics, records)."""
    n, k = len(batch), len(sc.characteristics)
    features = card_features(sc, batch, as_of=as_of, pipeline=pipeline)
    # Filled a characteristic at a time, so each row of these arrays is contiguous.
    bins = np.empty((k, n), dtype=np.int16)
    keys = np.empty((k, n), dtype=np.int32)
    total = np.zeros(n)
    for j, ch in enumerate(sc.characteristics):
        b = ch.bin_of(features[ch.name])
        bins[j] = b
        keys[j] = sc.reason_keys[j][b]
        total += ch.points[b]  # summed in scorecard order, so any implementation gets the same floats
    return bins, keys, total


def _dedupe_codes(sc: Scorecard, bins: np.ndarray, keys: np.ndarray) -> None:
    """Where several characteristics give the same reason code, keep it for the largest shortfall only."""
    for members in sc.shared_codes:
        emitting = [emits[bins[j]] for j, emits in members]
        rows = np.flatnonzero(np.sum(emitting, axis=0) > 1)  # usually few: only they need work
        if not rows.size:
            continue
        gives = [np.where(e[rows], keys[j, rows], -1) for (j, _), e in zip(members, emitting, strict=True)]
        best = np.maximum.reduce(gives)
        for (j, _), key in zip(members, gives, strict=True):
            losers = rows[(key >= 0) & (key != best)]
            keys[j, losers] %= sc.key_base  # now reads as no shortfall


def _knockouts(sc: Scorecard, batch: Batch) -> np.ndarray:
    rules = sc.spec.knockouts
    fired = np.zeros((len(batch), len(rules)), dtype=bool)
    for r, rule in enumerate(rules):
        column = batch.column(rule.field)
        if rule.when == "true":
            fired[:, r] = column == 1.0
        elif rule.when == "above":
            fired[:, r] = column > rule.value
        else:
            fired[:, r] = column >= rule.value
    return fired


def _override(batch: Batch, as_of: date) -> tuple[np.ndarray, np.ndarray]:
    """(override state per record, override tier index per record)."""
    codes, vocabulary = batch.categories("override_tier")
    tier_of = np.array([TIERS.index(v.lower()) if v.lower() in TIERS else -1 for v in vocabulary])[codes]
    until = batch.column("override_until")
    dated = ~np.isnat(until)
    state = np.zeros(len(batch), dtype=np.int8)
    anything = (codes != 0) | dated | batch.bad("override_tier") | batch.bad("override_until")
    state[anything] = _IGNORED  # an override needs a known tier and an expiry date
    valid = (tier_of >= 0) & dated
    state[valid & (until >= np.datetime64(as_of, "D"))] = _ACTIVE
    state[valid & (until < np.datetime64(as_of, "D"))] = _EXPIRED
    return state, tier_of


def _top_shortfalls(sc: Scorecard, keys: np.ndarray) -> np.ndarray:
    """Reason ids of the largest point shortfalls, largest first; -1 for an empty slot.

    `keys` are (records, characteristics) sort keys (see `Scorecard.reason_keys`): one partition
    finds the top four, a sort of those four orders them.
    """
    k = keys.shape[1]
    top = np.partition(keys, k - MAX_REASONS, axis=1)[:, k - MAX_REASONS:] if k > MAX_REASONS else keys
    top = np.sort(top, axis=1)[:, ::-1]
    ids = (sc.key_base - 1 - top % sc.key_base).astype(np.intp)
    ids[top < sc.key_base] = -1  # no shortfall, no reason
    if ids.shape[1] < MAX_REASONS:
        ids = np.pad(ids, ((0, 0), (0, MAX_REASONS - ids.shape[1])), constant_values=-1)
    return ids


def _score(sc: Scorecard, batch: Batch, as_of: date, pipeline: np.ndarray | None) -> dict[str, np.ndarray]:
    """Score one chunk of records."""
    bins, keys, score = _points(sc, batch, as_of, pipeline)
    scaling = sc.spec.scaling
    odds = scaling.base_odds * np.exp2((score - scaling.base_points) / scaling.pdo)
    risk = np.floor(100.0 * (sc.max_total - score) / (sc.max_total - sc.min_total) + 0.5)
    model_tier = np.searchsorted(sc.cutoffs, risk, side="right").astype(np.int8)

    fired = _knockouts(sc, batch)
    rule_tiers = np.array([TIERS.index(r.tier) for r in sc.spec.knockouts], dtype=np.int8)
    ko_tier = (fired * rule_tiers).max(axis=1, initial=0).astype(np.int8)
    # A knockout lifts the Risk Score to its tier's floor, so score and tier never disagree.
    risk = np.maximum(risk, sc.tier_floors[ko_tier])
    tier_computed = np.maximum(model_tier, ko_tier)

    override_state, override_tier = _override(batch, as_of)
    active = override_state == _ACTIVE
    tier = np.where(active, override_tier, tier_computed).astype(np.int8)

    for r, rule in enumerate(sc.spec.knockouts):
        if rule.supersedes is not None:  # the knockout's reason says it already: drop to no shortfall
            j = sc.names.index(rule.supersedes)
            keys[j, fired[:, r]] %= sc.key_base
    _dedupe_codes(sc, bins, keys)
    model_reasons = _top_shortfalls(sc, keys.T)
    # A low-tier account has nothing material pushing its risk up: no risk reasons (the override does
    # not count: its reason is shown with the tier, never as a risk reason).
    model_reasons[tier_computed == 0] = -1
    # Knockouts go first; only the few records that have one need reshuffling.
    reason_ids = model_reasons
    lead = np.flatnonzero(fired.any(axis=1))
    if lead.size:
        ko_ids = np.where(fired[lead], np.array(sc.knockout_reason_ids, dtype=np.intp), -1)
        reason_ids[lead] = compact_reasons(np.concatenate([ko_ids, model_reasons[lead]], axis=1))
    return {
        "bins": bins.T,
        "score": score,
        "pd": 1.0 / (1.0 + odds),
        "risk_score": risk.astype(np.int64),
        "model_tier": model_tier,
        "tier": tier,
        "computed_tier": tier_computed.astype(np.int8),
        "knockouts": fired,
        "override_state": override_state,
        "reason_ids": reason_ids,
    }


def assess(accounts: Records, scorecard: Scorecard | None = None, *, as_of: date,
           deals: Records | None = None, scored_at: datetime | None = None,
           watchlist_tier: str = "high") -> AssessmentBatch:
    """Assess accounts: a `Batch`, a list of canonical dicts, or a dict of columns.

    `as_of` is the date ages, tenure and override expiry are measured against (no hidden clock);
    `deals`, if given, adds each account's probability-weighted open deals to its exposure;
    `scored_at` is only stamped on the results (default: now, UTC).
    """
    if watchlist_tier not in TIERS:
        raise ValueError(f"watchlist_tier must be one of {', '.join(TIERS)}, not {watchlist_tier!r}")
    sc = scorecard if scorecard is not None else default_scorecard()
    batch = accounts_batch(accounts)
    pipeline = weighted_pipeline(batch, deals_batch(deals)) if deals is not None else None
    n = len(batch)
    out: dict[str, np.ndarray] = {}
    policy: dict[str, np.ndarray] = {}
    # Chunks keep every temporary small: they stay in cache and their memory is reused, which at a
    # million records is several times faster than one pass over whole columns.
    for start in range(0, n, CHUNK) if n else [0]:
        stop = min(n, start + CHUNK)
        chunk = batch.slice(start, stop)
        weighted = None if pipeline is None else pipeline[start:stop]
        part = _score(sc, chunk, as_of, weighted)
        part["exposure"] = exposure(chunk, weighted)
        advice = vars(recommend(sc.spec.policy, part["tier"], part["exposure"], chunk))
        for target, values in [*((out, kv) for kv in part.items()), *((policy, kv) for kv in advice.items())]:
            name, array = values
            if name not in target:
                target[name] = np.empty((n, *array.shape[1:]), dtype=array.dtype)
            target[name][start:stop] = array
    logger.debug("scored %d accounts with %s: tiers %s, %d knockouts, %d active overrides", n, sc.version,
                 np.bincount(out["tier"], minlength=len(TIERS)).tolist(), int(out["knockouts"].any(axis=1).sum()),
                 int((out["override_state"] == _ACTIVE).sum()))
    return AssessmentBatch(
        scorecard=sc,
        accounts=batch,
        as_of=as_of,
        scored_at=scored_at if scored_at is not None else datetime.now(UTC),
        watchlist_tier=watchlist_tier,
        ids=batch.ids(),
        policy=PolicyBatch(**policy),
        **out,
    )
