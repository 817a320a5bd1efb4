"""Logging in to Salesforce: the three auth methods, the login domain, and errors that hold no secret.

The client logs in through simple-salesforce's `SalesforceLogin` and then uses the token as a plain
session (``Salesforce(session_id=..., instance=...)``), so the library never re-logs in by itself: its
own refresh loses per-call headers and can recurse without end (docs/crm-salesforce.md §11.4). The
client re-authenticates once per expired call instead.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from xml.parsers.expat import ExpatError

import jwt
from pydantic import SecretStr
from simple_salesforce import SalesforceLogin
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from connector.config import SalesforceConnection, resolve_secret
from connector.crm.sf_errors import TRANSPORT_ERRORS
from connector.crm.transport import is_loopback_http
from connector.errors import AuthError, ConfigError, ConfigProblem, Retriable

__all__ = ["SANDBOX_MY_DOMAIN", "Credentials", "Session", "login", "login_domain"]

log = logging.getLogger(__name__)

# The sandbox's My Domain for client credentials (simple-salesforce refuses that grant on login/test);
# any host works because the loopback adapter sends every https request to the sandbox.
SANDBOX_MY_DOMAIN = "riskbridge-sandbox.my"
_SUFFIX = ".salesforce.com"


@dataclass(frozen=True)
class Session:
    """A logged-in session. `token` is the access token: it never reaches a log or a message."""

    token: SecretStr
    instance: str  # host[:port] every data call goes to


@dataclass(frozen=True)
class Credentials:
    """The connection's secrets, resolved once (``env:``/``file:``/literal) and kept as `SecretStr`."""

    password: SecretStr | None = field(default=None, repr=False)
    security_token: SecretStr | None = field(default=None, repr=False)
    consumer_secret: SecretStr | None = field(default=None, repr=False)
    private_key: SecretStr | None = field(default=None, repr=False)

    @classmethod
    def resolve(cls, conn: SalesforceConnection) -> Credentials:
        auth = conn.auth

        def get(name: str) -> SecretStr | None:
            value = getattr(auth, name)
            return None if value is None else resolve_secret(value, f"auth.{name}")

        return cls(password=get("password"), security_token=get("security_token"),
                   consumer_secret=get("consumer_secret"), private_key=get("private_key"))

    def values(self) -> list[str]:
        """The secret values themselves, to scrub from any server text before it is shown."""
        return [s.get_secret_value() for s in (self.password, self.security_token, self.consumer_secret,
                                               self.private_key) if s is not None and s.get_secret_value()]


def _host_prefix(url: str, key: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    if not host.endswith(_SUFFIX):
        raise ConfigError([ConfigProblem("config", key, f"{host or url!r} is not a *.salesforce.com host",
                                         "use https://login.salesforce.com, https://test.salesforce.com "
                                         "or your My Domain URL")])
    return host[: -len(_SUFFIX)]


def login_domain(conn: SalesforceConnection) -> str:
    """The ``domain`` simple-salesforce logs in at: "login", "test" or a My Domain prefix ("acme.my")."""
    if is_loopback_http(conn.login_url) or is_loopback_http(conn.instance_url):
        return SANDBOX_MY_DOMAIN if conn.auth.method == "client_credentials" else "login"
    domain = _host_prefix(conn.login_url, "login_url")
    if conn.auth.method == "client_credentials" and domain in ("login", "test"):
        domain = _host_prefix(conn.instance_url, "instance_url")  # the grant only works on My Domain
        if domain in ("login", "test"):
            raise ConfigError([ConfigProblem("config", "instance_url", "client credentials need a My Domain host",
                                             "set instance_url or login_url to https://<name>.my.salesforce.com")])
    return domain


def _scrub(text: str, secrets: list[str]) -> str:
    for value in secrets:
        text = text.replace(value, "***")
    return " ".join(text.split())[:200]


def login(conn: SalesforceConnection, creds: Credentials, session: object) -> Session:
    """One login with the connection's method. Raises `AuthError` (refused), `Retriable` (transient)."""
    auth = conn.auth
    domain = login_domain(conn)
    who = f"user {auth.username}" if auth.username else f"consumer key {(auth.consumer_key or '')[:8]}..."
    kwargs: dict[str, object] = {"session": session, "domain": domain, "sf_version": conn.api_version}
    if auth.method == "jwt":
        assert creds.private_key is not None  # config validation guarantees it
        kwargs.update(username=auth.username, consumer_key=auth.consumer_key,
                      privatekey=creds.private_key.get_secret_value())
    elif auth.method == "client_credentials":
        assert creds.consumer_secret is not None
        kwargs.update(consumer_key=auth.consumer_key, consumer_secret=creds.consumer_secret.get_secret_value())
    else:
        assert creds.password is not None
        password = creds.password.get_secret_value()
        token = creds.security_token.get_secret_value() if creds.security_token else ""
        if auth.consumer_key and creds.consumer_secret is not None:  # OAuth username-password grant
            kwargs.update(username=auth.username, password=password + token, consumer_key=auth.consumer_key,
                          consumer_secret=creds.consumer_secret.get_secret_value())
        else:  # SOAP login(); an empty token is fine from a trusted IP range
            kwargs.update(username=auth.username, password=password, security_token=token, client_id="riskbridge")
    what = f"Salesforce {auth.method} login for {who} at {domain}"
    try:
        with warnings.catch_warnings():
            # "user hasn't approved this consumer" comes with a UserWarning; the AuthError says it all
            warnings.simplefilter("ignore")
            token_value, instance = SalesforceLogin(**kwargs)  # type: ignore[arg-type]
    except SalesforceAuthenticationFailed as exc:
        code = exc.code
        detail = _scrub(exc.auth_message, creds.values())
        if isinstance(code, int) and (code == 429 or code >= 500):
            raise Retriable(f"{what}: HTTP {code} {detail}", status=code) from None
        raise AuthError(f"{what} failed: {code or 'refused'}: {detail}") from None
    except TRANSPORT_ERRORS as exc:
        raise Retriable(f"{what}: {type(exc).__name__}") from None
    except (jwt.exceptions.PyJWTError, ValueError, TypeError) as exc:
        if auth.method == "jwt":
            raise AuthError(f"{what} failed: the private key cannot sign a JWT ({type(exc).__name__})") from None
        raise Retriable(f"{what}: unexpected login response ({type(exc).__name__})") from None
    except (AttributeError, KeyError, ExpatError) as exc:  # a proxy or error page where JSON/XML was due
        raise Retriable(f"{what}: unexpected login response ({type(exc).__name__})") from None
    if not token_value or not instance:
        raise AuthError(f"{what} failed: the response had no session")
    log.info("logged in to Salesforce (%s, %s) at %s", auth.method, who, instance)
    return Session(SecretStr(str(token_value)), str(instance))
