"""The Fxiaoke connection in config.toml: defaults, every problem at once, secrets never echoed, zh by default."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from connector.config import FxiaokeConnection, load_config
from connector.errors import ConfigError
from connector.transforms import TRANSFORMS

ROOT = Path(__file__).resolve().parents[2]

GOOD = f"""
[connections.fx]
crm = "fxiaoke"
operator_user_id = "1000"
[connections.fx.auth]
app_id = "FSAID_131"
app_secret = "env:RB_FX_SECRET"
permanent_code = "env:RB_FX_CODE"
[jobs.default]
connection = "fx"
mapping = "{ROOT / 'mappings' / 'fxiaoke.toml'}"
"""
# Outside a loopback sandbox a literal secret is itself a problem, so both secrets come from the environment.
ENV = {"RB_FX_SECRET": "s3cret", "RB_FX_CODE": "permanent-c0de"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_minimal_connection_gets_the_documented_defaults_and_chinese(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD), environ=ENV)
    conn = cfg.connections["fx"]
    assert isinstance(conn, FxiaokeConnection)
    assert (conn.host, conn.auth_style, conn.rate_limit, conn.rate_window_s) == \
        ("https://open.fxiaoke.com", "token", 60, 20.0)
    assert (conn.opportunity_object, conn.followup_object, conn.watchlist_style) == \
        ("NewOpportunityObj", "ActiveRecordObj", "select_many")
    assert cfg.jobs["default"].lang == "zh"  # Fxiaoke jobs speak Chinese unless told otherwise
    assert "permanent-c0de" not in repr(conn) and "s3cret" not in repr(conn)


def test_an_explicit_language_wins(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD + 'lang = "en"\n'), environ=ENV)
    assert cfg.jobs["default"].lang == "en"


def test_every_problem_is_listed_at_once_without_secrets(tmp_path: Path) -> None:
    bad = GOOD.replace('operator_user_id = "1000"\n', 'auth_style = "oauth"\nrate_limit = 0\ndaily_quota = 10\n'
                       'daily_quota_reserve = 10\nopportunity_object = "DealObj"\n')
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, bad), environ={"RB_FX_CODE": "permanent-c0de"})  # app_secret unset
    keys = {p.key for p in err.value.problems}
    assert {"connections.fx.auth_style", "connections.fx.rate_limit", "connections.fx.operator_user_id",
            "connections.fx.opportunity_object", "connections.fx.auth.app_secret"} <= keys
    assert "permanent-c0de" not in str(err.value)


def test_the_quota_reserve_must_leave_calls_for_riskbridge(tmp_path: Path) -> None:
    bad = GOOD.replace('operator_user_id = "1000"\n', 'operator_user_id = "1000"\ndaily_quota = 10\n'
                       'daily_quota_reserve = 10\n')
    with pytest.raises(ConfigError, match="daily_quota_reserve"):
        load_config(write(tmp_path, bad), environ=ENV)


def test_fxiaoke_values_read_through_the_transforms() -> None:
    assert TRANSFORMS["date"]("1709222400000") == date(2024, 3, 1)  # midnight in Beijing, not the UTC day before
    assert TRANSFORMS["text"](["1000"]) == "1000"  # an employee field is a list
    assert TRANSFORMS["number"]("72.50") == 72.5
    assert [TRANSFORMS["status_closed"](v) for v in ("1", "2", "3", "4")] == [False, True, True, True]
    assert [TRANSFORMS["status_won"](v) for v in ("1", "2", "3")] == [False, True, False]
    assert TRANSFORMS["country"]("墨西哥") == "MX"
