"""Renders the canonical generated data (`data.generate`) as a Zoho org: users, accounts, deals, tasks, tags.

Everything is deterministic for a seed and day. Beyond the canonical values the org carries what a real
one does: about 1% of accounts hold a credit manager's override (half of them expired), a few accounts
and deals carry users' own tags (so an `over_write` bug is visible), the `credit-watchlist` tag
definition exists, and some accounts have open tasks created by their owners.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from connector.sandbox.data import User as CanonicalUser
from connector.sandbox.data import generate
from connector.sandbox.zoho_fields import TIERS, fmt_dt, make_id
from connector.sandbox.zoho_store import User, ZohoStore

__all__ = ["INPUT_FIELDS", "WATCHLIST_TAG", "api_name", "populate"]

WATCHLIST_TAG = "credit-watchlist"
INPUT_FIELDS = (
    "bureau_score", "bureau_rating", "internal_rating", "credit_limit", "payment_terms_days", "current_assets",
    "current_liabilities", "inventory", "total_assets", "total_liabilities", "net_income", "operating_cash_flow",
    "audit_opinion", "statement_date", "open_receivables", "overdue_amount", "max_days_past_due",
    "avg_days_late", "disputes_12m", "complaints_12m", "customer_since", "sanctions_hit", "insolvency",
)
_USER_TAGS = (("key-account", "#57B1FD"), ("strategic", "#63C57E"), ("renewal-q3", "#E7A826"),
              ("do-not-call", "#969696"))
_OVERRIDE_REASONS = ("Parent company guarantee on file", "Payment plan agreed with CFO",
                     "Collateral received; reviewed by credit committee", "Known slow payer, no loss history",
                     "Legal dispute pending, hold all new orders")
_TASK_SUBJECTS = ("Quarterly business review", "Send updated price list", "Follow up on overdue invoice",
                  "Renewal call", "Collect signed framework agreement", "Site visit")


def api_name(canonical: str) -> str:
    """Canonical key -> the agreed Zoho API name (`max_days_past_due` -> `Max_Days_Past_Due`)."""
    return "_".join(part[:1].upper() + part[1:] for part in canonical.split("_"))


def _number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _user(u: CanonicalUser) -> User:
    return User(make_id(100001 + u.index), u.name, u.email, str(92419400 + u.index))


def populate(store: ZohoStore, *, seed: int, accounts: int, deals_per_account: int, today: date) -> None:
    """Fill an empty store with the org's generated data."""
    data = generate(seed, accounts, deals_per_account, today)
    rng = random.Random(seed * 7919 + 17)
    store.users = [_user(u) for u in data.users]
    for name, color in ((WATCHLIST_TAG, "#F17574"), *_USER_TAGS):
        tag = store.define_tag("Accounts", name, color)
        tag["created_time"] = tag["modified_time"] = fmt_dt(datetime.combine(today, time(9), UTC)
                                                            - timedelta(days=400))
    store.define_tag("Deals", "priority", "#F48435")

    account_ids: dict[int, str] = {}
    for n, acc in enumerate(sorted(data.accounts, key=lambda a: (a["created_at"], a["index"]))):
        rid = make_id(2_000_001 + n)
        account_ids[acc["index"]] = rid
        _put(store, "Accounts", _account(rid, acc, store.users[acc["owner_index"]]), acc)
    for n, deal in enumerate(sorted(data.deals, key=lambda d: (d["created_at"], d["account_index"], d["name"]))):
        parent = store.records["Accounts"][account_ids[deal["account_index"]]]
        rec = _deal(make_id(4_000_001 + n), deal, store.users[deal["owner_index"]], parent)
        _put(store, "Deals", rec, deal)
        store.children.setdefault(parent["id"], set()).add(rec["id"])

    task_no = 0
    day0 = datetime.combine(today, time(0), UTC)
    for rid in sorted(store.records["Accounts"]):
        acc = store.records["Accounts"][rid]
        roll = rng.random()
        if roll < 0.01:
            expired = rng.random() < 0.5
            until = today + timedelta(days=-rng.randint(1, 120) if expired else rng.randint(10, 180))
            acc.update({"Risk_Override_Tier": rng.choice(TIERS), "Risk_Override_Until": until.isoformat(),
                        "Risk_Override_Reason": rng.choice(_OVERRIDE_REASONS)})
        if rng.random() < 0.06:
            names = [t for t, _ in rng.sample(_USER_TAGS, rng.choice((1, 1, 2)))]
            acc["Tag"] = store.tag_refs("Accounts", names)
        if rng.random() < 0.05:
            task_no += 1
            owner = store.user(acc["Owner"]["id"]) or store.users[0]
            created = max(store.ctime[rid], int((day0 - timedelta(days=rng.randint(1, 60))).timestamp()))
            status = rng.choice(("Not Started", "Not Started", "In Progress", "Completed", "Deferred"))
            task = {
                "id": make_id(6_000_001 + task_no), "Subject": rng.choice(_TASK_SUBJECTS), "Owner": owner.ref(),
                "What_Id": {"name": acc["Account_Name"], "id": rid}, "$se_module": "Accounts",
                "Due_Date": (today + timedelta(days=rng.randint(-20, 40))).isoformat(), "Status": status,
                "Priority": rng.choice(("Normal", "Normal", "High", "Low")), "$currency_symbol": acc["Currency"],
                "Created_Time": fmt_dt(created), "Modified_Time": fmt_dt(created), "Created_By": owner.ref(),
                "Modified_By": owner.ref(), "Closed_Time": fmt_dt(created) if status == "Completed" else None,
            }
            store.records["Tasks"][task["id"]] = task
            store.ctime[task["id"]] = store.mtime[task["id"]] = created
            store.children.setdefault(rid, set()).add(task["id"])
    for rid in sorted(store.records["Deals"]):
        if rng.random() < 0.03:
            store.records["Deals"][rid]["Tag"] = store.tag_refs("Deals", ["priority"])
    store.version += 1


