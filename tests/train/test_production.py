"""A trained card in production, end to end against the Salesforce sandbox on loopback: `sync` records the
same pd as the training pipeline; `drift` compares the run with the card's development data; `backtest`
joins the recorded tiers with later outcomes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("optbinning")
pytest.importorskip("sklearn")

from connector.sandbox import running_sandbox  # noqa: E402
from connector.state import StateStore  # noqa: E402
from connector.tables import AssessmentRow  # noqa: E402
from scoring import read_accounts_csv  # noqa: E402
from scoring.batch import accounts_batch  # noqa: E402
from scoring.train import train_scorecard  # noqa: E402
from scoring.trainmatrix import training_frame  # noqa: E402
from tests.conftest import Org, lift_rate_limit, sandbox_config  # noqa: E402
from tests.train.labelled import AS_OF, labelled_rows, write_csv  # noqa: E402


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "connector.cli", *args], capture_output=True, text=True, timeout=180)


def test_sync_drift_and_backtest_with_a_trained_card(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "labelled.csv", labelled_rows(3000))
    result = train_scorecard(read_accounts_csv(data), target="status", bad="default", as_of=AS_OF,
                             exclude=["max_days_past_due"])
    card = tmp_path / "trained.toml"
    card.write_text(result.card_text, encoding="utf-8")
    with running_sandbox("salesforce", accounts=40, deals_per_account=1, seed=3) as server:
        lift_rate_limit(server)
        org = Org(server, "salesforce")
        config = sandbox_config(tmp_path / "config.toml", "salesforce", org.credentials(), accounts_only=True)
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace('scorecard = "default"', f"scorecard = {json.dumps(str(card))}"),
                          encoding="utf-8")
        run = _cli("sync", "--config", str(config), "--job", "default")
        assert run.returncode == 0, run.stderr
        written = {r["Id"]: r for r in org.records("Account")}

    store = StateStore(f"sqlite:///{config.with_suffix('.db')}")
    with store.session() as s:
        rows = list(s.scalars(s.query(AssessmentRow).filter_by(job="default", object="accounts").statement))
    assert len(rows) == 40 and all(r.model_version.startswith("trained-") for r in rows)
    # Same pd through sync as through the training pipeline, from the inputs the run scored.
    for day in {r.as_of for r in rows}:
        group = [r for r in rows if r.as_of == day]
        batch = accounts_batch([dict(r.detail["inputs"]) for r in group])
        matrix = training_frame(batch, result.scorecard.lookups, result.candidates, result.raw, as_of=day)
        pipe = result.pipeline.predict_proba(matrix)[:, 1]
        assert np.max(np.abs(np.array([r.pd for r in group]) - pipe)) < 1e-9
    # What the CRM now shows is what the run recorded.
    assert {r.record_id: r.score for r in rows} == {i: float(v["Risk_Score__c"]) for i, v in written.items()}

    run = _cli("drift", "--config", str(config), "--job", "default", "--json")
    assert run.returncode in (0, 1), run.stderr
    report = json.loads(run.stdout)
    assert report["accounts"] == 40 and set(report["psi"]) == set(result.selected)
    assert all(isinstance(v, float) and v >= 0 for v in report["psi"].values())
    assert (run.returncode == 1) == bool(report["flagged"])

    # Outcomes: the five riskiest recorded accounts went bad later; one outcome precedes every assessment,
    # one names an account riskbridge never scored.
    ranked = sorted(rows, key=lambda r: r.score, reverse=True)
    later = (max(r.scored_at.date() for r in rows) + timedelta(days=90)).isoformat()
    lines = ["account_id,outcome_date,bad"]
    lines += [f"{r.record_id},{later},{1 if i < 5 else 0}" for i, r in enumerate(ranked[:-1])]
    lines += [f"{ranked[-1].record_id},{date(2000, 1, 1).isoformat()},1", f"NOPE,{later},1"]
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = _cli("backtest", "--config", str(config), "--job", "default", "--outcomes", str(outcomes), "--json")
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout)
    assert figures["matched"] == 39 and figures["unmatched"] == 2 and figures["bads"] == 5
    # The five bads hold the five highest Risk Scores: AUC 1, less half a tie with the sixth if any.
    scores = [r.score for r in ranked[:-1]]
    assert figures["auc"] == (1.0 if scores[4] > scores[5] else pytest.approx(figures["auc"]))
    assert figures["auc"] > 0.95
    assert sum(t["accounts"] for t in figures["tiers"]) == 39

    bad = tmp_path / "bad_outcomes.csv"
    bad.write_text("account_id,outcome_date,bad\nA1,31/12/2026,maybe\n", encoding="utf-8")
    run = _cli("backtest", "--config", str(config), "--job", "default", "--outcomes", str(bad))
    assert run.returncode == 2 and "not YYYY-MM-DD" in run.stderr
