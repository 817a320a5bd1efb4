"""Operator input: every broken config, mapping and state store in tests/corpus/ is refused before any call.

Each case is a folder of files exactly as an admin might have written them, with placeholders for the
running sandbox (`@SF_URL@`, `@KEY_FILE@`, ...). The manifest says what the case is, which key the message
must name and which fragments it must contain. Each case runs the real CLI as a subprocess against a live
sandbox and asserts: exit 2, the message, exactly one JSON object on stdout with `--json`, no traceback,
and zero calls in the sandbox's call log.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.mapping import MAPPINGS_DIR
from connector.sandbox import running_sandbox
from tests.conftest import Org

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CASES: list[dict[str, Any]] = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
# pydantic's wording is for programmers; every message is rewritten for the admin who edits the file.
PYDANTIC_WORDING = ["Input tag", "found using", "Value error,", "Input should", "Field required", "Extra inputs",
                    "String should", "errors.pydantic.dev", "validation error for"]


@pytest.fixture(scope="module")
def sf_org() -> Iterator[Org]:
    with running_sandbox("salesforce", accounts=20, deals_per_account=1, seed=5) as server:
        yield Org(server, "salesforce")


def materialise(case: dict[str, Any], org: Org, tmp_path: Path) -> Path:
    """Copy a corpus case into `tmp_path` with the sandbox's values filled in; returns the config path."""
    creds = org.credentials()
    key_file = tmp_path / "sf.pem"
    key_file.write_text(creds["private_key"], encoding="utf-8")
    key_file.chmod(0o600)
    target = tmp_path / "case"
    shutil.copytree(CORPUS / case["name"], target)
    values = {"@SF_URL@": creds["instance_url"], "@CONSUMER_KEY@": creds["consumer_key"],
              "@USERNAME@": creds["username"], "@KEY_FILE@": str(key_file),
              "@STATE_URL@": f"sqlite:///{tmp_path / 'state.db'}", "@CASE@": str(target),
              "@MAPPING@": str(MAPPINGS_DIR / "salesforce.toml"), "@ZOHO_MAPPING@": str(MAPPINGS_DIR / "zoho.toml")}
    for path in target.rglob("*.toml"):
        if path.is_file():
            data = path.read_bytes()
            for placeholder, value in values.items():
                data = data.replace(placeholder.encode(), value.encode())
            path.write_bytes(data)
    return target / case["config"]


def run_cli(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "connector.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKBRIDGE_")}
    env.update(extra or {})
    return env


