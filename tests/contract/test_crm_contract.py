"""The contract every CRM client passes, run against each sandbox over loopback HTTP.

One suite, parametrised over the CRMs (STYLE.md principle 11): paging ends and covers every row
once; cursors only move forward; re-applying a plan writes nothing new; rate limits are retried and
a bad request is fatal; per-record errors come back as outcomes; an expired session is recovered;
tasks are never duplicated; secrets never reach the logs.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest

from connector.config import Config
from connector.crm import open_client
from connector.crm.base import CRMClient, ObjectSpec, RetryPolicy
from connector.errors import Fatal
from connector.model import Cursor, FieldUpdate, ObjectKind, TaskCreate, WritePlan
from connector.transforms import parse_datetime
from tests.conftest import Org


@pytest.fixture
def waits() -> list[float]:
    return []


def client(config: Config, waits: list[float], attempts: int = 5) -> CRMClient:
    conn = config.connections["sandbox"]
    mapping = config.mappings["default"]
    objects = {k: mapping.object(k).object for k in mapping.kinds}
    return open_client(conn, objects=objects, policy=RetryPolicy(attempts=attempts, sleep=waits.append))


def spec(config: Config, kind: ObjectKind, page_size: int = 2000) -> ObjectSpec:
    obj = config.mappings["default"].object(kind)
    return ObjectSpec(kind, obj.object, obj.cursor_field, obj.read_fields(), page_size, obj.parent_field)


def ids(config: Config, kind: ObjectKind, pages: list[list[dict[str, object]]]) -> list[str]:
    id_field = config.mappings["default"].object(kind).id_field
    return [str(row[id_field]) for page in pages for row in page]


def test_paging_ends_and_covers_every_row_once_in_order(org: Org, config: Config, waits: list[float]) -> None:
    crm = client(config, waits)
    accounts = spec(config, "accounts", page_size=25)
    pages = [p.rows for p in crm.extract(accounts, None)]
    live = [r for r in org.records(org.names.accounts) if not r.get("IsDeleted")]
    assert len(pages) >= 3 and all(len(p) <= 25 for p in pages)
    got = ids(config, "accounts", pages)
    assert sorted(got) == sorted(str(r[org.names.id]) for r in live) and len(got) == len(set(got))
    stamps = [(parse_datetime(r[accounts.cursor_field]), str(r[config.mappings["default"].accounts.id_field]))
              for p in pages for r in p]
    assert stamps == sorted(stamps)  # (modstamp, id) order: what the engine's cursor relies on


def test_cursor_only_moves_forward(org: Org, config: Config, waits: list[float]) -> None:
    crm = client(config, waits)
    accounts = spec(config, "accounts")
    rows = [r for p in crm.extract(accounts, None) for r in p.rows]
    newest = max(parse_datetime(r[accounts.cursor_field]) for r in rows)
    touched = set(org.touch(org.names.accounts, 4))
    later = [r for p in crm.extract(accounts, Cursor(newest)) for r in p.rows]
    fresh = {str(r[config.mappings["default"].accounts.id_field]) for r in later
             if parse_datetime(r[accounts.cursor_field]) > newest}
    assert fresh == touched
    assert all(parse_datetime(r[accounts.cursor_field]) >= newest - timedelta(seconds=1) for r in later)


def test_fetch_by_id(org: Org, config: Config, waits: list[float]) -> None:
    crm = client(config, waits)
    wanted = [str(r[org.names.id]) for r in org.records(org.names.accounts)[:7]]
    assert sorted(ids(config, "accounts", [p.rows for p in crm.fetch(spec(config, "accounts"), wanted)])) == \
        sorted(wanted)


def test_per_record_errors_are_outcomes_and_reapply_is_harmless(org: Org, config: Config,
                                                                 waits: list[float]) -> None:
    crm = client(config, waits)
    field = org.names.score
    targets = [str(r[org.names.id]) for r in org.records(org.names.accounts)[:4]]
    code = "UNABLE_TO_LOCK_ROW" if org.names.crm == "salesforce" else "INVALID_DATA"
    org.faults(record_errors={targets[0]: code})
    plan = WritePlan(updates=[FieldUpdate("accounts", t, {field: (None, 42.0 + i)}, f"k{i}")
                              for i, t in enumerate(targets)])
    result = crm.apply(plan)
    assert not result.outcomes["k0"].ok and code in (result.outcomes["k0"].error or "")
    assert all(result.outcomes[f"k{i}"].ok for i in (1, 2, 3))
    records = {str(r[org.names.id]): r for r in org.records(org.names.accounts)}
    assert records[targets[0]].get(field) is None and float(records[targets[2]][field]) == 44.0
    org.faults()
    again = crm.apply(plan)
    assert all(o.ok for o in again.outcomes.values())


def test_tasks_are_never_duplicated(org: Org, config: Config, waits: list[float]) -> None:
    crm = client(config, waits)
    account = org.records(org.names.accounts)[0]
    owner = account.get("OwnerId") or (account.get("Owner") or {}).get("id") or (account.get("owner") or [None])[0]
    task = TaskCreate(key="rb-contract-1", object="accounts", record_id=str(account[org.names.id]),
                      owner_id=str(owner), subject="Credit risk review", description="Top reasons: test",
                      due=date.today() + timedelta(days=3), priority="High")
    for _ in range(2):
        result = crm.apply(WritePlan(tasks=[task]))
        assert result.outcomes[task.key].ok
    keys = [t.get(org.names.task_key) for t in org.records(org.names.tasks)]
    assert keys.count(task.key) == 1
    assert crm.open_task_keys([task.key, "rb-missing"]) == {task.key}


def test_rate_limits_and_server_errors_are_retried(org: Org, config: Config, waits: list[float]) -> None:
    crm = client(config, waits)
    path = {"salesforce": "/query", "zoho": "/crm/v8/Accounts",  # data calls, not logins
            "fxiaoke": "/cgi/crm/v2/data/query"}[org.names.crm]
    org.faults(rate_limit={"every": 1, "times": 2, "path": path}, error_503={"every": 1, "times": 1, "path": path})
    rows = [r for p in crm.extract(spec(config, "accounts"), None) for r in p.rows]
    assert len(rows) == len([r for r in org.records(org.names.accounts) if not r.get("IsDeleted")])
    assert len(waits) >= 3  # every retry waited (through the injected sleep, never for real)


def test_bad_request_is_fatal_and_not_retried(org: Org, config: Config, waits: list[float]) -> None:
    crm = client(config, waits)
    bad = spec(config, "accounts")
    bad = ObjectSpec(bad.kind, bad.name, bad.cursor_field, (*bad.fields, "No_Such_Field__c"), bad.page_size)
    org.reset_calls()
    with pytest.raises(Fatal):
        list(crm.extract(bad, None))
    assert waits == []


def test_expired_session_is_recovered(org: Org, config: Config, waits: list[float]) -> None:
    crm = client(config, waits)
    crm.check([spec(config, "accounts")])  # logged in
    # Every fourth call finds its session expired (a new token must survive the call it was minted for);
    # four reads make each CRM meet at least one expiry.
    org.faults(session_expiry_after=3)
    org.reset_calls()
    for _ in range(4):
        pages = [p.rows for p in crm.extract(spec(config, "accounts", page_size=20), None)]
    assert org.calls()["by_endpoint"]  # it did talk to the CRM after the expiry
    assert len(ids(config, "accounts", pages)) == len([r for r in org.records(org.names.accounts)
                                                       if not r.get("IsDeleted")])


def test_secrets_never_reach_the_logs(org: Org, config: Config, waits: list[float],
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    org.faults(session_expiry_after=4)
    crm = client(config, waits)
    crm.check([spec(config, "accounts")])
    list(crm.extract(spec(config, "accounts", page_size=20), None))
    creds = org.credentials()
    secrets = [str(v) for k, v in creds.items() if k in ("password", "security_token", "consumer_secret",
                                                         "client_secret", "refresh_token", "app_secret", "permanent_code")]
    assert secrets and not [s for s in secrets if s in caplog.text]
