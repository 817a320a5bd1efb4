"""Shared fixtures: a sandbox CRM on a free loopback port, and a riskbridge config pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.config import Config, load_config
from connector.crm.base import RetryPolicy
from connector.sandbox import FaultSpec, SandboxServer, running_sandbox
from connector.sandbox.client_config import write_config


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


NAMES = {
    "salesforce": CRMNames("salesforce", "Account", "Opportunity", "Task", "Id", "Risk_Score__c", "Risk_Tier__c",
                           "Risk_Reasons__c", "Risk_Watchlist__c", "Riskbridge_Key__c", "Risk_Override_Tier__c",
                           "Risk_Override_Reason__c", "Risk_Override_Until__c"),
    "zoho": CRMNames("zoho", "Accounts", "Deals", "Tasks", "id", "Risk_Score", "Risk_Tier", "Risk_Reasons",
                     "Risk_Watchlist", "Riskbridge_Key", "Risk_Override_Tier", "Risk_Override_Reason",
                     "Risk_Override_Until"),
    "fxiaoke": CRMNames("fxiaoke", "AccountObj", "NewOpportunityObj", "ActiveRecordObj", "_id", "risk_score__c",
                        "risk_tier__c", "risk_reasons__c", "risk_watchlist__c", "risk_alert_key__c",
                        "risk_override_tier__c", "risk_override_reason__c", "risk_override_until__c"),
}
CRMS = list(NAMES)
# Fxiaoke's default limit (60 calls per 20 s per path) would make a 60-account sync take minutes of paced
# calls; tests that are not about the limit lift it on both sides (sandbox and client config).
FAST_RATE_LIMIT = 100_000


class Org:
    """A running sandbox CRM plus the inspection calls tests need."""

    def __init__(self, server: SandboxServer, crm: str) -> None:
        self.server = server
        self.url = server.url
        self.names = NAMES[crm]
        self.http = requests.Session()

    def records(self, obj: str) -> list[dict[str, Any]]:
        resp = self.http.get(f"{self.url}/__sandbox/records/{obj}", timeout=30)
        resp.raise_for_status()
        return list(resp.json()["records"])

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
