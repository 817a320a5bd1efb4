"""Outside data joined to accounts at the map stage: ERP invoices, bureau files, finance databases."""

from connector.sources.invoices import InvoiceHistory, InvoiceLines, aggregate_invoices
from connector.sources.join import SourceJoin, SourceStats
from connector.sources.keys import normalise_key
from connector.sources.spec import SourceKey, SourceSpec

__all__ = ["InvoiceHistory", "InvoiceLines", "SourceJoin", "SourceKey", "SourceSpec", "SourceStats",
           "aggregate_invoices", "normalise_key"]
