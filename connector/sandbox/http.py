"""The request and response values the sandbox CRMs exchange with the HTTP server core."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

__all__ = ["Request", "Response", "html_response", "json_response"]


@dataclass(frozen=True)
class Request:
    """One parsed HTTP request. `path` has no query string; `query` keeps repeated keys."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def form(self) -> dict[str, str]:
        """The urlencoded body merged over the query string (OAuth endpoints accept both)."""
        merged = {k: v[0] for k, v in self.query.items() if v}
        if self.body:
            merged.update({k: v[0] for k, v in parse_qs(self.body.decode("utf-8")).items() if v})
        return merged


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    merged = {"Content-Type": "application/json;charset=UTF-8", **(headers or {})}
    return Response(status, body, merged)


def html_response(status: int, html: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, html.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8", **(headers or {})})
