"""Credit policy: tier x exposure -> terms, limit, prepayment, monitoring and a follow-up task.

It follows the source document's strategies (§六): strict credit review for risky customers, a
tighter credit policy (shorter terms, lower limits), closer monitoring, close communication with
the customer, and legal steps when overdue debt is severe. The numbers are in the scorecard's
`[policy]` table, the advice texts in its `[strategies]` and `[[advice]]` (advice follows the cause:
sanctions to compliance, insolvency to legal and collections, and so on).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from scoring.batch import Batch
from scoring.catalogue import text, tier_name
from scoring.labels import band_label
from scoring.scorecard_spec import STRATEGIES, TIERS, AdviceRule, Policy, Strategies
from scoring.tierline import tier_line

__all__ = ["LIMIT_BASES", "Action", "PolicyBatch", "Task", "advice_lines", "describe_action", "monitoring_text", "recommend"]

# How the recommended limit was derived; index = `PolicyBatch.limit_basis_kind`.
LIMIT_BASES: tuple[str, ...] = ("none", "credit_limit", "revenue_share", "exposure")
_TIER_ZH = {tier: tier_name(tier, "zh") for tier in TIERS}


@dataclass(frozen=True)
class PolicyBatch:
    """The policy's recommendation for every record of a batch."""

    band: np.ndarray  # exposure band index
    max_terms_days: np.ndarray  # the longest terms the policy allows
    recommended_terms_days: np.ndarray  # never longer than the customer has today
    limit_basis: np.ndarray  # NaN when there is none
    limit_basis_kind: np.ndarray  # index into LIMIT_BASES
    limit_factor: np.ndarray
    recommended_credit_limit: np.ndarray  # NaN when there is no basis to size a limit on
    prepayment_share: np.ndarray
    review_every_days: np.ndarray
    task_warranted: np.ndarray
    legal_action: np.ndarray  # overdue debt is severe enough for collection or legal steps


@dataclass(frozen=True)
class Task:
    """A follow-up task for the account owner."""

    subject: str
    description: str


@dataclass(frozen=True)
class Action:
    """The recommended action for one record, in words."""

    terms_days: int
    credit_limit: float | None
    limit_rationale: str
    prepayment_share: float
    review_every_days: int
    monitoring: str
    task: Task | None
    advice: tuple[str, ...] = ()  # by cause first, then the seed's strategies that still apply


def _table(policy: Policy, name: str) -> np.ndarray:
    return np.array([getattr(policy.for_tier(t), name) for t in TIERS])


def recommend(policy: Policy, tier: np.ndarray, exposure: np.ndarray, accounts: Batch) -> PolicyBatch:
    """Vectorised policy lookup for a batch, given each record's final tier and exposure."""
    band = np.searchsorted(np.array(policy.exposure_bands), np.nan_to_num(exposure), side="right")
    max_terms = _table(policy, "terms_days")[tier, band].astype(np.int64)
    current = accounts.column("payment_terms_days")
    # Recommend tightening only: never suggest longer terms than the customer already has.
    shorter = (current >= 0) & (current < max_terms)
    recommended_terms = np.where(shorter, np.floor(np.nan_to_num(current)), max_terms).astype(np.int64)

    limit = accounts.column("credit_limit")
    revenue = accounts.column("annual_revenue")
    kind = np.zeros(len(accounts), dtype=np.int8)
    basis = np.full(len(accounts), np.nan)
    # Fill from the weakest basis up, so the strongest available one wins.
    for code, values in ((3, exposure), (2, revenue * policy.limit_revenue_share), (1, limit)):
        usable = values > 0
        kind[usable] = code
        basis[usable] = values[usable]
    factor = _table(policy, "limit_factor")[tier, band]
    step = policy.limit_rounding
    sized = np.floor(basis * factor / step) * step
    recommended_limit = np.where(factor == 0, 0.0, sized)

    dpd = accounts.column("max_days_past_due")
    overdue = accounts.column("overdue_amount")
    legal = (dpd >= policy.legal_min_days_past_due) & (overdue >= policy.legal_min_overdue) & (overdue > 0)
    return PolicyBatch(
        band=band,
        max_terms_days=max_terms,
        recommended_terms_days=recommended_terms,
        limit_basis=basis,
        limit_basis_kind=kind,
        limit_factor=factor,
        recommended_credit_limit=recommended_limit,
        prepayment_share=_table(policy, "prepayment_share")[tier, band],
        review_every_days=_table(policy, "review_every_days")[tier],
        task_warranted=_table(policy, "task")[tier] | legal,
        legal_action=legal,
    )


def _money(amount: float, currency: str) -> str:
    return f"{amount:,.0f} {currency}".strip()


