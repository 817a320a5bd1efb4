"""CRM clients: one module per CRM, all implementing `connector.crm.base.CRMClient`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.admin.metadata import OrgAdmin
    from connector.config import FxiaokeConnection, SalesforceConnection, ZohoConnection
    from connector.crm.base import CRMClient, RetryPolicy

__all__ = ["open_admin", "open_client"]


def open_client(conn: SalesforceConnection | ZohoConnection | FxiaokeConnection, *, objects: dict[str, str],
                policy: RetryPolicy | None = None, bulk_threshold: int = 10_000, topic_tag: bool = False) -> CRMClient:
    """The client for a connection's CRM. Imports lazily: a Zoho job never loads simple-salesforce."""
    if conn.crm == "salesforce":
        from connector.crm.salesforce import SalesforceClient

        return SalesforceClient(conn, objects=objects, policy=policy, bulk_threshold=bulk_threshold,
                                topic_tag=topic_tag)
    if conn.crm == "fxiaoke":
        from connector.crm.fxiaoke import FxiaokeClient

        return FxiaokeClient(conn, objects=objects, policy=policy)
    from connector.crm.zoho import ZohoClient

    return ZohoClient(conn, objects=objects, policy=policy)


def open_admin(conn: SalesforceConnection | ZohoConnection | FxiaokeConnection, *, policy: RetryPolicy | None = None) -> OrgAdmin:
    """The metadata reader and field creator for a connection's CRM (`check`, `provision`, `suggest`)."""
    if conn.crm == "salesforce":
        from connector.crm.sf_admin import SalesforceAdmin

        return SalesforceAdmin(conn, policy=policy)
    if conn.crm == "fxiaoke":
        from connector.crm.fxiaoke_admin import FxiaokeAdmin

        return FxiaokeAdmin(conn, policy=policy)
    from connector.crm.zoho_admin import ZohoAdmin

    return ZohoAdmin(conn, policy=policy)
