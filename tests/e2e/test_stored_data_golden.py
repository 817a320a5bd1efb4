"""The stored data of a run is identical before and after each optimisation (issue 17).

A full sync and then an incremental run with a few touched records, on a seeded sandbox of each CRM
with a fixed calendar day and a fixed run clock, are dumped canonically: the state store (assessments,
score history, deal snapshot, outbox, watchlist, record issues, audit entries, cursors) and the
sandbox's resulting records. The dump must equal tests/golden/stored_data_<crm>.json, which was written
from main before the speed work. What may legitimately vary is left out: wall-clock stamps, run ids,
hash-chain hashes (they cover stamps), and ids the CRM assigns to records it creates. Orders are
canonical (sorted by content), so concurrent writes do not change the dump.

To rewrite after a deliberate change of behaviour (never for a speed change):
``RISKBRIDGE_GOLDEN_WRITE=1 pytest tests/e2e/test_stored_data_golden.py`` and read the diff.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from connector.config import load_config
from connector.crm.base import RetryPolicy
from connector.sandbox import running_sandbox
from connector.sync import Sync
from tests.conftest import CRMS, NAMES, Org, lift_rate_limit, sandbox_config

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
DAY = date(2026, 3, 2)  # the sandbox's calendar day: generated ages and expiries are relative to it
FULL_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
INCREMENTAL_AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
REWRITE = os.environ.get("RISKBRIDGE_GOLDEN_WRITE") == "1"

# Stamps the sandbox sets from the wall clock when riskbridge writes, and ids it assigns on create.
_VOLATILE = {"SystemModstamp", "LastModifiedDate", "CreatedDate", "LastActivityDate", "LastViewedDate",
             "LastReferencedDate", "Modified_Time", "Created_Time", "Last_Activity_Time", "Closed_Time",
             "last_modified_time", "create_time", "version", "$approval_state", "$editable"}
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}")


def _stable(value: Any, today: str) -> Any:
    """Drop wall-clock stamps of today nested anywhere (they are the sandbox's, never riskbridge's)."""
    if isinstance(value, dict):
        return {k: _stable(v, today) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v, today) for v in value]
    if isinstance(value, str) and _STAMP.match(value) and value[:10] == today:
        return "<now>"
    return value


def _value(v: Any) -> Any:
    """One form whichever backend answered, as SQLite gives it (the golden files were written from SQLite):
    JSON parsed, booleans as 0/1, dates as ISO text and timestamps as SQLite's UTC text."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, datetime):
        return (v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo else v).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, str) and v[:1] in "{[":
        with contextlib.suppress(ValueError):
            return json.loads(v)
    return v


def _rows(db: Connection, sql: str) -> list[dict[str, Any]]:
    return [{k: _value(v) for k, v in row.items()} for row in db.execute(text(sql)).mappings()]


def _sorted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))


