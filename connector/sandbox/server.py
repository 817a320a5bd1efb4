"""The sandbox HTTP core: a threaded keep-alive server, the call log, fault injection and `/__sandbox/`.

A CRM module (salesforce.py, zoho.py) implements `SandboxApp`: it owns its records and speaks its
wire protocol. This module owns everything the CRMs share: the socket, keep-alive, counting calls,
deciding faults, the inspection API and the HTML list view.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError

from connector.sandbox.faults import FaultInjector, FaultSpec
from connector.sandbox.http import Request, Response, html_response, json_response
from connector.sandbox.view import AccountPage, AccountRow, render_account, render_list

__all__ = ["ORG_VARIANTS", "CallLog", "Sandbox", "SandboxApp", "SandboxServer", "make_app", "running_sandbox"]

log = logging.getLogger(__name__)

# provisioned: riskbridge's fields in place; bare: standard fields only; renamed: the org's own input names.
ORG_VARIANTS = ("provisioned", "bare", "renamed")
RECENT_CALLS = 5000  # calls kept with their query strings for `GET /__sandbox/requests`

_HTML_503 = (
    "<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body><h1>Service Unavailable</h1>"
    "<p>The server is temporarily unable to service your request due to maintenance downtime or capacity "
    "problems. Please try again later.</p></body></html>"
)


class SandboxApp(Protocol):
    """What one sandbox CRM provides to the server core."""

    crm: str
    base_url: str
    faults: FaultInjector

    def handle(self, request: Request) -> Response: ...

    def classify(self, request: Request) -> tuple[str, bool]:
        """A stable endpoint name for the call log (e.g. ``PATCH composite/sobjects``) and whether it writes."""
        ...

    def records(self, obj: str) -> list[dict[str, Any]] | None: ...

    def touch(self, obj: str, count: int) -> list[str]: ...

    def reset(self) -> None: ...

    def credentials(self) -> dict[str, Any]: ...

    def expire_sessions(self) -> None: ...

    def rate_limited(self) -> Response: ...

    def quota_exhausted(self) -> Response: ...

    def server_error(self) -> Response: ...

    def account_rows(self) -> list[AccountRow]: ...

    def account_page(self, account_id: str) -> AccountPage | None: ...

    def org_info(self) -> dict[str, Any]:
        """The org variant and, per object, canonical input name -> the org's field (``GET /__sandbox/org``)."""
        ...


@dataclass
class CallLog:
    """Counts of API calls (inspection calls excluded). Thread-safe."""

    total: int = 0
    reads: int = 0
    writes: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)
    # The newest calls with their query strings (``GET /__sandbox/requests``): tests assert on what was asked.
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_CALLS))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, endpoint: str, is_write: bool, request: Request | None = None) -> None:
        with self._lock:
            if request is not None:
                self.recent.append({"endpoint": endpoint, "method": request.method, "path": request.path,
                                    "query": {k: v[-1] for k, v in request.query.items()}})
            self.total += 1
            if is_write:
                self.writes += 1
            else:
                self.reads += 1
            self.by_endpoint[endpoint] += 1

    def reset(self) -> None:
        with self._lock:
            self.total = self.reads = self.writes = 0
            self.by_endpoint = Counter()
            self.recent.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"total": self.total, "reads": self.reads, "writes": self.writes,
                    "by_endpoint": dict(sorted(self.by_endpoint.items()))}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # small responses must not wait for delayed ACKs
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # the call log is the record; stderr noise would drown test output

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command, path=parts.path, query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()}, body=body,
        )
        try:
            response = self.server.sandbox.respond(request)
        except Exception:  # a sandbox bug must look like a 500, not a hung client
            log.exception("sandbox error on %s %s", request.method, request.path)
            response = json_response(500, [{"message": "sandbox internal error", "errorCode": "UNKNOWN_EXCEPTION"}])
        if response is None:  # injected fault: drop the connection mid-response
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "4096")
            self.end_headers()
            self.wfile.write(b'{"records": [{"attributes"')
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body and self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    sandbox: Sandbox


