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