def test_the_corpus_is_big_enough_and_every_case_has_its_files() -> None:
    assert len(CASES) >= 30
    assert len({c["name"] for c in CASES}) == len(CASES)
    for case in CASES:
        assert (CORPUS / case["name"]).is_dir(), case["name"]
        assert case["expect"], case["name"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_broken_input_is_refused_before_any_call(case: dict[str, Any], sf_org: Org, tmp_path: Path) -> None:
    config = materialise(case, sf_org, tmp_path)
    env = cli_env(case.get("env"))
    sf_org.reset_calls()
    for command in case.get("commands", ["sync"]):
        json_flag = ["--json"] if command in ("sync", "runs") else []
        result = run_cli([command, "--config", str(config), *json_flag], env)
        where = f"{case['name']} / {command}: stdout={result.stdout!r} stderr={result.stderr!r}"
        assert result.returncode == 2, where
        assert "Traceback" not in result.stderr, where
        for fragment in case["expect"]:
            assert fragment in result.stderr, f"missing {fragment!r} in {where}"
        if case["key"]:
            assert case["key"] in result.stderr, where
        for fragment in [*case.get("absent", []), *PYDANTIC_WORDING]:
            assert fragment not in result.stdout + result.stderr, where
        if json_flag:
            lines = [line for line in result.stdout.splitlines() if line.strip()]
            assert len(lines) == 1, where
            payload = json.loads(lines[0])
            assert isinstance(payload, dict) and payload["status"] == "error" and payload["exit_code"] == 2, where
            problems = payload["error"]["problems"]
            assert problems and all({"file", "key", "message", "hint"} <= set(p) for p in problems), where
            if case["key"]:
                assert any(case["key"] == p["key"] or case["key"] in p["key"] for p in problems), where
    assert sf_org.calls()["total"] == 0, case["name"]


# --- one JSON object on every exit path ---------------------------------------------------------------


def _one_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, (result.stdout, result.stderr)
    payload = json.loads(lines[0])
    assert isinstance(payload, dict) and payload["exit_code"] == result.returncode, payload
    return payload


def test_sync_json_prints_one_object_on_every_exit_path(org: Org, config_path: Path) -> None:
    import socket
    from datetime import timedelta

    from connector.config import load_config
    from connector.state import StateStore

    env = cli_env()
    sync = ["sync", "--config", str(config_path), "--json"]
    ids = [r[org.names.id] for r in org.records(org.names.accounts)[:3]]
    org.faults(record_errors={i: "INVALID_DATA" if org.names.crm == "zoho" else "FIELD_CUSTOM_VALIDATION_EXCEPTION"
                              for i in ids})
    partial = run_cli(sync, env)
    assert partial.returncode == 1 and _one_json(partial)["status"] == "partial", partial.stderr
    org.faults()
    ok = run_cli(sync, env)
    assert ok.returncode == 0 and _one_json(ok)["status"] == "success", ok.stderr

    state_url = load_config(config_path).state_url
    store = StateStore(state_url)
    assert store.acquire("default", f"{socket.gethostname()}:{os.getpid()}:test", timedelta(minutes=5))
    busy = run_cli(sync, env)
    assert busy.returncode == 2 and _one_json(busy)["error"]["kind"] == "busy", busy.stderr
    assert "already running" in busy.stderr
    store.release("default", f"{socket.gethostname()}:{os.getpid()}:test")
    # A damaged row: a bug-shaped failure, not a config problem. PostgreSQL's JSON type refuses text that is
    # not JSON, so there the damage is a cursor whose time does not parse.
    sqlite = state_url.startswith("sqlite")
    with store.engine.begin() as db:
        db.exec_driver_sql("UPDATE cursors SET value = " + ("'not json'" if sqlite else "'{\"ts\": \"not a time\"}'"))
    store.close()
    internal = run_cli(sync, env)
    assert internal.returncode == 4, internal.stderr
    payload = _one_json(internal)
    assert payload["status"] in ("error", "failed") and "Traceback" not in internal.stderr
    assert f"internal error: {'JSONDecodeError' if sqlite else 'ValueError'}" in internal.stderr

    text = config_path.read_text()
    key = {"salesforce": "consumer_key", "zoho": "refresh_token", "fxiaoke": "permanent_code"}[org.names.crm]
    assert any(line.startswith(f"{key} =") for line in text.splitlines())  # the edit below must bite
    config_path.write_text("\n".join(f'{key} = "wrong-value"' if line.startswith(f"{key} =") else line
                                     for line in text.splitlines()) + "\n")
    refused = run_cli(sync, env)
    assert refused.returncode == 3, refused.stderr
    host = org.url.split("://", 1)[1].rstrip("/")
    assert host in _one_json(refused)["hosts"]
    assert host in refused.stderr, refused.stderr  # a connection error names the host it tried

    runs = run_cli(["runs", "--config", str(config_path), "--json"], env)
    assert runs.returncode == 0 and isinstance(json.loads(runs.stdout), list)
    bad_limit = run_cli(["runs", "--config", str(config_path), "--json", "--limit", "0"], env)
    assert bad_limit.returncode == 2 and _one_json(bad_limit)["error"]["problems"][0]["key"] == "--limit"


# --- a mapping that reads most rows wrong ----------------------------------------------------------------


def test_a_transform_that_fails_on_most_rows_blames_the_mapping(org: Org, config_path: Path) -> None:
    mapping = config_path.parent / "mapping.toml"
    n = org.names
    field = {"salesforce": "Bureau_Score__c", "zoho": "Bureau_Score", "fxiaoke": "bureau_score__c"}[n.crm]
    text = (MAPPINGS_DIR / f"{n.crm}.toml").read_text(encoding="utf-8")
    old = f'bureau_score = {{ field = "{field}", transform = "number" }}'
    assert old in text
    mapping.write_text(text.replace(old, old.replace('"number"', '"date"')), encoding="utf-8")
    config = config_path.read_text().replace(str(MAPPINGS_DIR / f"{n.crm}.toml"), str(mapping))
    config_path.write_text(config)
    result = run_cli(["sync", "--config", str(config_path), "--json"], cli_env())
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "partial"
    [warning] = summary["mapping_warnings"]
    assert warning["input"] == "bureau_score" and warning["field"] == field and warning["transform"] == "date"
    assert warning["sample"] and warning["failed"] >= warning["rows"] / 2
    skipped = [s for s in summary["skipped"] if "bureau_score" in s["reason"]]
    assert skipped and all(s["reason"].startswith("the mapping is probably wrong") for s in skipped)
    human = run_cli(["sync", "--config", str(config_path), "--dry-run"], cli_env())
    assert human.returncode == 1
    assert "the mapping is probably wrong" in human.stdout and "fix it in the CRM" not in human.stdout
    assert "bureau_score" in human.stdout and "'date'" in human.stdout


def test_state_url_from_a_secret_and_a_shared_key_file_warning(sf_org: Org, tmp_path: Path) -> None:
    """The good side of two rules: state_url read from env: works end to end, and a key file other users can
    read is used but warned about."""
    from connector.sandbox.client_config import write_config

    config = write_config(tmp_path / "config.toml", "salesforce", sf_org.credentials(), accounts_only=True)
    text = config.read_text()
    state_line = next(line for line in text.splitlines() if line.startswith("state_url"))
    config.write_text(text.replace(state_line, 'state_url = "env:RB_TEST_STATE_URL"'))
    config.with_suffix(".key.pem").chmod(0o644)
    env = cli_env({"RB_TEST_STATE_URL": f"sqlite:///{tmp_path / 'from-env.db'}"})
    result = run_cli(["sync", "--config", str(config), "--json"], env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "success"
    assert "readable by other users" in result.stderr and "chmod 600" in result.stderr
    assert (tmp_path / "from-env.db").is_file()
    runs = run_cli(["runs", "--config", str(config), "--json"], env)
    assert [r["status"] for r in json.loads(runs.stdout)] == ["success"]


def test_sandbox_serve_refuses_a_folder_as_its_config_file(tmp_path: Path) -> None:
    result = run_cli(["sandbox", "serve", "--crm", "zoho", "--accounts", "5", "--write-config", str(tmp_path)],
                     cli_env(), timeout=60)
    assert result.returncode == 2, result.stderr
    assert "--write-config" in result.stderr and "Is a directory" in result.stderr
    assert "Traceback" not in result.stderr
