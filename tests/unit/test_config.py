"""Config validation: every problem at once, with file, key and hint; secrets never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import load_config, resolve_secret
from connector.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

GOOD = f"""
state_url = "sqlite:///x.db"
[connections.sf]
crm = "salesforce"
instance_url = "https://acme.my.salesforce.com"
[connections.sf.auth]
method = "password"
username = "u@example.com"
password = "env:RB_TEST_PASSWORD"
[jobs.default]
connection = "sf"
mapping = "{ROOT / 'mappings' / 'salesforce.toml'}"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_loads_with_mapping_and_env_secret(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD), environ={"RB_TEST_PASSWORD": "hunter2"})
    name, job = cfg.job(None)
    assert name == "default" and job.objects == ["accounts", "deals"]
    assert cfg.mappings["default"].accounts.object == "Account"


def test_env_overrides_scalar_keys(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD), environ={"RB_TEST_PASSWORD": "x",
                                                      "RISKBRIDGE_STATE_URL": "sqlite:///other.db",
                                                      "RISKBRIDGE_JOBS__DEFAULT__BATCH_SIZE": "500"})
    assert cfg.state_url == "sqlite:///other.db"
    assert cfg.jobs["default"].batch_size == 500


def test_every_problem_is_listed_with_key_and_hint(tmp_path: Path) -> None:
    bad = GOOD.replace('method = "password"', 'method = "pasword"').replace("[jobs.default]", "[jobs.default]\nbatch_sise = 3")
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, bad), environ={})
    text = str(err.value)
    assert "connections.sf.auth" in text and "method" in text
    assert "jobs.default.batch_sise" in text and "check its spelling" in text


def test_semantic_problems_reported_together(tmp_path: Path) -> None:
    bad = GOOD.replace('connection = "sf"', 'connection = "nope"').replace("salesforce.toml", "missing.toml")
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, bad), environ={})
    problems = err.value.problems
    keys = {p.key for p in problems}
    assert "jobs.default.connection" in keys
    assert any("file not found" in p.message for p in problems)
    assert any("RB_TEST_PASSWORD" in p.message for p in problems)  # unset env secret, named not echoed


LOOPBACK = GOOD.replace('instance_url = "https://acme.my.salesforce.com"',
                       'instance_url = "http://127.0.0.1:9"\nlogin_url = "http://127.0.0.1:9"')


def test_literal_secret_is_not_in_repr_or_errors(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, LOOPBACK.replace("env:RB_TEST_PASSWORD", "s3cr3t-literal")), environ={})
    assert "s3cr3t-literal" not in repr(cfg)
    assert "s3cr3t-literal" not in cfg.model_dump_json()
    assert resolve_secret(cfg.connections["sf"].auth.password or "", "k").get_secret_value() == "s3cr3t-literal"


def test_missing_file_has_hint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "none.toml")


def test_example_config_parses_apart_from_its_secret_references() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(ROOT / "config.example.toml", environ={})
    # Only the secrets it points at are missing on this machine: the schema itself is valid.
    assert all(p.key.endswith(("private_key", "client_secret", "refresh_token")) for p in err.value.problems)
