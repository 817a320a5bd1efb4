"""`sandbox serve --sources DIR`: the outside data a real install joins to a sandbox org's accounts.

Written from the same generated companies as the org, so a `bare` org plus these files carries what a
`provisioned` org holds in custom fields: an ERP open-items export whose invoices aggregate back to each
firm's receivables, overdue amount, days past due, lateness and disputes (open and paid invoices over two
years, partial payments as residual items, credit notes, disputes settled by credit notes, one invoice
dated after today, some invoices in a foreign currency with a rates table); a bureau file keyed by DUNS
(semicolon-separated, GBK-encoded, with keys matching no account and a few duplicates); the finance
team's statements and the ERP customer master keyed by the ERP customer number; and a config using them.
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from connector.countries import COUNTRIES
from connector.mapping import MAPPINGS_DIR
from connector.sandbox.data import Dataset
from connector.transforms import Unconvertible, number, to_date

__all__ = ["add_sources_to_config", "duns_number", "erp_number", "sources_config", "write_sources"]

_STANDARD = {"name", "owner_id", "country", "industry", "currency", "annual_revenue", "override_tier",
             "override_reason", "override_until", "account_id", "amount", "stage", "close_date", "probability",
             "is_closed", "is_won"}


def erp_number(index: int, crm: str = "salesforce") -> str:
    """The ERP customer number of a generated firm, as the CRM's account number holds it (the Fxiaoke
    sandbox numbers its customers KH020000 onwards in 客户编号 `account_no`, see fxiaoke_data.py)."""
    return f"KH{20000 + index:06d}" if crm == "fxiaoke" else str(10000 + index)


def duns_number(index: int) -> str:
    return f"{(150_000_007 + index * 7_919_993) % 1_000_000_000:09d}"


def _rate(currency: str) -> float:
    known = {"EUR": 1.0, "USD": 0.92, "GBP": 1.17, "JPY": 0.0062, "CNY": 0.127, "CHF": 1.04, "INR": 0.011,
             "BRL": 0.17, "CAD": 0.68, "AUD": 0.61, "SGD": 0.69, "MXN": 0.05}
    return known.get(currency, round(0.05 + (sum(map(ord, currency)) % 97) / 60, 4))


def _float(value: Any) -> float | None:
    try:
        return number(value)
    except Unconvertible:
        return None


def _invoices(rng: random.Random, acc: dict[str, Any], today: date, crm: str) -> list[list[Any]]:
    """Invoice lines that aggregate back to the firm's generated history figures as of `today`."""
    open_ar = acc.get("open_receivables")
    if open_ar is None:
        return []  # this firm's receivables are not in the ERP either
    cur = acc.get("currency") or "EUR"
    other = "EUR" if cur != "EUR" else "USD"
    terms = int(acc.get("payment_terms_days") or 30)
    customer = "00" + erp_number(acc["index"], crm)  # the ERP pads its numbers; the CRM does not
    lines: list[list[Any]] = []
    seq = iter(range(1, 10_000))

    def add(amount: float, issued: date, due: date, paid: date | None, disputed: bool = False,
            doc: str | None = None, currency: str | None = None) -> str:
        doc = doc or f"INV-{acc['index']:05d}-{next(seq):04d}"
        currency = currency or cur
        value = amount if currency == cur else amount * _rate(cur) / _rate(currency)
        lines.append([customer, doc, f"{value:.2f}", currency, issued.isoformat(), due.isoformat(),
                      paid.isoformat() if paid else "", "X" if disputed else ""])
        return doc

    foreign = rng.random() < 0.15
    # settled invoices of the last 12 months: their lateness averages the firm's avg_days_late
    avg_late = acc.get("avg_days_late")
    settled = rng.randint(3, 8)
    total_late = round(float(avg_late) * settled) if avg_late is not None else 0
    lates = [total_late // settled + (1 if i < total_late % settled else 0) for i in range(settled)]
    for late in lates:
        paid = today - timedelta(days=rng.randint(5, 330))
        due = paid - timedelta(days=late)
        issued = due - timedelta(days=terms)
        amount = round(rng.uniform(500, 20_000), 2)
        if rng.random() < 0.25:  # paid in two instalments; the second one settles it
            first = round(amount * 0.4, 2)
            doc = add(first, issued, due, paid - timedelta(days=rng.randint(1, 20)))
            add(amount - first, issued, due, paid, doc=doc)
        else:
            add(amount, issued, due, paid, currency=other if foreign and rng.random() < 0.5 else None)
    for _ in range(rng.randint(1, 4)):  # older history, settled more than a year ago
        paid = today - timedelta(days=rng.randint(380, 700))
        due = paid - timedelta(days=rng.randint(0, 40))
        add(round(rng.uniform(500, 20_000), 2), due - timedelta(days=terms), due, paid)
    for _ in range(int(acc.get("disputes_12m") or 0)):  # disputed, then settled by a credit note
        issued = today - timedelta(days=rng.randint(10, 300))
        amount = round(rng.uniform(200, 5_000), 2)
        doc = add(amount, issued, issued + timedelta(days=terms), issued + timedelta(days=5), disputed=True)
        add(-amount, issued, issued + timedelta(days=terms), issued + timedelta(days=5), doc=doc)
    overdue = float(acc.get("overdue_amount") or 0.0)
    max_dpd = int(acc.get("max_days_past_due") or 0)
    if overdue > 0:
        dpd = max(1, max_dpd)
        parts = [overdue] if overdue < 1000 or rng.random() < 0.5 else [round(overdue * 0.6, 2), 0.0]
        parts[-1] = round(overdue - sum(parts[:-1]), 2)
        for i, part in enumerate(parts):
            days = dpd if i == 0 else rng.randint(1, dpd)
            due = today - timedelta(days=days)
            if i == 0 and rng.random() < 0.3:  # partly paid: the residual stays open
                doc = add(round(part * 0.5, 2), due - timedelta(days=terms), due, due + timedelta(days=1))
                add(part, due - timedelta(days=terms), due, None, doc=doc)
            else:
                add(part, due - timedelta(days=terms), due, None)
    elif max_dpd > 0 and open_ar > 0:
        pass  # the generator's odd firm: days past due without an overdue amount; nothing to post
    current = round(float(open_ar) - overdue, 2)
    credit = round(rng.uniform(100, 900), 2) if rng.random() < 0.2 else 0.0
    if current > 0 or credit:
        due = today + timedelta(days=rng.randint(1, terms))
        add(current + credit, due - timedelta(days=terms), due, None)
    if credit:  # an open credit note, not yet applied
        add(-credit, today - timedelta(days=3), today - timedelta(days=3), None)
    if rng.random() < 0.1:  # booked ahead: dated after today, not part of today's figures
        later = today + timedelta(days=5)
        add(9_999.0, later, later + timedelta(days=terms), None)
    return lines


def write_sources(folder: str | Path, data: Dataset, *, seed: int, today: date, crm: str, org: str) -> dict[str, Path]:
    """Write the source files for `data` into `folder`; returns them by source name (plus the mapping
    for a bare org)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed * 7_919 + 11)
    files: dict[str, Path] = {}
    with (out / "erp_open_items.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["customer_no", "doc_no", "amount", "cur", "doc_date", "due_date", "clearing_date", "dispute_flag"])
        for acc in data.accounts:
            w.writerows(_invoices(random.Random(seed * 1_000_003 + acc["index"] * 31 + 5), acc, today, crm))
    files["erp_invoices"] = out / "erp_open_items.csv"
    currencies = sorted({c.currency for c in COUNTRIES if c.currency} | {"EUR", "USD"})
    with (out / "fx_rates.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["currency", "eur_per_unit"])
        w.writerows([c, f"{_rate(c):.6f}"] for c in currencies)
    files["fx_rates"] = out / "fx_rates.csv"
    with (out / "bureau_latest.csv").open("w", encoding="gbk", errors="replace", newline="") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(["duns", "client_ref", "company", "score", "rating", "sanctions", "insolvent"])
        rows = []
        for acc in data.accounts:
            score = _float(acc.get("bureau_score"))
            rows.append([duns_number(acc["index"]), erp_number(acc["index"], crm), acc["name"][:80],
                         "" if score is None else f"{score:g}", acc.get("bureau_rating") or "",
                         "Y" if acc.get("sanctions_hit") else "N", "Y" if acc.get("insolvency") else "N"])
        for i in range(3):  # firms the bureau monitors that are not (or no longer) in this CRM
            rows.append([f"{900_000_001 + i:09d}", f"9{i:04d}", f"Former customer {i}", "55", "", "N", "N"])
        rows += [list(r) for r in rows[: min(3, len(data.accounts))]]  # the same firm delivered twice
        rng.shuffle(rows)
        w.writerows(rows)
    files["bureau"] = out / "bureau_latest.csv"
    fin = ("current_assets", "current_liabilities", "inventory", "total_assets", "total_liabilities", "net_income",
           "operating_cash_flow", "audit_opinion", "statement_date")
    master = ("credit_limit", "payment_terms_days", "internal_rating", "customer_since", "complaints_12m")
    with (out / "financials.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["customer_no", *fin])
        for acc in data.accounts:
            if acc.get("total_assets") is None:
                continue
            try:
                stated = to_date(acc.get("statement_date"))
            except Unconvertible:
                stated = None
            w.writerow([erp_number(acc["index"], crm), *(acc.get(f) for f in fin[:-1]), stated.isoformat() if stated else ""])
    files["financials"] = out / "financials.csv"
    with (out / "erp_customers.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["customer_no", *master])
        for acc in data.accounts:
            w.writerow(["00" + erp_number(acc["index"], crm), *("" if acc.get(f) is None else acc.get(f) for f in master)])
    files["erp_customers"] = out / "erp_customers.csv"
    if org != "provisioned":
        files["mapping"] = _bare_mapping(out / f"mapping-{crm}-{org}.toml", crm)
    return files


def _bare_mapping(path: Path, crm: str) -> Path:
    """The default mapping with only the standard inputs: the sources bring the credit data."""
    keep = []
    section = ""
    for line in (MAPPINGS_DIR / f"{crm}.toml").read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            section = line.strip()
        name = line.split("=", 1)[0].strip()
        if section.endswith(".inputs]") and "=" in line and not line.startswith("#") and name not in _STANDARD:
            continue
        keep.append(line)
    path.write_text("\n".join(keep) + "\n", encoding="utf-8")
    return path


def sources_config(files: dict[str, Path], crm: str) -> str:
    """The config lines (appended to the sandbox's [jobs.default]) that use the written sources."""
    number_field = {"salesforce": "AccountNumber", "fxiaoke": "account_no"}.get(crm, "Account_Number")
    bureau_key = ('{ crm_field = "DunsNumber", column = "duns" }' if crm == "salesforce"
                  else f'{{ crm_field = "{number_field}", column = "client_ref" }}')

    def q(path: Path) -> str:
        return '"' + str(path).replace("\\", "\\\\") + '"'

    lines = ['sources = ["erp_invoices", "bureau", "financials", "erp_customers"]']
    lines += [
        "", "[sources.erp_invoices]", 'kind = "invoices"', f"path = {q(files['erp_invoices'])}",
        f'key = {{ crm_field = "{number_field}", column = "customer_no" }}',
        'columns = { invoice = "doc_no", amount = "amount", currency = "cur", issued = "doc_date", due = "due_date", '
        'paid = "clearing_date", disputed = "dispute_flag" }', 'rates = "fx_rates"',
        "", "[sources.fx_rates]", 'kind = "rates"', f"path = {q(files['fx_rates'])}",
        'columns = { currency = "currency", rate = "eur_per_unit" }',
        "", "[sources.bureau]", 'kind = "accounts"', f"path = {q(files['bureau'])}", 'encoding = "gbk"',
        f"key = {bureau_key}",
        'columns = { bureau_score = "score", bureau_rating = "rating", sanctions_hit = "sanctions", '
        'insolvency = "insolvent" }',
        "", "[sources.financials]", 'kind = "accounts"', f"path = {q(files['financials'])}",
        f'key = {{ crm_field = "{number_field}", column = "customer_no" }}',
        "columns = { " + ", ".join(f'{c} = "{c}"' for c in (
            "current_assets", "current_liabilities", "inventory", "total_assets", "total_liabilities", "net_income",
            "operating_cash_flow", "audit_opinion", "statement_date")) + " }",
        "", "[sources.erp_customers]", 'kind = "accounts"', f"path = {q(files['erp_customers'])}",
        f'key = {{ crm_field = "{number_field}", column = "customer_no" }}',
        "columns = { " + ", ".join(f'{c} = "{c}"' for c in (
            "credit_limit", "payment_terms_days", "internal_rating", "customer_since", "complaints_12m")) + " }",
        "",
    ]
    return "\n".join(lines)


def add_sources_to_config(config: Path, files: dict[str, Path], crm: str) -> Path:
    """Make a sandbox config (`client_config.write_config`, ending in [jobs.default]) use the sources."""
    text = config.read_text(encoding="utf-8").rstrip("\n")
    if "mapping" in files:
        text = "\n".join(f"mapping = \"{files['mapping']}\"" if line.startswith("mapping = ") else line
                         for line in text.splitlines())
    config.write_text(text + "\n" + sources_config(files, crm), encoding="utf-8")
    return config
