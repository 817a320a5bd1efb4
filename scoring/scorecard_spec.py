"""The scorecard file's shape: pydantic models for `scorecards/*.toml`, unknown keys rejected.

These models check types and ranges only; the rules that span keys (bins cover the number line,
tables name known classes, points keep the score monotone) live in `scorecard_checks`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "GROUPS",
    "TIERS",
    "STRATEGIES",
    "AdviceRule",
    "Bin",
    "Characteristic",
    "DealFlag",
    "DealFlags",
    "Knockout",
    "OverrideText",
    "Policy",
    "ReasonRules",
    "Scaling",
    "ScorecardSpec",
    "Strategies",
    "Text",
    "TierCutoffs",
    "TierPolicy",
]

TIERS: tuple[str, ...] = ("low", "medium", "high", "critical")
GROUPS: tuple[str, ...] = ("credit", "financial", "market", "history", "industry")

Tier = Literal["low", "medium", "high", "critical"]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$", max_length=40)]
Words = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    """Plain words for a sales rep, in English and Chinese (zh-CN)."""

    en: Words
    zh: Words

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


class Bin(_Strict):
    """One bin: a special state, a list of categories, or an interval lower <= x < upper."""

    label: Words
    points: float
    state: str | None = None
    categories: list[Words] | None = None
    lower: float | None = None
    upper: float | None = None
    reason_code: Code | None = None  # defaults to the characteristic's
    reason: Text | None = None  # defaults to the characteristic's
    # Share of the development (training) rows in this bin, written by `riskbridge train`; `drift` compares.
    dev_share: Share | None = None

    @property
    def kind(self) -> Literal["state", "categories", "interval"]:
        if self.state is not None:
            return "state"
        if self.categories is not None:
            return "categories"
        return "interval"


class Characteristic(_Strict):
    """A scored feature: its factor group, bins and points, and the reason shown when it costs points."""

    group: Literal["credit", "financial", "market", "history", "industry"]
    reason_code: Code
    reason: Text
    bins: Annotated[list[Bin], Field(min_length=1)]
    # Overrides `[reasons] min_points_lost` for this characteristic.
    reason_min_points_lost: Annotated[float, Field(ge=0)] | None = None
    # A raw-column characteristic bins an input column as it stands instead of a canonical feature:
    # `column` names it, `kind` says how it is binned. A numeric one may say which way is safer (then
    # its points must move that way); a categorical one names, in `unseen`, the bin of any level the
    # card does not list (a level that did not occur in training).
    column: Words | None = None
    kind: Literal["numeric", "categorical"] | None = None
    higher: Literal["safer", "riskier"] | None = None
    unseen: Words | None = None

    @property
    def raw(self) -> bool:
        return self.column is not None


class Scaling(_Strict):
    """Points to odds: odds (good:bad) = base_odds * 2 ** ((score - base_points) / pdo)."""

    base_points: float
    base_odds: Annotated[float, Field(gt=0)]
    pdo: Annotated[float, Field(gt=0)]


class TierCutoffs(_Strict):
    """The lowest Risk Score (0-100) of each tier above `low`."""

    medium: Annotated[float, Field(gt=0, le=100)]
    high: Annotated[float, Field(gt=0, le=100)]
    critical: Annotated[float, Field(gt=0, le=100)]


class Knockout(_Strict):
    """A rule that sets a minimum tier whatever the points say."""

    code: Code
    field: Words
    when: Literal["true", "above", "at_least"]
    value: float | None = None
    tier: Literal["medium", "high", "critical"]
    text: Text
    supersedes: str | None = None  # a characteristic whose reason would only repeat this one


class OverrideText(_Strict):
    """How an active human override is reported when it carries no reason of its own."""

    code: Code
    text: Text


class DealFlag(_Strict):
    """A deal-level warning; `raise_by` tiers are added to the account's tier (capped at critical)."""

    code: Code
    text: Text
    raise_by: Annotated[int, Field(ge=0, le=3)]


class DealFlags(_Strict):
    over_credit: DealFlag
    terms_too_long: DealFlag


class TierPolicy(_Strict):
    """What the policy recommends for one tier; lists hold one entry per exposure band."""

    terms_days: list[Annotated[int, Field(ge=0, le=365)]]
    limit_factor: list[Annotated[float, Field(ge=0, le=10)]]
    prepayment_share: list[Share]
    review_every_days: Annotated[int, Field(ge=1, le=3650)]
    task: bool


class Policy(_Strict):
    """Tier x exposure band -> terms, limit, prepayment, monitoring and follow-up tasks."""

    exposure_bands: list[Annotated[float, Field(gt=0)]]
    band_names: list[Words]
    limit_revenue_share: Annotated[float, Field(gt=0, le=1)]
    limit_rounding: Annotated[float, Field(gt=0)]
    legal_min_days_past_due: Annotated[float, Field(ge=0)]
    legal_min_overdue: Annotated[float, Field(ge=0)]
    low: TierPolicy
    medium: TierPolicy
    high: TierPolicy
    critical: TierPolicy

    def for_tier(self, tier: str) -> TierPolicy:
        policy: TierPolicy = getattr(self, tier)
        return policy


STRATEGIES: tuple[str, ...] = ("review", "policy", "monitoring", "communication", "legal")
Strategy = Literal["review", "policy", "monitoring", "communication", "legal"]


class Strategies(_Strict):
    """The seed's strategies as advice lines; `{placeholders}` are filled per account."""

    review: Text
    policy: Text  # {terms} {limit} {prepay}
    policy_prepay: Text  # {limit} {prepay}
    monitoring: Text  # {monitoring}
    communication: Text
    legal: Text  # {dpd} {overdue}
    # A low-risk customer needs no full review or special call: these apply from the given tier up.
    review_from: Tier = "high"
    communication_from: Tier = "medium"


class AdviceRule(_Strict):
    """Advice for one cause: applies when a code is among the reasons, knockouts or deal flags."""

    cause: Words
    codes: Annotated[list[Code], Field(min_length=1)]
    unless: list[Code] = []  # a graver cause already says what to do (no payment plan with an insolvent firm)
    replaces: list[Strategy] = []
    text: Text


class ReasonRules(_Strict):
    """When a characteristic is worth naming as a reason.

    A reason says what pushes the risk up, so a bin is a reason only when it loses at least
    `min_points_lost` points against the characteristic's best bin (a healthy customer); and an
    account whose tier is `low` before any override gets no risk reasons at all.
    """

    min_points_lost: Annotated[float, Field(ge=0)] = 0.0


class ScorecardSpec(_Strict):
    """A whole scorecard file."""

    description: str = ""
    scaling: Scaling
    tiers: TierCutoffs
    characteristics: Annotated[dict[str, Characteristic], Field(min_length=1)]
    knockouts: list[Knockout] = []
    reasons: ReasonRules = ReasonRules()
    # Without these an admin's own scorecard uses the bundled default's advice.
    strategies: Strategies | None = None
    advice: list[AdviceRule] | None = None
    override: OverrideText
    deal_flags: DealFlags
    policy: Policy
    countries: dict[str, Words]
    industries: dict[str, Words]
    bureau_ratings: dict[str, Annotated[float, Field(ge=0, le=100)]]
