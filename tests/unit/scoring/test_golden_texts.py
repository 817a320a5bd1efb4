"""Golden texts: what people read for the golden accounts, in English and Chinese, word for word.

The accounts are tests/golden/scoring_accounts.json's; the texts are tests/golden/scoring_texts.json's.
A deliberate wording change updates the texts file in the same commit (`python -m
tests.unit.scoring.test_golden_texts` rewrites it; read the diff before committing it).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from scoring import assess

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
ACCOUNTS: dict[str, Any] = json.loads((GOLDEN / "scoring_accounts.json").read_text(encoding="utf-8"))
TEXTS_FILE = GOLDEN / "scoring_texts.json"
CASES = ("G01", "G02", "G05", "G07", "G08", "G09", "G10")


def texts() -> dict[str, Any]:
    """Every golden case's texts, by case and language."""
    records = [{"id": c["id"], **c["account"]} for c in ACCOUNTS["accounts"] if c["id"] in CASES]
    batch = assess(records, as_of=date.fromisoformat(ACCOUNTS["as_of"]))
    out: dict[str, Any] = {}
    for i, record in enumerate(records):
        out[record["id"]] = {}
        for lang in ("en", "zh"):
            a = batch.assessment(i, lang)
            out[record["id"]][lang] = {
                "tier": a.tier_text, "reasons_field": a.reasons_text, "advice": list(a.advice),
                "task_subject": a.task.subject if a.task else None,
                "task_first_line": a.task.description.splitlines()[0] if a.task else None,
            }
    return out


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_golden_texts(case: str, lang: str) -> None:
    expected = json.loads(TEXTS_FILE.read_text(encoding="utf-8"))["cases"]
    assert texts()[case][lang] == expected[case][lang]


def test_low_tier_golden_accounts_read_calm() -> None:
    got = texts()
    for case in ("G01", "G02"):
        assert got[case]["en"]["reasons_field"] == "No material risk found"
        assert got[case]["zh"]["reasons_field"] == "未发现重大风险"


if __name__ == "__main__":
    TEXTS_FILE.write_text(json.dumps({"about": __doc__.strip().splitlines()[0], "cases": texts()}, indent=2,
                                     ensure_ascii=False) + "\n", encoding="utf-8")
