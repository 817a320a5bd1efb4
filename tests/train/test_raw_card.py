"""Raw-column characteristics in the scorecard format: how `score` bins them from a CSV, and the
file/key/hint problems a bad one gets. No training extra needed."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.errors import ConfigError
from scoring import assess, read_accounts_csv
from scoring.scorecard import DEFAULT_SCORECARD, Scorecard, parse_scorecard

AS_OF = date(2026, 6, 30)
RAW = '''
[characteristics.checking]
column = "checking_status"
kind = "categorical"
unseen = "other"
group = "credit"
reason_code = "CHECKING"
reason = { en = "Checking account overdrawn", zh = "支票账户透支" }
bins = [
  { label = "missing", state = "missing", points = 10.0 },
  { label = "overdrawn", categories = ["< 0 DM"], points = 0.0 },
  { label = "in credit", categories = [">= 200 DM", "0 <= ... < 200 DM"], points = 30.0 },
  { label = "other", categories = [], points = 5.0 },
]

[characteristics.duration]
column = "duration_months"
kind = "numeric"
higher = "riskier"
group = "credit"
reason_code = "DURATION"
reason = { en = "Long duration", zh = "期限长" }
bins = [
  { label = "missing", state = "missing", points = 8.0 },
  { label = "short", upper = 12.0, points = 20.0 },
  { label = "medium", lower = 12.0, upper = 36.0, points = 10.0 },
  { label = "long", lower = 36.0, points = 0.0 },
]
'''


def _card(extra: str = RAW) -> Scorecard:
    return parse_scorecard((DEFAULT_SCORECARD.read_text(encoding="utf-8") + extra).encode(), source="card.toml")


def _problems(extra: str) -> list[tuple[str, str, str]]:
    with pytest.raises(ConfigError) as caught:
        _card(extra)
    return [(p.key, p.message, p.hint) for p in caught.value.problems]


ROWS = [  # id, checking_status, duration_months -> expected bin labels
    ("A1", "< 0 DM", "6", "overdrawn", "short"),
    ("A2", "  >= 200 DM ", "12", "in credit", "medium"),
    ("A3", "", "48", "missing", "long"),
    ("A4", "overdraft facility (new)", "n/a", "other", "missing"),
    ("A5", "none", "about 5", "other", "missing"),  # a placeholder is a level here; unreadable scores as missing
    ("A6", "0 <= ... < 200 DM", "35.9", "in credit", "medium"),
]


def _write(path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "bureau_score", "checking_status", "duration_months"])
        writer.writerows([(i, f"Account {i}", "70", c, d) for i, c, d, _, _ in ROWS])
    return path


def test_score_bins_raw_columns_from_the_csv(tmp_path: Path) -> None:
    card = _card()
    table = read_accounts_csv(_write(tmp_path / "in.csv"))
    assert not table.skipped  # raw cells never make a row unreadable
    result = assess(table.accounts, card, as_of=AS_OF)
    names = list(card.names)
    checking, duration = card.characteristics[names.index("checking")], card.characteristics[names.index("duration")]
    got = [(checking.bins[b[names.index("checking")]].label, duration.bins[b[names.index("duration")]].label)
           for b in result.bins]
    assert got == [(c, d) for *_, c, d in ROWS]
    # Losing points on a raw column makes it a reason, in the card's words, like any characteristic.
    assert (result.computed_tier > 0).all()
    assert result.assessment(0, "en").reasons[0].text == "Checking account overdrawn"
    assert result.assessment(2, "zh").reasons_text.startswith("支票账户透支 | 期限长")
    assert "Checking account overdrawn" not in result.assessment(1, "en").reasons_text  # in credit: full points


def test_score_cli_writes_raw_columns_through(tmp_path: Path) -> None:
    card = tmp_path / "card.toml"
    card.write_text(DEFAULT_SCORECARD.read_text(encoding="utf-8") + RAW, encoding="utf-8")
    out = tmp_path / "out.csv"
    run = CliRunner().invoke(app, ["score", "--input", str(_write(tmp_path / "in.csv")), "--output", str(out),
                                   "--scorecard", str(card), "--as-of", AS_OF.isoformat(), "--exact"])
    assert run.exit_code == 0, run.output
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["checking_status"] for r in rows] == [c for _, c, *_ in ROWS]
    expected = assess(read_accounts_csv(tmp_path / "in.csv").accounts, load(card), as_of=AS_OF).pd
    assert [float(r["pd"]) for r in rows] == expected.tolist()  # --exact: every digit


def load(path: Path) -> Scorecard:
    from scoring import load_scorecard

    return load_scorecard(path)


def test_unseen_must_be_declared() -> None:
    problems = _problems(RAW.replace('unseen = "other"\n', ""))
    assert any(k == "characteristics.checking.unseen" and "no bin declared for levels" in m and "unseen =" in h
               for k, m, h in problems)
    # And the empty bin then holds nothing it may hold.
    assert any(k == "characteristics.checking.bins[3].categories" for k, _, _ in problems)


@pytest.mark.parametrize(("old", "new", "key", "words"), [
    ('unseen = "other"', 'unseen = "others"', "characteristics.checking.unseen", "no bin is labelled 'others'"),
    ('categories = [">= 200 DM", "0 <= ... < 200 DM"]', 'categories = [">= 200 DM", "< 0 DM"]',
     "characteristics.checking.bins[2].categories", "level '< 0 DM' is already in bins[1]"),
    ('kind = "categorical"', "", "characteristics.checking.kind", "needs kind"),
    ('{ label = "missing", state = "missing", points = 10.0 },', "", "characteristics.checking.bins",
     "no bin for empty cells"),
    ('{ label = "missing", state = "missing", points = 10.0 },', '{ label = "missing", state = "invalid", '
     'points = 10.0 },', "characteristics.checking.bins[0].state", "has no state 'invalid'"),
    ('{ label = "long", lower = 36.0, points = 0.0 }', '{ label = "long", lower = 36.0, points = 11.0 }',
     "characteristics.duration.bins[3].points", "must not move against it"),
    ('{ label = "medium", lower = 12.0, upper = 36.0', '{ label = "medium", lower = 14.0, upper = 36.0',
     "characteristics.duration.bins[2].lower", "gap"),
    ('kind = "numeric"', 'kind = "numeric"\nunseen = "short"', "characteristics.duration.unseen",
     "only a categorical column"),
    ('column = "duration_months"', 'column = "customer_since"', "characteristics.duration.kind",
     "customer_since is a canonical date field"),
])
def test_bad_raw_characteristics_are_reported_with_key_and_hint(old: str, new: str, key: str, words: str) -> None:
    assert old in RAW
    problems = _problems(RAW.replace(old, new))
    assert any(k == key and words in m for k, m, _ in problems), problems


def test_a_raw_column_characteristic_cannot_take_a_canonical_name() -> None:
    base = DEFAULT_SCORECARD.read_text(encoding="utf-8")
    start = base.index("[characteristics.tenure_years]")
    end = base.index("\n[", start + 1)
    text = base[:start] + base[end:] + RAW.replace("[characteristics.duration]", "[characteristics.tenure_years]")
    with pytest.raises(ConfigError) as caught:
        parse_scorecard(text.encode())
    assert any(p.key == "characteristics.tenure_years" and "needs a name of its own" in p.message
               for p in caught.value.problems), caught.value.problems


def test_canonical_characteristics_take_no_raw_keys_and_unknown_names_say_how() -> None:
    problems = _problems('\n[characteristics.mystery]\ngroup = "credit"\nreason_code = "MYSTERY"\n'
                         'reason = { en = "x", zh = "x" }\nbins = [{ label = "any", points = 1.0 }]\n')
    assert any(k == "characteristics.mystery" and "unknown characteristic" in m and "`column`" in h
               for k, m, h in problems)
    text = DEFAULT_SCORECARD.read_text(encoding="utf-8").replace(
        "[characteristics.bureau_score]\n", '[characteristics.bureau_score]\nunseen = "x"\n', 1)
    with pytest.raises(ConfigError) as caught:
        parse_scorecard(text.encode())
    assert any(p.key == "characteristics.bureau_score.unseen" and "only a raw-column" in p.message
               for p in caught.value.problems)


def test_a_canonical_field_can_be_a_raw_column() -> None:
    card = _card('''
[characteristics.revenue]
column = "annual_revenue"
kind = "numeric"
higher = "safer"
group = "financial"
reason_code = "REVENUE"
reason = { en = "Small revenue", zh = "收入少" }
bins = [
  { label = "missing", state = "missing", points = 0.0 },
  { label = "small", upper = 1e6, points = 0.0 },
  { label = "large", lower = 1e6, points = 10.0 },
]
''')
    result = assess([{"id": "a", "annual_revenue": 5e6}, {"id": "b", "annual_revenue": 10.0}, {"id": "c"}], card,
                    as_of=AS_OF)
    j = list(card.names).index("revenue")
    assert result.bins[:, j].tolist() == [2, 1, 0]
    assert np.isclose(result.score[0] - result.score[1], 10.0)


def test_raw_columns_come_through_every_way_of_passing_accounts() -> None:
    card = _card()
    j = list(card.names).index("checking")
    records = [{"id": "a", "checking_status": "< 0 DM"}, {"id": "b", "checking_status": None},
               {"id": "c", "checking_status": "new level"}]
    by_records = assess(records, card, as_of=AS_OF).bins[:, j]
    columns = {"id": np.array(["a", "b", "c"]), "checking_status": ["< 0 DM", None, "new level"]}
    by_columns = assess(columns, card, as_of=AS_OF).bins[:, j]
    assert by_records.tolist() == by_columns.tolist() == [1, 0, 3]  # overdrawn, missing, other (unseen)


def test_score_xlsx_keeps_raw_columns_and_exact_pd(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    card = tmp_path / "card.toml"
    card.write_text(DEFAULT_SCORECARD.read_text(encoding="utf-8") + RAW, encoding="utf-8")
    out = tmp_path / "out.xlsx"
    run = CliRunner().invoke(app, ["score", "--input", str(_write(tmp_path / "in.csv")), "--output", str(out),
                                   "--scorecard", str(card), "--as-of", AS_OF.isoformat(), "--format", "xlsx",
                                   "--exact"])
    assert run.exit_code == 0, run.output
    book = openpyxl.load_workbook(out, read_only=True)
    try:
        header, *rows = [list(r) for r in book.active.iter_rows(values_only=True)]
    finally:
        book.close()  # a read-only workbook holds its file open until closed
    cells = [dict(zip(header, r, strict=True)) for r in rows]
    assert [c["duration_months"] for c in cells] == [d for _, _, d, _, _ in ROWS]
    expected = assess(read_accounts_csv(tmp_path / "in.csv").accounts, load(card), as_of=AS_OF).pd
    # A workbook stores 17 significant digits at most; the last may round.
    assert np.max(np.abs(np.array([c["pd"] for c in cells]) - expected)) < 1e-15


def test_vectorised_raw_bins_match_the_row_by_row_oracle() -> None:
    from scoring.rowwise import assess_row

    card = _card()
    rng = np.random.default_rng(3)
    levels = ["< 0 DM", " >= 200 DM", "0 <= ... < 200 DM ", "", "none", "N/A", "< 0 dm", "new"]
    durations = ["", "n/a", "about 5", "inf", "-3", "11.999", "12", "35.5", "36", "1,200", "7e1", " 40 "]
    records = [{"id": f"R{i}", "bureau_score": float(rng.uniform(0, 100)),
                "checking_status": levels[int(rng.integers(len(levels)))],
                "duration_months": durations[int(rng.integers(len(durations)))]} for i in range(300)]
    result = assess(records, card, as_of=AS_OF)
    batch = result.accounts
    for i, record in enumerate(records):
        raw = {k: str(record[k]) for k in ("checking_status", "duration_months")}
        row = assess_row(batch.row(i), card, as_of=AS_OF, raw=raw)
        assert list(row.bins) == result.bins[i].tolist(), record
        assert row.pd == pytest.approx(float(result.pd[i]), abs=1e-15)
