"""Canonical generated data rendered as Salesforce records, and the edits a CRM user makes to them."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from connector.sandbox.data import STAGES, Dataset, firmographics, touch_account
from connector.sandbox.sf_fields import FieldSpec
from connector.sandbox.sf_values import fmt_datetime, from_org_value, to_org_value
from connector.sandbox.sources import duns_number, erp_number

__all__ = ["ACCOUNT_INPUTS", "DEAL_INPUTS", "INTEGRATION_USER", "Record", "account_record", "account_stub",
           "build_records", "deal_record", "human_task", "record_rng", "stage_facts", "task_roll",
           "touch_account_record", "touch_opportunity_record", "user_records"]

Record = dict[str, Any]
NewId = Callable[[str], str]

ACCOUNT_INPUTS: dict[str, str] = {  # canonical name -> Account field
    "bureau_score": "Bureau_Score__c", "bureau_rating": "Bureau_Rating__c",
    "internal_rating": "Internal_Rating__c", "credit_limit": "Credit_Limit__c",
    "payment_terms_days": "Payment_Terms_Days__c", "current_assets": "Current_Assets__c",
    "current_liabilities": "Current_Liabilities__c", "inventory": "Inventory__c",
    "total_assets": "Total_Assets__c", "total_liabilities": "Total_Liabilities__c",
    "net_income": "Net_Income__c", "operating_cash_flow": "Operating_Cash_Flow__c",
    "audit_opinion": "Audit_Opinion__c", "statement_date": "Statement_Date__c",
    "open_receivables": "Open_Receivables__c", "overdue_amount": "Overdue_Amount__c",
    "max_days_past_due": "Max_Days_Past_Due__c", "avg_days_late": "Avg_Days_Late__c",
    "disputes_12m": "Disputes_12m__c", "complaints_12m": "Complaints_12m__c",
    "customer_since": "Customer_Since__c", "sanctions_hit": "Sanctions_Hit__c", "insolvency": "Insolvency__c",
}
DEAL_INPUTS: dict[str, str] = {"payment_terms_days": "Payment_Terms_Days__c"}  # canonical name -> Opportunity field
_TEXT_INPUTS = frozenset({"bureau_score", "bureau_rating", "audit_opinion", "statement_date", "customer_since"})
_FLAGS = frozenset({"sanctions_hit", "insolvency"})
_OUTPUTS_ACCOUNT = ("Risk_Score__c", "Risk_Tier__c", "Risk_Reasons__c", "Risk_Recommended_Terms__c",
                    "Risk_Credit_Limit__c", "Risk_Scored_At__c", "Risk_Model_Version__c")
_OUTPUTS_DEAL = ("Risk_Score__c", "Risk_Tier__c", "Risk_Reasons__c", "Risk_Recommended_Terms__c", "Risk_Flags__c",
                 "Risk_Scored_At__c", "Risk_Model_Version__c")
_TIERS = ("low", "medium", "high", "critical")
_OVERRIDE_REASONS = ("Parent company guarantee on file", "Payment plan agreed with the CFO",
                     "Strategic account: approved by the credit committee", "Letter of credit covers exposure",
                     "Dispute resolved, ledger not yet updated", "Under collections review")
_TASK_SUBJECTS = ("Follow up on overdue invoice", "Quarterly business review", "Call about contract renewal",
                  "Send updated price list", "Confirm delivery schedule", "Collect annual financial statements")
INTEGRATION_USER = {"FirstName": "riskbridge", "LastName": "integration",
                    "Username": "riskbridge.integration@sandbox.example.com", "Alias": "rbint"}


def stage_facts(stage: str) -> tuple[float, bool, bool, str]:
    """Probability, IsClosed, IsWon and forecast category Salesforce derives from a standard stage."""
    for name, probability, closed, won in STAGES:
        if name == stage:
            category = ("Closed" if won else "Omitted" if closed else "Commit" if probability >= 90
                        else "Best Case" if probability >= 60 else "Pipeline")
            return float(probability), closed, won, category
    return 10.0, False, False, "Pipeline"


def _stamp(dt: datetime) -> str:
    return fmt_datetime(dt.replace(microsecond=0))  # the API keeps whole seconds on system stamps


def _num(value: Any) -> Any:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _input_value(key: str, value: Any) -> Any:
    if key in _FLAGS:
        return bool(value)
    if key in _TEXT_INPUTS or value is None:
        return value
    return _num(value)


def user_records(data_users: list[Any], today: date, new_id: NewId) -> list[Record]:
    """The org's users: the generated humans, then the integration user (last)."""
    users: list[Record] = []
    for u in data_users:
        users.append({"Id": new_id("User"), "FirstName": u.first_name, "LastName": u.last_name, "Name": u.name,
                      "Email": u.email, "Username": u.email, "Alias": (u.first_name[:1] + u.last_name[:4]).lower(),
                      "IsActive": True})
    users.append({"Id": new_id("User"), **INTEGRATION_USER, "Name": "riskbridge integration",
                  "Email": "riskbridge@example.com", "IsActive": True})
    epoch = fmt_datetime(datetime.combine(today - timedelta(days=13 * 365), time(9, 0), tzinfo=UTC))
    for user in users:
        user.update({"CreatedDate": epoch, "CreatedById": users[0]["Id"], "LastModifiedDate": epoch,
                  "LastModifiedById": users[0]["Id"], "SystemModstamp": epoch})
    return users


