"""Key normalisation, duplicates and misses; files (CSV with sniffer and GBK, Parquet, Excel) read into rows;
the join's precedence, conflicts and currency conversion."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connector.model import Account
from connector.sources.join import SourceJoin
from connector.sources.keys import normalise_key
from connector.sources.load import account_rows, wanted_columns
from connector.sources.read import SourceReadError, read_file
from connector.sources.spec import SourceKey, SourceSpec
from connector.state import StateStore

TODAY = date(2026, 6, 30)


def _bureau(path: Path, **extra: Any) -> SourceSpec:
    return SourceSpec.model_validate({
        "kind": "accounts", "path": str(path), "key": {"crm_field": "Tax_Id__c", "column": "tax_id"},
        "columns": {"bureau_score": "score", "sanctions_hit": "sanctions"}, **extra})


@pytest.mark.parametrize(("raw", "key", "expected"), [
    (" 0010042 ", SourceKey(crm_field="f", column="c"), "10042"),
    ("0010042", SourceKey(crm_field="f", column="c", leading_zeros="keep"), "0010042"),
    (10042.0, SourceKey(crm_field="f", column="c"), "10042"),
    ("91350100m000100y43", SourceKey(crm_field="f", column="c"), "91350100m000100y43"),
    ("91350100M000100Y43", SourceKey(crm_field="f", column="c"), "91350100m000100y43"),  # 统一社会信用代码
    ("DE 123-456.789", SourceKey(crm_field="f", column="c", case="keep"), "DE123456789"),
    ("  ", SourceKey(crm_field="f", column="c"), None),
    ("000", SourceKey(crm_field="f", column="c"), "0"),
    (None, SourceKey(crm_field="f", column="c"), None),
])
def test_keys_normalise(raw: Any, key: SourceKey, expected: str | None) -> None:
    assert normalise_key(raw, key) == expected


def test_csv_with_sniffed_delimiter_gbk_duplicates_and_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "bureau.csv"
    path.write_bytes("tax_id;company;score;sanctions\n"
                     "0001;北京华信科技有限公司;71;N\n"
                     "0002;上海东方物流;n/a?;N\n"  # unreadable score: the row is listed, the others are used
                     "0003;深圳市鹏程电子;40;Y\n"
                     "3;深圳市鹏程电子;40;Y\n"  # the same firm twice, same values: used
                     "0004;A;10;N\n0004;A;90;N\n"  # the same key with different values: neither is used
                     ";nobody;50;N\n"
                     "0005;too;many;fields;here\n".encode("gbk"))
    spec = _bureau(path, encoding="gbk")
    rows = account_rows(spec, read_file("bureau", spec, path, wanted_columns(spec)))
    assert rows.values == {"1": {"bureau_score": 71.0, "sanctions_hit": False},
                           "3": {"bureau_score": 40.0, "sanctions_hit": True}}
    assert rows.duplicates == {"3": 2, "4": 2}
    reasons = [b["reason"] for b in rows.bad]
    assert any("expected 4 fields, found 5" in r for r in reasons)
    assert any("score -> bureau_score" in r for r in reasons) and any("no key" in r for r in reasons)
    assert any("key 4 is on 2 rows with different values" in r for r in reasons)


def test_parquet_and_excel_and_missing_columns(tmp_path: Path) -> None:
    table = pa.table({"tax_id": ["0001", "0002"], "score": [80.5, None], "sanctions": [False, True]})
    pq.write_table(table, tmp_path / "b.parquet")
    spec = _bureau(tmp_path / "b.parquet")
    rows = account_rows(spec, read_file("b", spec, tmp_path / "b.parquet", wanted_columns(spec)))
    assert rows.values == {"1": {"bureau_score": 80.5, "sanctions_hit": False},
                           "2": {"bureau_score": None, "sanctions_hit": True}}
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Bureau"
    for row in (("tax_id", "score", "sanctions"), (1, 60, "no"), ("0002", "55", "yes")):
        sheet.append(row)
    book.save(tmp_path / "b.xlsx")
    spec = _bureau(tmp_path / "b.xlsx", sheet="Bureau")
    rows = account_rows(spec, read_file("b", spec, tmp_path / "b.xlsx", wanted_columns(spec)))
    assert rows.values == {"1": {"bureau_score": 60.0, "sanctions_hit": False},
                           "2": {"bureau_score": 55.0, "sanctions_hit": True}}
    (tmp_path / "c.csv").write_text("tax_id,rating\n1,A\n", encoding="utf-8")
    spec = _bureau(tmp_path / "c.csv")
    with pytest.raises(SourceReadError) as info:
        read_file("b", spec, tmp_path / "c.csv", wanted_columns(spec))
    assert "no column(s) score, sanctions" in info.value.problems[0].message


def test_join_precedence_conflicts_and_currency(tmp_path: Path) -> None:
    (tmp_path / "bureau.csv").write_text("tax_id,score,sanctions\n001,30,N\n002,70,N\n999,50,N\n", encoding="utf-8")
    (tmp_path / "inv.csv").write_text(
        "tax_id,doc,amount,cur,issued,due,paid\n"
        "1,A,1000,USD,2026-01-01,2026-02-01,\n"  # 1000 USD overdue, account in EUR
        "1,B,500,EUR,2026-06-01,2026-07-15,\n"
        "2,C,800,EUR,2026-06-01,2026-07-15,\n", encoding="utf-8")
    (tmp_path / "fx.csv").write_text("currency,rate\nEUR,1\nUSD,0.9\n", encoding="utf-8")
    specs = {
        "bureau": _bureau(tmp_path / "bureau.csv"),
        "crm_first": _bureau(tmp_path / "bureau.csv", prefer="crm"),
        "erp": SourceSpec.model_validate({
            "kind": "invoices", "path": str(tmp_path / "inv.csv"), "rates": "fx",
            "key": {"crm_field": "Tax_Id__c", "column": "tax_id"},
            "columns": {"invoice": "doc", "amount": "amount", "currency": "cur", "issued": "issued", "due": "due",
                        "paid": "paid"}}),
        "fx": SourceSpec.model_validate({"kind": "rates", "path": str(tmp_path / "fx.csv"),
                                         "columns": {"currency": "currency", "rate": "rate"}}),
    }
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")

    def accounts() -> list[Account]:
        return [Account("A1", None, {"id": "A1", "currency": "EUR", "bureau_score": 90.0}),
                Account("A2", None, {"id": "A2", "currency": "EUR", "bureau_score": None}),
                Account("A3", None, {"id": "A3", "currency": "EUR"})]

    rows = {"A1": {"Tax_Id__c": "1"}, "A2": {"Tax_Id__c": "0002"}, "A3": {"Tax_Id__c": "77"}}
    join = SourceJoin(specs, ["bureau", "erp"], base=tmp_path, store=store, job="j", id_field="Id", today=TODAY,
                      dry_run=False)
    join.load()
    batch = accounts()
    join.join(batch, rows)
    a1, a2, a3 = (a.values for a in batch)
    assert a1["bureau_score"] == 30.0 and a2["bureau_score"] == 70.0 and "bureau_score" not in a3  # A3: no row
    assert a1["overdue_amount"] == 900.0 and a1["open_receivables"] == 1400.0 and a1["max_days_past_due"] == 149
    assert a2["open_receivables"] == 800.0 and a2["overdue_amount"] == 0.0
    stats = join.stats["bureau"]
    assert (stats.accounts, stats.matched, stats.conflicts) == (3, 2, {"bureau_score": 1})
    assert join.explain("A1")["bureau_score"] == "bureau" and join.explain("A1")["currency"] == "CRM"
    crm_first = SourceJoin(specs, ["crm_first"], base=tmp_path, store=store, job="k", id_field="Id", today=TODAY,
                           dry_run=True)
    crm_first.load()
    batch = accounts()
    crm_first.join(batch, rows)
    assert batch[0].values["bureau_score"] == 90.0 and batch[1].values["bureau_score"] == 70.0
    assert crm_first.stats["crm_first"].conflicts == {"bureau_score": 1}
    store.close()


def test_invoice_figures_age_with_the_run_date_without_rescoring(tmp_path: Path) -> None:
    """An unchanged invoice file is read again on a new day (days past due move) and its snapshot updated,
    but no account is re-scored for it; the same day again is served from the snapshot."""
    (tmp_path / "inv.csv").write_text("tax_id,doc,amount,issued,due\n1,A,1000,2026-01-01,2026-02-01\n",
                                      encoding="utf-8")
    specs = {"erp": SourceSpec.model_validate({
        "kind": "invoices", "path": str(tmp_path / "inv.csv"), "key": {"crm_field": "Tax_Id__c", "column": "tax_id"},
        "columns": {"invoice": "doc", "amount": "amount", "issued": "issued", "due": "due"}})}
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    seen = []
    for day in (TODAY, date(2026, 7, 1), date(2026, 7, 1)):
        join = SourceJoin(specs, ["erp"], base=tmp_path, store=store, job="j", id_field="Id", today=day, dry_run=False)
        join.load()
        batch = [Account("A1", None, {"id": "A1"})]
        join.join(batch, {"A1": {"Tax_Id__c": "1"}})
        seen.append((join.stats["erp"].read, join.stats["erp"].changed, sorted(join.rescore),
                     batch[0].values["max_days_past_due"]))
    assert seen == [(True, 1, [], 149), (True, 0, [], 150), (False, 0, [], 150)]
    (tmp_path / "inv.csv").write_text("tax_id,doc,amount,issued,due\n1,A,1000,2026-01-01,2026-03-01\n",
                                      encoding="utf-8")
    join = SourceJoin(specs, ["erp"], base=tmp_path, store=store, job="j", id_field="Id", today=date(2026, 7, 1),
                      dry_run=False)
    join.load()
    assert join.rescore == {"A1"} and list(store.rescore_ids("j")) == ["A1"]  # the durable re-score set
    store.close()
