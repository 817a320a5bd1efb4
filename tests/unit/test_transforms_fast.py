"""The transforms' fast paths (issue 17) read exactly what the general paths read, and fail where they fail."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from connector.transforms import Unconvertible, number, parse_datetime, text, to_date


def test_dates_in_any_order_of_formats_read_the_same() -> None:
    cases = [("2026-03-02", date(2026, 3, 2)), ("02/03/2026", date(2026, 3, 2)), ("2026.03.04", date(2026, 3, 4)),
             ("May 02, 2026", date(2026, 5, 2)), ("04.03.2026", date(2026, 3, 4)), ("2026/03/05", date(2026, 3, 5)),
             ("7 Mar 2026", date(2026, 3, 7)), ("2026-3-2", date(2026, 3, 2)), (" 2026-03-02 ", date(2026, 3, 2))]
    for order in (cases, cases[::-1], cases[1::2] + cases[::2]):  # the remembered format changes between reads
        assert [to_date(raw) for raw, _ in order] == [want for _, want in order]


@pytest.mark.parametrize("raw", ["2026-02-30", "2026-13-01", "2026-00-10", "30/02/2026", "not a date"])
def test_impossible_dates_are_still_refused(raw: str) -> None:
    with pytest.raises(Unconvertible):
        to_date(raw)


def test_crm_datetimes_read_as_utc() -> None:
    want = datetime(2020, 10, 22, 21, 3, 23, tzinfo=UTC)
    for raw in ("2020-10-22T21:03:23.000+0000", "2020-10-22T21:03:23Z", "2020-10-23T00:03:23+03:00",
                "2020-10-22T21:03:23", "1603400603000", 1603400603000):
        assert parse_datetime(raw) == want, raw
    assert parse_datetime("2020-10-22T21:03:23.5-0130") == datetime(2020, 10, 22, 22, 33, 23, 500000, tzinfo=UTC)
    assert to_date("2026-03-02T23:30:00-0100") == date(2026, 3, 3)
    assert parse_datetime(datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=8)))).hour == 16
    with pytest.raises(Unconvertible):
        parse_datetime("2020-10-22T25:00:00Z")


def test_numbers_and_text_fast_paths() -> None:
    assert number(3) == 3.0 and isinstance(number(3), float) and number(2.5) == 2.5 and number("1,200.5") == 1200.5
    for bad in (float("nan"), float("inf"), True):
        with pytest.raises(Unconvertible):
            number(bad)
    assert number(None) is None and number(" n/a ") is None
    assert text("  Acme ") == "Acme" and text(" N/A ") is None and text("") is None and text(42) == "42"


def _row_by_row(mapping: object, kind: str, rows: list[dict[str, object]]) -> tuple[list[object], list[object]]:
    """map_rows as it was before it went column-wise (issue 17): the reference the fast path must equal."""
    from connector.mapping import RecordIssue, _dig
    from connector.model import Account, Deal
    from connector.transforms import TRANSFORMS

    obj = mapping.object(kind)  # type: ignore[attr-defined]
    records: list[object] = []
    issues: list[object] = []
    for row in rows:
        record_id = str(row.get(obj.id_field) or "")
        if not record_id:
            continue
        values: dict[str, object] = {"id": record_id}
        problems, failed = [], []
        for name in obj.inputs:
            spec = obj.input(name)
            raw = _dig(row, spec.field) if "." in spec.field else row.get(spec.field)
            try:
                values[name] = TRANSFORMS[spec.transform](raw)
            except Unconvertible as exc:
                problems.append(f"{spec.field} -> {name}: {exc}")
                failed.append((name, repr(raw)[:60]))
        try:
            modstamp = parse_datetime(row[obj.cursor_field]) if row.get(obj.cursor_field) else None
        except Unconvertible as exc:
            problems.append(f"{obj.cursor_field}: {exc}")
            modstamp = None
        if problems:
            issues.append(RecordIssue(kind, record_id, "; ".join(problems), tuple(failed)))  # type: ignore[arg-type]
            continue
        current = {name: row.get(f) for name, f in obj.outputs.items()}
        if kind == "accounts":
            tags = frozenset(t.get("name", "") for t in row.get("Tag") or [] if isinstance(t, dict))  # type: ignore[attr-defined]
            records.append(Account(record_id, modstamp, values, current, tags))
        else:
            records.append(Deal(record_id, modstamp, values, current))
    return records, issues


@pytest.mark.parametrize("crm", ["salesforce", "zoho"])
def test_column_wise_mapping_equals_row_by_row(crm: str) -> None:
    """Recurring texts converted once, bad values in several inputs of one row, the same text once good and
    once in a bad row, numbers equal to True, nested fields: records, values (and their key order) and issues
    equal the row-by-row reference."""
    from connector.mapping import MAPPINGS_DIR, load_mapping, map_rows
    from connector.sandbox.data import generate

    mapping = load_mapping(MAPPINGS_DIR / f"{crm}.toml")
    data = generate(3, 60, 1, date(2026, 3, 2))
    for kind, canonical in (("accounts", data.accounts), ("deals", data.deals)):
        obj = mapping.object(kind)
        rows = [_crm_row(obj, i, record) for i, record in enumerate(canonical)]
        fields = [obj.input(n).field for n in obj.inputs]  # type: ignore[union-attr]
        for i, row in enumerate(rows):
            if i % 7 == 3:
                row[fields[i % len(fields)]] = "not a value ✗" if i % 2 else {"odd": [1]}
            if i % 11 == 5:
                row[obj.cursor_field] = "yesterday"
            if i % 13 == 2:
                row[fields[-1]] = True
        rows.append({obj.id_field: ""})
        got, want = map_rows(mapping, kind, rows), _row_by_row(mapping, kind, rows)
        assert got[1] == want[1] and want[1] and len(want[0]) > 30
        assert [(r.id, r.modstamp, list(r.values.items()), r.current, getattr(r, "tags", None)) for r in got[0]] \
            == [(r.id, r.modstamp, list(r.values.items()), r.current, getattr(r, "tags", None)) for r in want[0]]  # type: ignore[attr-defined]


def _crm_row(obj: object, i: int, record: dict[str, object]) -> dict[str, object]:
    """A CRM row that the mapping object `obj` reads back as `record` (nested fields as lookups)."""
    row: dict[str, object] = {obj.id_field: f"R{i:04d}", obj.cursor_field: "2026-03-01T10:00:00.000+0000"}  # type: ignore[attr-defined]
    for name in obj.inputs:  # type: ignore[attr-defined]
        field = obj.input(name).field  # type: ignore[attr-defined]
        value = record.get("country_text" if name == "country" else name, f"A{i % 3}" if name.endswith("_id") else None)
        if "." in field:
            top, leaf = field.split(".", 1)
            row[top] = {leaf: value}
        else:
            row.setdefault(field, value)
    return row
