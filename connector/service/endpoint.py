"""The daemon's optional HTTP endpoint on a loopback address: ``/healthz`` and ``/metrics``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST

from connector.service.health import Verdict

__all__ = ["Endpoint"]

log = logging.getLogger(__name__)


class Endpoint:
    """Serves `health()` on /healthz (200 or 503 with the reasons) and `metrics()` on /metrics."""

    def __init__(self, listen: str, health: Callable[[], Verdict], metrics: Callable[[], bytes]) -> None:
        host, _, port = listen.rpartition(":")
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                try:
                    status, body, kind = outer._answer(self.path.split("?", 1)[0])
                except Exception:  # noqa: BLE001 - a probe gets a 500, the daemon goes on
                    log.exception("the %s probe failed", self.path)
                    status, body, kind = 500, b"internal error\n", "text/plain; charset=utf-8"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
                log.debug("endpoint: " + format, *args)

        self.health = health
        self.metrics = metrics
        self.server = ThreadingHTTPServer((host.strip("[]"), int(port)), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="riskbridge-endpoint", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"

    def _answer(self, path: str) -> tuple[int, bytes, str]:
        if path == "/healthz":
            verdict = self.health()
            return (200 if verdict.healthy else 503), verdict.body().encode(), "text/plain; charset=utf-8"
        if path == "/metrics":
            return 200, self.metrics(), CONTENT_TYPE_LATEST
        return 404, b"not found: try /healthz or /metrics\n", "text/plain; charset=utf-8"

    def start(self) -> None:
        self._thread.start()
        log.info("health and metrics on http://%s (/healthz, /metrics)", self.address)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
