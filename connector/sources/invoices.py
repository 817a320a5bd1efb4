"""Invoices become transaction history: per customer and as of the run date, vectorised with numpy.

Definitions (the per-row reference in `rowwise.py` spells the same ones out loop by loop):

- Lines issued after the run date are ignored. A line is *open* on a day when it has no clearing date
  or was cleared after that day. Lines with the same invoice number are one invoice: a partial payment
  is a cleared line plus a residual open line (as ERPs post it), a credit note is a negative line (its
  own number, or the invoice's when applied to it).
- An invoice is an *open item* when its open lines net to more than zero; its due date is the earliest
  due date of its lines; it is overdue when that date is before the run date.
- open_receivables: the open lines, netted (never below zero). overdue_amount: the net open amounts of
  the overdue items. trend_overdue: overdue_amount now minus overdue_amount 90 days ago (same rules on
  that day). Amounts are summed per currency here and converted into the account's currency at the join.
- max_days_past_due / avg_days_past_due: over open items, days past the due date (0 when not yet due).
- overdue_share: overdue open items / open items.
- avg_days_late: over invoices settled (every line cleared) within the last 365 days with a positive
  total: days from due date to the last clearing date, 0 when paid on time.
- disputes_12m: invoices issued within the last 365 days with a disputed line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from connector.sources.columns import NO_DATE

__all__ = ["TREND_DAYS", "YEAR_DAYS", "InvoiceHistory", "InvoiceLines", "aggregate_invoices"]

YEAR_DAYS = 365
TREND_DAYS = 90


@dataclass
class InvoiceLines:
    """Readable invoice lines as arrays (bad rows already removed); days count from 1970-01-01."""

    key: np.ndarray  # int64 code of the customer key
    invoice: np.ndarray  # int64 code of the invoice number
    currency: np.ndarray  # int64 code into `currencies`
    amount: np.ndarray  # float64
    issued: np.ndarray  # int64 days
    due: np.ndarray  # int64 days
    paid: np.ndarray  # int64 days, NO_DATE while open
    disputed: np.ndarray  # bool
    n_keys: int
    currencies: list[str | None]

    def __len__(self) -> int:
        return len(self.amount)


@dataclass
class InvoiceHistory:
    """Per customer key (row = key code): history figures, amounts per currency (column = currency code)."""

    lines: np.ndarray  # int64: lines counted (issued up to the run date)
    open_by_currency: np.ndarray  # float64 (keys x currencies)
    overdue_by_currency: np.ndarray
    overdue_then_by_currency: np.ndarray  # 90 days ago
    max_days_past_due: np.ndarray  # float64, NaN without any line
    avg_days_past_due: np.ndarray  # NaN without an open item
    overdue_share: np.ndarray  # NaN without an open item
    avg_days_late: np.ndarray  # NaN without an invoice settled in the last 12 months
    disputes_12m: np.ndarray  # int64
    currencies: list[str | None]


def _net_open(lines: InvoiceLines, pair: np.ndarray, n_pairs: int, day: int) -> np.ndarray:
    """Net open amount of each invoice on `day` (lines issued by then, not cleared by then)."""
    open_then = (lines.issued <= day) & ((lines.paid == NO_DATE) | (lines.paid > day))
    return np.bincount(pair, weights=np.where(open_then, lines.amount, 0.0), minlength=n_pairs)


def aggregate_invoices(lines: InvoiceLines, as_of: int) -> InvoiceHistory:
    """The history figures of every customer as of day `as_of` (see the module docstring)."""
    keep = lines.issued <= as_of
    k, inv, cur = lines.key[keep], lines.invoice[keep], lines.currency[keep]
    amount, issued, due, paid, disputed = (lines.amount[keep], lines.issued[keep], lines.due[keep], lines.paid[keep],
                                           lines.disputed[keep])
    kept = InvoiceLines(k, inv, cur, amount, issued, due, paid, disputed, lines.n_keys, lines.currencies)
    n_keys, n_cur = lines.n_keys, max(1, len(lines.currencies))
    # one group per (customer, invoice number): the invoice
    n_inv = int(inv.max()) + 2 if len(inv) else 1
    pair_ids, pair = np.unique(k * n_inv + (inv + 1), return_inverse=True)
    n_pairs = len(pair_ids)
    pair_key = pair_ids // n_inv
    pair_cur = np.zeros(n_pairs, dtype=np.int64)
    pair_cur[pair] = cur  # an invoice is in one currency: any of its lines says which
    pair_due = np.full(n_pairs, NO_DATE, dtype=np.int64)
    np.minimum.at(pair_due, pair, due)
    pair_total = np.bincount(pair, weights=amount, minlength=n_pairs)
    pair_lines_open = np.bincount(pair, weights=(paid == NO_DATE) | (paid > as_of), minlength=n_pairs)
    pair_paid = np.full(n_pairs, -1, dtype=np.int64)
    np.maximum.at(pair_paid, pair, np.where(paid == NO_DATE, -1, paid))
    pair_issued = np.full(n_pairs, NO_DATE, dtype=np.int64)
    np.minimum.at(pair_issued, pair, issued)
    pair_disputed = np.bincount(pair, weights=disputed, minlength=n_pairs) > 0

    cell = pair_key * n_cur + pair_cur  # (customer, currency) of each invoice

    def by_currency(values: np.ndarray) -> np.ndarray:
        return np.bincount(cell, weights=values, minlength=n_keys * n_cur).reshape(n_keys, n_cur)

    open_now = _net_open(kept, pair, n_pairs, as_of)
    open_cells = np.bincount(k * n_cur + cur, weights=np.where((paid == NO_DATE) | (paid > as_of), amount, 0.0),
                             minlength=n_keys * n_cur).reshape(n_keys, n_cur)
    item = open_now > 0
    overdue_item = item & (pair_due < as_of)
    then = as_of - TREND_DAYS
    open_then = _net_open(kept, pair, n_pairs, then)
    overdue_then = (open_then > 0) & (pair_due < then)

    lines_per_key = np.bincount(k, minlength=n_keys)
    items = np.bincount(pair_key, weights=item, minlength=n_keys)
    dpd = np.where(item, np.maximum(0, as_of - pair_due), 0)
    max_dpd = np.zeros(n_keys, dtype=np.int64)
    np.maximum.at(max_dpd, pair_key, dpd)
    with np.errstate(invalid="ignore", divide="ignore"):
        avg_dpd = np.bincount(pair_key, weights=dpd, minlength=n_keys) / items
        share = np.bincount(pair_key, weights=overdue_item, minlength=n_keys) / items
        settled = (pair_lines_open == 0) & (pair_paid > as_of - YEAR_DAYS) & (pair_paid <= as_of) & (pair_total > 0)
        late = np.where(settled, np.maximum(0, pair_paid - pair_due), 0)
        avg_late = np.bincount(pair_key, weights=late, minlength=n_keys) / np.bincount(
            pair_key, weights=settled, minlength=n_keys)
    disputes = np.bincount(pair_key, weights=pair_disputed & (pair_issued > as_of - YEAR_DAYS),
                           minlength=n_keys).astype(np.int64)
    has_lines = lines_per_key > 0
    return InvoiceHistory(
        lines=lines_per_key, open_by_currency=open_cells,
        overdue_by_currency=by_currency(np.where(overdue_item, open_now, 0.0)),
        overdue_then_by_currency=by_currency(np.where(overdue_then, open_then, 0.0)),
        max_days_past_due=np.where(has_lines, max_dpd, np.nan).astype(np.float64),
        avg_days_past_due=avg_dpd, overdue_share=share, avg_days_late=avg_late, disputes_12m=disputes,
        currencies=lines.currencies)
