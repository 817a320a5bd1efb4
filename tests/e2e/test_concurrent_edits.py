"""Users edit the CRM while a sync is paging through it: nothing may go stale (issue 9 §2).

The trial, per CRM: a baseline sync; then a user edits every account; the next sync pages through them
and, the moment it asks the CRM for its second page of accounts, a user edits 20 more (a hook in the
sandbox, so the moment is exact and nothing sleeps). Two catch-up runs follow. A `--full --dry-run` then
plans no update: every account's risk fields in the CRM match its current inputs. A `--full` run with
edits during its deal read keeps every deal in the snapshot (a read that skipped rows must never prune).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.config import Config, load_config
from connector.crm.base import RetryPolicy
from connector.mapping import map_rows
from connector.model import Account
from connector.sandbox import running_sandbox
from connector.sandbox.client_config import write_config
from connector.sandbox.http import Request, Response
from connector.state import StateStore
from connector.sync import Sync
from scoring import assess
from tests.conftest import Org

NO_WAIT = RetryPolicy(attempts=4, sleep=lambda _s: None)


def reads_records(crm: str, obj: str, request: Request) -> bool:
    """Is this request one of the sync's reads of `obj` records (a page, a query, a fetch by id)?"""
    if crm == "zoho":
        module = {"accounts": "Accounts", "deals": "Deals"}[obj]
        if request.method == "GET" and request.path.rstrip("/").endswith(f"/crm/v8/{module}"):
            return True
        return request.path.rstrip("/").endswith("/crm/v8/coql") and f"from {module} " in request.body.decode()
    sobject = {"accounts": "account", "deals": "opportunity"}[obj]
    soql = " ".join(request.query.get("q", [""])).lower()
    return request.method == "GET" and "/query" in request.path and (f"from {sobject} " in soql or not soql)


class EditDuringPaging:
    """Edits `count` records of `obj` in the sandbox just before it answers the sync's second read of them.

    SOQL continuation pages (`/query/<locator>`) name no object: they count as reads of the object
    whose query came last.
    """

    def __init__(self, org: Org, obj: str, count: int) -> None:
        self.org, self.obj, self.count = org, obj, count
        self.edited: list[str] = []
        self._reads = 0
        self._current: str | None = None
        self._armed = False
        self._app = org.server.sandbox.app
        self._handle: Callable[[Request], Response] = self._app.handle

    def __enter__(self) -> EditDuringPaging:
        self._app.handle = self._on_request  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self._app.handle = self._handle  # type: ignore[method-assign]

    def arm(self) -> None:
        self._armed, self._reads, self._current = True, 0, None

    def _on_request(self, request: Request) -> Response:
        crm = self.org.names.crm
        soql = " ".join(request.query.get("q", [""])).lower()
        if crm == "salesforce" and soql:
            self._current = "accounts" if "from account " in soql else "deals" if "from opportunity " in soql else None
        ours = reads_records(crm, self.obj, request) and (crm == "zoho" or self._current == self.obj)
        if self._armed and ours:
            self._reads += 1
            if self._reads == 2:
                self._armed = False
                name = {"accounts": self.org.names.accounts, "deals": self.org.names.deals}[self.obj]
                self.edited = self._app.touch(name, self.count)
        return self._handle(request)


@pytest.fixture(params=["salesforce", "zoho"])
def trial(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Org, Config]]:
    crm = str(request.param)
    with running_sandbox(crm, accounts=600, deals_per_account=1, seed=23, latency_ms=5) as server:
        org = Org(server, crm)
        config = load_config(write_config(tmp_path / "config.toml", crm, org.credentials()))
        yield org, config


def stale_updates(config: Config) -> list[dict[str, Any]]:
    """Writes a `--full --dry-run` would make: risk fields that do not match the CRM's current inputs."""
    report = Sync(config, policy=NO_WAIT).run(dry_run=True, full=True)
    return [p for p in report.plan if p["op"] == "update"]


