"""A fixed sync scenario and a canonical dump of the state store it leaves, to prove that the store's
speed work changed no stored row and no JSON value.

The scenario is deterministic: a seeded sandbox with a fixed `today`, a fixed sync clock, a full run,
some accounts and deals touched in the CRM, then an incremental run. The dump holds every row of every
table, sorted, minus what legitimately differs between two runs of the same code: wall-clock stamps the
store takes itself (`created_at`, `started_at`, ...), the audit hashes that cover them, and the CRM's
own modification stamps and cursors (the sandbox stamps touched records with the real time).

The golden file was written by main's code before the store was changed (commit f7ab854), run as a
script so that `connector` is imported from the exported tree, not from the current directory:

    git archive f7ab854 | tar -x -C /tmp/base
    cd /tmp/base && PYTHONPATH=/tmp/base python $REPO/tests/state_speed/store_dump.py > store_dump.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import MetaData, create_engine, select

from connector.config import load_config
from connector.crm.base import RetryPolicy
from connector.sandbox import running_sandbox
from connector.sandbox.client_config import write_config
from connector.state import StateStore
from connector.sync import Sync

GOLDEN = Path(__file__).with_name("store_dump.json")
TODAY = date(2026, 3, 2)
CLOCK = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TOUCHED = {"salesforce": ("Account", "Opportunity"), "zoho": ("Accounts", "Deals")}

# Columns the store fills from the wall clock, or that hash or copy such a value; not part of the data.
VOLATILE = {
    "assessment_history": {"id"},  # a surrogate key: rows of one run come in set order (hash seed)
    "runs": {"started_at", "finished_at", "summary"},  # the summary holds durations
    "cursors": {"value", "updated_at"},
    "outbox": {"created_at", "updated_at"},
    "record_issues": {"first_seen", "last_seen"},
    "deals": {"modstamp"},
    "watchlist": {"since"},
    # Chain positions follow the CRM's read order, which follows the whole second the sandbox stamps each
    # touched record with; the chain itself is checked by the audit tests.
    "audit": {"id", "at", "prev_hash", "hash"},
    "audit_pending": {"sent_at"},
    "rescore": {"since"},
    "locks": {"owner", "expires_at"},
    "source_state": {"read_at"},
}
# Schema bookkeeping, not data: the release the golden dump came from kept a hand-rolled `schema_version`,
# later ones keep Alembic's `alembic_version`.
BOOKKEEPING = {"alembic_version", "schema_version"}


def run_scenario(crm: str, state_url: str, folder: Path, accounts: int = 120) -> None:
    """Full sync, touch a tenth of the accounts and deals, incremental sync."""
    with running_sandbox(crm, accounts=accounts, deals_per_account=2, seed=11, today=TODAY) as sandbox:
        creds = requests.get(f"{sandbox.url}/__sandbox/credentials", timeout=10).json()
        config = load_config(write_config(folder / f"{crm}.toml", crm, creds, state_url=state_url))
        policy = RetryPolicy(sleep=lambda _s: None)
        store = StateStore(state_url)
        try:
            Sync(config, store=store, policy=policy, clock=lambda: CLOCK).run()
            for obj, count in zip(TOUCHED[crm], (accounts // 10, accounts // 5), strict=True):
                requests.post(f"{sandbox.url}/__sandbox/touch", json={"object": obj, "count": count}, timeout=30)
            Sync(config, store=store, policy=policy, clock=lambda: CLOCK).run()
        finally:
            store.close()


def _plain(value: Any) -> Any:
    """One form for a value whichever backend returned it (SQLite: naive UTC datetimes, JSON as parsed)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def dump(state_url: str) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows, volatile columns dropped, in a stable order."""
    engine = create_engine(state_url)
    meta = MetaData()
    meta.reflect(engine)
    out: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for name, table in sorted(meta.tables.items()):
            if name in BOOKKEEPING:
                continue
            skip = VOLATILE.get(name, set())
            rows = [{k: _plain(v) for k, v in r._mapping.items() if k not in skip} for r in conn.execute(select(table))]
            out[name] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
    engine.dispose()
    return out


def scenario_dump(state_url: str | None = None) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The dump after the scenario, per CRM (SQLite in a temporary folder unless `state_url` is given,
    which is then the URL of an empty database per CRM: ``{crm}`` in it is replaced)."""
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for crm in TOUCHED:
            url = (state_url or f"sqlite:///{tmp}/{{crm}}.db").format(crm=crm)
            run_scenario(crm, url, Path(tmp))
            result[crm] = dump(url)
    return result


if __name__ == "__main__":
    json.dump(scenario_dump(), sys.stdout, indent=1, sort_keys=True, default=str)
    sys.stdout.write("\n")
