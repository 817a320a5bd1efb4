"""Write a ready-to-use riskbridge config file that points at a running sandbox."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from connector.mapping import MAPPINGS_DIR

__all__ = ["write_config"]


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def default_state_url(config: Path) -> str:
    """The state store a written config names unless told otherwise: an SQLite file beside it (the test
    suite swaps this for a PostgreSQL schema per file under ``RBTEST_STATE=postgresql``)."""
    return f"sqlite:///{config.with_suffix('.db')}"


def write_config(path: str | Path, crm: str, credentials: dict[str, Any], *, state_url: str | None = None,
                 accounts_only: bool = False, org: str = "provisioned") -> Path:
    """Write `path` (and, for Salesforce, the JWT key beside it, mode 0600); returns the config path.

    For a `bare` or `renamed` org the job still names the default mapping, with a note: such an org lacks
    its fields until `mappings suggest` and `provision` have run, as a real org does.
    """
    target = Path(path).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    state = state_url or default_state_url(target)
    objects = '["accounts"]' if accounts_only else '["accounts", "deals"]'
    lines = [
        f"# riskbridge config for the {crm} sandbox (written by `riskbridge sandbox serve --write-config`).",
        "# Sandbox credentials are throwaway values; a real config reads secrets with \"env:NAME\" or \"file:PATH\".",
        f"state_url = {_toml_str(state)}",
        "",
    ]
    if crm == "salesforce":
        key_file = target.with_suffix(".key.pem")
        key_file.write_text(credentials["private_key"], encoding="utf-8")
        os.chmod(key_file, 0o600)
        lines += [
            "[connections.sandbox]",
            'crm = "salesforce"',
            f"instance_url = {_toml_str(credentials['instance_url'])}",
            f"login_url = {_toml_str(credentials['login_url'])}",
            "",
            "[connections.sandbox.auth]",
            'method = "jwt"',
            f"consumer_key = {_toml_str(credentials['consumer_key'])}",
            f"username = {_toml_str(credentials['username'])}",
            f"private_key = {_toml_str('file:' + str(key_file))}",
        ]
    elif crm == "fxiaoke":
        lines += [
            "[connections.sandbox]",
            'crm = "fxiaoke"',
            f"host = {_toml_str(credentials['host'])}",
            'auth_style = "token"',
            f"operator_user_id = {_toml_str(credentials['operator_user_id'])}",
            f"token_cache = {_toml_str(str(target.with_suffix('.fxiaoke-token.json')))}",
            "",
            "[connections.sandbox.auth]",
            f"app_id = {_toml_str(credentials['app_id'])}",
            f"app_secret = {_toml_str(credentials['app_secret'])}",
            f"permanent_code = {_toml_str(credentials['permanent_code'])}",
        ]
    else:
        lines += [
            "[connections.sandbox]",
            'crm = "zoho"',
            f"accounts_url = {_toml_str(credentials['accounts_url'])}",
            f"api_url = {_toml_str(credentials['api_url'])}",
            f"token_cache = {_toml_str(str(target.with_suffix('.zoho-token.json')))}",
            "",
            "[connections.sandbox.auth]",
            f"client_id = {_toml_str(credentials['client_id'])}",
            f"client_secret = {_toml_str(credentials['client_secret'])}",
            f"refresh_token = {_toml_str(credentials['refresh_token'])}",
        ]
    if org != "provisioned":
        lines += [
            "",
            f"# This sandbox is a {org} org: it lacks fields the default mapping below names. Write a mapping",
            "# for it with `riskbridge mappings suggest`, create the missing fields with",
            "# `riskbridge provision --apply`, then confirm with `riskbridge check`.",
        ]
    lines += [
        "",
        "[jobs.default]",
        'connection = "sandbox"',
        f"mapping = {_toml_str(str(MAPPINGS_DIR / (crm + '.toml')))}",
        'scorecard = "default"',
        f"objects = {objects}",
        "",
    ]
    target.write_text("\n".join(lines), encoding="utf-8")
    os.chmod(target, 0o600)
    return target