def _put(store: ZohoStore, module: str, rec: dict[str, Any], canonical: dict[str, Any]) -> None:
    modified = int(canonical["modified_at"].timestamp())
    created = int(canonical["created_at"].timestamp())
    # generated creation times fall on midnight UTC; spread them over the working day as people work
    created = min(modified, created + 25_200 + (int(rec["id"][-6:]) * 7919) % 39_600)
    rec.update({"Created_Time": fmt_dt(created), "Modified_Time": fmt_dt(modified)})
    store.records[module][rec["id"]] = rec
    store.ctime[rec["id"]], store.mtime[rec["id"]] = created, modified


def _account(rid: str, acc: dict[str, Any], owner: User) -> dict[str, Any]:
    slug = "".join(ch for ch in acc["name"].lower() if ch.isascii() and ch.isalnum())[:24] or f"firm{acc['index']}"
    rec: dict[str, Any] = {
        "id": rid, "Owner": owner.ref(), "Created_By": owner.ref(), "Modified_By": owner.ref(),
        "Account_Name": acc["name"], "Industry": acc["industry"], "Billing_Country": acc["country_text"],
        "Currency": acc["currency"], "$currency_symbol": acc["currency"],
        "Annual_Revenue": _number(acc["annual_revenue"]), "Account_Type": "Customer",
        "Account_Number": str(10000 + acc["index"]), "Website": f"http://www.{slug}.example.com",
        "Employees": max(3, int(acc["annual_revenue"] / 180000)),
        "Billing_Address": acc["country_text"] or "", "Record_Image": None,
    }
    for key in INPUT_FIELDS:
        value = acc.get(key)
        if value is not None:
            rec[api_name(key)] = _number(value)
    return rec


def _deal(rid: str, deal: dict[str, Any], owner: User, account: dict[str, Any]) -> dict[str, Any]:
    stage = "Qualification" if deal["stage"] == "Prospecting" else deal["stage"]
    if stage == "Closed Lost" and len(deal["name"]) % 4 == 0:
        stage = "Closed-Lost to Competition"
    amount = _number(deal["amount"])
    days = max(0, (deal["modified_at"] - deal["created_at"]).days)
    return {
        "id": rid, "Owner": owner.ref(), "Created_By": owner.ref(), "Modified_By": owner.ref(),
        "Deal_Name": deal["name"][:120], "Account_Name": {"name": account["Account_Name"], "id": account["id"]},
        "Amount": amount, "Stage": stage, "Closing_Date": deal["close_date"], "Probability": deal["probability"],
        "Expected_Revenue": None if amount is None else _number(round(amount * deal["probability"] / 100, 2)),
        "Payment_Terms_Days": deal["payment_terms_days"], "$currency_symbol": account.get("Currency"),
        "Type": "Existing Business" if deal["name"].endswith(("2", "4")) else "New Business",
        "Overall_Sales_Duration": days, "Sales_Cycle_Duration": days,
    }