@dataclass
class Sandbox:
    """One CRM app plus the shared machinery in front of it."""

    app: SandboxApp
    calls: CallLog = field(default_factory=CallLog)

    @property
    def faults(self) -> FaultInjector:
        return self.app.faults

    def respond(self, request: Request) -> Response | None:
        if request.path.startswith("/__sandbox/"):
            return self._inspect(request)
        if request.method == "GET" and (request.path in ("/", "/index.html") or request.path.startswith("/accounts/")):
            return self._view(request)
        endpoint, is_write = self.app.classify(request)
        self.calls.add(endpoint, is_write, request)
        fault, expire = self.faults.on_call(request.method, request.path)
        if expire:
            self.app.expire_sessions()
        if self.faults.latency_s:
            time.sleep(self.faults.latency_s)
        if fault == "quota":
            return self.app.quota_exhausted()
        if fault == "rate_limit":
            return self.app.rate_limited()
        if fault == "error_500":
            return self.app.server_error()
        if fault == "error_503":
            return html_response(503, _HTML_503)
        if fault == "drop":
            self.app.handle(request)  # the CRM did the work; only its answer is lost on the way back
            return None
        return self.app.handle(request)

    def _inspect(self, request: Request) -> Response:
        what = request.path[len("/__sandbox/"):].strip("/")
        method = request.method
        if what.startswith("records/") and method == "GET":
            obj = what.split("/", 1)[1]
            records = self.app.records(obj)
            if records is None:
                return json_response(404, {"error": f"unknown object {obj!r}"})
            return json_response(200, {"object": obj, "count": len(records), "records": records})
        if what == "calls" and method == "GET":
            return json_response(200, self.calls.snapshot())
        if what == "requests" and method == "GET":
            with self.calls._lock:
                return json_response(200, {"requests": list(self.calls.recent)})
        if what == "calls" and method == "DELETE":
            self.calls.reset()
            return json_response(200, self.calls.snapshot())
        if what == "faults" and method == "GET":
            return json_response(200, self.faults.spec.model_dump())
        if what == "faults" and method in ("POST", "PUT"):
            try:
                spec = FaultSpec.model_validate(request.json() or {})
            except (ValidationError, ValueError) as exc:
                return json_response(400, {"error": "invalid fault spec", "detail": str(exc)})
            self.faults.configure(spec)
            return json_response(200, spec.model_dump())
        if what == "touch" and method == "POST":
            payload = request.json() or {}
            obj, count = payload.get("object", ""), int(payload.get("count", 1))
            if self.app.records(obj) is None:
                return json_response(404, {"error": f"unknown object {obj!r}"})
            return json_response(200, {"object": obj, "ids": self.app.touch(obj, count)})
        if what == "reset" and method == "POST":
            self.app.reset()
            self.calls.reset()
            self.faults.configure(FaultSpec())
            return json_response(200, {"reset": True})
        if what == "credentials" and method == "GET":
            return json_response(200, self.app.credentials())
        if what == "org" and method == "GET":
            return json_response(200, self.app.org_info())
        if what == "health":
            return json_response(200, {"crm": self.app.crm, "ok": True})
        own = getattr(self.app, "inspect", None)  # a CRM's own inspection endpoints (fxiaoke: limits, writes)
        answer = own(what, request) if own is not None else None
        if answer is not None:
            return answer
        return json_response(404, {"error": f"no inspection endpoint {method} /__sandbox/{what}"})

    def _view(self, request: Request) -> Response:
        if request.path.startswith("/accounts/"):
            page = self.app.account_page(request.path[len("/accounts/"):])
            if page is None:
                return html_response(404, "<h1>No such account</h1>")
            return html_response(200, render_account(self.app.crm, page))
        rows = self.app.account_rows()
        rows.sort(key=lambda r: (-(r.risk_score if r.risk_score is not None else -1), r.name))
        per_page = 50
        try:
            page_no = max(1, int(request.arg("page", "1") or 1))
        except ValueError:
            page_no = 1
        chunk = rows[(page_no - 1) * per_page: page_no * per_page]
        return html_response(200, render_list(self.app.crm, chunk, len(rows), page_no, per_page))


class SandboxServer:
    """Serves one `Sandbox` on a loopback port in a background thread."""

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = sandbox
        self._httpd = _Server((host, port), _Handler)
        self._httpd.sandbox = sandbox
        self.host, self.port = str(self._httpd.server_address[0]), int(self._httpd.server_address[1])
        self.url = f"http://{self.host}:{self.port}"
        sandbox.app.base_url = self.url
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"sandbox-{sandbox.app.crm}", daemon=True)

    def start(self) -> SandboxServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def make_app(crm: str, *, accounts: int = 200, deals_per_account: int = 2, seed: int = 1,
             today: date | None = None, faults: FaultSpec | None = None, org: str = "provisioned") -> SandboxApp:
    """Build the sandbox app of one CRM with generated data, as an org of variant `org` (`ORG_VARIANTS`)."""
    if org not in ORG_VARIANTS:
        raise ValueError(f"unknown org variant {org!r}; choose one of {', '.join(ORG_VARIANTS)}")
    injector = FaultInjector()
    if faults is not None:
        injector.configure(faults)
    day = today or date.today()
    if crm == "salesforce":
        from connector.sandbox.salesforce import SalesforceApp

        return SalesforceApp(accounts=accounts, deals_per_account=deals_per_account, seed=seed, today=day,
                             faults=injector, org=org)
    if crm == "zoho":
        from connector.sandbox.zoho import ZohoApp

        return ZohoApp(accounts=accounts, deals_per_account=deals_per_account, seed=seed, today=day,
                       faults=injector, org=org)
    if crm == "fxiaoke":
        from connector.sandbox.fxiaoke import FxiaokeApp

        return FxiaokeApp(accounts=accounts, deals_per_account=deals_per_account, seed=seed, today=day,
                          faults=injector, org=org)
    raise ValueError(f"unknown CRM {crm!r}; choose salesforce, zoho or fxiaoke")


@contextmanager
def running_sandbox(crm: str, *, accounts: int = 200, deals_per_account: int = 2, seed: int = 1,
                    today: date | None = None, faults: FaultSpec | None = None, latency_ms: int = 0,
                    host: str = "127.0.0.1", port: int = 0, org: str = "provisioned") -> Iterator[SandboxServer]:
    """Start a sandbox CRM on a free loopback port for the duration of the block.

    >>> with running_sandbox("salesforce", accounts=50) as sb:
    ...     sb.url  # 'http://127.0.0.1:PORT'
    """
    spec = faults or FaultSpec()
    if latency_ms:
        spec = spec.model_copy(update={"latency_ms": latency_ms})
    app = make_app(crm, accounts=accounts, deals_per_account=deals_per_account, seed=seed, today=today,
                   faults=spec, org=org)
    server = SandboxServer(Sandbox(app), host=host, port=port).start()
    try:
        yield server
    finally:
        server.stop()


def load_fault_file(path: str) -> FaultSpec:
    """Read a fault spec from a JSON file."""
    with open(path, encoding="utf-8") as fh:
        return FaultSpec.model_validate(json.load(fh))
