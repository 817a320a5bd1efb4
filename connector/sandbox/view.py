"""A read-only HTML list view of the sandbox CRM, the way a sales rep sees accounts after a sync."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from html import escape

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

__all__ = ["AccountPage", "AccountRow", "override_of", "render_account", "render_list", "shown"]

_BADGE = {"low": "#2e7d32", "medium": "#f9a825", "high": "#ef6c00", "critical": "#c62828"}


@dataclass(frozen=True)
class AccountRow:
    id: str
    name: str
    owner: str
    risk_score: float | None
    tier: str | None
    reasons: str | None
    watchlist: bool
    open_tasks: int
    # A credit manager's override as the CRM record holds it (tier, reason, until); shown next to the badge,
    # so a tier that is an override says so. The reasons field riskbridge writes also carries the computed tier.
    override: tuple[str, str, str] | None = None
    terms: int | None = None  # recommended payment terms in days, as riskbridge wrote them
    credit_limit: float | None = None  # recommended credit limit


@dataclass(frozen=True)
class AccountPage:
    account: AccountRow
    fields: dict[str, object] = field(default_factory=dict)
    deals: list[dict[str, object]] = field(default_factory=list)  # name, amount, stage, tier, score
    tasks: list[dict[str, object]] = field(default_factory=list)  # subject, status, priority, due, owner


# What the page says, per CRM: a Chinese tenant's users read Chinese (Fxiaoke), everyone else English.
_TEXT = {
    "en": {"accounts": "Accounts", "name": "Account name", "owner": "Owner", "score": "Risk score",
           "tier": "Risk tier", "reasons": "Top reasons", "tags": "Tags", "tasks": "Open tasks", "page": "Page",
           "records": "records", "deal_name": "Name", "deal_reasons": "Reasons", "not_scored": "not scored", "watch": "credit-watchlist", "deals": "Deals",
           "amount": "Amount", "stage": "Stage", "activities": "Open activities", "subject": "Subject",
           "status": "Status", "priority": "Priority", "due": "Due", "assigned": "Assigned to", "fields": "Fields",
           "terms": "Recommended terms", "limit": "Credit limit", "days": "{n} days", "yes": "Yes", "no": "No"},
    "zh": {"accounts": "客户", "name": "客户名称", "owner": "负责人", "score": "风险评分", "tier": "风险等级",
           "reasons": "主要原因", "tags": "标签", "tasks": "跟进记录", "page": "页", "records": "条", "deal_name": "商机名称", "deal_reasons": "原因",
           "not_scored": "未评分", "watch": "信用观察", "deals": "商机", "amount": "金额", "stage": "阶段",
           "activities": "跟进记录", "subject": "内容", "status": "状态", "priority": "优先级", "due": "截止日期",
           "assigned": "负责人", "fields": "字段", "terms": "建议账期", "limit": "信用额度", "days": "{n} 天",
           "yes": "是", "no": "否"},
}
_TIER_ZH = {"low": "低", "medium": "中", "high": "高", "critical": "严重"}


def _text(crm: str) -> dict[str, str]:
    return _TEXT["zh" if crm == "fxiaoke" else "en"]


_LOCALE = {"en": "en_US", "zh": "zh_CN"}
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def shown(value: object, crm: str = "") -> str:
    """A field value as the CRM's web page shows it to its user: 219,000 (not 219000.0), 1,234.5, dates and
    times in the user's locale (UTC), Yes/No; anything else as its text. Not escaped."""
    lang = "zh" if crm == "fxiaoke" else "en"
    locale = _LOCALE[lang]
    if value is None:
        return ""
    if isinstance(value, bool):
        return _TEXT[lang]["yes" if value else "no"]
    if isinstance(value, int | float):
        return format_decimal(value, format="#,##0.##", locale=locale)
    if isinstance(value, datetime):
        return format_datetime(value, format="medium", locale=locale)
    if isinstance(value, date):
        return format_date(value, format="medium", locale=locale)
    text = str(value)
    try:
        if _ISO_DAY.match(text):
            return format_date(date.fromisoformat(text), format="medium", locale=locale)
        if _ISO_MOMENT.match(text):
            moment = datetime.fromisoformat(text.replace(".000+0000", "+00:00").replace("+0000", "+00:00"))
            return format_datetime(moment, format="medium", locale=locale, tzinfo=moment.tzinfo)
    except ValueError:
        pass  # a text that only looks like a date is shown as it is
    return text


def _terms(row: AccountRow, crm: str) -> str:
    return "" if row.terms is None else _text(crm)["days"].format(n=shown(row.terms, crm))


def _badge(tier: str | None, crm: str = "") -> str:
    if not tier:
        return f'<span class="badge none">{_text(crm)["not_scored"]}</span>'
    color = _BADGE.get(tier.lower(), "#607d8b")
    shown = _TIER_ZH.get(tier.lower(), tier) if crm == "fxiaoke" else tier
    return f'<span class="badge" style="background:{color}">{escape(shown)}</span>'


def _override(row: AccountRow) -> str:
    """`override: medium (Parent company guarantee on file) until 2026-01-31` under the badge, if one is set."""
    if row.override is None:
        return ""
    tier, reason, until = row.override
    why = f" ({escape(reason[:80])})" if reason else ""
    return (f"<div class='override'>override: {escape(tier)}{why}"
            f"{f' until {escape(until)}' if until else ''}</div>")


