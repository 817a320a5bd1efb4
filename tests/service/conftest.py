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


_FX_QUERIES: dict[int, list[tuple[str, list[dict[str, Any]]]]] = {}


def record_fxiaoke_queries(org: Org) -> None:
    """From now on, keep each Fxiaoke `data/query` as the sandbox receives it (a no-op for the other CRMs).

    Fxiaoke posts every read, its object and filters in the JSON body, which the sandbox's request log
    (method, path, query string) does not keep; the sandbox runs in this process, so the test watches its
    query handler. Calling it again starts a new record, like ``org.reset_calls()``."""
    if org.names.crm != "fxiaoke":
        return
    app = org.server.sandbox.app
    seen: list[tuple[str, list[dict[str, Any]]]] = []
    _FX_QUERIES[id(org)] = seen
    original = getattr(app, "_rb_original_query", app._query)
    app._rb_original_query = original

    def recording(obj: str, body: dict[str, Any], data: dict[str, Any], *rest: Any) -> Any:
        info = data.get("search_query_info")
        filters = info.get("filters") if isinstance(info, dict) else None
        seen.append((obj, list(filters) if isinstance(filters, list) else []))
        return original(obj, body, data, *rest)

    app._query = recording


def _fxiaoke_reads(org: Org, obj: str) -> list[tuple[str, set[str] | None]]:
    assert id(org) in _FX_QUERIES, "call record_fxiaoke_queries(org) before the run"
    out: list[tuple[str, set[str] | None]] = []
    for name, filters in _FX_QUERIES[id(org)]:
        if name != obj:
            continue
        by_id = len(filters) == 1 and filters[0].get("field_name") == "_id" and filters[0].get("operator") == "IN"
        out.append(("by-id", {str(v) for v in filters[0].get("field_values") or []}) if by_id else ("query", None))
    return out


def reads_of(org: Org, obj: str) -> list[tuple[str, set[str] | None]]:
    """Every read of `obj` in the request log: ("by-id", ids) or ("query", None) for any other read."""
    if org.names.crm == "fxiaoke":
        return _fxiaoke_reads(org, obj)
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
