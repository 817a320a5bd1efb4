"""Invoice aggregation (numpy) against the per-row reference, on generated ledgers with partial payments,
credit notes, several currencies, disputes and invoices dated after the run date."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pyarrow as pa
import pytest

from connector.sources.load import invoice_rows
from connector.sources.read import Frame
from connector.sources.rowwise import InvoiceRow, history_rowwise
from connector.sources.spec import SourceSpec

AS_OF = date(2026, 6, 30)
SPEC = SourceSpec.model_validate({
    "kind": "invoices", "path": "x.csv", "key": {"crm_field": "AccountNumber", "column": "cust"},
    "columns": {"invoice": "doc", "amount": "amt", "currency": "cur", "issued": "issued", "due": "due",
                "paid": "paid", "disputed": "disp"}})


def _ledger(seed: int, customers: int) -> list[InvoiceRow]:
    rng = random.Random(seed)
    rows: list[InvoiceRow] = []
    for c in range(customers):
        key = str(100 + c)
        for n in range(rng.randint(0, 12)):
            cur = rng.choice(("EUR", "EUR", "USD", "CNY"))
            issued = AS_OF - timedelta(days=rng.randint(-20, 700))  # some dated after the run date
            due = issued + timedelta(days=rng.choice((14, 30, 60)))
            amount = round(rng.uniform(-500, 9000), 2)  # negative: a credit note
            paid = None if rng.random() < 0.4 else due + timedelta(days=rng.randint(-10, 90))
            doc = f"D{c}-{n}"
            disputed = rng.random() < 0.1
            if rng.random() < 0.25:  # partial payment: a cleared part and an open (or later) residual
                part = round(amount * 0.3, 2)
                rows.append(InvoiceRow(key, doc, cur, part, issued, due, due + timedelta(days=rng.randint(0, 40)),
                                       disputed))
                amount = round(amount - part, 2)
            rows.append(InvoiceRow(key, doc, cur, amount, issued, due, paid, disputed))
    return rows


def _frame(rows: list[InvoiceRow]) -> Frame:
    cols = {
        "cust": pa.array(["00" + r.key for r in rows], pa.string()),
        "doc": pa.array([r.invoice for r in rows]), "amt": pa.array([r.amount for r in rows], pa.float64()),
        "cur": pa.array([r.currency for r in rows]), "issued": pa.array([r.issued for r in rows], pa.date32()),
        "due": pa.array([r.due for r in rows], pa.date32()), "paid": pa.array([r.paid for r in rows], pa.date32()),
        "disp": pa.array(["X" if r.disputed else "" for r in rows]),
    }
    return Frame(cols, len(rows))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vectorised_history_equals_the_per_row_reference(seed: int) -> None:
    rows = _ledger(seed, 300)
    got = invoice_rows(SPEC, _frame(rows), AS_OF)
    want = history_rowwise(rows, AS_OF)
    assert set(got.values) == set(want) and len(want) > 250
    for key, ref in want.items():
        v = got.values[key]
        assert v["invoice_lines"] == ref.lines
        for name, table in (("open_receivables", ref.open_by_currency), ("overdue_amount", ref.overdue_by_currency),
                            ("overdue_90_days_ago", ref.overdue_then_by_currency)):
            expected = {c: round(a, 2) for c, a in table.items() if abs(a) > 1e-9}
            assert v[name] == pytest.approx(expected, abs=0.011), (key, name)
        assert v["max_days_past_due"] == ref.max_days_past_due
        assert v["disputes_12m"] == ref.disputes_12m
        for name in ("avg_days_past_due", "overdue_share", "avg_days_late"):
            ref_value = getattr(ref, name)
            assert (v[name] is None) == (ref_value is None), (key, name)
            if ref_value is not None:
                assert v[name] == pytest.approx(ref_value, abs=0.006)


def test_dated_after_the_run_date_counts_for_nothing() -> None:
    later = InvoiceRow("7", "F1", "EUR", 500.0, AS_OF + timedelta(days=1), AS_OF + timedelta(days=30), None, True)
    got = invoice_rows(SPEC, _frame([later]), AS_OF)
    assert got.values == {}


def test_partial_payment_and_applied_credit_note_net_the_open_item() -> None:
    due = AS_OF - timedelta(days=40)
    issued = due - timedelta(days=30)
    rows = [InvoiceRow("5", "A", "EUR", 400.0, issued, due, due + timedelta(days=2), False),  # paid part
            InvoiceRow("5", "A", "EUR", 600.0, issued, due, None, False),  # residual, 40 days past due
            InvoiceRow("5", "B", "EUR", 300.0, issued, due, None, False),
            InvoiceRow("5", "B", "EUR", -300.0, issued, due, None, False)]  # credit note applied to B
    v = invoice_rows(SPEC, _frame(rows), AS_OF).values["5"]
    assert v["open_receivables"] == {"EUR": 600.0} and v["overdue_amount"] == {"EUR": 600.0}
    assert v["max_days_past_due"] == 40 and v["overdue_share"] == 1.0


def test_unreadable_lines_are_listed_and_the_rest_is_used() -> None:
    cols = {"cust": pa.array(["1", "1", None]), "doc": pa.array(["A", "B", "C"]),
            "amt": pa.array(["100", "lots", "5"]), "cur": pa.array(["EUR", "EUR", "EUR"]),
            "issued": pa.array(["2026-01-01", "2026-01-01", "2026-01-01"]),
            "due": pa.array(["2026-02-01", "2026-02-01", "2026-02-01"]), "paid": pa.array([None, None, None], pa.string()),
            "disp": pa.array(["", "", ""])}
    got = invoice_rows(SPEC, Frame(cols, 3), AS_OF)
    assert got.bad_count == 2 and {b["row"] for b in got.bad} == {"3", "4"}
    assert "amt (amount)" in got.bad[0]["reason"] and "no key" in got.bad[1]["reason"]
    assert got.values["1"]["open_receivables"] == {"EUR": 100.0}
