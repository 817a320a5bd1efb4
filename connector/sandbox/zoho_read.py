"""Reading records: `GET /crm/v8/{module}` with its paging rules, one record, and deleted records.

- `fields` is required (≤ 50 API names); `sort_by` ∈ id, Created_Time, Modified_Time (default id desc).
- `page` × `per_page` (≤ 200) reaches the first 2,000 records only; past that `page` gets 400
  `DISCRETE_PAGINATION_LIMIT_EXCEEDED`, and clients continue with `page_token=info.next_page_token`.
- A page token is opaque, bound to a snapshot of the ordered id list taken when it was issued, and
  expires at `page_token_expiry` (then 400 `EXPIRED_VALUE`); tokens reach at most 100,000 records.
  crm-zoho.md does not say whether a token names a snapshot or an offset into the live sorted list:
  `PageTokens.live_offsets = True` models the latter (a record edited mid-chain moves to the end, and
  the rows behind it shift one place towards the pages already read).
- `If-Modified-Since` (ISO 8601 with offset) keeps records modified *after* it; nothing → 304.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connector.sandbox.http import Request, Response, json_response
from connector.sandbox.zoho_fields import FIELDS, SYSTEM_KEYS, fmt_dt, parse_dt
from connector.sandbox.zoho_store import ZohoStore

__all__ = ["PageTokens", "get_deleted", "get_record", "list_records"]

DISCRETE_LIMIT, TOKEN_LIMIT, MAX_PER_PAGE, MAX_FIELDS = 2000, 100_000, 200, 50
SORT_FIELDS = ("id", "Created_Time", "Modified_Time")
_REUSE_S = 300.0


def error(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    return json_response(status, {"code": code, "details": details or {}, "message": message, "status": "error"})


@dataclass
class _Snapshot:
    module: str
    ids: list[str]
    sort_by: str
    sort_order: str
    since: str | None
    expires: float = 0.0
    created: float = 0.0


@dataclass
class PageTokens:
    """Issued page tokens: each names a snapshot of the ordered ids and an offset into it (or, with
    `live_offsets`, an offset into the list as it is when the token is used)."""

    ttl_s: float = 86400.0
    live_offsets: bool = False
    _snaps: dict[tuple[Any, ...], _Snapshot] = field(default_factory=dict)
    _tokens: dict[str, tuple[_Snapshot, int]] = field(default_factory=dict)
    _by_pos: dict[tuple[int, int], str] = field(default_factory=dict)
    _seq: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self, key: tuple[Any, ...], make: Callable[[], _Snapshot], now: float) -> _Snapshot:
        with self._lock:
            snap = self._snaps.get(key)
            # consecutive pages of one pass share a snapshot; a new pass later gets a fresh expiry
            if snap is None or not snap.created <= now < snap.created + _REUSE_S:
                snap = make()
                snap.created, snap.expires = now, now + self.ttl_s
                self._snaps[key] = snap
                self._prune(now)
            return snap

    def issue(self, snap: _Snapshot, offset: int) -> str:
        with self._lock:
            pos = (id(snap), offset)
            token = self._by_pos.get(pos)
            if token is None or self._tokens.get(token, (None, 0))[0] is not snap:
                self._seq += 1
                token = hashlib.sha256(f"{self._seq}:{offset}:{snap.module}".encode()).hexdigest()[:40]
                self._tokens[token] = (snap, offset)
                self._by_pos[pos] = token
            return token

    def resolve(self, token: str) -> tuple[_Snapshot, int] | None:
        with self._lock:
            return self._tokens.get(token)

    def clear(self) -> None:
        with self._lock:
            self._snaps.clear()
            self._tokens.clear()
            self._by_pos.clear()

    def _prune(self, now: float) -> None:
        if len(self._snaps) < 200:
            return
        dead = [k for k, s in self._snaps.items() if s.expires <= now][:100] or list(self._snaps)[:100]
        gone = {id(self._snaps.pop(k)) for k in dead}
        for token in [t for t, (s, _) in self._tokens.items() if id(s) in gone]:
            snap, offset = self._tokens.pop(token)
            self._by_pos.pop((id(snap), offset), None)


def _fields_param(module: str, raw: str | None) -> tuple[list[str], Response | None]:
    if raw is None or not raw.strip():
        return [], error(400, "REQUIRED_PARAM_MISSING", "required param is missing", {"param_name": "fields"})
    names = list(dict.fromkeys(f.strip() for f in raw.split(",") if f.strip()))
    if len(names) > MAX_FIELDS:
        return [], error(400, "LIMIT_EXCEEDED", "limit exceeded", {"limit": MAX_FIELDS, "param_name": "fields"})
    known = FIELDS[module].keys() | SYSTEM_KEYS[module].keys() | {"id"}
    bad = next((n for n in names if n not in known), None)
    if bad:
        return [], error(400, "INVALID_DATA", "the field api name given seems to be invalid",
                         {"param_name": "fields", "api_name": bad})
    return [n for n in names if n != "id"], None


def _int_param(request: Request, name: str, default: int, low: int, high: int | None) -> int | Response:
    raw = request.arg(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        return error(400, "INVALID_DATA", "invalid data", {"param_name": name, "expected_data_type": "integer"})
    if value < low:
        return error(400, "INVALID_DATA", "invalid data", {"param_name": name})
    if high is not None and value > high:
        return error(400, "LIMIT_EXCEEDED", "limit exceeded", {"limit": high, "param_name": name})
    return value


def since_header(request: Request) -> tuple[int | None, str | None, Response | None]:
    """The If-Modified-Since cut-off as epoch seconds (exclusive), the raw value, or the 400 for a bad one."""
    raw = request.header("if-modified-since")
    if raw is None or not raw.strip():
        return None, None, None
    moment = parse_dt(raw)
    if moment is None:
        return None, raw, error(400, "INVALID_DATA", "invalid data",
                                {"param_name": "If-Modified-Since", "expected_data_type": "datetime"})
    return int(moment.timestamp()), raw.strip(), None


def list_records(store: ZohoStore, tokens: PageTokens, module: str, request: Request, now: float) -> Response:
    fields, bad = _fields_param(module, request.arg("fields"))
    if bad:
        return bad
    per_page = _int_param(request, "per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE)
    if isinstance(per_page, Response):
        return per_page
    since, since_raw, bad = since_header(request)
    if bad:
        return bad
    page_token, page_arg = request.arg("page_token"), request.arg("page")
    sort_by, sort_order = request.arg("sort_by"), request.arg("sort_order")
    if page_token and page_arg:
        return error(400, "AMBIGUITY_DURING_PROCESSING", "ambiguity while processing the request",
                     {"ambiguity_due_to": [{"param_name": "page"}, {"param_name": "page_token"}]})
    if page_token:
        found = tokens.resolve(page_token)
        if found is None or found[0].module != module or (sort_by and sort_by != found[0].sort_by) or \
                (sort_order and sort_order != found[0].sort_order) or (since_raw and since_raw != found[0].since):
            return error(400, "TOKEN_BOUND_DATA_MISMATCH", "The page_token given seems to be invalid or input param "
                         "is added or altered or deleted", {"param_name": "page_token"})
        snap, offset = found
        if snap.expires <= now:
            return error(400, "EXPIRED_VALUE", "Page token expired",
                         {"api_name": "page_token", "json_path": "$.query.page_token"})
        if offset >= TOKEN_LIMIT:
            return error(400, "PAGINATION_LIMIT_EXCEEDED", "You can only get upto 100000 records using "
                         "page_token param", {"param_name": "page_token"})
        end = offset + per_page
        ids = snap.ids
        if tokens.live_offsets:
            with store.lock:
                ordered = store.ordered(module, snap.sort_by, snap.sort_order == "desc")
                ids = [i for i in ordered if since is None or store.mtime[i] > since]
    else:
        sort_by, sort_order = sort_by or "id", sort_order or "desc"
        if sort_by not in SORT_FIELDS:
            return error(400, "INVALID_DATA", "invalid data",
                         {"param_name": "sort_by", "supported_values": list(SORT_FIELDS)})
        if sort_order not in ("asc", "desc"):
            return error(400, "INVALID_DATA", "invalid data",
                         {"param_name": "sort_order", "supported_values": ["asc", "desc"]})
        page = _int_param(request, "page", 1, 1, None)
        if isinstance(page, Response):
            return page
        offset = (page - 1) * per_page
        if offset >= DISCRETE_LIMIT:
            return error(400, "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                         "You can only get the first 2000 records without using page_token param", {"limit": 2000})
        end = min(offset + per_page, DISCRETE_LIMIT)
        wanted = {i for part in request.query.get("ids", []) for i in part.split(",") if i}
        with store.lock:
            key = (module, store.version, sort_by, sort_order, since, tuple(sorted(wanted)))

            def make() -> _Snapshot:
                ordered = store.ordered(module, sort_by or "id", sort_order == "desc")
                ids = ordered if since is None else [i for i in ordered if store.mtime[i] > since]
                if wanted:
                    ids = [i for i in ids if i in wanted]
                return _Snapshot(module, ids, sort_by or "id", sort_order or "desc", since_raw)

            snap = tokens.snapshot(key, make, now)
        ids = snap.ids
    if since is not None and not ids:
        return Response(304, b"", {})
    with store.lock:
        live = store.records[module]
        data = [store.project(module, live[i], fields) for i in ids[offset:end] if i in live]
    if not data:
        return Response(204, b"", {})
    more = end < len(ids)
    info: dict[str, Any] = {
        "per_page": per_page, "count": len(data), "page": offset // per_page + 1, "sort_by": snap.sort_by,
        "sort_order": snap.sort_order, "more_records": more,
        "next_page_token": tokens.issue(snap, end) if more else None,
        "previous_page_token": tokens.issue(snap, max(0, offset - per_page)) if offset > 0 else None,
        "page_token_expiry": fmt_dt(snap.expires) if more else None, "call": False, "email": False,
    }
    return json_response(200, {"data": data, "info": info})


def get_record(store: ZohoStore, module: str, rid: str, request: Request) -> Response:
    """`GET /crm/v8/{module}/{id}`: the whole record unless `fields` narrows it; 204 if there is none."""
    with store.lock:
        rec = store.records[module].get(rid)
        if rec is None:
            return Response(204, b"", {})
        if request.arg("fields"):
            fields, bad = _fields_param(module, request.arg("fields"))
            return bad or json_response(200, {"data": [store.project(module, rec, fields)]})
        return json_response(200, {"data": [store.full(module, rec)]})


def get_deleted(store: ZohoStore, module: str, request: Request) -> Response:
    """`GET /crm/v8/{module}/deleted?type=all|recycle|permanent`."""
    kind = request.arg("type", "all") or "all"
    if kind not in ("all", "recycle", "permanent"):
        return error(400, "INVALID_DATA", "invalid data",
                     {"param_name": "type", "supported_values": ["all", "recycle", "permanent"]})
    per_page = _int_param(request, "per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE)
    page = _int_param(request, "page", 1, 1, None)
    if isinstance(per_page, Response):
        return per_page
    if isinstance(page, Response):
        return page
    since, _, bad = since_header(request)
    if bad:
        return bad
    with store.lock:
        rows = [d for d in reversed(store.deleted[module])
                if (kind == "all" or d["type"] == kind) and (since is None or d["_at"] > since)]
    chunk = [{k: v for k, v in d.items() if k != "_at"} for d in rows[(page - 1) * per_page: page * per_page]]
    if not chunk:
        return Response(204, b"", {})
    return json_response(200, {"data": chunk, "info": {"per_page": per_page, "count": len(chunk), "page": page,
                                                        "more_records": page * per_page < len(rows)}})
