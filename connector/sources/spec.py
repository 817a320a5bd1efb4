"""`[sources.NAME]`: outside data a job joins to its accounts (ERP invoices, bureau files, finance databases).

A source is a file (CSV, Parquet, Excel) or a database query, with a key that links each row to a CRM
field of the account and the columns that feed canonical inputs. Three kinds:

    invoices   one row per invoice line; riskbridge computes the transaction-history inputs from them
    accounts   one row per customer; columns give canonical inputs directly
    rates      currency -> rate against one base currency, for converting invoice amounts
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from connector.model import ACCOUNT_FIELDS

__all__ = ["INVOICE_COLUMNS", "RATE_COLUMNS", "SOURCED_FIELDS", "SourceKey", "SourceSpec"]

# What an invoice export must and may carry (canonical invoice column -> required?).
INVOICE_COLUMNS: dict[str, bool] = {"invoice": True, "amount": True, "currency": False, "issued": True, "due": True,
                                    "paid": False, "disputed": False}
RATE_COLUMNS: dict[str, bool] = {"currency": True, "rate": True}
# Canonical account inputs a source may fill (the override fields stay with the credit manager in the CRM).
SOURCED_FIELDS: tuple[str, ...] = tuple(f for f in ACCOUNT_FIELDS if f not in ("id", "override_tier",
                                                                                 "override_reason", "override_until"))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceKey(_Strict):
    """Links a source row to an account: the CRM field's value equals the column's, after normalisation."""

    crm_field: str = Field(min_length=1, description="the account field holding the key; the id field for the id")
    column: str = Field(min_length=1)
    leading_zeros: Literal["keep", "strip"] = Field(
        default="strip", description="strip: ERP numbers 0010042 and 10042 are one customer")
    case: Literal["fold", "keep"] = "fold"


class SourceSpec(_Strict):
    """One `[sources.NAME]` table, validated before any read."""

    kind: Literal["invoices", "accounts", "rates"]
    path: str | None = Field(default=None, description="CSV, Parquet or Excel file, relative to the config file")
    url: SecretStr | None = Field(default=None, description="SQLAlchemy URL, or env:NAME / file:PATH")
    query: str | None = None
    key: SourceKey | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    prefer: Literal["source", "crm"] = "source"
    changed_column: str | None = Field(default=None, description="database: read only rows changed since the last run")
    rates: str | None = Field(default=None, description="invoices: the rates source converting amounts")
    encoding: str = Field(default="utf-8", description="CSV: utf-8, gbk, gb18030, latin-1, ...")
    delimiter: str | None = Field(default=None, max_length=1, description="CSV: default sniffed from the header line")
    sheet: str | None = Field(default=None, description="Excel: the sheet (default the first)")
    timeout_s: float = Field(default=60.0, gt=0, description="database: statement timeout")
    chunk_rows: int = Field(default=10_000, ge=1, le=1_000_000, description="database: rows fetched per chunk")

    @model_validator(mode="after")
    def _shape(self) -> SourceSpec:
        problems: list[str] = []
        if (self.path is None) == (self.url is None):
            problems.append("give either path (a file) or url and query (a database)")
        if self.url is not None and not self.query:
            problems.append("a database source needs a query")
        if self.path is not None and (self.query or self.changed_column):
            problems.append("query and changed_column belong to a database source (url), not a file")
        if self.kind != "rates" and self.key is None:
            problems.append("key = { crm_field = \"...\", column = \"...\" } is required")
        allowed = {"invoices": INVOICE_COLUMNS, "rates": RATE_COLUMNS}.get(self.kind)
        if allowed is not None:
            unknown = sorted(set(self.columns) - set(allowed))
            if unknown:
                problems.append(f"unknown {self.kind} column(s) {unknown}; valid: {', '.join(allowed)}")
            missing = [c for c, required in allowed.items() if required and c not in self.columns]
            if missing:
                problems.append(f"columns must name {', '.join(missing)}")
        else:
            unknown = sorted(set(self.columns) - set(SOURCED_FIELDS))
            if unknown:
                problems.append(f"unknown canonical field(s) {unknown}; valid: {', '.join(SOURCED_FIELDS)}")
            if not self.columns:
                problems.append("columns must map at least one canonical field to a column")
        if self.rates is not None and self.kind != "invoices":
            problems.append("rates belongs to an invoices source")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def is_database(self) -> bool:
        return self.url is not None
