"""Text from the CRM never breaks or hijacks the terminal output.

A hostile corpus (Rich markup, links, ANSI and OSC escapes, control characters, bidi overrides, emoji
codes, very long strings, NUL) is written into a sandbox org through the CRM's own write API, then
`sync --dry-run` (human and `--json`), `sync` and `runs` run as subprocesses with colour forced on. Each exits with the code
its recorded status calls for, never raises MarkupError, never emits a hyperlink or a raw control
sequence, and shows the markup-like values literally.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from connector.config import load_config
from scoring.catalogue import text
from tests.conftest import Org

HOSTILE: list[str] = [
    "Evil [/oops] Corp",
    "[/bad]",
    "[link=http://x]click[/link]",
    "[bold red]ALERT[/bold red] Ltd",
    "[/]",
    "\\[escaped\\] [b] not bold",
    "trailing backslash \\",
    "\x1b[31mRed\x1b[0m GmbH",
    "\x1b]0;pwned\x07Title Inc",
    "\x1b[2J\x1b[HClear Screen SA",
    "Bell\x07 and backspace\x08 Co",
    "Tab\tNew\nLine\rCarriage Ltd",
    "\u202eRTL override evil\u202c Corp",
    "\u2066isolate\u2069 \u200f marks",
    "Emoji 💥🔥🏦 Bank",
    "Zero\u200bwidth\ufeffjoiner",
    "NUL\x00byte Ltd",
    "L" * 98,
    "{0} %s %(name)s {{}} Format Co",
    "<script>alert(1)</script> & Co",
    "Ünïcödé 株式会社 شركة",
    ":warning: :smile: codes",
    "C1\x9bcontrol\x85next line",
    "${jndi:ldap://x/a} %n",
]
# What must never reach the terminal raw: escapes a value carried (OSC 8 is also how Rich draws a link).
RAW = ["\x1b]", "\x1b[2J", "\x1b[31mRed", "\x00", "\x07", "\x08", "\r", "\u202e", "\u2066", "\x9b", "\x85", "\ufeff"]
SHOWN_LITERALLY = ["[/oops]", "[link=http://x]click[/link]", "[bold red]ALERT", ":smile:"]


def _sf_write(org: Org, ids: list[str], fields: list[dict[str, Any]]) -> None:
    creds = org.credentials()
    token = requests.post(f"{creds['login_url']}/services/oauth2/token", timeout=10, data={
        "grant_type": "password", "client_id": creds["consumer_key"], "client_secret": creds["consumer_secret"],
        "username": creds["username"], "password": creds["password"] + creds["security_token"]}).json()
    records = [{"attributes": {"type": "Account"}, "Id": i, **f} for i, f in zip(ids, fields, strict=True)]
    resp = requests.patch(f"{token['instance_url']}/services/data/v{creds['api_version']}/composite/sobjects",
                          json={"allOrNone": False, "records": records}, timeout=30,
                          headers={"Authorization": f"Bearer {token['access_token']}"})
    assert resp.status_code == 200, resp.text
    assert all(r["success"] for r in resp.json()), resp.text


def _zoho_write(org: Org, ids: list[str], fields: list[dict[str, Any]]) -> None:
    creds = org.credentials()
    token = requests.post(f"{creds['accounts_url']}/oauth/v2/token", timeout=10, params={
        "grant_type": "refresh_token", "client_id": creds["client_id"], "client_secret": creds["client_secret"],
        "refresh_token": creds["refresh_token"]}).json()["access_token"]
    data = [{"id": i, **f} for i, f in zip(ids, fields, strict=True)]
    resp = requests.put(f"{creds['api_url']}/crm/v8/Accounts", json={"data": data}, timeout=30,
                        headers={"Authorization": f"Zoho-oauthtoken {token}"})
    assert resp.status_code in (200, 202), resp.text
    assert all(r["status"] == "success" for r in resp.json()["data"]), resp.text


def _fx_write(org: Org, ids: list[str], fields: list[dict[str, Any]]) -> None:
    for i, f in zip(ids, fields, strict=True):  # Fxiaoke's OpenAPI updates one record per call
        org.fx_call("crm/v2/data/update", {"object_data": {"_id": i, "dataObjectApiName": org.names.accounts, **f}})


def load_hostile(org: Org) -> list[str]:
    """Write the corpus into account names and last-written reasons (and, on Zoho, its text-typed bureau
    score); returns the ids touched."""
    n = org.names
    ids = [r[n.id] for r in org.records(n.accounts)[: len(HOSTILE)]]
    name_field = {"salesforce": "Name", "zoho": "Account_Name", "fxiaoke": "name"}[n.crm]
    fields: list[dict[str, Any]] = []
    for i, value in enumerate(HOSTILE):
        row = {name_field: value, n.reasons: value + " | " + value}
        if n.crm == "zoho" and i < 2:
            row["Bureau_Score"] = value[:20]  # a text field on Zoho: "[/bad]" as a bureau score
        fields.append(row)
    {"salesforce": _sf_write, "zoho": _zoho_write, "fxiaoke": _fx_write}[n.crm](org, ids, fields)
    stored = {r[n.id]: r[name_field] for r in org.records(n.accounts)}
    assert [stored[i] for i in ids] == HOSTILE  # the CRM kept every value as written
    return ids


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKBRIDGE_")}
    env.update({"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "400"})
    return subprocess.run([sys.executable, "-m", "connector.cli", *args], capture_output=True, text=True,
                          encoding="utf-8", errors="replace", env=env, timeout=300, check=False)


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    assert "MarkupError" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert "could not print" not in result.stderr, result.stderr
    for raw in RAW:
        assert raw not in result.stdout, f"{raw!r} reached the terminal"


def test_hostile_crm_text_is_shown_literally_and_exit_codes_stay_honest(org: Org, config_path: Path) -> None:
    assert len(HOSTILE) >= 20
    load_hostile(org)

    plan = run(["sync", "--config", str(config_path), "--dry-run"])
    assert plan.returncode == 0, plan.stderr
    assert_clean(plan)
    for literal in SHOWN_LITERALLY:
        assert literal in plan.stdout, literal
    if org.names.crm == "zoho":  # unreadable bureau scores are listed with their value, escaped
        assert "skipped" in plan.stdout and "[/bad]" in plan.stdout

    as_json = run(["sync", "--config", str(config_path), "--dry-run", "--json"])
    assert as_json.returncode == 0, as_json.stderr
    for raw in RAW:  # JSON escapes only C0 controls; C1 and bidi characters are escaped too
        assert raw not in as_json.stdout, f"{raw!r} reached the terminal"
    olds = {str(change[0]) for item in json.loads(as_json.stdout)["plan"] if item["op"] == "update"
            for change in item["changes"].values()}
    shown = {v + " | " + v for v in HOSTILE} & olds
    assert len(shown) >= len(HOSTILE) - 2, shown  # the values round-trip exactly through the JSON

    real = run(["sync", "--config", str(config_path)])
    assert_clean(real)
    listed = run(["runs", "--config", str(config_path), "--json"])
    runs = json.loads(listed.stdout)
    assert real.returncode == {"success": 0, "partial": 1}[runs[0]["status"]], (real.returncode, runs[0])
    assert runs[0]["status"] == "success"

    history = run(["runs", "--config", str(config_path)])
    assert history.returncode == 0, history.stderr
    assert_clean(history)
    lang = load_config(config_path).jobs["default"].lang  # a Fxiaoke job speaks Chinese by default
    assert text("run.status_success", lang) in history.stdout


def test_hostile_file_names_and_csv_values_in_score_and_explain(tmp_path: Path) -> None:
    folder = tmp_path / "[red]exports [link=x]here"  # "/" cannot be in a name, "[red]" and "[link=…]" can
    folder.mkdir()
    source = folder / "accounts [bold].csv"
    rows = ["id,name,bureau_score,override_tier,override_reason,override_until"]
    rows += [f'H{i},"{v.replace(chr(34), chr(39))}",40,high,"{v.replace(chr(34), chr(39))}",2999-01-01'
             for i, v in enumerate(HOSTILE) if "\x00" not in v and "\r" not in v and "\n" not in v]
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    scored = run(["score", "--input", str(source), "--output", str(folder / "scored [b].csv"), "--as-of", "2025-06-30"])
    assert scored.returncode == 0, scored.stderr
    assert_clean(scored)
    assert "[red]exports [link=x]here" in scored.stdout.replace("\n", "")
    for i in (0, 2, 7, 12):
        explained = run(["explain", "--input", str(source), "--id", f"H{i}", "--as-of", "2025-06-30"])
        assert explained.returncode == 0, explained.stderr
        assert_clean(explained)
    missing = run(["explain", "--input", str(source), "--id", "[/nope]"])
    assert missing.returncode == 2 and "[/nope]" in missing.stderr and "Traceback" not in missing.stderr
