"""`riskbridge state upgrade` on a store the release before Alembic made (hand-rolled schema 2, with rows),
on SQLite and on PostgreSQL: it reaches head with every row intact, and a sync then works on it."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import inspect, select
from typer.testing import CliRunner

from connector.audit import verify
from connector.cli import app
from connector.migrations import head_revision, history
from connector.sandbox import running_sandbox
from connector.state import AssessmentRow, OutboxRow, StateStore, WatchRow
from tests.conftest import Org, sandbox_config
from tests.state.legacy import load_schema2

runner = CliRunner()
REVISIONS = [r.revision for r in history()]


def _json(args: list[str], code: int = 0) -> dict[str, object]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    return dict(json.loads(result.stdout))


def test_a_release_2_store_is_upgraded_with_its_rows_and_a_sync_then_runs_on_it(empty_url: str,
                                                                              tmp_path: Path) -> None:
    load_schema2(empty_url)
    with running_sandbox("salesforce", accounts=12, deals_per_account=1, seed=5) as server:
        config = str(sandbox_config(tmp_path / "config.toml", "salesforce", Org(server, "salesforce").credentials(),
                                    state_url=empty_url))
        before = _json(["state", "current", "--config", config])
        assert (before["revision"], before["legacy_version"], before["pending"]) == (None, 2, REVISIONS)

        upgraded = _json(["state", "upgrade", "--config", config])
        assert (upgraded["applied"], upgraded["revision"]) == (REVISIONS, head_revision())
        assert _json(["state", "upgrade", "--config", config])["applied"] == []
        after = _json(["state", "current", "--config", config])
        assert (after["revision"], after["pending"], after["legacy_version"]) == (head_revision(), [], None)

        store = StateStore(empty_url)
        with store.engine.connect() as conn:
            assert "schema_version" not in inspect(conn).get_table_names()
        [run] = store.runs("legacy")
        assert (run.id, run.status, run.dry_run, run.full, run.api_calls, run.summary) == (
            1, "success", False, True, 6, {"accounts": {"read": 4}})
        with store.session() as s:
            kept = {r.record_id: r for r in s.scalars(select(AssessmentRow).where(AssessmentRow.job == "legacy"))}
            watch = s.get(WatchRow, ("legacy", "0015g00000000004"))
            task = s.get(OutboxRow, "legacy:task:0015g00000000004:1")
        assert sorted((r.score, r.tier) for r in kept.values()) == [
            (47.5, "medium"), (55.0, "high"), (62.5, "critical"), (70.0, "low")]
        assert kept["0015g00000000001"].detail == {"reasons": ["Reason 1", "Überfällig 30+ Tage"], "limit": 1000}
        assert kept["0015g00000000001"].scored_at.replace(tzinfo=None).isoformat() == "2026-11-02T06:30:00"
        assert watch is not None and watch.on_list is True
        assert task is not None and (task.status, task.payload) == ("done", {"rule": "critical", "episode": 1})
        chain = verify(store.iter_audit())
        assert chain.ok and chain.count == 4, chain.problem

        result = runner.invoke(app, ["sync", "--config", config, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["status"] == "success"
        [new_run] = store.runs("default")
        assert new_run.id == 2 and new_run.status == "success"  # ids carry on after the release's rows
        assert store.tier_counts("default") and len(store.tier_counts("legacy")) == 4
        chain = verify(store.iter_audit())
        assert chain.ok and chain.count > 4, chain.problem  # the sync's writes extend the old chain
        store.close()
