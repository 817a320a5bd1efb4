"""Shared fixtures: a sandbox CRM on a free loopback port, and a riskbridge config pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.config import Config, load_config
from connector.crm.base import RetryPolicy
from connector.sandbox import FaultSpec, SandboxServer, client_config, running_sandbox
from connector.sandbox.client_config import write_config
from tests.state_db import fresh_postgresql, on_postgresql, sqlite_url


@dataclass(frozen=True)
class CRMNames:
    """How each sandbox CRM names the things the tests look at."""

    crm: str
    accounts: str
    deals: str
    tasks: str
    id: str
    score: str
    tier: str
    reasons: str
    watchlist: str
    task_key: str
    override_tier: str
    override_reason: str
    override_until: str
    sanctions: str = ""
    modstamp: str = ""
    deal_account: str = ""  # the deal field that links it to its account


NAMES = {
    "salesforce": CRMNames("salesforce", "Account", "Opportunity", "Task", "Id", "Risk_Score__c", "Risk_Tier__c",
                           "Risk_Reasons__c", "Risk_Watchlist__c", "Riskbridge_Key__c", "Risk_Override_Tier__c",
                           "Risk_Override_Reason__c", "Risk_Override_Until__c", sanctions="Sanctions_Hit__c",
                           modstamp="SystemModstamp", deal_account="AccountId"),
    "zoho": CRMNames("zoho", "Accounts", "Deals", "Tasks", "id", "Risk_Score", "Risk_Tier", "Risk_Reasons",
                     "Risk_Watchlist", "Riskbridge_Key", "Risk_Override_Tier", "Risk_Override_Reason",
                     "Risk_Override_Until", sanctions="Sanctions_Hit", modstamp="Modified_Time",
                     deal_account="Account_Name"),
    "fxiaoke": CRMNames("fxiaoke", "AccountObj", "NewOpportunityObj", "ActiveRecordObj", "_id", "risk_score__c",
                        "risk_tier__c", "risk_reasons__c", "risk_watchlist__c", "risk_alert_key__c",
                        "risk_override_tier__c", "risk_override_reason__c", "risk_override_until__c",
                        sanctions="sanctions_hit__c", modstamp="last_modified_time", deal_account="account_id"),
}
CRMS = list(NAMES)
# Fxiaoke's default limit (60 calls per 20 s per path) would make a 60-account sync take minutes of paced
# calls; tests that are not about the limit lift it on both sides (sandbox and client config).
FAST_RATE_LIMIT = 100_000


class Row(dict[str, Any]):
    """A Fxiaoke record as the sandbox keeps it: the API omits empty fields, so a missing one reads as None."""

    def __missing__(self, key: str) -> None:
        return None


def ref_id(value: Any) -> str | None:
    """The id in a reference value: Salesforce's plain id, Zoho's {"id": …}, Fxiaoke's ["1000"]."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value in (None, "") else str(value)


def owner_of(record: dict[str, Any]) -> str | None:
    """A record's owner id, whichever CRM it comes from."""
    return ref_id(record.get("OwnerId") or record.get("Owner") or record.get("owner"))


def task_target(org: Org, task: dict[str, Any]) -> str:
    """The record a riskbridge task or follow-up is about."""
    if org.names.crm == "salesforce":
        return str(task["WhatId"])
    if org.names.crm == "fxiaoke":
        related = task.get("related_object_data") or []
        return str(task.get("account_id") or task.get("new_opportunity_id") or related[0]["id"])
    what = task["What_Id"]
    return str(what["id"] if isinstance(what, dict) else what)


def task_subject(org: Org, task: dict[str, Any]) -> str:
    if org.names.crm == "fxiaoke":  # a follow-up record's content: the subject line, then the description
        return str(task.get("active_record_content") or "").split("\n", 1)[0]
    return str(task["Subject"])


