"""A Zoho run reads and scores every account while accounts are edited in the middle of its listing.

crm-zoho.md does not say what a page token names. If it names a snapshot of the ordered ids (the
sandbox's default), an edit changes a row's values but not its place. If it names an offset into the
live sorted list (`PageTokens.live_offsets`), an edited account moves to the end and the row right
behind the reader shifts into the pages already read: the chain never hands it out. Either way the run
must read and score every account.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.config import Config, load_config
from connector.crm.base import RetryPolicy
from connector.sandbox import running_sandbox
from connector.sandbox.client_config import write_config
from connector.sandbox.zoho import ZohoApp
from connector.sync import Sync
from tests.conftest import Org

NO_WAIT = RetryPolicy(attempts=4, sleep=lambda _s: None)
ACCOUNTS = 700  # a first page, then a chain of three pages of 200


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Org, Config]]:
    with running_sandbox("zoho", accounts=ACCOUNTS, deals_per_account=0, seed=23) as server:
        org = Org(server, "zoho")
        yield org, load_config(write_config(tmp_path / "config.toml", "zoho", org.credentials()))


def edit_between_pages(org: Org, at_listing_call: int) -> list[str]:
    """When the run asks for its `at_listing_call`-th page of Accounts (before it is answered), a user edits
    five accounts the chain has just handed out and one it has not reached; returns the edited ids."""
    app = org.server.sandbox.app
    assert isinstance(app, ZohoApp)
    store, edited, asked = app.store, [], [0]
    rng = random.Random(5)

    def observe(method: str, path: str) -> bool:
        if method == "GET" and path.rstrip("/").endswith("/crm/v8/Accounts"):
            asked[0] += 1
            if asked[0] == at_listing_call:
                with store.lock:
                    order = store.ordered("Accounts", "Modified_Time", False)
                    # The chain began at the first page's last stamp (row 199 or a tie before it): its own
                    # first page has handed out rows 230 to 234.
                    picks = [*order[230:235], order[-50]]
                    user = next(u for u in store.users if u is not store.integration)
                    for rid in picks:
                        rec = store.records["Accounts"][rid]
                        rec["Employees"] = int(rec.get("Employees") or 0) + rng.randint(1, 9)
                        store.stamp("Accounts", rec, user)
                    edited.extend(picks)
        return False

    app.faults.watch(observe)
    return edited


@pytest.mark.parametrize("live_offsets", [False, True], ids=["snapshot-tokens", "offset-tokens"])
def test_a_full_run_reads_and_scores_every_account_edited_mid_listing(
        world: tuple[Org, Config], live_offsets: bool, caplog: pytest.LogCaptureFixture) -> None:
    org, config = world
    app = org.server.sandbox.app
    assert isinstance(app, ZohoApp)
    app.tokens.live_offsets = live_offsets
    # calls 1 and 2 of Accounts: the first page, the chain's first page; the edit comes before the third
    edited = edit_between_pages(org, at_listing_call=3)
    caplog.set_level(logging.WARNING, logger="connector.crm.zoho_listing")
    report = Sync(config, policy=NO_WAIT, clock=lambda: datetime.now(UTC) + timedelta(seconds=5)).run()
    assert report.status == "success", report.failures
    assert len(edited) == 6
    accounts = report.objects["accounts"]
    assert accounts.extracted == ACCOUNTS
    assert accounts.scored + accounts.skipped == ACCOUNTS and accounts.skipped == 2  # two seeded unreadable rows
    assert sum(r.get("Risk_Score") is not None for r in org.records("Accounts")) == accounts.scored
    # on offset tokens the five rows behind the reader were skipped by the chain and found by the check
    skipped = [r.getMessage() for r in caplog.records if "page-token chain skipped" in r.getMessage()]
    assert skipped == (["listing Accounts: the page-token chain skipped 5 rows; read by id"] if live_offsets else [])
