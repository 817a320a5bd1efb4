"""What the sandbox's HTML list view shows of a Fxiaoke tenant: account rows and one account's page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connector.sandbox.fxiaoke_fields import CHINA_TZ, FieldDef
from connector.sandbox.fxiaoke_store import FxiaokeStore
from connector.sandbox.view import AccountPage, AccountRow, override_of

__all__ = ["account_page", "account_rows", "on_watchlist"]


def on_watchlist(rec: dict[str, Any]) -> bool:
    """Either watchlist form a provisioned tenant offers: the select_many option or the boolean."""
    return "credit_watch" in (rec.get("risk_watchlist__c") or []) or rec.get("risk_on_watchlist__c") is True


def _follow_ups(store: FxiaokeStore, account_id: str) -> list[dict[str, Any]]:
    out = [r for r in store.records["ActiveRecordObj"].values() if r.get("account_id") == account_id]
    tasks = store.records.get("object_RiskTask__c", {})
    out += [t for t in tasks.values() if t.get("account__c") == account_id and t.get("status__c") != "done"]
    return out


def _shown(fd: FieldDef | None, value: Any) -> Any:
    """A wire value as the web page shows it: option labels, dates, employee names."""
    if value is None or fd is None:
        return value
    labels = dict(fd.options)
    if fd.type == "select_one":
        return labels.get(value, value)
    if fd.type == "select_many":
        return "，".join(labels.get(v, v) for v in value)
    if fd.type == "true_or_false":
        return "是" if value is True else "否"
    if fd.type in ("date", "date_time"):
        moment = datetime.fromtimestamp(int(value) / 1000, tz=UTC).astimezone(CHINA_TZ)
        return moment.strftime("%Y-%m-%d" if fd.type == "date" else "%Y-%m-%d %H:%M")
    return value


def _row(store: FxiaokeStore, rec: dict[str, Any], counts: dict[str, int]) -> AccountRow:
    score = rec.get("risk_score__c")
    owner = store.employee((rec.get("owner") or [""])[0])
    tier = rec.get("risk_tier__c")
    layout = store.schema.fields["AccountObj"]
    until = "risk_override_until__c"  # epoch ms on the wire: shown as the date a credit manager entered
    override = override_of(rec.get("risk_override_tier__c"), rec.get("risk_override_reason__c"),
                           _shown(layout.get(until), rec.get(until)))
    return AccountRow(
        id=rec["_id"], name=str(rec.get("name") or ""), owner=owner.name if owner else "",
        risk_score=float(score) if score is not None else None, tier=tier, reasons=rec.get("risk_reasons__c"),
        watchlist=on_watchlist(rec), open_tasks=counts.get(rec["_id"], 0), override=override,
        terms=_number(rec.get("risk_recommended_terms__c"), int),
        credit_limit=_number(rec.get("risk_credit_limit__c"), float))


def _number(value: Any, kind: type[int] | type[float]) -> Any:
    """A number field as the view shows it; Fxiaoke's API may carry numbers as strings."""
    try:
        return None if value in (None, "") else kind(float(value))
    except (TypeError, ValueError):
        return None


def account_rows(store: FxiaokeStore) -> list[AccountRow]:
    with store.lock:
        counts: dict[str, int] = {}
        for follow in store.records["ActiveRecordObj"].values():
            if follow.get("account_id"):
                counts[follow["account_id"]] = counts.get(follow["account_id"], 0) + 1
        return [_row(store, rec, counts) for rec in store.records["AccountObj"].values()]


def account_page(store: FxiaokeStore, account_id: str) -> AccountPage | None:
    with store.lock:
        rec = store.records["AccountObj"].get(account_id)
        if rec is None:
            return None
        layout = store.schema.fields["AccountObj"]
        skip = {"_id", "owner", "created_by", "last_modified_by", "object_describe_api_name", "name"}
        fields: dict[str, object] = {(layout[k].label if k in layout else k): _shown(layout.get(k), v)
                                     for k, v in rec.items() if k not in skip}
        follow_ups = _follow_ups(store, account_id)
        deal_object = store.schema.deal_object
        deals = [d for d in store.records[deal_object].values() if d.get("account_id") == account_id]
        deal_layout = store.schema.fields[deal_object]
        stage, amount = (store.schema.canonical["deals"][k] for k in ("stage", "amount"))
        return AccountPage(
            account=_row(store, rec, {account_id: len(follow_ups)}), fields=fields,
            deals=[{"name": d.get("name"), "amount": d.get(amount), "stage": _shown(deal_layout.get(stage), d.get(stage)),
                    "tier": d.get("risk_tier__c"), "reasons": d.get("risk_reasons__c"), "score": d.get("risk_score__c")}
                   for d in deals],
            tasks=[{"subject": str(t.get("active_record_content") or t.get("name") or "")[:80],
                    "status": _shown(layout.get("life_status"), t.get("life_status")),
                    "priority": "", "due": _shown(FieldDef("d", "", "date"), t.get("due_date__c")),
                    "owner": (store.employee((t.get("owner") or [""])[0]) or store.operator).name}
                   for t in follow_ups])
