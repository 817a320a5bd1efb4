"""A read-only HTML list view of the sandbox CRM, the way a sales rep sees accounts after a sync."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

__all__ = ["AccountPage", "AccountRow", "override_of", "render_account", "render_list"]

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


@dataclass(frozen=True)
class AccountPage:
    account: AccountRow
    fields: dict[str, object] = field(default_factory=dict)
    deals: list[dict[str, object]] = field(default_factory=list)  # name, amount, stage, tier, score
    tasks: list[dict[str, object]] = field(default_factory=list)  # subject, status, priority, due, owner


def _badge(tier: str | None) -> str:
    if not tier:
        return '<span class="badge none">not scored</span>'
    color = _BADGE.get(tier.lower(), "#607d8b")
    return f'<span class="badge" style="background:{color}">{escape(tier)}</span>'


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
    body = []
    for r in rows:
        score = "" if r.risk_score is None else f"{r.risk_score:.0f}"
        tag = '<span class="tag">credit-watchlist</span>' if r.watchlist else ""
        body.append(
            f"<tr><td><a href='/accounts/{escape(r.id)}'>{escape(r.name[:80])}</a></td><td>{escape(r.owner)}</td>"
            f"<td class='num'>{score}</td><td>{_badge(r.tier)}{_override(r)}</td><td>{escape(r.reasons or '')}</td>"
            f"<td>{tag}</td><td class='num'>{r.open_tasks}</td></tr>"
        )
    pages = max(1, -(-total // per_page))
    nav = " ".join(
        f"<a href='/?page={p}'>{p}</a>" if p != page else f"<b>{p}</b>" for p in range(1, min(pages, 30) + 1)
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Accounts · {escape(crm)} sandbox</title>{_STYLE}"
        f"</head><body><header>Accounts <span class='muted'>· {escape(crm)} sandbox · {total} records</span></header>"
        "<main><table><tr><th>Account name</th><th>Owner</th><th>Risk score</th><th>Risk tier</th>"
        "<th>Top reasons</th><th>Tags</th><th>Open tasks</th></tr>"
        + "".join(body) + f"</table><p>Page: {nav}</p></main></body></html>"
    )


def render_account(crm: str, page: AccountPage) -> str:
    a = page.account
    fields = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape('' if v is None else str(v))}</td></tr>"
        for k, v in page.fields.items()
    )
    deals = "".join(
        f"<tr><td>{escape(str(d.get('name', '')))}</td><td class='num'>{escape(str(d.get('amount') or ''))}</td>"
        f"<td>{escape(str(d.get('stage') or ''))}</td><td>{_badge(d.get('tier'))}</td>"  # type: ignore[arg-type]
        f"<td>{escape(str(d.get('reasons') or ''))}</td></tr>"
        for d in page.deals
    )
    tasks = "".join(
        f"<tr><td>{escape(str(t.get('subject', '')))}</td><td>{escape(str(t.get('status') or ''))}</td>"
        f"<td>{escape(str(t.get('priority') or ''))}</td><td>{escape(str(t.get('due') or ''))}</td>"
        f"<td>{escape(str(t.get('owner') or ''))}</td></tr>"
        for t in page.tasks
    )
    tag = '<span class="tag">credit-watchlist</span>' if a.watchlist else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(a.name[:80])}</title>{_STYLE}</head><body>"
        f"<header><a href='/' style='color:#fff'>Accounts</a> › {escape(a.name)}</header><main>"
        f"<p>Owner: {escape(a.owner)} · Risk score: <b>{'' if a.risk_score is None else f'{a.risk_score:.0f}'}</b> "
        f"{_badge(a.tier)} {tag}{_override(a)}</p><p>{escape(a.reasons or '')}</p>"
        "<h3>Deals</h3><table><tr><th>Name</th><th>Amount</th><th>Stage</th><th>Risk tier</th><th>Reasons</th></tr>"
        f"{deals}</table><h3>Open activities</h3><table><tr><th>Subject</th><th>Status</th><th>Priority</th>"
        f"<th>Due</th><th>Assigned to</th></tr>{tasks}</table><h3>Fields</h3><table>{fields}</table>"
        "</main></body></html>"
    )
