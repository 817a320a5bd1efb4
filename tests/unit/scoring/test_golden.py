"""Golden accounts, strong to distressed: exact tier, Risk Score, reasons and knockouts."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from scoring import assess

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "scoring_accounts.json"
DOC: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
CASES = DOC["accounts"]


@pytest.fixture(scope="module")
def scored() -> dict[str, Any]:
    records = [{"id": case["id"], **case["account"]} for case in CASES]
    batch = assess(records, as_of=date.fromisoformat(DOC["as_of"]))
    return {a.record_id: a for a in batch.assessments()}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_golden_account(case: dict[str, Any], scored: dict[str, Any]) -> None:
    a = scored[case["id"]]
    expected = case["expected"]
    got = {"tier": a.tier, "risk_score": a.risk_score, "reasons": [r.code for r in a.reasons],
           "knockouts": [k.code for k in a.knockouts]}
    assert got == expected, case["description"]


def test_golden_set_spans_every_tier_and_is_ordered_strong_to_weak(scored: dict[str, Any]) -> None:
    assert {a.tier for a in scored.values()} == {"low", "medium", "high", "critical"}
    plain = [scored[c["id"]].risk_score for c in CASES[:6]]  # G01-G06 have no knockout or override
    assert plain == sorted(plain)
