"""What the sandbox's HTML list view shows of a Zoho org: account rows and one account's page."""

from __future__ import annotations

from typing import Any

from connector.sandbox.view import AccountPage, AccountRow, override_of
from connector.sandbox.zoho_data import WATCHLIST_TAG
from connector.sandbox.zoho_org import INPUT_FIELDS
from connector.sandbox.zoho_store import ZohoStore

__all__ = ["account_page", "account_rows"]


def _open_tasks(store: ZohoStore, account_id: str) -> list[dict[str, Any]]:
    related = [account_id, *(c for c in store.children.get(account_id, ()) if c in store.records["Deals"])]
    tasks = [store.records["Tasks"][t] for r in related for t in store.children.get(r, ())
             if t in store.records["Tasks"]]
    return [t for t in tasks if t.get("Status") != "Completed"]


def _row(store: ZohoStore, rec: dict[str, Any]) -> AccountRow:
    score = rec.get("Risk_Score")
    return AccountRow(
        id=rec["id"], name=str(rec.get("Account_Name") or ""), owner=(rec.get("Owner") or {}).get("name", ""),
        risk_score=float(score) if isinstance(score, int | float) else None, tier=rec.get("Risk_Tier"),
        reasons=rec.get("Risk_Reasons"), watchlist=any(t["name"] == WATCHLIST_TAG for t in rec.get("Tag") or []),
        open_tasks=len(_open_tasks(store, rec["id"])),
        override=override_of(rec.get("Risk_Override_Tier"), rec.get("Risk_Override_Reason"), rec.get("Risk_Override_Until")),
        terms=_number(rec.get("Risk_Recommended_Terms"), int), credit_limit=_number(rec.get("Risk_Credit_Limit"), float))


def _number(value: Any, kind: type[int] | type[float]) -> Any:
    return kind(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def account_rows(store: ZohoStore) -> list[AccountRow]:
    with store.lock:
        return [_row(store, rec) for rec in store.records["Accounts"].values()]


def account_page(store: ZohoStore, account_id: str) -> AccountPage | None:
    with store.lock:
        rec = store.records["Accounts"].get(account_id)
        if rec is None:
            return None
        where, layout = store.schema.canonical["accounts"], store.schema.fields["Accounts"]
        shown = ("Industry", "Billing_Country", "Currency", "Annual_Revenue",
                 *(where[k] for k in INPUT_FIELDS if k in where), "Risk_Recommended_Terms", "Risk_Credit_Limit",
                 "Risk_Scored_At", "Risk_Model_Version", "Risk_Override_Tier", "Risk_Override_Reason",
                 "Risk_Override_Until", "Modified_Time")
        fields: dict[str, object] = {k: rec.get(k) for k in shown if k in layout}
        fields["Tag"] = ", ".join(t["name"] for t in rec.get("Tag") or [])
        deals = [store.records["Deals"][d] for d in sorted(store.children.get(account_id, ()))
                 if d in store.records["Deals"]]
        tasks = _open_tasks(store, account_id)
        return AccountPage(
            account=_row(store, rec), fields=fields,
            deals=[{"name": d.get("Deal_Name"), "amount": d.get("Amount"), "stage": d.get("Stage"),
                    "tier": d.get("Risk_Tier"), "reasons": d.get("Risk_Reasons"), "score": d.get("Risk_Score")}
                   for d in deals],
            tasks=[{"subject": t.get("Subject"), "status": t.get("Status"), "priority": t.get("Priority"),
                    "due": t.get("Due_Date"), "owner": (t.get("Owner") or {}).get("name")} for t in tasks])
