"""Where an account opens in its CRM's web UI, for the report's links."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, urlsplit

from connector.config import FxiaokeConnection, SalesforceConnection, ZohoConnection

__all__ = ["record_link"]

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def record_link(conn: SalesforceConnection | ZohoConnection | FxiaokeConnection) -> Callable[[str], str]:
    """A function from account id to the record's page; a loopback (sandbox) CRM serves its own view."""
    if isinstance(conn, SalesforceConnection):
        base = conn.instance_url.rstrip("/")
        web = f"{base}/lightning/r/Account/{{id}}/view"
    elif isinstance(conn, ZohoConnection):
        base = conn.urls[1]
        # www.zohoapis.eu -> crm.zoho.eu: the web app lives on the data centre's crm host.
        host = urlsplit(base).hostname or ""
        web = f"https://crm.zoho.{host.split('zohoapis.', 1)[-1]}/crm/tab/Accounts/{{id}}"
    else:
        base = conn.host.rstrip("/")
        web = "https://www.fxiaoke.com/XV/UI/Home#crm/list/=/AccountObj/{id}"
    if (urlsplit(base).hostname or "") in _LOOPBACK:
        web = f"{base}/accounts/{{id}}"
    return lambda record_id: web.format(id=quote(record_id, safe=""))
