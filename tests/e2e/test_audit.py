"""End to end: the audit log against a sandbox CRM over loopback HTTP, and the `riskbridge audit` commands.

Every accepted write is audited as the CRM acknowledges it, even in a run that fails; `audit verify` names
the first bad entry after each kind of tampering; a signed export verifies and a one-byte change fails."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connector.audit import AuditEntry, content, entry_hash
from connector.cli import app
from connector.config import Config, load_config
from connector.crm.base import RetryPolicy
from connector.errors import Retriable
from connector.state import StateStore
from connector.sync import Sync
from tests.conftest import Org

runner = CliRunner()
TASK_UPSERT = {"salesforce": "composite/sobjects/Task", "zoho": "Tasks/upsert", "fxiaoke": "data/create"}


def db_path(config_path: Path) -> Path:
    line = next(x for x in config_path.read_text().splitlines() if x.startswith("state_url"))
    return Path(line.split("sqlite:///", 1)[1].rstrip('"'))


def with_state(config_path: Path, db: Path) -> Path:
    """A copy of the config whose state store is `db`."""
    lines = [f'state_url = "sqlite:///{db}"' if x.startswith("state_url") else x
             for x in config_path.read_text().splitlines()]
    target = db.with_suffix(".toml")
    target.write_text("\n".join(lines) + "\n")
    return target


def copy_db(source: Path, target: Path) -> None:
    """Copy a live SQLite database, WAL included, through SQLite's backup API."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "connector.cli", *args], capture_output=True, check=False,
                          timeout=120)


def test_a_failing_run_still_audits_every_write_the_crm_accepted(org: Org, config_path: Path,
                                                                 no_wait: RetryPolicy) -> None:
    n = org.names
    config_path.write_text(config_path.read_text() + "\n[jobs.default.tasks]\non_first_assessment = true\n")
    config = load_config(config_path)
    org.faults(error_500={"every": 1, "path": TASK_UPSERT[n.crm]})  # every task upsert fails, for good
    with pytest.raises(Retriable):
        Sync(config, policy=no_wait).run()
    store = StateStore(config.state_url)
    assert store.runs("default")[0].status == "failed"
    entries = store.audit_entries()
    written = {str(a[n.id]): a[n.tier] for a in org.records(n.accounts) if a[n.tier]}
    audited = {e.record_id: e.detail["changes"][n.tier][1] for e in entries
               if e.action == "update" and e.object == "accounts"}
    assert len(written) > 30 and audited == written  # each accepted field write, with the value the CRM holds
    deals_written = {str(d[n.id]) for d in org.records(n.deals) if d[n.tier]}
    assert {e.record_id for e in entries if e.action == "update" and e.object == "deals"} == deals_written
    assert all(e.run_id == store.runs("default")[0].id and e.job == "default" and e.key for e in entries)
    assert not [e for e in entries if e.action == "task"]
    assert not [t for t in org.records(n.tasks) if t.get(n.task_key)]

    org.faults()
    assert Sync(config, policy=no_wait).run().status in ("success", "partial")
    after = store.audit_entries()
    tasks = [t for t in org.records(n.tasks) if t.get(n.task_key)]
    assert sorted(e.key for e in after if e.action == "task") == sorted(t[n.task_key] for t in tasks)
    updates = [e.record_id for e in after if e.action == "update" and e.object == "accounts"]
    assert sorted(updates) == sorted(set(updates))  # the values already in place are not written (or audited) again
    result = runner.invoke(app, ["audit", "verify", "--config", str(config_path)])
    assert result.exit_code == 0, result.output
    assert f"{len(after)} entries" in result.stdout and str(after[-1].hash) in result.stdout


TAMPERING = [
    ("edit", ["UPDATE audit SET detail = '{\"changes\": {}}' WHERE id = 5"], 5, "content changed"),
    ("delete", ["DELETE FROM audit WHERE id = 5"], 5, "entry missing"),
    ("forged insert", ["UPDATE audit SET id = id + 100000 WHERE id >= 5", "UPDATE audit SET id = id - 99999 "
                       "WHERE id >= 100000", "INSERT INTO audit (id, run_id, at, action, object, record_id, detail, "
                       "job, key, prev_hash, hash) SELECT 5, run_id, at, action, object, 'FORGED', detail, job, key, "
                       "hash, hash FROM audit WHERE id = 4"], 5, "forged insert"),
    ("orphan row", ["INSERT INTO audit (id, run_id, at, action, object, record_id, detail) SELECT max(id) + 1, 1, "
                    "'2026-01-01 00:00:00.000000', 'update', 'accounts', 'X', '{}' FROM audit"], None, "forged insert"),
]


