"""Benchmark: invoice history for 1,000,000 invoice lines of 50,000 customers, against a per-row baseline.

    python bench/bench_invoices.py [--lines N] [--customers M] [--baseline-sample S]

Times, on one synthetic ledger (partial payments, credit notes, three currencies, disputes, lines dated
after the run date):

- numpy: `aggregate_invoices` over all lines (what riskbridge runs);
- DuckDB: the same definitions in one SQL query over the same arrays, when duckdb is installed (the
  measurement behind choosing numpy or DuckDB; README "Outside data");
- per row: `connector.sources.rowwise.history_rowwise` on S customers' lines, extrapolated to all lines,
  after checking that it agrees with numpy on them;
- reading: the ledger as a CSV file through pyarrow (and DuckDB's sniffer when installed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.sources.columns import NO_DATE  # noqa: E402
from connector.sources.invoices import InvoiceLines, aggregate_invoices  # noqa: E402
from connector.sources.rowwise import InvoiceRow, history_rowwise  # noqa: E402

AS_OF = date(2026, 6, 30)
_EPOCH = date(1970, 1, 1)
CURRENCIES = ["EUR", "USD", "CNY"]


def synthetic_ledger(lines: int, customers: int, seed: int = 7) -> InvoiceLines:
    rng = np.random.default_rng(seed)
    today = (AS_OF - _EPOCH).days
    key = rng.integers(0, customers, lines)
    # about one invoice number per two lines: the second line is a partial payment's residual or a credit note
    invoice = rng.integers(0, lines // 2, lines)
    issued = today - rng.integers(-15, 730, lines)
    due = issued + rng.choice([14, 30, 45, 60], lines)
    amount = np.round(rng.gamma(2.0, 2500.0, lines) * np.where(rng.random(lines) < 0.06, -0.3, 1.0), 2)
    paid = np.where(rng.random(lines) < 0.7, due + rng.integers(-10, 120, lines), NO_DATE)
    return InvoiceLines(key=key.astype(np.int64), invoice=invoice.astype(np.int64),
                        currency=rng.choice(3, lines, p=[0.8, 0.15, 0.05]).astype(np.int64), amount=amount,
                        issued=issued.astype(np.int64), due=due.astype(np.int64), paid=paid.astype(np.int64),
                        disputed=rng.random(lines) < 0.02, n_keys=customers, currencies=list(CURRENCIES))


def _rows(ledger: InvoiceLines, mask: np.ndarray) -> list[InvoiceRow]:
    def day(d: int) -> date:
        return _EPOCH + timedelta(days=int(d))

    return [InvoiceRow(str(k), str(i), CURRENCIES[c], float(a), day(s), day(d), None if p == NO_DATE else day(p), bool(x))
            for k, i, c, a, s, d, p, x in zip(ledger.key[mask], ledger.invoice[mask], ledger.currency[mask],
                                             ledger.amount[mask], ledger.issued[mask], ledger.due[mask],
                                             ledger.paid[mask], ledger.disputed[mask], strict=True)]


def _duckdb(ledger: InvoiceLines, as_of: int) -> float | None:
    try:
        import duckdb
    except ImportError:
        return None
    table = pa.table({"k": ledger.key, "inv": ledger.invoice, "cur": ledger.currency, "amount": ledger.amount,
                      "issued": ledger.issued, "due": ledger.due,
                      "paid": np.where(ledger.paid == NO_DATE, np.iinfo(np.int64).max, ledger.paid),
                      "disputed": ledger.disputed})
    con = duckdb.connect()
    con.register("lines", table)
    sql = f"""
    with l as (select * from lines where issued <= {as_of}),
    inv as (select k, inv, any_value(cur) cur, min(due) due, min(issued) issued, max(disputed::int) disputed,
                   sum(amount) filter (where paid > {as_of}) open_now,
                   sum(amount) filter (where paid > {as_of} - 90 and issued <= {as_of} - 90) open_then,
                   count(*) filter (where paid > {as_of}) open_lines, sum(amount) total,
                   max(case when paid > {as_of} then null else paid end) last_paid
            from l group by k, inv)
    select k, cur, sum(open_now) filter (where open_now > 0 and due < {as_of}) overdue,
           sum(open_then) filter (where open_then > 0 and due < {as_of} - 90) overdue_then,
           max(greatest(0, {as_of} - due)) filter (where open_now > 0) max_dpd,
           avg(greatest(0, {as_of} - due)) filter (where open_now > 0) avg_dpd,
           avg(greatest(0, last_paid - due)) filter (where open_lines = 0 and last_paid > {as_of} - 365
                                                       and total > 0) avg_late,
           count(*) filter (where disputed = 1 and issued > {as_of} - 365) disputes
    from inv group by k, cur"""
    start = time.perf_counter()
    con.execute(f"create temp table history as {sql}")  # materialised in DuckDB, as numpy's arrays are
    seconds = time.perf_counter() - start
    con.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--baseline-sample", type=int, default=5_000, help="customers timed per row")
    args = parser.parse_args()
    ledger = synthetic_ledger(args.lines, args.customers)
    as_of = (AS_OF - _EPOCH).days
    aggregate_invoices(ledger, as_of)  # warm-up: first-call allocations are not the steady state
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        history = aggregate_invoices(ledger, as_of)
        runs.append(time.perf_counter() - start)
    numpy_s = min(runs)
    print(f"numpy:   {args.lines:,} lines, {args.customers:,} customers in {numpy_s:.3f} s "
          f"({args.lines / numpy_s:,.0f} lines/s; best of 3, runs {', '.join(f'{r:.3f}' for r in runs)})")
    duck = _duckdb(ledger, as_of)
    if duck is not None:
        print(f"DuckDB:  the same figures in SQL in {duck:.3f} s ({numpy_s / duck:.2f}x numpy's speed)")
    sample = ledger.key < args.baseline_sample
    rows = _rows(ledger, sample)
    start = time.perf_counter()
    reference = history_rowwise(rows, AS_OF)
    per_row_s = time.perf_counter() - start
    scale = args.lines / max(1, len(rows))
    for key, ref in reference.items():
        k = int(key)
        assert history.max_days_past_due[k] == ref.max_days_past_due, key
        assert history.disputes_12m[k] == ref.disputes_12m, key
        for c, value in ref.open_by_currency.items():
            assert abs(history.open_by_currency[k, CURRENCIES.index(str(c))] - value) < 0.01, key
    print(f"per row: {len(rows):,} lines in {per_row_s:.3f} s, extrapolated to {args.lines:,}: "
          f"{per_row_s * scale:.1f} s; numpy is {per_row_s * scale / numpy_s:.0f}x faster (agree on "
          f"{len(reference):,} customers)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.csv"
        pacsv.write_csv(pa.table({"customer_no": ledger.key.astype(str), "doc_no": ledger.invoice,
                                  "amount": ledger.amount, "cur": np.array(CURRENCIES)[ledger.currency],
                                  "doc_date": ledger.issued.astype("datetime64[D]"),
                                  "due_date": ledger.due.astype("datetime64[D]")}), path)
        start = time.perf_counter()
        pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={"customer_no": pa.string()}))
        print(f"read CSV ({path.stat().st_size / 1e6:.0f} MB) with pyarrow: {time.perf_counter() - start:.3f} s")
        try:
            import duckdb

            start = time.perf_counter()
            duckdb.connect().execute(f"create temp table ledger as select * from read_csv('{path}')")
            print(f"read CSV with DuckDB's sniffer: {time.perf_counter() - start:.3f} s")
        except ImportError:
            pass
    if numpy_s >= 2.0:
        raise SystemExit(f"numpy aggregation took {numpy_s:.2f} s: the target is under 2 s")


if __name__ == "__main__":
    main()
