"""Secret references: ``env:NAME``, ``file:/path`` or a literal, and where each is allowed.

A literal is accepted only for a connection whose URLs are all loopback (a sandbox on this machine);
a ``file:`` secret that group or others can read is used but warned about. Errors name the key and the
variable or file, never the value.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from connector.crm.transport import is_loopback_http
from connector.errors import ConfigError, ConfigProblem
from connector.store_url import is_reference

__all__ = ["SECRET_KEYS", "resolve_secret", "secret_problems"]

log = logging.getLogger(__name__)

_WARNED: set[Path] = set()
SECRET_KEYS = ("consumer_secret", "password", "security_token", "private_key", "client_secret", "refresh_token",
               "app_secret", "permanent_code")


def resolve_secret(reference: SecretStr | str, key: str, environ: dict[str, str] | None = None) -> SecretStr:
    """Read a secret from ``env:NAME``, ``file:PATH`` or a literal; the error names the key, not the value."""
    source = reference.get_secret_value() if isinstance(reference, SecretStr) else reference
    if source.startswith("env:"):
        name = source[4:]
        value = (os.environ if environ is None else environ).get(name)
        if not value:
            raise ConfigError([ConfigProblem("environment", key, f"environment variable {name} is not set",
                                             f"export {name}=... before running (an empty value counts as unset)")])
        return SecretStr(value)
    if source.startswith("file:"):
        path = Path(source[5:]).expanduser()
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError([ConfigProblem(str(path), key, f"cannot read secret file: {exc.strerror}",
                                             "check the path and its permissions")]) from None
        except UnicodeDecodeError:
            raise ConfigError([ConfigProblem(str(path), key, "the secret file is not UTF-8 text",
                                             "a PEM key or a token is plain text")]) from None
        if not text:
            raise ConfigError([ConfigProblem(str(path), key, "the secret file is empty")])
        _warn_if_shared(path, key)
        return SecretStr(text)
    return SecretStr(source)


def _warn_if_shared(path: Path, key: str) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO) and path not in _WARNED:
        _WARNED.add(path)  # the config check and the client's login both read it: say it once
        log.warning("%s: the secret file %s is readable by other users (mode %s); run chmod 600 %s",
                    key, path, oct(stat.S_IMODE(mode)), path)


def _connection_is_loopback(conn: dict[str, Any]) -> bool:
    """True if every URL this connection would call is a loopback address (a sandbox on this machine)."""
    if conn.get("crm") == "zoho":
        urls = [conn.get("accounts_url"), conn.get("api_url")]
    elif conn.get("crm") == "fxiaoke":
        urls = [conn.get("host", "https://open.fxiaoke.com")]
    else:
        urls = [conn.get("instance_url"), conn.get("login_url", "https://login.salesforce.com")]
    return all(isinstance(u, str) and is_loopback_http(u) for u in urls)


def secret_problems(connections: dict[str, Any], env: dict[str, str], overrides: dict[str, str],
                    source: str) -> list[ConfigProblem]:
    """Every secret of every connection: readable, and a literal only where all URLs are loopback."""
    problems: list[ConfigProblem] = []
    for conn_name, conn in connections.items():
        auth = conn.get("auth") if isinstance(conn, dict) else None
        if not isinstance(auth, dict) or not isinstance(conn, dict):
            continue
        for key in SECRET_KEYS:
            value, where = auth.get(key), f"connections.{conn_name}.auth.{key}"
            if not isinstance(value, str):
                continue
            # A value from the environment is not written in the file; only the file's literals are refused.
            if not is_reference(value) and where not in overrides and not _connection_is_loopback(conn):
                problems.append(ConfigProblem(source, where, "a literal secret is accepted only for a loopback "
                                              "(sandbox) URL, and this connection calls another host",
                                              f'write "env:NAME" or "file:/path" instead, e.g. {key} = '
                                              f'"env:RISKBRIDGE_{conn_name.upper()}_{key.upper()}"'))
                continue
            try:
                resolve_secret(value, where, env)
            except ConfigError as exc:
                problems += exc.problems
    return problems