def record_rng(seed: int) -> random.Random:
    """The stream `account_record` and `human_task` draw from: all accounts in order, then the tasks."""
    return random.Random(seed * 1_000_003 + 17)


def account_record(rng: random.Random, acc: dict[str, Any], seed: int, today: date, human: list[Record],
                   ident: str) -> Record:
    """One generated account as its Account record (the next draws of `rng` decide editor and override)."""
    owner = human[acc["owner_index"] % len(human)]["Id"]
    editor = owner if rng.random() < 0.8 else human[rng.randrange(len(human))]["Id"]
    rec: Record = {
        "Id": ident, "IsDeleted": False, "Name": acc["name"], "OwnerId": owner,
        "Industry": acc.get("industry"), "BillingCountry": acc.get("country_text"),
        "CurrencyIsoCode": acc.get("currency"), "AnnualRevenue": _num(acc.get("annual_revenue")),
        "AccountNumber": erp_number(acc["index"]), "DunsNumber": duns_number(acc["index"]),
        "CreatedDate": _stamp(acc["created_at"]), "CreatedById": owner,
        "LastModifiedDate": _stamp(acc["modified_at"]), "LastModifiedById": editor,
        "SystemModstamp": _stamp(acc["modified_at"]),
    }
    firm = firmographics(seed, acc)
    rec.update({"NumberOfEmployees": firm["employees"], "Rating": firm["rating"], "Type": firm["type"]})
    rec.update({sf: _input_value(key, acc.get(key)) for key, sf in ACCOUNT_INPUTS.items()})
    rec.update(dict.fromkeys(_OUTPUTS_ACCOUNT))
    rec["Risk_Watchlist__c"] = False
    override = rng.random() < 0.01
    rec["Risk_Override_Tier__c"] = rng.choice(_TIERS) if override else None
    rec["Risk_Override_Reason__c"] = rng.choice(_OVERRIDE_REASONS) if override else None
    days = rng.randint(10, 180) * (1 if rng.random() < 0.5 else -1)
    rec["Risk_Override_Until__c"] = (today + timedelta(days=days)).isoformat() if override else None
    return rec


def account_stub(acc: dict[str, Any], human: list[Record], ident: str) -> Record:
    """The Account fields a human task reads, from the generated account alone."""
    return {"Id": ident, "OwnerId": human[acc["owner_index"] % len(human)]["Id"],
            "CreatedDate": _stamp(acc["created_at"]), "LastModifiedDate": _stamp(acc["modified_at"])}


def deal_record(deal: dict[str, Any], account_id: str, currency: Any, human: list[Record], ident: str) -> Record:
    """One generated deal as its Opportunity record (no random draws)."""
    probability, closed, won, category = stage_facts(deal["stage"])
    owner = human[deal["owner_index"] % len(human)]["Id"]
    rec = {
        "Id": ident, "IsDeleted": False, "AccountId": account_id, "IsPrivate": False,
        "Name": deal["name"], "StageName": deal["stage"], "Amount": _num(deal.get("amount")),
        "Probability": _num(deal.get("probability", probability)), "CloseDate": deal["close_date"],
        "IsClosed": deal.get("is_closed", closed), "IsWon": deal.get("is_won", won),
        "ForecastCategoryName": category, "OwnerId": owner, "CurrencyIsoCode": currency,
        "CreatedDate": _stamp(deal["created_at"]), "CreatedById": owner,
        "LastModifiedDate": _stamp(deal["modified_at"]), "LastModifiedById": owner,
        "SystemModstamp": _stamp(deal["modified_at"]),
        "Payment_Terms_Days__c": _num(deal.get("payment_terms_days")),
    }
    rec.update(dict.fromkeys(_OUTPUTS_DEAL))
    return rec


