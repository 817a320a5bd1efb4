"""Reading one source into per-key canonical values with a hash per key, for the snapshot and the join.

`accounts` sources give canonical inputs per row (converted by the mapping's transforms); `invoices`
sources give the transaction history (`invoices.aggregate_invoices`), amounts kept per currency until
the join knows the account's currency; `rates` sources give rate per currency.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from connector.sources.columns import as_bool, as_codes, as_days, as_float
from connector.sources.invoices import InvoiceLines, aggregate_invoices
from connector.sources.keys import normalise_key
from connector.sources.read import Frame
from connector.sources.spec import SourceSpec
from connector.transforms import TRANSFORMS, Unconvertible

__all__ = ["SourceRows", "account_rows", "invoice_rows", "rate_table", "wanted_columns"]

_EPOCH = date(1970, 1, 1)
MAX_LISTED = 200  # bad rows listed per source and run; the count is always complete


@dataclass
class SourceRows:
    """One source read: canonical values and a content hash by key, plus what could not be used."""

    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    bad: list[dict[str, str]] = field(default_factory=list)  # {"row", "key", "reason"}
    bad_count: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)  # key -> rows carrying it (accounts sources)

    def reject(self, row: int, key: str | None, reason: str) -> None:
        self.bad_count += 1
        if len(self.bad) < MAX_LISTED:
            self.bad.append({"row": str(row), "key": key or "", "reason": reason})


def wanted_columns(spec: SourceSpec) -> list[str]:
    names = list(dict.fromkeys(([spec.key.column] if spec.key else []) + list(spec.columns.values())))
    if spec.changed_column and spec.changed_column not in names:
        names.append(spec.changed_column)
    return names


def _transform(canonical: str) -> str:
    from connector.admin.needs import INPUT_TYPES  # admin pulls in config; import at use, not at load

    spec = INPUT_TYPES.get(canonical)
    return spec.transform if spec is not None else ("country" if canonical == "country" else "text")


def _digest(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:32]


def account_rows(spec: SourceSpec, frame: Frame) -> SourceRows:
    """One row per customer: each mapped column through the canonical field's transform. A row with a
    value that cannot be read is rejected whole (listed), as a CRM record would be; a key on several rows
    is used only when those rows agree."""
    assert spec.key is not None
    out = SourceRows(rows=frame.rows)
    for line, reason in frame.bad:
        out.reject(line, None, reason)
    keys = frame.column(spec.key.column).to_pylist()
    columns = {c: frame.column(col).to_pylist() for c, col in spec.columns.items()}
    transforms = {c: TRANSFORMS[_transform(c)] for c in spec.columns}
    seen: dict[str, int] = {}
    conflicting: set[str] = set()
    for i, raw_key in enumerate(keys):
        key = normalise_key(raw_key, spec.key)
        if key is None:
            out.reject(i + 1, None, f"no key in column {spec.key.column}")
            continue
        values: dict[str, Any] = {}
        problems = []
        for canonical, cells in columns.items():
            try:
                values[canonical] = transforms[canonical](cells[i])
            except Unconvertible as exc:
                problems.append(f"{spec.columns[canonical]} -> {canonical}: {exc}")
        if problems:
            out.reject(i + 1, key, "; ".join(problems))
            continue
        seen[key] = seen.get(key, 0) + 1
        if key in out.values and out.values[key] != values:
            conflicting.add(key)
        out.values.setdefault(key, values)
    out.duplicates = {k: n for k, n in seen.items() if n > 1}
    for key in sorted(conflicting):
        del out.values[key]
        out.reject(0, key, f"key {key} is on {seen[key]} rows with different values; none is used")
    out.hashes = {k: _digest(v) for k, v in out.values.items()}
    return out


def rate_table(spec: SourceSpec, frame: Frame) -> dict[str, float]:
    """Currency -> rate against the table's base (units of base per unit of the currency)."""
    rates: dict[str, float] = {}
    for cur, rate in zip(frame.column(spec.columns["currency"]).to_pylist(),
                         frame.column(spec.columns["rate"]).to_pylist(), strict=True):
        try:
            value = TRANSFORMS["number"](rate)
        except Unconvertible:
            continue
        if cur and value and value > 0:
            rates[str(cur).strip().upper()] = float(value)
    return rates


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads each line's fields over 64 bits before they are summed per key."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def invoice_lines(spec: SourceSpec, frame: Frame, out: SourceRows) -> tuple[InvoiceLines, list[str], np.ndarray]:
    """Typed invoice lines (unreadable lines rejected into `out`), the key of each key code, and a hash
    per key code of its lines' contents."""
    assert spec.key is not None
    cols = spec.columns
    for line, reason in frame.bad:
        out.reject(line, None, reason)
    raw_keys = frame.column(spec.key.column)
    key_codes, key_values = as_codes(raw_keys)
    normal = [normalise_key(v, spec.key) for v in key_values]
    merged: dict[str, int] = {}
    remap = np.array([merged.setdefault(k, len(merged)) if k is not None else -1 for k in normal] or [0],
                     dtype=np.int64)
    keys = list(merged)
    key = np.where(key_codes >= 0, remap[np.maximum(key_codes, 0)], -1)
    invoice, _ = as_codes(frame.column(cols["invoice"]))
    if "currency" in cols:
        currency, currencies = as_codes(frame.column(cols["currency"]))
        currencies = [str(c).strip().upper() if c is not None else None for c in currencies]
    else:
        currency, currencies = np.zeros(frame.rows, dtype=np.int64), [None]
    amount, bad_amount = as_float(frame.column(cols["amount"]), f"{cols['amount']} (amount)")
    issued, bad_issued = as_days(frame.column(cols["issued"]), f"{cols['issued']} (issued)")
    due, bad_due = as_days(frame.column(cols["due"]), f"{cols['due']} (due)")
    from connector.sources.columns import NO_DATE

    paid, bad_paid = (as_days(frame.column(cols["paid"]), f"{cols['paid']} (paid)") if "paid" in cols
                      else (np.full(frame.rows, NO_DATE, dtype=np.int64), {}))
    disputed, bad_disp = (as_bool(frame.column(cols["disputed"]), f"{cols['disputed']} (disputed)")
                          if "disputed" in cols else (np.zeros(frame.rows, dtype=bool), {}))
    reasons: dict[int, list[str]] = {}
    for bad in (bad_amount, bad_issued, bad_due, bad_paid, bad_disp):
        for i, why in bad.items():
            reasons.setdefault(i, []).append(why)
    ok = np.ones(frame.rows, dtype=bool)
    checks = ((key < 0, f"no key in column {spec.key.column}"), (invoice < 0, f"no invoice number in {cols['invoice']}"),
              (np.isnan(amount), f"no amount in {cols['amount']}"), (issued == NO_DATE, f"no date in {cols['issued']}"),
              (due == NO_DATE, f"no due date in {cols['due']}"))
    for mask, text in checks:
        for at in np.flatnonzero(mask):
            reasons.setdefault(int(at), []).append(text)
    if "currency" in cols:
        for at in np.flatnonzero(currency < 0):
            reasons.setdefault(int(at), []).append(f"no currency in {cols['currency']}")
    for row, whys in sorted(reasons.items()):
        ok[row] = False
        k = int(key[row])
        out.reject(row + 2, keys[k] if k >= 0 else None, "; ".join(dict.fromkeys(whys)))  # +2: header, 1-based
    lines = InvoiceLines(key[ok], invoice[ok], np.maximum(currency[ok], 0), amount[ok], issued[ok], due[ok], paid[ok],
                         disputed[ok], len(keys), currencies)
    cur_hash = np.array([int(hashlib.sha256(str(c).encode()).hexdigest()[:15], 16) for c in currencies] or [0],
                        dtype=np.uint64)
    line_hash = _mix(np.round(lines.amount * 100).astype(np.int64).view(np.uint64))
    for part in (lines.issued, lines.due, lines.paid, lines.disputed.astype(np.int64)):
        line_hash = _mix(line_hash ^ part.astype(np.int64).view(np.uint64))
    line_hash = _mix(line_hash ^ cur_hash[lines.currency])
    per_key = np.zeros(len(keys), dtype=np.uint64)
    np.add.at(per_key, lines.key, line_hash)
    return lines, keys, per_key


