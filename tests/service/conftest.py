"""Service tests: a sandbox config with a monitor, and helpers to read the sandbox's request log."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.conftest import Org


def extend(config_path: Path, text: str, job: str = "") -> Path:
    """Append TOML to a sandbox config; `job` lines go into [jobs.default] (the file's last table)."""
    body = config_path.read_text()
    config_path.write_text(body + job + "\n" + text + "\n")
    return config_path


def requests_log(org: Org) -> list[dict[str, Any]]:
    resp = org.http.get(f"{org.url}/__sandbox/requests", timeout=10)
    resp.raise_for_status()
    return list(resp.json()["requests"])


_SOQL = re.compile(r"\bFROM\s+(\w+)\b(.*)", re.IGNORECASE | re.DOTALL)
_IDS = re.compile(r"'([^']+)'")


def reads_of(org: Org, obj: str) -> list[tuple[str, set[str] | None]]:
    """Every read of `obj` in the request log: ("by-id", ids) or ("query", None) for any other read."""
    out: list[tuple[str, set[str] | None]] = []
    for r in requests_log(org):
        if org.names.crm == "zoho" and r["path"].rstrip("/").endswith("/coql"):
            out.append(("query", None))  # a COQL read (its module is in the body): never by id
            continue
        if r["method"] != "GET":
            continue
        if org.names.crm == "salesforce":
            soql = r["query"].get("q")
            if not soql:
                continue
            m = _SOQL.search(soql)
            if m is None or m.group(1).lower() != obj.lower():
                continue
            where = m.group(2)
            by_id = re.match(r"\s*WHERE\s+Id\s+IN\s*\(([^)]*)\)\s*(ORDER BY Id)?\s*$", where, re.IGNORECASE)
            out.append(("by-id", set(_IDS.findall(by_id.group(1)))) if by_id else ("query", None))
        else:
            if not r["path"].rstrip("/").endswith(f"/{obj}"):
                continue
            ids = r["query"].get("ids")
            out.append(("by-id", set(ids.split(","))) if ids else ("query", None))
    return out
