"""The admin's path over the wire: `check`, `provision` and `mappings suggest` against sandbox orgs.

Each test starts sandboxes on loopback (`provisioned`, `bare` or `renamed` orgs), drives the CLI and
asserts on the sandbox's own state and call log: what exists in the org afterwards, and which calls
(reads and writes) were made.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from typer.testing import CliRunner, Result

from connector.cli import app
from connector.config import load_config
from connector.mapping import MAPPINGS_DIR, load_mapping
from connector.sandbox import running_sandbox
from connector.state import StateStore
from tests.conftest import NAMES, Org, lift_rate_limit, sandbox_config

runner = CliRunner()
SEED = 11
# Metadata endpoints `check` may call; anything else would be reading data or writing.
METADATA = {
    "salesforce": {"POST oauth2/token", "GET limits", "GET sobjects/Account/describe",
                   "GET sobjects/Opportunity/describe", "GET sobjects/Task/describe"},
    "zoho": {"POST oauth/v2/token", "GET settings/fields", "GET users", "GET settings/tags",
             "GET bulk/read/{job_id}"},  # the ZohoCRM.bulk.read probe: asks for a job that does not exist
    "fxiaoke": {"POST /oauth2.0/token", "POST crm/v2/object/describe"},
}
# Fxiaoke has no field-creation API: `provision` lists the fields and the admin creates them in the console.
NO_FIELD_API = "fxiaoke"


def console_creates(org: Org, steps: list[dict[str, str]]) -> int:
    """What a Fxiaoke admin does in 管理后台 → 对象管理 for each field `provision` listed: the field appears
    in the tenant's describe with the type the listing named (the provisioned tenant's definition)."""
    from connector.sandbox.fxiaoke_org import org_schema

    full = org_schema("provisioned", SEED).fields
    layout = org.server.sandbox.app.store.schema.fields  # type: ignore[attr-defined]
    created = 0
    for step in steps:
        if step["action"] == "create":
            layout[step["object"]][step["field"]] = full[step["object"]][step["field"]]
            created += 1
    return created


@contextmanager
def serve(crm: str, variant: str, tmp_path: Path, *, accounts: int = 60) -> Iterator[tuple[Org, Path]]:
    """A sandbox org of one variant and a config for it, in its own directory."""
    with running_sandbox(crm, accounts=accounts, deals_per_account=2, seed=SEED, org=variant) as server:
        lift_rate_limit(server)
        org = Org(server, crm)
        yield org, sandbox_config(tmp_path / variant / "config.toml", crm, org.credentials())


def cli(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def use_mapping(config_path: Path, mapping: Path) -> None:
    """Point the config's job at another mapping file."""
    text = re.sub(r'(?m)^mapping = .*$', f"mapping = {json.dumps(str(mapping))}", config_path.read_text())
    config_path.write_text(text)


def edited_mapping(crm: str, target: Path, edit: dict[str, str]) -> Path:
    """A copy of the default mapping with lines replaced (old line start -> new line)."""
    lines = (MAPPINGS_DIR / f"{crm}.toml").read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        for start, new in edit.items():
            if line.startswith(start):
                line = new
        out.append(line)
    target.write_text("\n".join(out) + "\n", encoding="utf-8")
    return target


def rows(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, str]]:
    """(object, canonical) -> row of a `check --json` report."""
    return {(obj, r["canonical"]): r for obj, items in report["objects"].items() for r in items}


def scores(org: Org) -> dict[str, float | None]:
    """Account id -> the Risk Score written into the org (the same seed gives the same ids in every variant)."""
    return {str(r[org.names.id]): r.get(org.names.score) for r in org.records(org.names.accounts)}


# --- check ------------------------------------------------------------------------------------------