def task_roll(rng: random.Random) -> bool:
    """Whether the next account (in order) has a human task; `human_task` then draws it."""
    return rng.random() < 0.15


def build_records(data: Dataset, seed: int, today: date, new_id: NewId) -> dict[str, list[Record]]:
    """Every record of the sandbox org for one generated dataset, in creation (= id) order."""
    users = user_records(data.users, today, new_id)
    human = users[:-1]
    rng = record_rng(seed)
    accounts = [account_record(rng, acc, seed, today, human, new_id("Account")) for acc in data.accounts]
    deals = [deal_record(deal, accounts[deal["account_index"]]["Id"],
                         accounts[deal["account_index"]]["CurrencyIsoCode"], human, new_id("Opportunity"))
             for deal in data.deals]
    tasks = [human_task(rng, acc, today, new_id) for acc in accounts if task_roll(rng)]
    return {"User": users, "Account": accounts, "Opportunity": deals, "Task": tasks, "Topic": [],
            "TopicAssignment": []}


def human_task(rng: random.Random, account: Record, today: date, new_id: NewId) -> Record:
    status = rng.choices(("Not Started", "In Progress", "Completed", "Deferred"), (4, 2, 3, 1))[0]
    stamp = max(account["CreatedDate"], account["LastModifiedDate"])
    priority = rng.choice(("Normal", "Normal", "High", "Low"))
    return {
        "Id": new_id("Task"), "IsDeleted": False, "Subject": rng.choice(_TASK_SUBJECTS),
        "WhatId": account["Id"], "WhoId": None, "AccountId": account["Id"], "OwnerId": account["OwnerId"],
        "ActivityDate": (today + timedelta(days=rng.randint(-30, 30))).isoformat(), "Status": status,
        "Priority": priority, "IsHighPriority": priority == "High", "IsClosed": status == "Completed",
        "Description": None, "TaskSubtype": "Task", "Riskbridge_Key__c": None,
        "CreatedDate": stamp, "CreatedById": account["OwnerId"], "LastModifiedDate": stamp,
        "LastModifiedById": account["OwnerId"], "SystemModstamp": stamp,
    }


def touch_account_record(rng: random.Random, rec: Record, inputs: dict[str, FieldSpec] | None = None) -> Record:
    """The field changes a credit clerk makes to one Account (via `data.touch_account`).

    `inputs` names the org's own input fields (a renamed org); by default they are riskbridge's. An org without
    credit fields gets a sales rep's edit instead.
    """
    if inputs is None:
        canonical = {key: rec.get(sf) for key, sf in ACCOUNT_INPUTS.items()}
        before = dict(canonical)
        touch_account(rng, canonical)
        return {ACCOUNT_INPUTS[k]: _input_value(k, v) for k, v in canonical.items() if v != before[k]}
    if not inputs:
        employees = rec.get("NumberOfEmployees")
        return {"NumberOfEmployees": round((employees or 10) * rng.uniform(1.02, 1.2))}
    canonical = {key: from_org_value(spec, rec.get(spec.name)) for key, spec in inputs.items()}
    before = dict(canonical)
    touch_account(rng, canonical)
    return {inputs[k].name: to_org_value(inputs[k], v) for k, v in canonical.items() if v != before[k]}


def touch_opportunity_record(rng: random.Random, rec: Record) -> Record:
    """A sales rep's edit to one Opportunity: a new amount, or the next stage."""
    if rec.get("IsClosed") or (rec.get("Amount") is not None and rng.random() < 0.5):
        amount = float(rec.get("Amount") or 10_000.0)
        return {"Amount": round(amount * rng.uniform(1.1, 1.6), -2)}
    names = [s[0] for s in STAGES]
    stage = rec.get("StageName")
    following = names[min(names.index(stage) + 1, len(names) - 2)] if stage in names else names[0]
    probability, closed, won, category = stage_facts(following)
    return {"StageName": following, "Probability": probability, "IsClosed": closed, "IsWon": won,
            "ForecastCategoryName": category}