def invoice_rows(spec: SourceSpec, frame: Frame, as_of: date) -> SourceRows:
    """The transaction history of every customer key as of `as_of`."""
    out = SourceRows(rows=frame.rows)
    lines, keys, per_key = invoice_lines(spec, frame, out)
    history = aggregate_invoices(lines, (as_of - _EPOCH).days)
    currencies = history.currencies

    def amounts(table: np.ndarray, k: int) -> dict[str, float]:
        return {str(currencies[c]): round(float(table[k, c]), 2) for c in np.flatnonzero(table[k])}

    def number(value: float) -> float | None:
        return None if np.isnan(value) else round(float(value), 2)

    for k in (int(i) for i in np.flatnonzero(history.lines)):
        key = keys[k]
        out.values[key] = {
            "invoice_lines": int(history.lines[k]),
            "open_receivables": amounts(history.open_by_currency, k),
            "overdue_amount": amounts(history.overdue_by_currency, k),
            "overdue_90_days_ago": amounts(history.overdue_then_by_currency, k),
            "max_days_past_due": int(history.max_days_past_due[k]),
            "avg_days_past_due": number(history.avg_days_past_due[k]),
            "overdue_share": number(history.overdue_share[k]),
            "avg_days_late": number(history.avg_days_late[k]),
            "disputes_12m": int(history.disputes_12m[k]),
        }
        out.hashes[key] = f"{int(per_key[k]):016x}"
    return out
