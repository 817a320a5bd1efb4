"""Renders the canonical generated data (`data.generate`) as a Zoho org: users, accounts, deals, tasks, tags.

Everything is deterministic for a seed and day, and the same in every org variant: a variant's schema
(`zoho_org`) only decides under which fields, if any, the credit inputs sit. Beyond the canonical values
the org carries what a real one does: about 1% of accounts hold a credit manager's override (half of
them expired; only where the org has override fields), a few accounts and deals carry users' own tags
(so an `over_write` bug is visible), the `credit-watchlist` tag definition exists in a provisioned org,
some accounts have open tasks created by their owners, and most have a contact; a few campaigns exist.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from connector.sandbox.data import User as CanonicalUser
from connector.sandbox.data import generate
from connector.sandbox.zoho_fields import TIERS, fmt_dt, make_id
from connector.sandbox.zoho_org import INPUT_FIELDS, OrgSchema, api_name, field_value
from connector.sandbox.zoho_store import User, ZohoStore

__all__ = ["INPUT_FIELDS", "WATCHLIST_TAG", "api_name", "populate"]

WATCHLIST_TAG = "credit-watchlist"
_USER_TAGS = (("key-account", "#57B1FD"), ("strategic", "#63C57E"), ("renewal-q3", "#E7A826"),
              ("do-not-call", "#969696"))
_OVERRIDE_REASONS = ("Parent company guarantee on file", "Payment plan agreed with CFO",
                     "Collateral received; reviewed by credit committee", "Known slow payer, no loss history",
                     "Legal dispute pending, hold all new orders")
_TASK_SUBJECTS = ("Quarterly business review", "Send updated price list", "Follow up on overdue invoice",
                  "Renewal call", "Collect signed framework agreement", "Site visit")
_CONTACT_FIRST = ("Anna", "Wei", "Jonas", "Fatima", "Diego", "Keiko", "Ravi", "Emma", "Olu", "Lena", "Marco",
                  "Sara", "Tomás", "Ying", "Pieter", "Aisha")
_CONTACT_LAST = ("Becker", "Zhang", "Costa", "Yamamoto", "Patel", "Novak", "Adeyemi", "Lindqvist", "Moreau",
                 "Khan", "Fischer", "Chen", "Ortiz", "Jensen", "Rossi", "Kim")
_TITLES = ("CFO", "Head of Procurement", "Finance Director", "Accounts Payable Lead", "CEO", "Purchasing Manager",
           "Controller")
_CAMPAIGNS = (("Spring Trade Show", "Trade Show", "Complete"), ("Q3 Webinar Series", "Webinar", "Active"),
              ("Partner Referral Program", "Referral Program", "Active"), ("Newsletter Autumn", "Email", "Planning"),
              ("Industry Conference", "Conference", "Complete"), ("Telemarketing DACH", "Telemarketing", "Inactive"))


def _number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _user(u: CanonicalUser) -> User:
    return User(make_id(100001 + u.index), u.name, u.email, str(92419400 + u.index))


def populate(store: ZohoStore, *, seed: int, accounts: int, deals_per_account: int, today: date) -> None:
    """Fill an empty store with the org's generated data, under the fields of its schema."""
    data = generate(seed, accounts, deals_per_account, today)
    rng = random.Random(seed * 7919 + 17)
    schema = store.schema
    store.users = [_user(u) for u in data.users]
    for name, color in ((WATCHLIST_TAG, "#F17574"), *_USER_TAGS):
        if name == WATCHLIST_TAG and schema.variant != "provisioned":
            continue  # a real org has no riskbridge tag until `provision` creates it
        tag = store.define_tag("Accounts", name, color)
        tag["created_time"] = tag["modified_time"] = fmt_dt(datetime.combine(today, time(9), UTC)
                                                            - timedelta(days=400))
    store.define_tag("Deals", "priority", "#F48435")

    account_ids: dict[int, str] = {}
    for n, acc in enumerate(sorted(data.accounts, key=lambda a: (a["created_at"], a["index"]))):
        rid = make_id(2_000_001 + n)
        account_ids[acc["index"]] = rid
        _put(store, "Accounts", _account(rid, acc, store.users[acc["owner_index"]], schema), acc)
    terms_field = schema.canonical["deals"].get("payment_terms_days")
    for n, deal in enumerate(sorted(data.deals, key=lambda d: (d["created_at"], d["account_index"], d["name"]))):
        parent = store.records["Accounts"][account_ids[deal["account_index"]]]
        rec = _deal(make_id(4_000_001 + n), deal, store.users[deal["owner_index"]], parent, terms_field)
        _put(store, "Deals", rec, deal)
        store.children.setdefault(parent["id"], set()).add(rec["id"])

    has_overrides = "override_tier" in schema.canonical["accounts"]
    task_no = 0
    day0 = datetime.combine(today, time(0), UTC)
    for rid in sorted(store.records["Accounts"]):
        acc = store.records["Accounts"][rid]
        roll = rng.random()
        if roll < 0.01:
            expired = rng.random() < 0.5
            until = today + timedelta(days=-rng.randint(1, 120) if expired else rng.randint(10, 180))
            override = {"Risk_Override_Tier": rng.choice(TIERS), "Risk_Override_Until": until.isoformat(),
                        "Risk_Override_Reason": rng.choice(_OVERRIDE_REASONS)}
            if has_overrides:  # drawn either way, so every variant keeps the same random stream
                acc.update(override)
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
    _contacts_and_campaigns(store, seed, today)
    store.version += 1


