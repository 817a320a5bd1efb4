"""Fixtures the contract modules share. Each module starts its own sandbox as `server` (its size and seed
are the module's); these reset it before every test and log in to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connector.sandbox import SandboxServer


@pytest.fixture()
def sb(server: SandboxServer) -> SandboxServer:
    """The module's sandbox, reset to its seeded records and an empty call log."""
    requests.post(f"{server.url}/__sandbox/reset", timeout=10).raise_for_status()
    return server


@pytest.fixture()
def creds(sb: SandboxServer) -> dict[str, Any]:
    data: dict[str, Any] = requests.get(f"{sb.url}/__sandbox/credentials", timeout=10).json()
    return data


@pytest.fixture()
def wire(sb: SandboxServer, creds: dict[str, Any]) -> Iterator[requests.Session]:
    """Salesforce: a plain session holding a bearer token from the OAuth password grant, for raw wire checks."""
    http = requests.Session()
    token = http.post(f"{sb.url}/services/oauth2/token", data={
        "grant_type": "password", "client_id": creds["consumer_key"], "client_secret": creds["consumer_secret"],
        "username": creds["username"], "password": creds["password"] + creds["security_token"]}, timeout=10).json()
    http.headers["Authorization"] = f"Bearer {token['access_token']}"
    yield http
    http.close()