@pytest.mark.parametrize("crm", ["salesforce"])
def test_audit_verify_names_the_first_bad_entry_after_each_kind_of_tampering(
        org: Org, config_path: Path, no_wait: RetryPolicy, tmp_path: Path) -> None:
    config_path = with_state(config_path, tmp_path / "live.db")  # tampers with SQLite files, on either test run
    Sync(load_config(config_path), policy=no_wait).run()
    live = db_path(config_path)
    pristine = tmp_path / "pristine.db"
    copy_db(live, pristine)
    total = len(StateStore(f"sqlite:///{pristine}").audit_entries())
    assert total > 10
    for name, statements, entry_id, kind in [*TAMPERING, ("re-hash", [], 6, "chain broken")]:
        case = tmp_path / f"{name.replace(' ', '-')}.db"
        copy_db(pristine, case)
        with sqlite3.connect(case) as db:
            for statement in statements:
                db.execute(statement)
        if name == "re-hash":  # change entry 6 and give it a valid hash, but leave entry 7 as it was
            with sqlite3.connect(case) as db:
                db.execute("UPDATE audit SET record_id = 'X' WHERE id = 6")
            store = StateStore(f"sqlite:///{case}")
            rehashed = entry_hash(content(store.audit_entries()[5]))
            store.close()
            with sqlite3.connect(case) as db:
                db.execute("UPDATE audit SET hash = ? WHERE id = 6", (rehashed,))
        result = runner.invoke(app, ["audit", "verify", "--config", str(with_state(config_path, case))])
        assert result.exit_code == 1, (name, result.output)
        expected = entry_id if entry_id is not None else total + 1
        assert f"entry {expected}: {kind}" in result.stderr, (name, result.stderr)
        as_json = runner.invoke(app, ["audit", "verify", "--json", "--config", str(with_state(config_path, case))])
        problem = json.loads(as_json.stdout)["problem"]
        assert as_json.exit_code == 1 and (problem["entry"], problem["kind"]) == (expected, kind)
    clean = runner.invoke(app, ["audit", "verify", "--config", str(with_state(config_path, pristine))])
    assert clean.exit_code == 0 and f"{total} entries" in clean.stdout


@pytest.mark.parametrize("crm", ["zoho"])
def test_a_signed_export_verifies_and_a_one_byte_change_fails(org: Org, config: Config, config_path: Path,
                                                              no_wait: RetryPolicy, tmp_path: Path) -> None:
    Sync(config, policy=no_wait).run()
    key = tmp_path / "audit.key"
    key.write_text("a long random key kept away from the state store\n")
    exported = cli("audit", "export", "--config", str(config_path), "--sign", f"file:{key}")
    assert exported.returncode == 0, exported.stderr
    data = exported.stdout
    lines = data.splitlines()
    store = StateStore(config.state_url)
    head = store.audit_entries()[-1].hash
    assert len(lines) == len(store.audit_entries()) + 1
    assert json.loads(lines[0])["prev_hash"] == "0" * 64 and json.loads(lines[-2])["hash"] == head
    assert json.loads(lines[-1])["signature"]["head"] == head
    export = tmp_path / "audit.jsonl"
    export.write_bytes(data)
    good = runner.invoke(app, ["audit", "verify", "--export", str(export), "--key", f"file:{key}"])
    assert good.exit_code == 0 and head is not None and head in good.stdout, good.output
    anchored = runner.invoke(app, ["audit", "verify", "--config", str(config_path), "--anchor", head])
    assert anchored.exit_code == 0 and "contains the anchor" in anchored.stdout
    middle = data.index(b'"record_id":"') + len(b'"record_id":"') + 2
    export.write_bytes(data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:])
    bad = runner.invoke(app, ["audit", "verify", "--export", str(export), "--key", f"file:{key}"])
    assert bad.exit_code == 1 and "signature does not match" in bad.stderr
    export.write_bytes(data)
    unsigned_check = runner.invoke(app, ["audit", "verify", "--export", str(export)])
    assert unsigned_check.exit_code == 2 and "--key" in unsigned_check.stderr  # signed: needs its key

    since = runner.invoke(app, ["audit", "export", "--config", str(config_path), "--since", "2999-01-01"])
    assert since.exit_code == 0 and since.stdout_bytes == b""
    last = store.audit_entries()[-1]
    tail = runner.invoke(app, ["audit", "export", "--config", str(config_path), "--sign", f"file:{key}",
                               "--since", last.at.isoformat()])
    first_id = min(e.id for e in store.audit_entries() if e.at >= last.at)
    assert tail.exit_code == 0 and json.loads(tail.stdout_bytes.splitlines()[0])["id"] == first_id
    export.write_bytes(tail.stdout_bytes)
    tail_check = runner.invoke(app, ["audit", "verify", "--export", str(export), "--key", f"file:{key}", "--json"])
    assert tail_check.exit_code == 0 and json.loads(tail_check.stdout)["head"] == head


