"""`AssessmentBatch.outcome` and `.task`, the sync's lean per-record reads, equal the full `Assessment`'s fields."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from scoring import assess
from scoring.assessment import Outcome

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "scoring_accounts.json"
DOC: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_outcome_and_task_equal_the_full_assessment(lang: str) -> None:
    as_of = date.fromisoformat(DOC["as_of"])
    records = [{"id": case["id"], **case["account"]} for case in DOC["accounts"]]
    # One active override, so the override fields and the tier line are compared too.
    records[0] = {**records[0], "override_tier": "critical", "override_reason": "court filing",
                  "override_until": as_of + timedelta(days=30)}
    batch = assess(records, as_of=as_of, deals=[{"id": "d1", "account_id": records[1]["id"], "amount": 5e5,
                                                 "is_closed": False}])
    tasks = 0
    for i in range(len(batch)):
        full, lean = batch.assessment(i, lang), batch.outcome(i, lang)
        for f in dataclasses.fields(Outcome):
            assert getattr(lean, f.name) == getattr(full, f.name), (i, f.name)
        assert batch.task(i, lang) == full.task
        tasks += full.task is not None
    assert batch.outcome(0, lang).override is not None and tasks  # the comparison covered both


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_deal_outcome_equals_the_full_deal_assessment(lang: str) -> None:
    from scoring.deals import DealOutcome, assess_deals

    as_of = date.fromisoformat(DOC["as_of"])
    records = [{"id": case["id"], **case["account"]} for case in DOC["accounts"]]
    records[0] = {**records[0], "override_tier": "critical", "override_reason": "court filing",
                  "override_until": as_of + timedelta(days=30)}
    # Per account: a small open deal, one far over any credit, one with long terms, and one closed.
    deals = [{"id": f"d{i}-{k}", "account_id": r["id"], "amount": amount, "is_closed": closed,
              "payment_terms_days": terms}
             for i, r in enumerate(records)
             for k, (amount, closed, terms) in enumerate([(1e3, False, 30), (9e9, False, 30), (1e3, False, 400),
                                                          (9e9, True, 30)])]
    deals.append({"id": "orphan", "account_id": "nobody", "amount": 1.0})
    batch = assess(records, as_of=as_of, deals=deals)
    scored = assess_deals(deals, batch)
    flags = set()
    for i in range(len(scored)):
        if not scored.matched[i]:
            with pytest.raises(KeyError):
                scored.outcome(i, lang)
            continue
        full, lean = scored.assessment(i, lang), scored.outcome(i, lang)
        for f in dataclasses.fields(DealOutcome):
            assert getattr(lean, f.name) == getattr(full, f.name), (i, f.name)
        flags.add(len(full.flags))
    assert flags >= {0, 1}  # deals with and without flags were compared
