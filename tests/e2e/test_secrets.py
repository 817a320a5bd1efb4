"""Canary secrets: every command and failure path we can reach, and a secret never shows up anywhere.

Each connection secret is given a recognisable value (the sandbox's own random credentials, read from a
literal, an ``env:`` variable and a ``file:``; and planted canaries on the failure paths). The real CLI
runs as a subprocess with ``--verbose`` where it has it: a good sync, a dry run, ``--json``, ``runs``, a
refused secret, a secret re-sent after a session expiry, a literal secret for a remote host, a state URL
with a password, an internal error. No canary may appear in stdout, stderr (where the logs go), the state
database's bytes, its audit rows or the token cache.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

from connector.mapping import MAPPINGS_DIR
from tests.conftest import FAST_RATE_LIMIT, Org

CANARY_PASSWORD = "CanaryWrongPassword-5d41402abc4b2a76"
CANARY_DB_PASSWORD = "CanaryDbPassword-7d793037a0760186"
CANARY_REMOTE = "CanaryRemoteSecret-e4da3b7fbbce2345"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def configs(org: Org, tmp: Path) -> tuple[Path, dict[str, str], list[str]]:
    """A config whose secrets come from a literal, env: and file:; returns it, its environment, the secrets."""
    creds = org.credentials()
    state = f"sqlite:///{tmp / 'state.db'}"
    mapping = MAPPINGS_DIR / f"{org.names.crm}.toml"
    if org.names.crm == "salesforce":
        password_file = _write(tmp / "sf-password", creds["password"])
        text = f"""state_url = "{state}"
[connections.sandbox]
crm = "salesforce"
instance_url = "{creds['instance_url']}"
login_url = "{creds['login_url']}"
[connections.sandbox.auth]
method = "password"
consumer_key = "{creds['consumer_key']}"
consumer_secret = "{creds['consumer_secret']}"
username = "{creds['username']}"
password = "file:{password_file}"
security_token = "env:RB_CANARY_SECURITY_TOKEN"
"""
        env = {"RB_CANARY_SECURITY_TOKEN": creds["security_token"]}
        secrets = [creds["password"], creds["security_token"], creds["consumer_secret"],
                   creds["password"] + creds["security_token"]]
    elif org.names.crm == "fxiaoke":
        secret_file = _write(tmp / "fx-app-secret", creds["app_secret"])
        text = f"""state_url = "{state}"
[connections.sandbox]
crm = "fxiaoke"
rate_limit = {FAST_RATE_LIMIT}
host = "{creds['host']}"
auth_style = "token"
operator_user_id = "{creds['operator_user_id']}"
token_cache = "{tmp / 'fx-token.json'}"
[connections.sandbox.auth]
app_id = "{creds['app_id']}"
app_secret = "file:{secret_file}"
permanent_code = "env:RB_CANARY_PERMANENT_CODE"
"""
        env = {"RB_CANARY_PERMANENT_CODE": creds["permanent_code"]}
        secrets = [creds["app_secret"], creds["permanent_code"]]
    else:
        secret_file = _write(tmp / "zoho-client-secret", creds["client_secret"])
        text = f"""state_url = "{state}"
[connections.sandbox]
crm = "zoho"
accounts_url = "{creds['accounts_url']}"
api_url = "{creds['api_url']}"
token_cache = "{tmp / 'zoho-token.json'}"
[connections.sandbox.auth]
client_id = "{creds['client_id']}"
client_secret = "file:{secret_file}"
refresh_token = "env:RB_CANARY_REFRESH_TOKEN"
"""
        env = {"RB_CANARY_REFRESH_TOKEN": creds["refresh_token"]}
        secrets = [creds["client_secret"], creds["refresh_token"]]
    text += f"""[jobs.default]