@pytest.mark.parametrize("crm", ["salesforce"])
def test_audit_show_filters_and_escapes_crm_text(org: Org, config: Config, config_path: Path,
                                                 no_wait: RetryPolicy) -> None:
    Sync(config, policy=no_wait).run()
    store = StateStore(config.state_url)
    record = store.audit_entries()[3].record_id
    store.audit("other", 999, [AuditEntry("task", "accounts", "001EVIL", "task:evil",
                                          {"subject": "Review Evil [/oops] Corp [link=http://x.test]now[/link]",
                                           "owner": None, "due": "2026-12-01", "priority": "High"})])
    shown = runner.invoke(app, ["audit", "show", "--config", str(config_path), "--record", record, "--json"])
    assert shown.exit_code == 0
    assert {e["record_id"] for e in json.loads(shown.stdout)} == {record}
    assert all(e["hash"] and e["prev_hash"] for e in json.loads(shown.stdout))
    evil = runner.invoke(app, ["audit", "show", "--config", str(config_path), "--job", "other"], env={"COLUMNS": "300"})
    assert evil.exit_code == 0, evil.output
    assert "Evil [/oops] Corp [link=http://x.test]now[/link]" in evil.stdout
    future = runner.invoke(app, ["audit", "show", "--config", str(config_path), "--since", "2999-01-01", "--json"])
    assert future.exit_code == 0 and json.loads(future.stdout) == []


@pytest.mark.parametrize("crm", ["salesforce"])
def test_bad_audit_options_are_all_reported_before_anything_runs(org: Org, config_path: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["audit", "export", "--config", str(config_path), "--since", "last week",
                                 "--sign", "my-secret-key"])
    assert result.exit_code == 2
    assert "--since" in result.stderr and "--sign" in result.stderr and "my-secret-key" not in result.output
    missing = runner.invoke(app, ["audit", "verify", "--export", str(tmp_path / "none.jsonl"),
                                  "--key", f"file:{tmp_path / 'no.key'}", "--anchor", "xyz"])
    assert missing.exit_code == 2
    assert "none.jsonl" in missing.stderr and "no.key" in missing.stderr and "--anchor" in missing.stderr
    nowhere = with_state(config_path, tmp_path / "typo.db")
    absent = runner.invoke(app, ["audit", "verify", "--config", str(nowhere)])
    assert absent.exit_code == 2 and "no state store" in absent.stderr and not (tmp_path / "typo.db").exists()
    for args in (["audit", "verify", "--config", str(nowhere), "--json"],
                 ["audit", "show", "--config", str(config_path), "--since", "soon", "--json"]):
        as_json = runner.invoke(app, args)
        assert as_json.exit_code == 2 and json.loads(as_json.stdout)["ok"] is False, args


def test_secrets_never_reach_the_audit_log_or_its_exports(org: Org, config_path: Path, tmp_path: Path) -> None:
    creds = org.credentials()
    secrets = [v for k, v in creds.items() if k in ("password", "security_token", "consumer_secret", "client_secret",
                                                   "refresh_token", "app_secret", "permanent_code")]
    assert secrets
    if "private_key" in creds:
        secrets += [line for line in creds["private_key"].splitlines() if len(line) > 40][:3]
    org.faults(session_expiry_after=30)  # re-logins mid-run, the riskiest moment for a token to leak
    assert runner.invoke(app, ["sync", "--config", str(config_path)]).exit_code in (0, 1)
    key = tmp_path / "k"
    key.write_text("export key")
    outputs: list[Any] = [
        runner.invoke(app, ["audit", "show", "--config", str(config_path), "--json", "--limit", "100000"]).stdout,
        cli("audit", "export", "--config", str(config_path), "--sign", f"file:{key}").stdout.decode(),
    ]
    assert len(outputs[0]) > 1000
    for secret in secrets:
        assert secret and all(secret not in text for text in outputs)


def test_help_lists_the_audit_commands() -> None:
    result = cli("audit", "--help")
    assert result.returncode == 0
    for command in (b"verify", b"show", b"export"):
        assert command in result.stdout


UPDATE_WRITES = {"salesforce": {"method": "PATCH", "path": "composite/sobjects"}, "zoho": {"method": "PUT"},
                 "fxiaoke": {"path": "data/update"}}