def _rationale(lang: str, kind: str, basis: float, factor: float, tier: str, band: str, currency: str) -> str:
    pct = f"{factor * 100:.0f}%"
    money = _money(basis, currency) if kind != "none" else ""
    if lang == "zh":
        if factor == 0:
            return f"{_TIER_ZH[tier]}风险客户不授信:先款后货"
        basis_zh = {"credit_limit": f"当前信用额度 {money}", "revenue_share": f"年收入推算基数 {money}",
                    "exposure": f"当前敞口 {money}"}
        if kind == "none":
            return "没有信用额度、收入或敞口数据,无法推算额度:请先做信用审核再设定额度"
        return f"{basis_zh[kind]} 的 {pct}({_TIER_ZH[tier]}风险,{band_label(band, lang)}敞口档)"
    if factor == 0:
        return f"No credit for a {tier}-risk customer: cash in advance"
    basis_en = {"credit_limit": f"the current limit of {money}",
                "revenue_share": f"{money} (a share of annual revenue; no limit on file)",
                "exposure": f"the current exposure of {money} (no limit or revenue on file)"}
    if kind == "none":
        return "No credit limit, revenue or exposure on file to size a limit: set one after a credit review"
    return f"{pct} of {basis_en[kind]} for a {tier}-risk customer with {band} exposure"


def monitoring_text(lang: str, days: int) -> str:
    """How often to review, in words."""
    return f"每 {days} 天复核一次" if lang == "zh" else f"review every {days} days"


def _task(lang: str, *, name: str, tier: str, tier_text: str, risk_score: int, reasons: list[str],
          lines: list[str]) -> Task:
    none = text("reasons.nothing", lang)
    if lang == "zh":
        head = f"风险评分 {risk_score},{tier_text}。主要原因:{';'.join(reasons) or none}。"
        return Task(subject=f"信用风险{tier_name(tier, lang)}:{name} — 复核付款条件和额度",
                    description="\n".join([head, *lines]))
    head = f"Risk Score {risk_score}, {tier_text}. Main reasons: {'; '.join(reasons) or none}."
    return Task(subject=f"{tier.capitalize()} credit risk: {name} — review terms and limit",
                description="\n".join([head, *lines]))


def advice_lines(strategies: Strategies, rules: Sequence[AdviceRule], codes: Collection[str], lang: str, *,
                 tier: str, terms: int, limit_text: str, prepay: float, monitoring: str, legal: bool, dpd: float,
                 overdue: str) -> list[str]:
    """What to do, in words: the advice of every cause among `codes`, then the seed's strategies that no
    applying cause replaces (a sanctions hit goes to compliance, not to a friendly call)."""
    applying = [rule for rule in rules
                if any(code in codes for code in rule.codes) and not any(code in codes for code in rule.unless)]
    dropped = {name for rule in applying for name in rule.replaces}
    rank = TIERS.index(tier)
    if rank < TIERS.index(strategies.review_from):
        dropped.add("review")
    if rank < TIERS.index(strategies.communication_from):
        dropped.add("communication")
    lines = [rule.text.get(lang) for rule in applying]
    values = {"terms": terms, "limit": limit_text, "prepay": f"{prepay:.0%}", "monitoring": monitoring,
              "dpd": f"{dpd:.0f}", "overdue": overdue}
    for name in STRATEGIES:
        if name in dropped or (name == "legal" and not legal):
            continue
        if name == "policy" and not terms:
            name = "policy_prepay"
        lines.append(getattr(strategies, name).get(lang).format(**values))
    return lines


def describe_action(pb: PolicyBatch, i: int, accounts: Batch, *, tier: str, band_names: list[str],
                    risk_score: int, reasons: list[str], lang: str = "en", strategies: Strategies,
                    advice: Sequence[AdviceRule], codes: Collection[str] = (), tier_text: str | None = None
                    ) -> Action:
    """The recommendation for record `i` in words (built only when someone reads it).

    `codes` are the record's reason and knockout codes (the causes advice follows); `tier_text` is the
    tier as `tier_line` shows it (an override says so)."""
    currency = accounts.text("currency", i)
    name = accounts.text("name", i) or accounts.text("id", i)
    limit = float(pb.recommended_credit_limit[i])
    credit_limit = None if np.isnan(limit) else limit
    kind = LIMIT_BASES[int(pb.limit_basis_kind[i])]
    band = band_names[int(pb.band[i])]
    rationale = _rationale(lang, kind, float(pb.limit_basis[i]), float(pb.limit_factor[i]), tier, band, currency)
    monitoring = monitoring_text(lang, int(pb.review_every_days[i]))
    none_text = "待定" if lang == "zh" else "to be set after review"
    limit_text = (none_text if credit_limit is None else
                  _money(limit, currency) if limit else ("无" if lang == "zh" else "none"))
    lines = advice_lines(strategies, advice, codes, lang, tier=tier, terms=int(pb.max_terms_days[i]),
                         limit_text=limit_text,
                         prepay=float(pb.prepayment_share[i]), monitoring=monitoring,
                         legal=bool(pb.legal_action[i]), dpd=accounts.number("max_days_past_due", i),
                         overdue=_money(accounts.number("overdue_amount", i), currency))
    task = None
    if pb.task_warranted[i]:
        task = _task(lang, name=name, tier=tier, tier_text=tier_text or tier_line(tier, lang),
                     risk_score=risk_score, reasons=reasons, lines=lines)
    return Action(terms_days=int(pb.recommended_terms_days[i]), credit_limit=credit_limit,
                  limit_rationale=rationale, prepayment_share=float(pb.prepayment_share[i]),
                  review_every_days=int(pb.review_every_days[i]), monitoring=monitoring, task=task,
                  advice=tuple(lines))
