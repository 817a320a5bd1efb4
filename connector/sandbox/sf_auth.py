"""Salesforce login for the sandbox: the OAuth token endpoint (JWT bearer, client credentials, password),
the SOAP ``login`` call, and the access tokens they hand out.

Credentials and the connected app's RSA key pair are derived from the seed, so a config written for one
sandbox run keeps working against the next run with the same seed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import cache
from html import escape
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connector.sandbox.http import Request, Response, json_response
from connector.sandbox.sf_values import to18

__all__ = ["Credentials", "Sessions", "make_credentials"]

_SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p ** 0.5) + 1, 2))]
_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


def _probably_prime(n: int, rng: random.Random, rounds: int = 24) -> bool:
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(rng: random.Random, bits: int, e: int) -> int:
    while True:
        n = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if any(n % p == 0 for p in _SMALL_PRIMES) or (n - 1) % e == 0:
            continue
        if _probably_prime(n, rng, rounds=1) and _probably_prime(n, rng):
            return n


@cache
def _rsa_pem(seed: int) -> str:
    """A 2048-bit RSA private key (PKCS#8 PEM) that depends only on `seed`."""
    rng, e = random.Random(f"riskbridge-sandbox-rsa-{seed}"), 65537
    p, q = _prime(rng, 1024, e), _prime(rng, 1024, e)
    while q == p:
        q = _prime(rng, 1024, e)
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q))
    key = numbers.private_key()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


@cache
def _public_pem(seed: int) -> str:
    private = serialization.load_pem_private_key(_rsa_pem(seed).encode(), password=None)
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def _token(seed: int, label: str, size: int, alphabet: str) -> str:
    digest = hashlib.shake_256(f"riskbridge-sandbox-{seed}-{label}".encode()).digest(size)
    return "".join(alphabet[b % len(alphabet)] for b in digest)


@dataclass(frozen=True)
class Credentials:
    """What the sandbox org accepts; `user_id` is the integration user every grant runs as.

    The RSA key pair is made on first use (it takes a few hundred milliseconds) and cached per seed.
    """

    seed: int
    org_id: str
    user_id: str
    username: str
    password: str = field(repr=False)
    security_token: str = field(repr=False)
    consumer_key: str
    consumer_secret: str = field(repr=False)

    @property
    def private_key(self) -> str:
        return _rsa_pem(self.seed)

    @property
    def public_key(self) -> str:
        return _public_pem(self.seed)


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def make_credentials(seed: int, username: str, user_id: str) -> Credentials:
    """The sandbox org's credentials for `seed`."""
    return Credentials(
        seed=seed, org_id=to18("00D5g00000" + _token(seed, "org", 5, _ALNUM)), user_id=user_id, username=username,
        password="Sandbox-" + _token(seed, "password", 10, _ALNUM) + "!", security_token=_token(seed, "st", 25, _ALNUM),
        consumer_key="3MVG9" + _token(seed, "ck", 80, _ALNUM + "._"),
        consumer_secret=_token(seed, "cs", 64, "0123456789ABCDEF"),
    )


def _oauth_error(error: str, description: str) -> Response:
    return json_response(400, {"error": error, "error_description": description})


