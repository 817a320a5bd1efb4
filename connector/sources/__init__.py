"""Outside data joined to accounts at the map stage: ERP invoices, bureau files, finance databases.

The names below are imported on first use (PEP 562): the config imports `connector.sources.spec`, and a
sync without sources must not pay for pyarrow and the readers at startup.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.sources.invoices import InvoiceHistory, InvoiceLines, aggregate_invoices
    from connector.sources.join import SourceJoin, SourceStats
    from connector.sources.keys import normalise_key
    from connector.sources.spec import SourceKey, SourceSpec

__all__ = ["InvoiceHistory", "InvoiceLines", "SourceJoin", "SourceKey", "SourceSpec", "SourceStats",
           "aggregate_invoices", "normalise_key"]

_HOME = {"InvoiceHistory": "invoices", "InvoiceLines": "invoices", "aggregate_invoices": "invoices",
         "SourceJoin": "join", "SourceStats": "join", "normalise_key": "keys", "SourceKey": "spec",
         "SourceSpec": "spec"}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"connector.sources.{_HOME[name]}"), name)