connection = "sandbox"
mapping = "{mapping}"
"""
    return _write(tmp / "config.toml", text), env, secrets


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("RISKBRIDGE_")}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "connector.cli", *args], capture_output=True, text=True,
                          env=full, timeout=300, check=False)


def test_canary_secrets_never_leak_on_any_path(org: Org, tmp_path: Path) -> None:
    config, env, secrets = configs(org, tmp_path)
    canaries = [*secrets, CANARY_PASSWORD, CANARY_DB_PASSWORD, CANARY_REMOTE]
    outputs: list[tuple[str, subprocess.CompletedProcess[str]]] = []

    def cli(label: str, args: list[str], codes: tuple[int, ...], extra: dict[str, str] | None = None) -> None:
        result = run(args, {**env, **(extra or {})})
        assert result.returncode in codes, (label, result.returncode, result.stdout[-2000:], result.stderr[-2000:])
        outputs.append((label, result))

    c = ["--config", str(config)]
    if org.names.crm == "fxiaoke":  # each forced expiry fetches a token; the 10-a-minute token limit is
        org.server.sandbox.app.auth.calls_per_minute = 1_000  # another test's subject, not this one's
    org.faults(session_expiry_after=25)  # a re-login mid-run: the moment a secret is handled again
    cli("sync --json --verbose", ["sync", *c, "--json", "--verbose"], (0,))
    org.faults()
    org.touch(org.names.accounts, 5)
    cli("sync --dry-run --verbose", ["sync", *c, "--dry-run", "--verbose"], (0,))
    cli("sync --verbose", ["sync", *c, "--verbose"], (0,))
    cli("runs", ["runs", *c], (0,))
    cli("runs --json", ["runs", *c, "--json"], (0,))

    # A secret the CRM refuses: the wrong password (Salesforce), refresh token (Zoho) or permanent code
    # (Fxiaoke: the token cache belongs to one permanent code, so a new code fetches a token), exit 3.
    if org.names.crm == "salesforce":
        (tmp_path / "sf-password").write_text(CANARY_PASSWORD)
        cli("wrong password", ["sync", *c, "--json", "--verbose"], (3,))
        (tmp_path / "sf-password").write_text(secrets[0])
    elif org.names.crm == "fxiaoke":
        cli("wrong permanent code", ["sync", *c, "--json", "--verbose"], (3,),
            {"RB_CANARY_PERMANENT_CODE": CANARY_PASSWORD})
    else:
        cli("wrong refresh token", ["sync", *c, "--json", "--verbose"], (3,),
            {"RB_CANARY_REFRESH_TOKEN": CANARY_PASSWORD})

    # A CRM URL where nothing listens: exit 3 naming the host (Salesforce retries its login first).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    unreachable = _write(tmp_path / "unreachable.toml", config.read_text().replace(org.url.split("://", 1)[1].rstrip("/"),
                                                                                  closed))
    cli("unreachable CRM", ["sync", "--config", str(unreachable), "--json", "--verbose"], (3,))
    assert closed in outputs[-1][1].stderr

    # A literal secret for a remote host, and a state URL with a password: exit 2, nothing echoed.
    creds = org.credentials()
    remote = _write(tmp_path / "remote.toml", config.read_text()
                    .replace(f'instance_url = "{creds.get("instance_url")}"', 'instance_url = "https://acme.my.salesforce.com"')
                    .replace(f'api_url = "{creds.get("api_url")}"', 'api_url = "https://www.zohoapis.eu"')
                    .replace(f"file:{tmp_path / 'sf-password'}", CANARY_REMOTE)
                    .replace(f'host = "{creds.get("host")}"', 'host = "https://open.fxiaoke.com"')
                    .replace(f"file:{tmp_path / 'zoho-client-secret'}", CANARY_REMOTE)
                    .replace(f"file:{tmp_path / 'fx-app-secret'}", CANARY_REMOTE))
    assert CANARY_REMOTE in remote.read_text() and "https://" in remote.read_text()
    cli("literal secret, remote host", ["sync", "--config", str(remote), "--json", "--verbose"], (2,))
    db_url = _write(tmp_path / "db-url.toml", config.read_text().replace(
        f'state_url = "sqlite:///{tmp_path / "state.db"}"',
        f'state_url = "postgresql+psycopg://rb:{CANARY_DB_PASSWORD}@127.0.0.1:9/rb"'))
    for command in (["sync", "--json", "--verbose"], ["runs", "--json"], ["schedule"]):
        cli(f"{command[0]} with a database password", [command[0], "--config", str(db_url), *command[1:]], (2,))
    cli("state_url from env:", ["runs", "--config", str(_write(tmp_path / "db-env.toml", config.read_text().replace(
        f'state_url = "sqlite:///{tmp_path / "state.db"}"', 'state_url = "env:RB_CANARY_DB_URL"'))), "--json"], (2,),
        {"RB_CANARY_DB_URL": f"postgresql+psycopg://rb:{CANARY_DB_PASSWORD}@127.0.0.1:9/rb"})

    # An internal error (a damaged state row) with the traceback logged.
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("UPDATE cursors SET value = 'not json'")
    cli("internal error", ["sync", *c, "--json", "--verbose"], (4,))

    for label, result in outputs:
        for canary in canaries:
            assert canary not in result.stdout, f"{label}: stdout"
            assert canary not in result.stderr, f"{label}: stderr"
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    stored += b"".join(p.read_bytes() for p in tmp_path.glob("*token*.json"))
    with sqlite3.connect(tmp_path / "state.db") as db:
        audit = json.dumps(db.execute("SELECT * FROM audit").fetchall(), default=str)
        runs = json.dumps(db.execute("SELECT * FROM runs").fetchall(), default=str)
    assert audit != "[]"  # the successful runs wrote audit rows, so the check below reads something
    for canary in canaries:
        assert canary.encode() not in stored
        assert canary not in audit and canary not in runs