def _without_run(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {k: v for k, v in detail.items() if k not in ("run_id", "run")}
    return detail


def dump_store(state_url: str) -> dict[str, Any]:
    """The state store's stored data, canonically: what a run decided, without when or which run id."""
    engine = create_engine(state_url)
    db = engine.connect()
    try:
        assessments = _rows(db, "SELECT object, record_id, score, tier, pd, model_version, inputs_hash, as_of, "
                                "override_until, detail FROM assessments")
        for a in assessments:
            a["detail"] = _without_run(a["detail"])
        history = _rows(db, "SELECT object, record_id, score, tier, previous_tier FROM assessment_history")
        deals = _rows(db, 'SELECT record_id, account_id, "values", "current" FROM deals')
        outbox = _rows(db, "SELECT kind, object, record_id, payload, status, attempts, last_error, "
                           "crm_id IS NOT NULL AS has_crm_id, key FROM outbox")
        for o in outbox:  # keys carry the run id: keep their shape, not the number
            o["key"] = re.sub(r":\d+(:(add|remove))?$", r":<run>\1", o["key"])
            o["payload"] = _without_run(o["payload"])
        watch = _rows(db, "SELECT record_id, on_list, runs_below FROM watchlist")
        issues = _rows(db, "SELECT object, record_id, stage, reason, attempts FROM record_issues")
        audit = _rows(db, "SELECT action, object, record_id, detail, key FROM audit")
        for e in audit:
            if e["key"]:
                e["key"] = re.sub(r":\d+(:(add|remove))?$", r":<run>\1", e["key"])
        cursors = _rows(db, "SELECT object, value FROM cursors")
        for c in cursors:  # the timestamp is the sandbox's wall clock or the capped run start; the id is data
            c["value"] = {k: v for k, v in (c["value"] or {}).items() if k not in ("ts",)}
        pending = db.execute(text("SELECT count(*) FROM audit_pending")).scalar()
        rescore = db.execute(text("SELECT count(*) FROM rescore")).scalar()
    finally:
        db.close()
        engine.dispose()
    return {"assessments": _sorted(assessments), "history": _sorted(history), "deals": _sorted(deals),
            "outbox": _sorted(outbox), "watchlist": _sorted(watch), "record_issues": _sorted(issues),
            "audit": _sorted(audit), "cursors": _sorted(cursors), "audit_pending": pending, "rescore": rescore}


def dump_org(org: Org, today: str) -> dict[str, Any]:
    """The sandbox's records riskbridge reads and writes; tasks it created, without their new ids."""
    n = org.names
    out: dict[str, Any] = {}
    for obj in (n.accounts, n.deals):
        out[obj] = {str(r[n.id]): _stable(dict(r), today) for r in org.records(obj)}
    tasks = [_stable({k: v for k, v in dict(r).items() if k != n.id}, today) for r in org.records(n.tasks)]
    out[n.tasks] = _sorted(tasks)
    return out


def _run_twice(crm: str, tmp_path: Path) -> dict[str, Any]:
    with running_sandbox(crm, accounts=40, deals_per_account=2, seed=17, today=DAY) as server:
        lift_rate_limit(server)
        org = Org(server, crm)
        config = load_config(sandbox_config(tmp_path / "config.toml", crm, org.credentials()))
        policy = RetryPolicy(attempts=4, sleep=lambda _s: None)
        full = Sync(config, policy=policy, clock=lambda: FULL_AT).run()
        touched = {"accounts": org.touch(NAMES[crm].accounts, 6), "deals": org.touch(NAMES[crm].deals, 4)}
        incremental = Sync(config, policy=policy, clock=lambda: INCREMENTAL_AT).run()
        today = datetime.now(UTC).date().isoformat()
        return {
            "runs": [{"status": r.status, "objects": {k: vars(v) for k, v in sorted(r.objects.items())},
                      "tasks_created": r.tasks_created, "tags_added": r.tags_added, "tags_removed": r.tags_removed,
                      "skipped": _sorted(r.skipped)} for r in (full, incremental)],
            "touched": {k: sorted(v) for k, v in touched.items()},
            "store": dump_store(config.state_url),
            "org": dump_org(org, today),
        }


@pytest.mark.parametrize("crm", CRMS)
def test_stored_data_matches_the_golden_run(crm: str, tmp_path: Path) -> None:
    dump = json.loads(json.dumps(_run_twice(crm, tmp_path), sort_keys=True, default=str))
    golden = GOLDEN / f"stored_data_{crm}.json"
    if REWRITE or not golden.exists():
        golden.write_text(json.dumps(dump, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        if not REWRITE:
            pytest.fail(f"wrote {golden.name}: commit it from main's code, then this test guards it")
    expected = json.loads(golden.read_text(encoding="utf-8"))
    assert dump["runs"] == expected["runs"]
    for part in ("assessments", "history", "deals", "outbox", "watchlist", "record_issues", "audit", "cursors",
                 "audit_pending", "rescore"):
        assert dump["store"][part] == expected["store"][part], f"state store: {part} differs"
    for obj in expected["org"]:
        assert dump["org"][obj] == expected["org"][obj], f"sandbox: {obj} records differ"
    assert dump == expected