def test_writes_whose_answers_were_lost_are_audited_once_the_next_run_reads_them_back(
        org: Org, config: Config, config_path: Path, no_wait: RetryPolicy) -> None:
    """The CRM applies every field update but each answer is lost, so the run fails without one acknowledgement.
    The next run finds the values in place and writes nothing: it must still audit what the CRM accepted."""
    n = org.names
    org.faults(drop={"every": 1, **UPDATE_WRITES[n.crm]})
    with pytest.raises(Retriable):
        Sync(config, policy=no_wait).run()
    store = StateStore(config.state_url)
    failed_run = store.runs("default")[0].id
    assert [e for e in store.audit_entries() if e.action == "update"] == []  # nothing was acknowledged
    written = {str(a[n.id]): a[n.tier] for a in org.records(n.accounts) if a[n.tier]}
    # One batch carries them all; Fxiaoke writes a record per call and stops at the outage's first victims.
    assert len(written) > (0 if n.crm == "fxiaoke" else 30)

    org.faults()
    org.reset_calls()
    assert Sync(config, policy=no_wait).run().status == "success"
    entries = [e for e in store.audit_entries() if e.action == "update" and e.object == "accounts"]
    if n.crm == "fxiaoke":  # the rest was never sent by the failed run: this run writes and audits it
        assert {e.record_id for e in entries} == {str(a[n.id]) for a in org.records(n.accounts) if a[n.tier]}
        entries = [e for e in entries if e.detail.get("confirmed") == "read back"]
    assert {e.record_id: e.detail["changes"][n.tier][1] for e in entries} == written
    assert all(e.run_id == failed_run and e.detail["confirmed"] == "read back" for e in entries)
    deals = {str(d[n.id]) for d in org.records(n.deals) if d[n.tier]}
    assert {e.record_id for e in store.audit_entries() if e.action == "update" and e.object == "deals"} == deals
    assert runner.invoke(app, ["audit", "verify", "--config", str(config_path)]).exit_code == 0


def test_a_quota_stop_audits_what_was_written_once_and_leaves_nothing_pending(org: Org, config: Config,
                                                                             no_wait: RetryPolicy) -> None:
    n = org.names
    org.faults(quota_after=8)  # the allowance runs out at the first writes
    assert Sync(config, policy=no_wait).run().status == "partial"
    org.faults()
    assert Sync(config, policy=no_wait).run().status == "success"
    store = StateStore(config.state_url)
    updates = [e.record_id for e in store.audit_entries() if e.action == "update" and e.object == "accounts"]
    assert sorted(updates) == sorted({str(a[n.id]) for a in org.records(n.accounts) if a[n.tier]})  # once each
    assert not any(e.detail.get("confirmed") for e in store.audit_entries())  # nothing was sent unanswered
    assert store.pending_writes("default") == []


def test_a_run_killed_after_its_field_writes_were_accepted_has_them_audited_by_the_next_run(
        org: Org, config_path: Path, no_wait: RetryPolicy) -> None:
    """A real SIGKILL: the field updates are acknowledged, the task upsert is retrying, the process dies
    before the apply call returns (so before anything is audited or recorded)."""
    n = org.names
    config_path.write_text(config_path.read_text() + "\n[jobs.default.tasks]\non_first_assessment = true\n")
    org.faults(error_500={"every": 1, "path": TASK_UPSERT[n.crm]})
    proc = subprocess.Popen([sys.executable, "-m", "connector.cli", "sync", "--config", str(config_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    try:
        for line in proc.stderr:  # the engine logs each retry before it waits: kill during the wait
            if "retry 1/" in line and "ask" in line:
                break
        else:
            pytest.fail("the sync ended without retrying a task write")
        proc.kill()
    finally:
        proc.wait(timeout=60)
        proc.stderr.close()
    config = load_config(config_path)
    store = StateStore(config.state_url)
    assert [e for e in store.audit_entries() if e.action == "update"] == []  # killed before the audit
    written = {str(a[n.id]): a[n.tier] for a in org.records(n.accounts) if a[n.tier]}
    assert len(written) > 30 and len(store.pending_writes("default")) >= len(written)

    org.faults()
    Sync(config, policy=no_wait).run()
    entries = [e for e in store.audit_entries() if e.action == "update" and e.object == "accounts"]
    assert {e.record_id: e.detail["changes"][n.tier][1] for e in entries} == written
    assert all(e.detail["confirmed"] == "read back" for e in entries)
    assert store.pending_writes("default") == []
    assert runner.invoke(app, ["audit", "verify", "--config", str(config_path)]).exit_code == 0
