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
}


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


@pytest.fixture(params=["salesforce", "zoho"])
def crm(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def org(crm: str) -> Iterator[Org]:
    with running_sandbox(crm, accounts=60, deals_per_account=2, seed=11) as server:
        yield Org(server, crm)


@pytest.fixture
def config_path(org: Org, tmp_path: Path) -> Path:
    return write_config(tmp_path / "config.toml", org.names.crm, org.credentials())


@pytest.fixture
def config(config_path: Path) -> Config:
    return load_config(config_path)


@pytest.fixture
def no_wait() -> RetryPolicy:
    """Retries without sleeping: tests never wait for backoff."""
    return RetryPolicy(attempts=4, sleep=lambda _s: None)