class Sessions:
    """Access tokens in force, the login endpoints that issue them, and the check on every API call."""

    def __init__(self, creds: Credentials) -> None:
        self.creds = creds
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def expire_all(self) -> None:
        with self._lock:
            self._tokens.clear()

    def user_of(self, request: Request) -> str | None:
        """The user whose valid token authorises `request` (``Bearer`` or ``OAuth`` scheme), if any."""
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("bearer", "oauth"):
            return None
        return self._tokens.get(token.strip())

    def _issue(self) -> str:
        token = f"{self.creds.org_id[:15]}!AQ{secrets.token_urlsafe(72)}"
        with self._lock:
            self._tokens[token] = self.creds.user_id
        return token

    # -- OAuth 2.0 -----------------------------------------------------------------------------------
    def token_endpoint(self, request: Request, base_url: str) -> Response:
        form = request.form()
        grant = form.get("grant_type", "")
        c = self.creds
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            problem = self._check_jwt(form.get("assertion", ""), base_url)
            if problem:
                return _oauth_error(*problem)
        elif grant == "client_credentials":
            client_id, client_secret = form.get("client_id"), form.get("client_secret")
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("basic "):
                try:
                    client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
                except ValueError:
                    return _oauth_error("invalid_client", "invalid client credentials")
            if client_id != c.consumer_key or not hmac.compare_digest(client_secret or "", c.consumer_secret):
                return _oauth_error("invalid_client", "invalid client credentials")
        elif grant == "password":
            if form.get("client_id") != c.consumer_key:
                return _oauth_error("invalid_client_id", "client identifier invalid")
            if not hmac.compare_digest(form.get("client_secret", ""), c.consumer_secret):
                return _oauth_error("invalid_client", "invalid client credentials")
            if form.get("username") != c.username or form.get("password") not in (c.password,
                                                                                   c.password + c.security_token):
                return _oauth_error("invalid_grant", "authentication failure")
        else:
            return _oauth_error("unsupported_grant_type", "grant type not supported")
        issued = str(int(time.time() * 1000))
        ident = f"{base_url}/id/{c.org_id}/{c.user_id}"
        signature = base64.b64encode(hmac.new(c.consumer_secret.encode(), (ident + issued).encode(),
                                              hashlib.sha256).digest()).decode()
        return json_response(200, {"access_token": self._issue(), "instance_url": base_url, "id": ident,
                                   "token_type": "Bearer", "issued_at": issued, "signature": signature,
                                   "scope": "api"})

    def _check_jwt(self, assertion: str, base_url: str) -> tuple[str, str] | None:
        try:
            claims: dict[str, Any] = jwt.decode(assertion, self.creds.public_key, algorithms=["RS256"],
                                                options={"verify_aud": False, "require": ["exp", "iss", "sub"]})
        except jwt.ExpiredSignatureError:
            return "invalid_grant", "expired authorization code"
        except jwt.PyJWTError:
            return "invalid_grant", "invalid assertion"
        if claims.get("iss") != self.creds.consumer_key:
            return "invalid_client_id", "client identifier invalid"
        aud = claims.get("aud")
        if aud not in (*_AUDIENCES, base_url) and not str(aud).endswith(".my.salesforce.com"):
            return "invalid_grant", "audience is invalid"
        if claims.get("sub") != self.creds.username:
            return "invalid_grant", "authentication failure"
        return None

    # -- SOAP ----------------------------------------------------------------------------------------
    def soap_login(self, request: Request, base_url: str, version: str) -> Response:
        fields: dict[str, str] = {}
        try:
            for el in ET.fromstring(request.body[:65536].decode("utf-8")).iter():
                name = el.tag.rsplit("}", 1)[-1]
                if name in ("username", "password"):
                    fields[name] = el.text or ""
        except (ET.ParseError, UnicodeDecodeError):
            return _soap_fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")
        c = self.creds
        if fields.get("username") != c.username or fields.get("password") != c.password + c.security_token:
            return _soap_fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")
        token, org15 = self._issue(), c.org_id[:15]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result>'
            f"<metadataServerUrl>{base_url}/services/Soap/m/{version}/{org15}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
            f"<serverUrl>{base_url}/services/Soap/u/{version}/{org15}</serverUrl>"
            f"<sessionId>{escape(token)}</sessionId><userId>{c.user_id}</userId><userInfo>"
            f"<organizationId>{c.org_id}</organizationId><organizationName>riskbridge sandbox</organizationName>"
            f"<sessionSecondsValid>7200</sessionSecondsValid><userEmail>riskbridge@example.com</userEmail>"
            f"<userFullName>riskbridge integration</userFullName><userId>{c.user_id}</userId>"
            f"<userName>{escape(c.username)}</userName></userInfo></result></loginResponse></soapenv:Body>"
            "</soapenv:Envelope>"
        )
        return Response(200, body.encode(), {"Content-Type": "text/xml;charset=UTF-8"})


def _soap_fault(code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}</faultstring><detail>"
        f'<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>'
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage></sf:LoginFault></detail>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(500, body.encode(), {"Content-Type": "text/xml;charset=UTF-8"})