def stale_accounts(config: Config) -> list[str]:
    """Accounts whose recorded assessment was made from other inputs than the CRM holds now."""
    sync = Sync(config, policy=NO_WAIT)
    rows = [r for page in sync.client.extract(sync.specs["accounts"], None) for r in page.rows]
    records, _issues = map_rows(sync.mapping, "accounts", rows)
    accounts = [a for a in records if isinstance(a, Account)]
    scored = assess([a.values for a in accounts], sync.scorecard, as_of=date.today())
    stored = sync.store.assessments("default", "accounts", [a.id for a in accounts])
    sync.client.close()
    return [a.id for i, a in enumerate(accounts)
            if a.id not in stored or stored[a.id].inputs_hash != scored[i].inputs_hash]


def bulk_edit(org: Org, count: int) -> list[str]:
    """A user edits every account, in chunks a few seconds apart (a long bulk update, or an import).

    On Zoho the chunks are stamped 20 to 15 seconds ago (the sandbox's clock is turned back while they
    are written): older than the next run's start, so a row a reader skips lies behind its final cursor.
    """
    app = org.server.sandbox.app
    if org.names.crm != "zoho":
        return org.touch(org.names.accounts, count)
    edited: list[str] = []
    real = app.clock
    start = real() - 20
    try:
        for k, chunk in enumerate(range(0, count, 100)):
            app.clock = lambda k=k: start + k  # type: ignore[misc]
            edited += app.touch(org.names.accounts, min(100, count - chunk))
    finally:
        app.clock = real
    return edited


def concurrent_edit_trial(org: Org, config: Config, accounts: int, page: int) -> None:
    config.jobs["default"].batch_size = page  # several pages per pass: Salesforce's smallest is 200
    # The baseline ran a while ago (its clock is 30 s behind): the bulk edit below comes after its cursor.
    first = Sync(config, policy=NO_WAIT, clock=lambda: datetime.now(UTC) - timedelta(seconds=30)).run()
    assert first.status in ("success", "partial"), first.failures
    everyone = bulk_edit(org, accounts)
    assert len(set(everyone)) == accounts
    with EditDuringPaging(org, "accounts", 20) as hook:
        hook.arm()
        report = Sync(config, policy=NO_WAIT).run()
    assert len(hook.edited) == 20, "the hook must fire while the accounts are being paged"
    assert report.objects["accounts"].extracted >= accounts - len(report.skipped)
    for _ in range(2):  # catch-up runs
        Sync(config, policy=NO_WAIT).run()
    stale = stale_accounts(config)
    assert stale == [], f"{len(stale)} accounts scored from old inputs: {stale[:5]} (edited: {hook.edited[:5]})"
    planned = stale_updates(config)
    assert planned == [], f"{len(planned)} stale records, e.g. {planned[:3]}"


def test_edits_during_paging_leave_nothing_stale(trial: tuple[Org, Config]) -> None:
    org, config = trial
    concurrent_edit_trial(org, config, accounts=600, page=200 if org.names.crm == "salesforce" else 2000)


@pytest.mark.slow
@pytest.mark.parametrize("crm", ["salesforce", "zoho"])
def test_edits_during_paging_of_2000_accounts_with_latency_leave_nothing_stale(crm: str, tmp_path: Path) -> None:
    with running_sandbox(crm, accounts=2000, deals_per_account=1, seed=29, latency_ms=150) as server:
        org = Org(server, crm)
        config = load_config(write_config(tmp_path / "config.toml", crm, org.credentials()))
        concurrent_edit_trial(org, config, accounts=2000, page=200 if crm == "salesforce" else 2000)


def test_a_full_run_with_edits_during_its_deal_read_prunes_no_deal(trial: tuple[Org, Config]) -> None:
    org, config = trial
    config.jobs["default"].batch_size = 200
    Sync(config, policy=NO_WAIT).run()
    deals = {str(d[org.names.id]) for d in org.records(org.names.deals)}
    account_ids = [str(a[org.names.id]) for a in org.records(org.names.accounts)]
    with EditDuringPaging(org, "deals", 20) as hook:
        hook.arm()
        report = Sync(config, policy=NO_WAIT).run(full=True)
    assert len(hook.edited) == 20 and report.status in ("success", "partial")
    kept = {d.id for d in StateStore(config.state_url).deals_for_accounts("default", account_ids)}
    assert kept == deals, f"{len(deals - kept)} deals pruned although they exist"
