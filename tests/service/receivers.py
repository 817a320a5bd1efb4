"""Loopback receivers for alert tests: an HTTP server that records webhook bodies, and a minimal SMTP
server with STARTTLS (a self-signed certificate the client is told to trust)."""

from __future__ import annotations

import datetime as dt
import json
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class Hook:
    """What the webhook receiver got, and the statuses it answers with (then 200)."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.bodies: list[Any] = []
        self.paths: list[str] = []
        self.answers = list(answers or [])
        self.url = ""


@contextmanager
def webhook_receiver(answers: list[int] | None = None) -> Iterator[Hook]:
    hook = Hook(answers)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = hook.answers.pop(0) if hook.answers else 200
            if status == 200:
                hook.bodies.append(json.loads(body))
                hook.paths.append(self.path)
            reply = b'{"errcode": 0, "errmsg": "ok"}'
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook/TOKEN-in-the-path?key=TOKEN-in-the-query"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.port = 0


@contextmanager
def smtp_server(cert_file: Path, key_file: Path) -> Iterator[Mailbox]:
    """Speaks enough SMTP for smtplib: EHLO, STARTTLS (required before MAIL), AUTH PLAIN, MAIL, RCPT, DATA."""
    box = Mailbox()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.conn: socket.socket = self.request
            self.stream = self.conn.makefile("rwb")
            self.tls = False
            try:
                self._converse()
            finally:
                self.stream.close()
                if self.conn is not self.request:
                    self.conn.close()

        def say(self, line: str) -> None:
            self.stream.write(line.encode() + b"\r\n")
            self.stream.flush()

        def _converse(self) -> None:
            mail: dict[str, Any] = {"tls": False, "auth": None, "from": None, "to": [], "data": b""}
            self.say("220 127.0.0.1 test SMTP")
            while True:
                raw = self.stream.readline()
                if not raw:
                    return
                verb, _, arg = raw.decode().strip().partition(" ")
                verb = verb.upper()
                if verb in ("EHLO", "HELO"):
                    self.say("250-127.0.0.1")
                    self.say("250-AUTH PLAIN" if self.tls else "250-STARTTLS")
                    self.say("250 8BITMIME")
                elif verb == "STARTTLS":
                    self.say("220 go ahead")
                    self.stream.close()
                    self.conn = context.wrap_socket(self.conn, server_side=True)
                    self.stream = self.conn.makefile("rwb")
                    self.tls = mail["tls"] = True
                elif verb == "AUTH":
                    mail["auth"] = arg
                    self.say("235 ok")
                elif verb == "MAIL":
                    if not self.tls:
                        self.say("530 STARTTLS first")
                        continue
                    mail["from"] = arg
                    self.say("250 ok")
                elif verb == "RCPT":
                    mail["to"].append(arg)
                    self.say("250 ok")
                elif verb == "DATA":
                    self.say("354 end with .")
                    lines = []
                    while (line := self.stream.readline()) not in (b".\r\n", b""):
                        lines.append(line)
                    mail["data"] = b"".join(lines)
                    box.messages.append(dict(mail))
                    self.say("250 queued")
                elif verb == "QUIT":
                    self.say("221 bye")
                    return
                else:
                    self.say("250 ok")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    box.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()
