"""End to end: a Zoho backfill above `bulk_read_threshold` goes through the Bulk Read API and stores what the
COQL path stores; `check` and `sync` say plainly when the refresh token lacks ZohoCRM.bulk.read.

Assertions read the sandbox's records and call log and the state store, not the engine's own word.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from connector.cli import app
from connector.config import load_config
from connector.crm.base import RetryPolicy
from connector.sandbox import running_sandbox
from connector.sandbox.zoho import ZohoApp
from connector.state import StateStore
from connector.sync import Sync
from tests.conftest import Org, sandbox_config

NO_BULK = "ZohoCRM.modules.ALL ZohoCRM.settings.ALL ZohoCRM.coql.READ ZohoCRM.users.READ"
OUTPUTS = ("Risk_Score", "Risk_Tier", "Risk_Reasons", "Risk_Recommended_Terms", "Risk_Credit_Limit")
runner = CliRunner()


@contextmanager
def zoho(tmp_path: Path, name: str, threshold: int) -> Iterator[tuple[Org, Path]]:
    """A Zoho org of 250 accounts and 250 deals, and a config reading 100 rows a page (COQL keys 200 a call)."""
    with running_sandbox("zoho", accounts=250, deals_per_account=1, seed=21, today=date(2026, 5, 14)) as server:
        org = Org(server, "zoho")
        path = sandbox_config(tmp_path / name / "config.toml", "zoho", org.credentials())
        text = path.read_text(encoding="utf-8").replace('crm = "zoho"\n', f'crm = "zoho"\nbulk_read_threshold = '
                                                        f'{threshold}\n', 1)
        path.write_text(text.replace("[jobs.default]\n", "[jobs.default]\nbatch_size = 100\n", 1), encoding="utf-8")
        yield org, path


def zoho_app(org: Org) -> ZohoApp:
    app_ = org.server.sandbox.app
    assert isinstance(app_, ZohoApp)
    return app_


def outputs(org: Org, module: str) -> dict[str, tuple[Any, ...]]:
    return {str(r["id"]): tuple(r.get(f) for f in OUTPUTS) for r in org.records(module)}


def stored(path: Path, kind: str, ids: list[str]) -> dict[str, tuple[float, str]]:
    rows = StateStore(load_config(path).state_url).assessments("default", kind, ids)
    return {i: (row.score, row.tier) for i, row in rows.items()}


def test_a_backfill_above_the_threshold_uses_bulk_read_and_stores_what_coql_stores(tmp_path: Path) -> None:
    policy = RetryPolicy(attempts=4, sleep=lambda _s: None)
    with zoho(tmp_path, "coql", 0) as (by_coql, coql_path), zoho(tmp_path, "bulk", 200) as (by_bulk, bulk_path):
        coql_report = Sync(load_config(coql_path), policy=policy).run()
        bulk_report = Sync(load_config(bulk_path), policy=policy).run()
        calls = by_bulk.calls()["by_endpoint"]
        assert calls["POST bulk/read"] == 2 and calls["GET bulk/read/{job_id}/result"] == 2  # accounts, deals
        assert calls["GET Accounts/actions/count"] == 1 and calls["GET Deals/actions/count"] == 1
        assert not any(name.startswith(("POST bulk", "GET bulk")) for name in by_coql.calls()["by_endpoint"])
        assert (bulk_report.status, coql_report.status) == ("success", "success")
        assert bulk_report.objects["accounts"].extracted == coql_report.objects["accounts"].extracted == 250
        assert bulk_report.objects["deals"].extracted == coql_report.objects["deals"].extracted == 250
        for module in ("Accounts", "Deals"):
            written = outputs(by_bulk, module)
            assert written == outputs(by_coql, module)  # a dirty record is skipped alike on both paths
            assert sum(v[0] is not None for v in written.values()) >= len(written) - 2
        ids = list(outputs(by_bulk, "Accounts"))
        assert stored(bulk_path, "accounts", ids) == stored(coql_path, "accounts", ids) != {}
        tasks = {t["Riskbridge_Key"] for t in by_bulk.records("Tasks") if t.get("Riskbridge_Key")}
        assert tasks == {t["Riskbridge_Key"] for t in by_coql.records("Tasks") if t.get("Riskbridge_Key")}

        by_bulk.reset_calls()  # the next run is incremental: COQL from the cursor, and nothing to write
        again = Sync(load_config(bulk_path), policy=policy).run()
        calls = by_bulk.calls()
        assert again.status == "success" and calls["writes"] == 0
        assert not any(name.startswith(("POST bulk", "GET bulk")) or "actions/count" in name
                       for name in calls["by_endpoint"])


def test_check_warns_when_the_token_lacks_the_bulk_scope_and_sync_fails_clearly(tmp_path: Path) -> None:
    with zoho(tmp_path, "narrow", 200) as (org, path):
        zoho_app(org).auth.scope = NO_BULK
        checked = runner.invoke(app, ["check", "--config", str(path), "--json"])
        assert checked.exit_code == 0, checked.output  # a small org never needs it: a warning, not a failure
        report = json.loads(checked.stdout)
        row = next(r for r in report["objects"]["org"] if r["canonical"] == "oauth scope")
        assert row["field"] == "ZohoCRM.bulk.read" and row["status"] == "warning"
        assert "bulk_read_threshold = 0" in row["hint"]
        synced = runner.invoke(app, ["sync", "--config", str(path), "--json"])
        assert synced.exit_code == 3, synced.output
        error = json.loads(synced.stdout)["error"]
        assert "OAUTH_SCOPE_MISMATCH" in json.dumps(error) and "ZohoCRM.bulk.read" in json.dumps(error)
        assert org.calls()["writes"] == 0


def test_check_with_the_scope_or_with_bulk_read_off_shows_no_scope_row(tmp_path: Path) -> None:
    for name, threshold in (("granted", 200), ("off", 0)):
        with zoho(tmp_path, name, threshold) as (org, path):
            if threshold == 0:
                zoho_app(org).auth.scope = NO_BULK
            checked = runner.invoke(app, ["check", "--config", str(path), "--json"])
            assert checked.exit_code == 0, checked.output
            report = json.loads(checked.stdout)
            assert not [r for r in report["objects"]["org"] if r["canonical"] == "oauth scope"]
            probes = org.calls()["by_endpoint"].get("GET bulk/read/{job_id}", 0)
            assert probes == (1 if threshold else 0)
