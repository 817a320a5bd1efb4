"""Raw-column characteristics in a CRM sync, against the Salesforce sandbox on loopback: a card that bins a
column no CRM field supplies is rejected by config validation (so by `check` and `sync`) with a clear
message; a card that bins canonical fields as raw columns (industry levels, annual revenue) syncs, and
the recorded points are the card's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.config import load_config
from connector.errors import ConfigError
from connector.sandbox import running_sandbox
from connector.state import StateStore
from connector.tables import AssessmentRow
from scoring import assess, load_scorecard
from scoring.batch import accounts_batch
from scoring.scorecard import DEFAULT_SCORECARD
from tests.conftest import Org, sandbox_config

CHECKING = '''
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
  { label = "other", categories = [], points = 5.0 },
]
'''

CANONICAL = '''
[characteristics.industry_level]
column = "industry"
kind = "categorical"
unseen = "other"
group = "industry"
reason_code = "INDUSTRY_LEVEL"
reason = { en = "Industry with many defaults", zh = "违约多的行业" }
bins = [
  { label = "missing", state = "missing", points = 0.0 },
  { label = "tech", categories = ["Technology"], points = 20.0 },
  { label = "other", categories = [], points = 7.0 },
]

[characteristics.revenue]
column = "annual_revenue"
kind = "numeric"
higher = "safer"
group = "financial"
reason_code = "REVENUE"
reason = { en = "Small revenue", zh = "收入少" }
bins = [
  { label = "missing", state = "missing", points = 0.0 },
  { label = "small", upper = 5e6, points = 2.0 },
  { label = "large", lower = 5e6, points = 12.0 },
]
'''


def _config(tmp_path: Path, org: Org, card_text: str) -> Path:
    tmp_path.mkdir()
    card = tmp_path / "card.toml"
    card.write_text(DEFAULT_SCORECARD.read_text(encoding="utf-8") + card_text, encoding="utf-8")
    config = sandbox_config(tmp_path / "config.toml", "salesforce", org.credentials(), accounts_only=True)
    text = config.read_text(encoding="utf-8")
    assert 'scorecard = "default"' in text
    config.write_text(text.replace('scorecard = "default"', f"scorecard = {json.dumps(str(card))}"), encoding="utf-8")
    return config


def test_raw_columns_a_crm_cannot_supply_are_rejected_and_canonical_ones_sync(tmp_path: Path) -> None:
    with running_sandbox("salesforce", accounts=25, deals_per_account=0, seed=5) as server:
        org = Org(server, "salesforce")
        rejected = _config(tmp_path / "rejected", org, CHECKING)
        with pytest.raises(ConfigError) as caught:
            load_config(rejected)
        problem = next(p for p in caught.value.problems if p.key == "jobs.default.scorecard")
        assert "checking_status" in problem.message and "a CRM sync cannot supply" in problem.message
        assert "--exclude checking_status" in problem.hint
        run = CliRunner().invoke(app, ["check", "--config", str(rejected), "--offline"])
        assert run.exit_code == 2 and "checking_status" in run.output
        org.reset_calls()
        run = CliRunner().invoke(app, ["sync", "--config", str(rejected), "--job", "default"])
        assert run.exit_code == 2 and "cannot supply" in run.output
        assert org.calls()["total"] == 0  # rejected before any call to the CRM

        config = _config(tmp_path / "accepted", org, CANONICAL)
        run = CliRunner().invoke(app, ["sync", "--config", str(config), "--job", "default"])
        assert run.exit_code == 0, run.output

    card = load_scorecard(load_config(config).jobs["default"].scorecard)
    store = StateStore(f"sqlite:///{config.with_suffix('.db')}")
    with store.session() as s:
        rows = list(s.scalars(s.query(AssessmentRow).filter_by(job="default", object="accounts").statement))
    assert len(rows) == 25
    day = rows[0].as_of
    inputs = [dict(r.detail["inputs"]) for r in rows]
    j, k = card.names.index("industry_level"), card.names.index("revenue")
    result = assess(accounts_batch(inputs), card, as_of=day)
    # The CRM's Industry and AnnualRevenue reached the raw-column bins: both ways of each are seen.
    levels = {card.characteristics[j].bins[b].label for b in result.bins[:, j]}
    sizes = {card.characteristics[k].bins[b].label for b in result.bins[:, k]}
    assert {"tech", "other"} <= levels and {"small", "large"} <= sizes
    assert np.allclose([r.pd for r in rows], result.pd, rtol=0, atol=1e-12)
