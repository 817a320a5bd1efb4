"""Config validation: every problem at once, with file, key and hint; secrets never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import load_config, resolve_secret
from connector.errors import ConfigError, ConfigProblem

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
    # Only the files and secrets it points at are missing on this machine: the schema itself is valid.
    assert all(p.key.endswith(("private_key", "client_secret", "refresh_token", "token_cache", "webhook.url"))
               for p in err.value.problems)


def problems_of(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), environ={"RB_TEST_PASSWORD": "x", **(environ or {})})
    return err.value.problems


def test_messages_are_written_for_admins_not_programmers(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, GOOD.replace('crm = "salesforce"', 'crm = "salesfroce"'))
    assert str(problem).endswith("connections.sf.crm: 'salesfroce' is not one of salesforce, zoho, "
                                 "fxiaoke (did you mean salesforce?)")
    [problem] = problems_of(tmp_path, GOOD.replace("instance_url", "instance_url = \"https://x.example\"\ninstnace_url"))
    assert problem.key == "connections.sf.instnace_url" and "did you mean instance_url?" in problem.message
    for text in (GOOD.replace('method = "password"', 'method = "jwt"'),):
        [problem] = problems_of(tmp_path, text)
        assert "Value error" not in problem.message and "needs consumer_key, private_key" in problem.message


def test_a_value_from_the_environment_names_its_variable(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, GOOD, {"RISKBRIDGE_JOBS__DEFAULT__BATCH_SIZE": "lots"})
    assert problem.key == "jobs.default.batch_size"
    assert "RISKBRIDGE_JOBS__DEFAULT__BATCH_SIZE" in problem.message and "'lots'" in problem.message
    [problem] = problems_of(tmp_path, GOOD, {"RISKBRIDGE_STATE_URL": "not a url"})
    assert problem.key == "state_url" and "RISKBRIDGE_STATE_URL" in problem.message


def test_literal_secrets_only_for_loopback_urls(tmp_path: Path) -> None:
    literal = GOOD.replace("env:RB_TEST_PASSWORD", "hunter2-literal")
    [problem] = problems_of(tmp_path, literal)
    assert problem.key == "connections.sf.auth.password" and "loopback" in problem.message
    assert "env:" in problem.hint and "hunter2-literal" not in str(problem)
    assert load_config(write(tmp_path, LOOPBACK.replace("env:RB_TEST_PASSWORD", "hunter2")), environ={})
    # A literal set through the environment is not written in the file.
    assert load_config(write(tmp_path, GOOD), environ={"RISKBRIDGE_CONNECTIONS__SF__AUTH__PASSWORD": "from-env"})


def test_a_file_secret_readable_by_others_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = tmp_path / "pw"
    secret.write_text("hunter2-in-a-file\n")
    secret.chmod(0o644)
    assert load_config(write(tmp_path, GOOD.replace("env:RB_TEST_PASSWORD", f"file:{secret}")), environ={})
    assert "readable by other users" in caplog.text and "chmod 600" in caplog.text
    assert "hunter2-in-a-file" not in caplog.text
    caplog.clear()
    secret.chmod(0o600)
    load_config(write(tmp_path, GOOD.replace("env:RB_TEST_PASSWORD", f"file:{secret}")), environ={})
    assert "readable by other users" not in caplog.text


def test_state_url_may_be_a_secret_reference_and_is_checked(tmp_path: Path) -> None:
    text = GOOD.replace('state_url = "sqlite:///x.db"', 'state_url = "env:RB_TEST_DB_URL"')
    cfg = load_config(write(tmp_path, text), environ={"RB_TEST_PASSWORD": "x",
                                                      "RB_TEST_DB_URL": f"sqlite:///{tmp_path / 'state.db'}"})
    assert cfg.state_url == "env:RB_TEST_DB_URL"  # the reference is kept; the store resolves it when it opens
    remote = "postgresql+psycopg://rb:pw-inline@db.example.com/rb"
    problems = problems_of(tmp_path, GOOD.replace("sqlite:///x.db", remote))
    assert all(p.key == "state_url" and "pw-inline" not in str(p) for p in problems)
    assert any("written inline" in p.message and "rb:***@db.example.com" in p.message for p in problems)
    [problem] = problems_of(tmp_path, GOOD.replace("sqlite:///x.db", f"sqlite:///{tmp_path}/missing/x.db"))
    assert "does not exist" in problem.message and "mkdir -p" in problem.hint


def test_objects_and_due_days_are_bounded(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, GOOD + 'objects = ["deals"]\n')
    assert problem.key == "jobs.default.objects" and "deals are scored with their account" in problem.message
    [problem] = problems_of(tmp_path, GOOD + "[jobs.default.tasks]\ndue_days = { high = 100000000000 }\n")
    assert problem.key == "jobs.default.tasks.due_days.high" and "between 0 and 365" in problem.message


def test_unreadable_config_files_are_problems_not_tracebacks(tmp_path: Path) -> None:
    folder = tmp_path / "config.toml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="is a folder, not a file"):
        load_config(folder)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"# M\xfcnchen\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(latin)


@pytest.mark.parametrize(("url", "fragment"), [
    ("not a url", "is not a database URL"),
    ("mongodb://127.0.0.1/rb", "not mongodb"),
    ("postgresql+asyncpg://rb@127.0.0.1/rb", "does not support the driver 'asyncpg'"),
    ("postgresql+pg8000://rb:pw@127.0.0.1/rb", "rb:***@127.0.0.1/rb: the postgresql driver 'pg8000' is not installed"),
    ("sqlite:////proc/riskbridge/x.db", "the folder /proc/riskbridge does not exist"),
])
def test_state_urls_are_checked_without_connecting(url: str, fragment: str) -> None:
    from connector.store_url import check_state_url

    problems = check_state_url(url, source="config.toml")
    assert problems and any(fragment in p.message for p in problems), problems
    assert all("pw@" not in str(p) for p in problems)


def test_a_state_store_that_cannot_open_is_a_config_error(tmp_path: Path) -> None:
    from connector.errors import StateStoreError
    from connector.state import StateStore

    damaged = tmp_path / "state.db"
    damaged.write_bytes(b"SQLite format 3\x00" + bytes([0x10, 0x00, 0x01, 0x01]) + b"\xff" * 8000)
    with pytest.raises(StateStoreError, match="cannot open the state store"):
        StateStore(f"sqlite:///{damaged}")
    with pytest.raises(StateStoreError, match="environment variable RB_TEST_UNSET_URL is not set"):
        StateStore("env:RB_TEST_UNSET_URL")
    url_file = _secret(tmp_path, "sqlite:///" + str(tmp_path / "ok.db"))
    store = StateStore(f"file:{url_file}")
    assert store.runs() == [] and store.url.endswith("ok.db")
    store.close()


def _secret(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "db-url"
    path.write_text(text)
    path.chmod(0o600)
    return path