def override_of(tier: object, reason: object, until: object) -> tuple[str, str, str] | None:
    """The override columns of a CRM record as `AccountRow.override`, or None when no tier is set."""
    if not tier:
        return None
    return str(tier), "" if reason is None else str(reason), "" if until is None else str(until)


_STYLE = """<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f3f3f3;color:#181818}
header{background:#032d60;color:#fff;padding:10px 18px;font-size:18px}
main{padding:14px 18px}table{border-collapse:collapse;width:100%;background:#fff}
th,td{padding:6px 8px;border-bottom:1px solid #ddd;text-align:left;font-size:13px;vertical-align:top}
th{background:#fafaf9;font-weight:600}.badge{color:#fff;border-radius:10px;padding:2px 8px;font-size:12px}
.badge.none{background:#b0b0b0}.tag{background:#fde7e9;color:#8e030f;border-radius:4px;padding:1px 6px;font-size:12px}
a{color:#0b5cab;text-decoration:none}.num{text-align:right}.muted{color:#706e6b}
.override{color:#5c3b00;font-size:11px;margin-top:2px}
</style>"""


def render_list(crm: str, rows: list[AccountRow], total: int, page: int, per_page: int) -> str:
    t = _text(crm)
    body = []
    for r in rows:
        score = "" if r.risk_score is None else f"{r.risk_score:.0f}"
        tag = f'<span class="tag">{t["watch"]}</span>' if r.watchlist else ""
        body.append(
            f"<tr><td><a href='/accounts/{escape(r.id)}'>{escape(r.name[:80])}</a></td><td>{escape(r.owner)}</td>"
            f"<td class='num'>{score}</td><td>{_badge(r.tier, crm)}{_override(r)}</td><td>{escape(r.reasons or '')}</td>"
            f"<td>{tag}</td><td class='num'>{r.open_tasks}</td><td class='num'>{_terms(r, crm)}</td>"
            f"<td class='num'>{escape(shown(r.credit_limit, crm))}</td></tr>"
        )
    pages = max(1, -(-total // per_page))
    nav = " ".join(
        f"<a href='/?page={p}'>{p}</a>" if p != page else f"<b>{p}</b>" for p in range(1, min(pages, 30) + 1)
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><link rel='icon' href='data:,'><title>{t['accounts']} · {escape(crm)} sandbox</title>"
        f"{_STYLE}</head><body><header>{t['accounts']} <span class='muted'>· {escape(crm)} sandbox · {total} "
        f"{t['records']}</span></header><main><table><tr><th>{t['name']}</th><th>{t['owner']}</th>"
        f"<th>{t['score']}</th><th>{t['tier']}</th><th>{t['reasons']}</th><th>{t['tags']}</th><th>{t['tasks']}</th>"
        f"<th>{t['terms']}</th><th>{t['limit']}</th></tr>" + "".join(body) + f"</table><p>{t['page']}: {nav}</p></main></body></html>"
    )


def render_account(crm: str, page: AccountPage) -> str:
    t = _text(crm)
    a = page.account
    fields = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(shown(v, crm))}</td></tr>"
        for k, v in page.fields.items()
    )
    deals = "".join(
        f"<tr><td>{escape(str(d.get('name', '')))}</td><td class='num'>{escape(shown(d.get('amount'), crm))}</td>"
        f"<td>{escape(str(d.get('stage') or ''))}</td><td>{_badge(d.get('tier'), crm)}</td>"  # type: ignore[arg-type]
        f"<td>{escape(str(d.get('reasons') or ''))}</td></tr>"
        for d in page.deals
    )
    tasks = "".join(
        f"<tr><td>{escape(str(x.get('subject', '')))}</td><td>{escape(str(x.get('status') or ''))}</td>"
        f"<td>{escape(str(x.get('priority') or ''))}</td><td>{escape(shown(x.get('due'), crm))}</td>"
        f"<td>{escape(str(x.get('owner') or ''))}</td></tr>"
        for x in page.tasks
    )
    tag = f'<span class="tag">{t["watch"]}</span>' if a.watchlist else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><link rel='icon' href='data:,'><title>{escape(a.name[:80])}</title>{_STYLE}</head><body>"
        f"<header><a href='/' style='color:#fff'>{t['accounts']}</a> › {escape(a.name)}</header><main>"
        f"<p>{t['owner']}: {escape(a.owner)} · {t['score']}: "
        f"<b>{'' if a.risk_score is None else f'{a.risk_score:.0f}'}</b> {_badge(a.tier, crm)} {tag}{_override(a)}</p>"
        f"<p class='terms'>{t['terms']}: <b>{_terms(a, crm) or '—'}</b> · {t['limit']}: "
        f"<b>{escape(shown(a.credit_limit, crm)) or '—'}</b></p>"
        f"<p>{escape(a.reasons or '')}</p><h3>{t['deals']}</h3><table><tr><th>{t['deal_name']}</th><th>{t['amount']}</th>"
        f"<th>{t['stage']}</th><th>{t['tier']}</th><th>{t['deal_reasons']}</th></tr>{deals}</table>"
        f"<h3>{t['activities']}</h3><table><tr><th>{t['subject']}</th><th>{t['status']}</th><th>{t['priority']}</th>"
        f"<th>{t['due']}</th><th>{t['assigned']}</th></tr>{tasks}</table><h3>{t['fields']}</h3><table>{fields}</table>"
        "</main></body></html>"
    )
