"""The run-wide Bulk API 2.0 spool: rows written as batches come, uploaded as one valid CSV, sized exactly."""

from __future__ import annotations

import csv
import io

from connector.crm.sf_bulk_write import _Spool
from connector.model import FieldUpdate


def _op(i: int, values: dict[str, object]) -> FieldUpdate:
    return FieldUpdate("accounts", f"001{i:015d}", {k: (None, v) for k, v in values.items()}, key=f"k{i}")


def test_rows_spooled_with_fields_seen_later_are_padded_to_one_header() -> None:
    spool = _Spool()
    ops = [_op(1, {"Risk_Score__c": 12.5}),
           _op(2, {"Risk_Score__c": 40.0, "Risk_Reasons__c": 'says "late",\nand more'}),
           _op(3, {"Risk_Watchlist__c": True, "Risk_Tier__c": None})]
    predicted = []
    for op in ops:
        line, new = spool.line(op)
        predicted.append(spool.size_with(line, new, [f for f in op.values if f not in spool.fields]))
        spool.add(op, line)
    with spool.upload_file() as data:
        body = data.read()
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    assert rows[0] == ["Id", "Risk_Score__c", "Risk_Reasons__c", "Risk_Watchlist__c", "Risk_Tier__c"]
    assert rows[1] == ["001000000000000001", "12.5", "", "", ""]
    assert rows[2] == ["001000000000000002", "40.0", 'says "late",\nand more', "", ""]
    assert rows[3] == ["001000000000000003", "", "", "true", "#N/A"]  # None nulls the field; empty leaves it
    assert predicted[-1] == len(body)  # the size check is exact, so a job never passes the upload limit
    assert [pair for chunk in spool.ops() for pair in chunk] == [(op.key, op.record_id) for op in ops]
    spool.close()
