"""CRM clients: one module per CRM, all implementing `connector.crm.base.CRMClient`."""

__all__: list[str] = []
