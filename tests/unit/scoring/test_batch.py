"""Canonical fields and the columnar batch: tolerant for mapped records, strict for files."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from connector.model import ACCOUNT_FIELDS as MODEL_ACCOUNT_FIELDS
from connector.model import DEAL_FIELDS as MODEL_DEAL_FIELDS
from scoring import ACCOUNT_FIELDS, DEAL_FIELDS, Batch
from scoring.fields import UNREADABLE, FieldKind, coerce_value, read_value


def test_field_names_are_exactly_the_design_names() -> None:
    assert tuple(ACCOUNT_FIELDS) == MODEL_ACCOUNT_FIELDS
    assert tuple(DEAL_FIELDS) == MODEL_DEAL_FIELDS


@pytest.mark.parametrize(("kind", "raw", "value"), [
    (FieldKind.NUMBER, "  12.5 ", 12.5),
    (FieldKind.NUMBER, 7, 7.0),
    (FieldKind.NUMBER, Decimal("3.25"), 3.25),
    (FieldKind.NUMBER, "", None),
    (FieldKind.NUMBER, float("nan"), None),
    (FieldKind.DATE, "2024-02-29", date(2024, 2, 29)),
    (FieldKind.DATE, "2024-02-29T23:59:00Z", date(2024, 2, 29)),
    (FieldKind.DATE, datetime(2024, 1, 2, 3, 4), date(2024, 1, 2)),
    (FieldKind.BOOL, "Yes", True),
    (FieldKind.BOOL, 0, False),
    (FieldKind.TEXT, " Acme ", "Acme"),
    (FieldKind.CATEGORY, 42, "42"),
])
def test_values_that_can_be_read(kind: FieldKind, raw: Any, value: Any) -> None:
    assert read_value(kind, raw) == value


@pytest.mark.parametrize(("kind", "raw"), [
    (FieldKind.NUMBER, "1,00"), (FieldKind.NUMBER, "1_000"), (FieldKind.NUMBER, "inf"), (FieldKind.NUMBER, True),
    (FieldKind.DATE, "31/12/2024"), (FieldKind.DATE, "2024-02-30"), (FieldKind.DATE, 20240101),
    (FieldKind.BOOL, "maybe"), (FieldKind.BOOL, 2), (FieldKind.TEXT, ["a"]),
])
def test_values_that_cannot(kind: FieldKind, raw: Any) -> None:
    with pytest.raises(ValueError):
        read_value(kind, raw)
    assert coerce_value(kind, raw) is UNREADABLE


def test_records_become_columns_with_unreadable_values_flagged() -> None:
    batch = Batch.from_records([
        {"id": "a", "bureau_score": "77", "country": "DE", "statement_date": "2024-12-31", "insolvency": False},
        {"id": "b", "bureau_score": "n/a", "country": None, "unknown_field": 1},
        {"id": 3, "country": "DE", "statement_date": "soon", "insolvency": "yes"},
    ], ACCOUNT_FIELDS)
    assert batch.ids().tolist() == ["a", "b", "3"]
    assert np.isnan(batch.column("bureau_score")[1]) and batch.bad("bureau_score").tolist() == [False, True, False]
    codes, vocabulary = batch.categories("country")
    assert vocabulary[codes[0]] == vocabulary[codes[2]] == "DE" and codes[1] == 0
    assert batch.column("country").tolist() == ["DE", "", "DE"]
    assert batch.row(0)["statement_date"] == date(2024, 12, 31)
    assert batch.row(2)["statement_date"] is UNREADABLE
    assert batch.row(2)["insolvency"] is True and batch.row(1)["insolvency"] is None
    assert batch.row(1)["name"] is None  # a field no record had


def test_typed_numpy_columns_are_taken_as_they_are() -> None:
    batch = Batch.from_columns({
        "id": np.array(["a", "b"]),
        "bureau_score": np.array([50, 60]),
        "statement_date": np.array(["2024-01-01", "NaT"], dtype="datetime64[D]"),
        "industry": np.array([" Retail", ""]),
        "sanctions_hit": np.array([True, False]),
        "credit_limit": np.array([1.0, np.inf]),
    }, ACCOUNT_FIELDS)
    assert batch.column("bureau_score").dtype == np.float64
    assert batch.text("industry", 0) == "Retail" and batch.text("industry", 1) == ""
    assert batch.bad("credit_limit").tolist() == [False, True]
    assert batch.row(1)["statement_date"] is None
    assert batch.slice(1, 2).ids().tolist() == ["b"] and batch.take([1, 0]).ids().tolist() == ["b", "a"]
    with pytest.raises(ValueError, match="different lengths"):
        Batch.from_columns({"id": ["a"], "name": ["x", "y"]}, ACCOUNT_FIELDS)
