"""Build a sandbox org's tables from its seed, one record at a time, into compact columns.

`build_records` holds the whole dataset as dicts (about 8 KiB an account with its deals: 8 GB for a
million). Here each generated record goes straight into its object's `Columns`. The values are the
same draw for draw: accounts take `Generator`'s stream first, then the deals take it on, account by
account; deals need their account's generated values again, so the account pass saves the stream's
state every `_CHECKPOINT` accounts and the deal pass draws those accounts again from a second
generator (a small org keeps them instead). Editors, overrides and human tasks draw from `record_rng`, the renamed org's unrelated
fields from `adapt_rng`, each in the same order as the dict path.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from connector.sandbox.data import Generator
from connector.sandbox.sf_columns import Columns
from connector.sandbox.sf_describe import ObjectSchema
from connector.sandbox.sf_org import OrgLayout, adapt_record, adapt_rng
from connector.sandbox.sf_records import (
    Record,
    account_record,
    account_stub,
    deal_record,
    human_task,
    record_rng,
    task_roll,
    user_records,
)
from connector.sandbox.sf_table import CompactTable
from connector.sandbox.sf_values import IdFactory

__all__ = ["BuiltOrg", "build_org"]

_CHECKPOINT = 1024  # accounts per saved generator state (2.5 KiB each)
_BATCH = 512  # records appended to the columns at once
_KEEP = 20_000  # up to this many accounts the deal pass reuses them (about 2 KiB each) instead of drawing again
COMPACT = ("Account", "Opportunity", "Task")


@dataclass
class BuiltOrg:
    tables: dict[str, MutableMapping[str, Record]]
    users: list[Record]
    latest_stamp: str | None = None


def build_org(seed: int, accounts: int, deals_per_account: int, today: date, layout: OrgLayout,
              schemas: dict[str, ObjectSchema], ids: dict[str, IdFactory],
              index: Callable[[str, Record], None]) -> BuiltOrg:
    """Every record of the org: users and empty topic tables as dicts, the rest in `CompactTable`s.

    `ids` are the org's id factories (advanced past every generated record); `index` sees each record
    once, for the store's unique-value indexes.
    """
    def new_id(obj: str) -> str:
        return ids[obj]()

    gen = Generator(seed, today)
    rng = record_rng(seed)
    adapt_draws = adapt_rng(seed)
    users = [adapt_record("User", u, layout, schemas, adapt_draws) for u in user_records(gen.users, today, new_id)]
    human = users[:-1]  # the integration user is last
    latest = max(u["SystemModstamp"] for u in users)
    columns = {obj: Columns(schemas[obj]) for obj in COMPACT}
    first = {obj: ids[obj].next for obj in COMPACT}

    pending: dict[str, list[Record]] = {obj: [] for obj in COMPACT}

    def add(obj: str, rec: Record) -> None:
        nonlocal latest
        index(obj, rec)
        batch = pending[obj]
        batch.append(rec)
        if len(batch) >= _BATCH:  # a column at a time: a tenth of the calls of one value at a time
            columns[obj].extend(batch)
            batch.clear()
        stamp = rec.get("SystemModstamp")
        if stamp and stamp > latest:
            latest = stamp

    checkpoints: list[tuple[Any, ...]] = []
    kept: list[dict[str, Any]] = []
    for i in range(accounts):
        if i % _CHECKPOINT == 0:
            checkpoints.append(gen.rng.getstate())
        acc = gen.account(i)
        if accounts <= _KEEP:
            kept.append(acc)
        rec = account_record(rng, acc, seed, today, human, new_id("Account"))
        add("Account", adapt_record("Account", rec, layout, schemas, adapt_draws))

    again = Generator(seed, today)
    account_prefix = schemas["Account"].prefix
    for i in range(accounts):
        if kept:
            acc = kept[i]
        else:
            if i % _CHECKPOINT == 0:
                again.rng.setstate(checkpoints[i // _CHECKPOINT])
            acc = again.account(i)
        account_id = _account_id(account_prefix, first["Account"] + i)
        for j in range(deals_per_account):
            deal = deal_record(gen.deal(acc, j), account_id, acc.get("currency"), human, new_id("Opportunity"))
            add("Opportunity", adapt_record("Opportunity", deal, layout, schemas, adapt_draws))
        # The dict path draws every human task after every deal; its stream is its own, so the order holds.
        if task_roll(rng):
            task = human_task(rng, account_stub(acc, human, account_id), today, new_id)
            add("Task", adapt_record("Task", task, layout, schemas, adapt_draws))

    for obj, batch in pending.items():
        columns[obj].extend(batch)
    tables: dict[str, MutableMapping[str, Record]] = {name: {} for name in schemas}
    tables["User"] = {u["Id"]: u for u in users}
    for obj in COMPACT:
        tables[obj] = CompactTable(columns[obj], schemas[obj].prefix, first[obj])
    for u in users:
        index("User", u)
    return BuiltOrg(tables, users, latest)


def _account_id(prefix: str, n: int) -> str:
    return IdFactory(prefix, n)()
