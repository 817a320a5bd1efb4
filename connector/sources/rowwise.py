"""The invoice history computed line by line in plain Python: the reference `aggregate_invoices` is
tested against, and the per-row baseline of `bench/bench_invoices.py`. Same definitions, no numpy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

__all__ = ["InvoiceRow", "KeyHistory", "history_rowwise"]


@dataclass(frozen=True)
class InvoiceRow:
    key: str
    invoice: str
    currency: str | None
    amount: float
    issued: date
    due: date
    paid: date | None
    disputed: bool


@dataclass
class KeyHistory:
    lines: int = 0
    open_by_currency: dict[str | None, float] = field(default_factory=dict)
    overdue_by_currency: dict[str | None, float] = field(default_factory=dict)
    overdue_then_by_currency: dict[str | None, float] = field(default_factory=dict)
    max_days_past_due: int | None = None
    avg_days_past_due: float | None = None
    overdue_share: float | None = None
    avg_days_late: float | None = None
    disputes_12m: int = 0


def _open(row: InvoiceRow, day: date) -> bool:
    return row.issued <= day and (row.paid is None or row.paid > day)


def history_rowwise(rows: Iterable[InvoiceRow], as_of: date) -> dict[str, KeyHistory]:
    """Per key: the figures `aggregate_invoices` computes, one row and one invoice at a time."""
    invoices: dict[tuple[str, str], list[InvoiceRow]] = {}
    out: dict[str, KeyHistory] = {}
    for row in rows:
        if row.issued > as_of:
            continue
        invoices.setdefault((row.key, row.invoice), []).append(row)
        h = out.setdefault(row.key, KeyHistory())
        h.lines += 1
        if _open(row, as_of):
            h.open_by_currency[row.currency] = h.open_by_currency.get(row.currency, 0.0) + row.amount
    then = as_of - timedelta(days=90)
    dpd: dict[str, list[int]] = {}
    overdue_items: dict[str, int] = {}
    late: dict[str, list[int]] = {}
    for (key, _), lines in invoices.items():
        h = out[key]
        currency = lines[-1].currency
        due = min(r.due for r in lines)
        net_now = sum(r.amount for r in lines if _open(r, as_of))
        if net_now > 0:
            days = max(0, (as_of - due).days)
            dpd.setdefault(key, []).append(days)
            if due < as_of:
                overdue_items[key] = overdue_items.get(key, 0) + 1
                h.overdue_by_currency[currency] = h.overdue_by_currency.get(currency, 0.0) + net_now
        net_then = sum(r.amount for r in lines if _open(r, then))
        if net_then > 0 and due < then:
            h.overdue_then_by_currency[currency] = h.overdue_then_by_currency.get(currency, 0.0) + net_then
        if all(r.paid is not None and r.paid <= as_of for r in lines):
            last = max(r.paid for r in lines if r.paid is not None)
            if as_of - timedelta(days=365) < last and sum(r.amount for r in lines) > 0:
                late.setdefault(key, []).append(max(0, (last - due).days))
        if any(r.disputed for r in lines) and min(r.issued for r in lines) > as_of - timedelta(days=365):
            h.disputes_12m += 1
    for key, h in out.items():
        open_days = dpd.get(key, [])
        h.max_days_past_due = max(open_days) if open_days else 0
        if open_days:
            h.avg_days_past_due = sum(open_days) / len(open_days)
            h.overdue_share = overdue_items.get(key, 0) / len(open_days)
        if late.get(key):
            h.avg_days_late = sum(late[key]) / len(late[key])
    return out