def _contacts_and_campaigns(store: ZohoStore, seed: int, today: date) -> None:
    """Contacts for most accounts and a few campaigns, from a random stream of their own."""
    rng = random.Random(seed * 104729 + 7)
    for n, rid in enumerate(sorted(store.records["Accounts"])):
        acc = store.records["Accounts"][rid]
        if rng.random() >= 0.8:
            continue
        first, last = rng.choice(_CONTACT_FIRST), rng.choice(_CONTACT_LAST)
        domain = acc["Website"].removeprefix("http://www.")
        local = f"{first}.{last}".lower().encode("ascii", "ignore").decode()
        owner = store.user(acc["Owner"]["id"]) or store.users[0]
        created = store.ctime[rid] + rng.randint(3_600, 30 * 86_400)
        contact = {
            "id": make_id(3_000_001 + n), "Owner": owner.ref(), "Created_By": owner.ref(), "Modified_By": owner.ref(),
            "First_Name": first, "Last_Name": last, "Full_Name": f"{first} {last}",
            "Account_Name": {"name": acc["Account_Name"], "id": rid}, "Email": f"{local}@{domain}",
            "Phone": _phone(rng), "Title": rng.choice(_TITLES), "Mailing_Country": acc["Billing_Country"],
            "Created_Time": fmt_dt(created), "Modified_Time": fmt_dt(created),
        }
        store.records["Contacts"][contact["id"]] = contact
        store.ctime[contact["id"]] = store.mtime[contact["id"]] = created
        store.children.setdefault(rid, set()).add(contact["id"])
    admin = store.users[0]
    for n, (name, kind, status) in enumerate(_CAMPAIGNS):
        start = today - timedelta(days=300 - 50 * n)
        at = int(datetime.combine(start - timedelta(days=20), time(10), UTC).timestamp())
        cid = make_id(5_000_001 + n)
        campaign: dict[str, Any] = {
            "id": cid, "Owner": admin.ref(), "Created_By": admin.ref(), "Modified_By": admin.ref(),
            "Campaign_Name": name, "Type": kind, "Status": status, "Start_Date": start.isoformat(),
            "End_Date": (start + timedelta(days=45)).isoformat(), "Budgeted_Cost": 5000 + 2500 * n,
            "Expected_Revenue": 40000 + 15000 * n, "Num_sent": 800 + 120 * n,
            "Created_Time": fmt_dt(at), "Modified_Time": fmt_dt(at),
        }
        store.records["Campaigns"][cid] = campaign
        store.ctime[cid] = store.mtime[cid] = at


def _phone(rng: random.Random) -> str:
    return f"+{rng.choice((1, 44, 49, 33, 86, 81, 31, 91))} {rng.randint(20, 899)} {rng.randint(100000, 9999999)}"


def _put(store: ZohoStore, module: str, rec: dict[str, Any], canonical: dict[str, Any]) -> None:
    modified = int(canonical["modified_at"].timestamp())
    created = int(canonical["created_at"].timestamp())
    # generated creation times fall on midnight UTC; spread them over the working day as people work
    created = min(modified, created + 25_200 + (int(rec["id"][-6:]) * 7919) % 39_600)
    rec.update({"Created_Time": fmt_dt(created), "Modified_Time": fmt_dt(modified)})
    store.records[module][rec["id"]] = rec
    store.ctime[rec["id"]], store.mtime[rec["id"]] = created, modified


def _account(rid: str, acc: dict[str, Any], owner: User, schema: OrgSchema) -> dict[str, Any]:
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
    layout, where = schema.fields["Accounts"], schema.canonical["accounts"]
    for key in INPUT_FIELDS:
        if key in where:
            value = field_value(layout[where[key]], acc.get(key))
            if value is not None:
                rec[where[key]] = value
    # standard fields a sales team fills in, drawn from the firm's own index so every variant agrees
    extra = random.Random(f"{acc['index']}:{acc['name']}")
    rec["Phone"] = _phone(extra)
    rec["Rating"] = ("Shut Down" if acc.get("insolvency") else
                     extra.choices(("Active", "Acquired", "Market Failed", "Project Cancelled"), (14, 4, 1, 1))[0])
    return rec


def _deal(rid: str, deal: dict[str, Any], owner: User, account: dict[str, Any],
          terms_field: str | None) -> dict[str, Any]:
    stage = "Qualification" if deal["stage"] == "Prospecting" else deal["stage"]
    if stage == "Closed Lost" and len(deal["name"]) % 4 == 0:
        stage = "Closed-Lost to Competition"
    amount = _number(deal["amount"])
    days = max(0, (deal["modified_at"] - deal["created_at"]).days)
    rec = {
        "id": rid, "Owner": owner.ref(), "Created_By": owner.ref(), "Modified_By": owner.ref(),
        "Deal_Name": deal["name"][:120], "Account_Name": {"name": account["Account_Name"], "id": account["id"]},
        "Amount": amount, "Stage": stage, "Closing_Date": deal["close_date"], "Probability": deal["probability"],
        "Expected_Revenue": None if amount is None else _number(round(amount * deal["probability"] / 100, 2)),
        "$currency_symbol": account.get("Currency"),
        "Type": "Existing Business" if deal["name"].endswith(("2", "4")) else "New Business",
        "Overall_Sales_Duration": days, "Sales_Cycle_Duration": days,
    }
    if terms_field is not None:
        rec[terms_field] = deal["payment_terms_days"]
    return rec