class Org:
    """A running sandbox CRM plus the inspection calls tests need."""

    def __init__(self, server: SandboxServer, crm: str) -> None:
        self.server = server
        self.url = server.url
        self.names = NAMES[crm]
        self.http = requests.Session()
        self._fx_token: dict[str, Any] | None = None

    def records(self, obj: str) -> list[dict[str, Any]]:
        resp = self.http.get(f"{self.url}/__sandbox/records/{obj}", timeout=30)
        resp.raise_for_status()
        rows = list(resp.json()["records"])
        return [Row(r) for r in rows] if self.names.crm == "fxiaoke" else rows

    def calls(self) -> dict[str, Any]:
        return dict(self.http.get(f"{self.url}/__sandbox/calls", timeout=10).json())

    def reset_calls(self) -> None:
        self.http.delete(f"{self.url}/__sandbox/calls", timeout=10)

    def faults(self, **spec: Any) -> None:
        self.server.sandbox.faults.configure(FaultSpec.model_validate(spec))

    def touch(self, obj: str, count: int) -> list[str]:
        resp = self.http.post(f"{self.url}/__sandbox/touch", json={"object": obj, "count": count}, timeout=10)
        return list(resp.json()["ids"])

    def credentials(self) -> dict[str, Any]:
        return dict(self.http.get(f"{self.url}/__sandbox/credentials", timeout=10).json())

    def fx_call(self, path: str, data: dict[str, Any], **top: Any) -> dict[str, Any]:
        """One Fxiaoke OpenAPI call as a user's other integration makes it (``path`` under ``/cgi/``)."""
        if self._fx_token is None:  # the token endpoint allows 10 calls a minute: one token per org
            creds = self.credentials()
            self._fx_token = self.http.post(f"{self.url}/oauth2.0/token", json={
                "appId": creds["app_id"], "appSecret": creds["app_secret"], "permanentCode": creds["permanent_code"],
                "grantType": "app_secret"}, timeout=10).json()
            self._fx_token["userid"] = creds["operator_user_id"]
        token = self._fx_token
        resp = self.http.post(f"{self.url}/cgi/{path}", json={**top, "data": data}, timeout=10, headers={
            "authorization": f"Bearer {token['accessToken']}", "x-fs-ea": token["ea"], "x-fs-userid": token["userid"]})
        body = dict(resp.json())
        assert body.get("errorCode") == 0, body
        return body


def lift_rate_limit(server: SandboxServer) -> None:
    """Let a Fxiaoke sandbox accept any call rate (a no-op for the other CRMs)."""
    limits = getattr(server.sandbox.app, "limits", None)
    if limits is not None:
        limits.rate_limit = FAST_RATE_LIMIT


def sandbox_config(path: Path, crm: str, credentials: dict[str, Any], **kwargs: Any) -> Path:
    """`write_config`, with the Fxiaoke client's limiter lifted to match `lift_rate_limit`."""
    target = write_config(path, crm, credentials, **kwargs)
    if crm == "fxiaoke":
        text = target.read_text(encoding="utf-8")
        target.write_text(text.replace('crm = "fxiaoke"\n', f'crm = "fxiaoke"\nrate_limit = {FAST_RATE_LIMIT}\n', 1),
                          encoding="utf-8")
    return target


@pytest.fixture(params=CRMS)
def crm(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def org(crm: str) -> Iterator[Org]:
    with running_sandbox(crm, accounts=60, deals_per_account=2, seed=11) as server:
        lift_rate_limit(server)
        yield Org(server, crm)


@pytest.fixture
def config_path(org: Org, tmp_path: Path) -> Path:
    return sandbox_config(tmp_path / "config.toml", org.names.crm, org.credentials())


@pytest.fixture
def config(config_path: Path) -> Config:
    return load_config(config_path)


@pytest.fixture
def no_wait() -> RetryPolicy:
    """Retries without sleeping: tests never wait for backoff."""
    return RetryPolicy(attempts=4, sleep=lambda _s: None)


@pytest.fixture(autouse=True)
def state_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Under ``RBTEST_STATE=postgresql`` every config a test writes without a state_url keeps its state in a
    fresh PostgreSQL schema (one per config file, as SQLite gets one file per config), dropped afterwards."""
    if not on_postgresql():
        yield "sqlite"
        return
    with ExitStack() as stores:
        urls: dict[Path, str] = {}

        def postgresql_beside(config: Path) -> str:
            if config not in urls:
                urls[config] = stores.enter_context(fresh_postgresql("rb_e2e"))
            return urls[config]

        monkeypatch.setattr(client_config, "default_state_url", postgresql_beside)
        yield "postgresql"


@pytest.fixture
def state_url(tmp_path: Path) -> Iterator[str]:
    """A fresh state store's URL: an SQLite file, or a PostgreSQL schema under ``RBTEST_STATE=postgresql``."""
    if on_postgresql():
        with fresh_postgresql("rb_unit") as url:
            yield url
    else:
        yield sqlite_url(tmp_path)