def test_check_on_a_provisioned_org_is_all_well_reads_only_metadata_and_records_no_run(org: Org,
                                                                                       config_path: Path) -> None:
    org.reset_calls()
    result = cli("check", "--config", config_path, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["counts"]["error"] == 0 and report["counts"]["missing"] == 0
    found = rows(report)
    assert found[(org.names.accounts, "risk_tier")]["status"] == "ok"
    assert found[(org.names.tasks, "task_key")]["field"] == org.names.task_key
    assert found[("org", "authentication")]["status"] == "ok"
    calls = org.calls()
    assert calls["writes"] == 0
    assert set(calls["by_endpoint"]) <= METADATA[org.names.crm], calls["by_endpoint"]
    assert StateStore(load_config(config_path).state_url).runs(None, 10) == []
    table = cli("check", "--config", config_path)
    assert table.exit_code == 0 and "all well" in table.stdout and org.names.tier in table.stdout
    secrets = [v for k, v in org.credentials().items() if k in ("private_key", "client_secret", "refresh_token",
                                                                "app_secret", "permanent_code")]
    assert secrets and not any(str(v)[:40] in table.output + result.output for v in secrets)


def test_check_offline_makes_no_call(org: Org, config_path: Path) -> None:
    org.reset_calls()
    result = cli("check", "--config", config_path, "--offline", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["offline"] is True
    assert org.calls()["total"] == 0


def test_check_lists_config_problems_offline_with_exit_2(org: Org, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[connections.x]\ncrm = "salesforce"\n[jobs.default]\nconnection = "y"\nmapping = "nope.toml"\n')
    org.reset_calls()
    result = cli("check", "--config", bad, "--json")
    assert result.exit_code == 2
    problems = json.loads(result.stdout)["problems"]
    assert {"connections.x.instance_url", "jobs.default.mapping"} <= {p["key"] for p in problems}
    assert org.calls()["total"] == 0


def test_a_wrong_object_name_exits_2_before_any_data_is_read(org: Org, config_path: Path, tmp_path: Path) -> None:
    wrong = "Acount" if org.names.crm == "salesforce" else "Acounts"
    mapping = edited_mapping(org.names.crm, tmp_path / "wrong.toml", {"object = \"Account": f'object = "{wrong}"'})
    use_mapping(config_path, mapping)
    org.reset_calls()
    result = cli("check", "--config", config_path, "--json")
    assert result.exit_code == 2, result.output
    row = rows(json.loads(result.stdout))[(wrong, "accounts")]
    assert row["status"] == "error" and wrong in row["hint"]
    calls = org.calls()
    assert calls["writes"] == 0
    data = [e for e in calls["by_endpoint"] if "query" in e or e.endswith(f" {org.names.accounts}") or "coql" in e]
    assert data == []
    for command in (["provision"], ["mappings", "suggest"]):
        refused = cli(*command, "--config", config_path)
        assert refused.exit_code == 2 and wrong in refused.output, (command, refused.output)
    assert org.calls()["writes"] == 0


def test_a_transform_that_cannot_read_its_field_is_an_error(org: Org, config_path: Path, tmp_path: Path) -> None:
    field = {"salesforce": "Credit_Limit__c", "zoho": "Credit_Limit", "fxiaoke": "credit_limit__c"}[org.names.crm]
    mapping = edited_mapping(org.names.crm, tmp_path / "date.toml",
                             {"credit_limit =": f'credit_limit = {{ field = "{field}", transform = "date" }}'})
    use_mapping(config_path, mapping)
    result = cli("check", "--config", config_path, "--json")
    assert result.exit_code == 2, result.output
    row = rows(json.loads(result.stdout))[(org.names.accounts, "credit_limit")]
    assert row["status"] == "error" and "'date'" in row["hint"] and "'number'" in row["hint"]
    table = cli("check", "--config", config_path)
    assert table.exit_code == 2 and "not ready" in table.stdout


def test_refused_credentials_exit_3_with_one_json_object(org: Org, config_path: Path) -> None:
    key = {"salesforce": "consumer_key", "zoho": "refresh_token", "fxiaoke": "app_secret"}[org.names.crm]
    text = "\n".join(f'{key} = "wrong-value"' if line.startswith(f"{key} =") else line
                     for line in config_path.read_text().splitlines())
    config_path.write_text(text + "\n")
    result = cli("check", "--config", config_path, "--json")
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert report["exit_code"] == 3 and report["ok"] is False and report["error"]
    assert "wrong-value" not in result.output


# --- bare org: check fails, provision, check passes, sync writes, provision again writes nothing ----------


def test_bare_org_from_nothing_to_a_verified_first_sync(crm: str, tmp_path: Path) -> None:
    with serve(crm, "bare", tmp_path) as (org, config_path):
        n = org.names
        before = cli("check", "--config", config_path, "--json")
        assert before.exit_code == 2, before.output
        found = rows(json.loads(before.stdout))
        expected = {(n.accounts, "risk_score"): "Number(5, 1)", (n.accounts, "risk_tier"):
                    "Picklist(low, medium, high, critical)", (n.accounts, "reasons"): "Long text(1000)",
                    (n.accounts, "watchlist"): "Checkbox", (n.accounts, "scored_at"): "Date/Time",
                    (n.accounts, "override_until"): "Date", (n.accounts, "credit_limit"): "Currency(16, 2)",
                    (n.deals, "flags"): "Text(255)", (n.tasks, "task_key"): "Text(120)"}
        for key, type_ in expected.items():
            assert found[key]["status"] == "missing" and type_ in found[key]["hint"], (key, found[key])
        assert found[(n.accounts, "name")]["status"] == "ok"
        report = json.loads(before.stdout)
        if crm == "salesforce":  # the watchlist is the checkbox: the org table must not call it ok
            assert found[("org", "watchlist")]["status"] == "missing"
        steps = " ".join(report["next_steps"])
        assert "riskbridge provision --apply" in steps and "riskbridge mappings suggest" in steps

        org.reset_calls()
        plan = cli("provision", "--config", config_path, "--inputs", "--json")
        assert plan.exit_code == 0, plan.output
        steps = json.loads(plan.stdout)["steps"]
        assert {s["field"] for s in steps if s["action"] == "create"} >= {n.score, n.tier, n.task_key}
        assert org.calls()["writes"] == 0  # without --apply nothing changes

        applied = cli("provision", "--config", config_path, "--inputs", "--apply", "--json")
        assert applied.exit_code == 0, applied.output
        if crm == NO_FIELD_API:  # nothing is written; the listing tells the admin what to create, typed
            assert json.loads(applied.stdout)["writes"] == org.calls()["writes"] == 0
            listed = {s["field"]: s["detail"] for s in steps if s["action"] == "create"}
            assert "数字 (number), 1 decimal place(s)" in listed[n.score] and "单选 (select_one)" in listed[n.tier]
            assert "多选 (select_many), options include credit_watch" in listed[n.watchlist]
            assert "单行文本 (text), max 120 characters" in listed[n.task_key]
            human = cli("provision", "--config", config_path, "--inputs")
            assert human.exit_code == 0 and "新建字段" in human.stdout
            assert console_creates(org, steps) > 40
        else:
            assert json.loads(applied.stdout)["writes"] == org.calls()["writes"] > 40

        after = cli("check", "--config", config_path, "--json")
        assert after.exit_code == 0, after.output

        synced = cli("sync", "--config", config_path, "--json")
        assert synced.exit_code == 0, synced.output
        assert json.loads(synced.stdout)["status"] == "success"
        written = scores(org)
        # Fxiaoke keeps numbers as strings ("51.0"), as its API returns them.
        assert len(written) == 60 and all(isinstance(v, int | float) or (crm == NO_FIELD_API and float(str(v)) >= 0)
                                          for v in written.values())

        org.reset_calls()
        again = cli("provision", "--config", config_path, "--inputs", "--apply", "--json")
        assert again.exit_code == 0, again.output
        assert json.loads(again.stdout)["writes"] == 0
        assert org.calls()["writes"] == 0


def test_provision_reports_an_incompatible_field_and_leaves_it_alone(org: Org, config_path: Path,
                                                                     tmp_path: Path) -> None:
    employees = {"salesforce": "NumberOfEmployees", "zoho": "Employees", "fxiaoke": "registered_capital"}[org.names.crm]
    mapping = edited_mapping(org.names.crm, tmp_path / "clash.toml",
                             {f'model_version = "{org.names.score.replace("score", "model_version").replace("Score", "Model_Version")}':
                              f'model_version = "{employees}"'})
    use_mapping(config_path, mapping)
    org.reset_calls()
    result = cli("provision", "--config", config_path, "--json")
    assert result.exit_code == 2, result.output
    conflicts = [s for s in json.loads(result.stdout)["steps"] if s["action"] == "conflict"]
    assert [s["field"] for s in conflicts] == [employees] and "left untouched" in conflicts[0]["detail"]
    assert org.calls()["writes"] == 0
    applied = cli("provision", "--config", config_path, "--apply", "--json")
    assert applied.exit_code == 2
    checked = cli("check", "--config", config_path, "--json")
    row = rows(json.loads(checked.stdout))[(org.names.accounts, "model_version")]
    assert row["status"] == "error" and "text" in row["hint"]  # still the number field it was


def test_provision_out_writes_a_deployable_project_without_a_call(tmp_path: Path) -> None:
    with serve("salesforce", "bare", tmp_path) as (org, config_path):
        org.reset_calls()
        result = cli("provision", "--config", config_path, "--out", tmp_path / "sfdx")
        assert result.exit_code == 0, result.output
        assert (tmp_path / "sfdx" / "sfdx-project.json").is_file()
        assert (tmp_path / "sfdx/force-app/main/default/objects/Account/fields/Risk_Tier__c.field-meta.xml").is_file()
        assert org.calls()["total"] == 0
    with serve("zoho", "bare", tmp_path) as (_org, zoho_config):
        refused = cli("provision", "--config", zoho_config, "--out", tmp_path / "zoho-sfdx")
        assert refused.exit_code == 2 and "Salesforce DX" in refused.stderr


# --- renamed org: suggest, provision, sync; the scores match a provisioned org's ---------------------------


def test_renamed_org_suggest_provision_sync_scores_like_a_provisioned_org(crm: str, tmp_path: Path) -> None:
    with serve(crm, "provisioned", tmp_path) as (reference, reference_config):
        assert cli("sync", "--config", reference_config).exit_code == 0
        expected = scores(reference)
    with serve(crm, "renamed", tmp_path) as (org, config_path):
        suggested = tmp_path / "suggested.toml"
        result = cli("mappings", "suggest", "--config", config_path, "--out", suggested)
        assert result.exit_code == 0, result.output
        mapping = load_mapping(suggested)  # loads unchanged
        truth = org.http.get(f"{org.url}/__sandbox/org", timeout=10).json()
        assert truth["variant"] == "renamed"
        hits = total = 0
        raw = tomllib.loads(suggested.read_text(encoding="utf-8"))
        for kind, fields in truth["fields"].items():
            for canonical, api_name in fields.items():
                total += 1
                spec = raw[kind]["inputs"].get(canonical)
                chosen = spec["field"] if isinstance(spec, dict) else spec
                hits += chosen is not None and chosen.split(".", 1)[0].lower() == str(api_name).lower()
        print(f"suggest hit rate on the renamed {crm} org: {hits}/{total}")
        assert hits / total >= 0.95
        assert mapping.accounts.outputs == load_mapping(MAPPINGS_DIR / f"{crm}.toml").accounts.outputs

        use_mapping(config_path, suggested)
        org.reset_calls()
        provisioned = cli("provision", "--config", config_path, "--apply", "--json")
        assert provisioned.exit_code == 0
        if crm == NO_FIELD_API:
            assert org.calls()["writes"] == 0 and console_creates(org, json.loads(provisioned.stdout)["steps"]) > 0
        else:
            assert org.calls()["writes"] > 0
        assert cli("check", "--config", config_path).exit_code == 0
        synced = cli("sync", "--config", config_path, "--json")
        assert synced.exit_code == 0, synced.output
        got = scores(org)
    assert set(got) == set(expected)
    same = sum(1 for record_id, score in expected.items() if got[record_id] == score and score is not None)
    print(f"scores equal to the provisioned org's: {same}/{len(expected)}")
    assert same / len(expected) >= 0.95


@pytest.mark.parametrize("crm", ["salesforce", "zoho", "fxiaoke"])
def test_suggest_on_a_provisioned_org_proposes_the_default_mapping(crm: str, tmp_path: Path) -> None:
    with serve(crm, "provisioned", tmp_path, accounts=5) as (_org, config_path):
        result = cli("mappings", "suggest", "--config", config_path)
        assert result.exit_code == 0, result.output
        target = tmp_path / "printed.toml"
        target.write_text(result.stdout, encoding="utf-8")
        suggested, default = load_mapping(target), load_mapping(MAPPINGS_DIR / f"{crm}.toml")
        for kind in ("accounts", "deals"):
            mine, theirs = suggested.object(kind), default.object(kind)
            assert {k: mine.input(k) for k in theirs.inputs} == {k: theirs.input(k) for k in theirs.inputs}
            assert mine.outputs == theirs.outputs


# --- the README's "Set up your CRM", command by command -------------------------------------------------


def setup_guide_commands() -> list[list[str]]:
    """Every `riskbridge` command in the README's "Set up your CRM" code blocks, as argument lists."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Set up your CRM\n", 1)[1].split("\n## ", 1)[0]
    lines = [line.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S) for line in block.splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("riskbridge ")]


def test_every_command_of_the_setup_guide_works_on_a_renamed_org(crm: str, tmp_path: Path) -> None:
    if crm == NO_FIELD_API:
        pytest.skip("Fxiaoke has no field-creation API: between provision and check its admin creates the fields "
                    "in the console, which a sandbox run as a separate process cannot be asked to do (the bare and "
                    "renamed org tests walk the same path in-process)")
    commands = setup_guide_commands()
    assert [c[0] for c in commands] == ["sandbox", "mappings", "provision", "provision", "provision", "check",
                                        "check", "sync", "schedule"]
    files = {"config.toml": str(tmp_path / "config.toml"), "my-mapping.toml": str(tmp_path / "my-mapping.toml"),
             "riskbridge-sfdx": str(tmp_path / "riskbridge-sfdx"), "salesforce": crm}
    serve_args, rest = [files.get(a, a) for a in commands[0]], commands[1:]
    with daemon(serve_args, "listening on") as line:  # the sandbox, started as the guide says
        url = line.rsplit(" ", 1)[-1].strip()
        for command in rest:
            args = [files.get(a, a) for a in command]
            if args[0] == "schedule":  # a daemon: it must start and list the job; then we stop it
                with daemon(args, "scheduled default"):
                    pass
                continue
            result = cli(*args)
            if "--out" in args and args[0] == "provision" and crm == "zoho":
                assert result.exit_code == 2 and "Salesforce DX" in result.stderr  # Zoho has no such package
                continue
            assert result.exit_code == 0, (args, result.output)
            if args[:2] == ["mappings", "suggest"]:
                use_mapping(Path(files["config.toml"]), tmp_path / "my-mapping.toml")
        names = NAMES[crm]
        records = requests.get(f"{url}/__sandbox/records/{names.accounts}", timeout=30).json()["records"]
        assert len(records) == 200 and all(r.get(names.score) is None for r in records)  # the dry run wrote nothing
        assert any(names.score in r for r in records)  # ... into fields provision created
    assert (tmp_path / "riskbridge-sfdx" / "sfdx-project.json").is_file() == (crm == "salesforce")


@contextmanager
def daemon(args: list[str], ready: str) -> Iterator[str]:
    """Run a long-lived riskbridge command until it prints `ready` on stdout or stderr; stop it afterwards."""
    with subprocess.Popen([sys.executable, "-m", "connector.cli", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline()]
            while lines[-1] and ready not in lines[-1]:
                lines.append(proc.stdout.readline())
            assert ready in lines[-1], lines
            yield lines[-1]
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_provision_will_not_create_a_salesforce_field_without_the_custom_suffix(tmp_path: Path) -> None:
    with serve("salesforce", "bare", tmp_path, accounts=5) as (org, config_path):
        mapping = edited_mapping("salesforce", tmp_path / "nosuffix.toml",
                                 {"model_version = \"Risk_Model_Version__c": 'model_version = "Risk_Model_Version"'})
        use_mapping(config_path, mapping)
        org.reset_calls()
        result = cli("provision", "--config", config_path, "--apply", "--json")
        assert result.exit_code == 2, result.output
        steps = json.loads(result.stdout)["steps"]
        cannot = [s for s in steps if s["action"] == "cannot"]
        assert [s["field"] for s in cannot] == ["Risk_Model_Version", "Risk_Model_Version"]  # accounts and deals
        assert all("__c" in s["detail"] for s in cannot)
        tooling = org.calls()["by_endpoint"].get("POST tooling/sobjects/CustomField", 0)
        assert tooling == sum(1 for s in steps if s["action"] == "create")  # every other field was created


def test_salesforce_watchlist_topic_is_checked_and_defined_once(tmp_path: Path) -> None:
    with serve("salesforce", "provisioned", tmp_path, accounts=5) as (org, config_path):
        config_path.write_text(config_path.read_text() + '\n[jobs.default.watchlist]\ntopic = true\n')
        before = rows(json.loads(cli("check", "--config", config_path, "--json").stdout))
        assert before[("org", "watchlist")]["status"] == "warning"
        assert "not defined" in before[("org", "watchlist")]["hint"]
        applied = cli("provision", "--config", config_path, "--apply", "--json")
        assert applied.exit_code == 0, applied.output
        assert [s["field"] for s in json.loads(applied.stdout)["steps"] if s["action"] == "define"] == \
            ["credit-watchlist"]
        assert [t["Name"] for t in org.records("Topic")] == ["credit-watchlist"]
        after = rows(json.loads(cli("check", "--config", config_path, "--json").stdout))
        assert after[("org", "watchlist")] == {"canonical": "watchlist", "field": "credit-watchlist",
                                               "status": "ok", "hint": "topic exists"}
        org.reset_calls()
        assert json.loads(cli("provision", "--config", config_path, "--apply", "--json").stdout)["writes"] == 0
        assert org.calls()["writes"] == 0
