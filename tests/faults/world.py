"""Scenario helpers shared by the fault and crash suites: build a small org, change it the way users do
(through the CRM's own REST API), and read the CRM's end state in a form two runs can be compared by."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from connector.config import Config, load_config
from connector.sandbox import running_sandbox
from tests.conftest import Org, lift_rate_limit, sandbox_config, task_subject
from tests.conftest import task_target as task_target

SEED = 11
TAG = "credit-watchlist"


@contextmanager
def small_org(crm: str, accounts: int = 24) -> Iterator[Org]:
    with running_sandbox(crm, accounts=accounts, deals_per_account=1, seed=SEED) as server:
        lift_rate_limit(server)
        yield Org(server, crm)


def configure(org: Org, folder: Path, **job: Any) -> Config:
    """A config for `org` whose job settings are overridden by `job` (dotted: "tasks.on_first_assessment")."""
    path = sandbox_config(folder / "config.toml", org.names.crm, org.credentials())
    config = load_config(path)
    target = config.jobs["default"]
    for name, value in job.items():
        owner: Any = target
        *parents, leaf = name.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        setattr(owner, leaf, value)
    return config


def token(org: Org) -> str:
    creds = org.credentials()
    if org.names.crm == "salesforce":
        resp = requests.post(f"{org.url}/services/oauth2/token", data={
            "grant_type": "password", "client_id": creds["consumer_key"], "client_secret": creds["consumer_secret"],
            "username": creds["username"], "password": creds["password"] + creds["security_token"]}, timeout=10)
    else:
        resp = requests.post(f"{creds['accounts_url']}/oauth/v2/token", data={
            "grant_type": "refresh_token", "client_id": creds["client_id"], "client_secret": creds["client_secret"],
            "refresh_token": creds["refresh_token"]}, timeout=10)
    resp.raise_for_status()
    return str(resp.json()["access_token"])


def rest(org: Org, method: str, path: str, body: Any) -> Any:
    """One call of the CRM's own REST API, as a user's browser or another integration makes it
    (Fxiaoke: every call is a POST of ``{"data": body}`` to ``/cgi/<path>``)."""
    if org.names.crm == "fxiaoke":
        return org.fx_call(path, body)
    if org.names.crm == "salesforce":
        url, auth = f"{org.url}/services/data/v59.0/{path}", f"Bearer {token(org)}"
    else:
        url, auth = f"{org.url}/crm/v8/{path}", f"Zoho-oauthtoken {token(org)}"
    resp = requests.request(method, url, json=body, headers={"Authorization": auth}, timeout=10)
    assert resp.status_code < 300, resp.text
    return resp.json() if resp.content else None


def create_account(org: Org, name: str, sanctions: bool = True) -> str:
    """A new customer with a compliance hit: critical from its first assessment."""
    if org.names.crm == "salesforce":
        owner = org.records("Account")[0]["OwnerId"]
        out = rest(org, "POST", "sobjects/Account", {"Name": name, "OwnerId": owner, "Sanctions_Hit__c": sanctions,
                                                      "BillingCountry": "Germany", "Industry": "Technology"})
        return str(out["id"])
    if org.names.crm == "fxiaoke":
        owner = org.records("AccountObj")[0]["owner"]
        out = rest(org, "POST", "crm/v2/data/create", {"object_data": {
            "dataObjectApiName": "AccountObj", "name": name, "owner": owner, "sanctions_hit__c": sanctions,
            "country": "德国", "industry": "4"}})
        return str(out["dataId"])
    owner = org.records("Accounts")[0]["Owner"]["id"]
    out = rest(org, "POST", "Accounts", {"data": [{"Account_Name": name, "Owner": {"id": owner},
                                                   "Sanctions_Hit": sanctions, "Industry": "Technology"}]})
    return str(out["data"][0]["details"]["id"])


def set_sanctions(org: Org, record_id: str, hit: bool = True) -> None:
    if org.names.crm == "fxiaoke":
        rest(org, "POST", "crm/v2/data/update", {"object_data": {
            "_id": record_id, "dataObjectApiName": "AccountObj", "sanctions_hit__c": hit}})
    elif org.names.crm == "salesforce":
        rest(org, "PATCH", f"sobjects/Account/{record_id}", {"Sanctions_Hit__c": hit})
    else:
        rest(org, "PUT", "Accounts", {"data": [{"id": record_id, "Sanctions_Hit": hit}]})


def rb_tasks(org: Org) -> list[dict[str, Any]]:
    return [t for t in org.records(org.names.tasks) if t.get(org.names.task_key)]


def on_watchlist(org: Org, account: dict[str, Any]) -> bool:
    if org.names.crm == "zoho":
        return any(t.get("name") == TAG for t in account.get("Tag") or [])
    if org.names.crm == "fxiaoke":  # the option riskbridge adds to the select_many field
        return "credit_watch" in (account.get(org.names.watchlist) or [])
    return bool(account.get(org.names.watchlist))


def end_state(org: Org) -> dict[str, Any]:
    """What a user sees in the CRM: risk fields, watchlist, riskbridge's tasks (not stamps or CRM ids)."""
    n = org.names
    accounts = {str(a[n.id]): (_score(a.get(n.score)), a.get(n.tier), a.get(n.reasons), on_watchlist(org, a))
                for a in org.records(n.accounts)}
    deals = {str(d[n.id]): (_score(d.get(n.score)), d.get(n.tier)) for d in org.records(n.deals)}
    tasks = sorted((str(t[n.task_key]), task_target(org, t), task_subject(org, t)) for t in rb_tasks(org))
    topics: list[str] = []
    if n.crm == "salesforce":
        names = {t["Id"]: t["Name"] for t in org.records("Topic")}
        topics = sorted(str(a["EntityId"]) for a in org.records("TopicAssignment") if names.get(a["TopicId"]) == TAG)
    return {"accounts": accounts, "deals": deals, "tasks": tasks, "topics": topics}


def _score(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def duplicates(org: Org) -> list[str]:
    """Task keys or watchlist topic assignments that exist more than once."""
    keys = Counter(str(t[org.names.task_key]) for t in rb_tasks(org))
    found = [k for k, c in keys.items() if c > 1]
    if org.names.crm == "salesforce":
        state = end_state(org)
        found += [e for e, c in Counter(state["topics"]).items() if c > 1]
    return found
