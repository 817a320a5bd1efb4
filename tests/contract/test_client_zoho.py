"""Contract tests: `ZohoClient` against the Zoho sandbox over loopback HTTP (no patching, no sleeping)."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.config import ZohoConnection
from connector.crm.base import ObjectSpec, RetryPolicy
from connector.crm.zoho import ZohoClient
from connector.crm.zoho_auth import MINT_LIMIT, TokenBudgetExhausted
from connector.crm.zoho_paging import KeysetWalk
from connector.crm.zoho_wire import parse_time
from connector.errors import AuthError, Fatal, QuotaExhausted, Retriable
from connector.mapping import MAPPINGS_DIR, load_mapping
from connector.model import Cursor, FieldUpdate, ObjectKind, TagAdd, TagRemove, TaskCreate, WritePlan
from connector.sandbox import running_sandbox
from connector.sandbox.zoho import ZohoApp

MAPPING = load_mapping(MAPPINGS_DIR / "zoho.toml")
TAG = "credit-watchlist"


def spec(kind: ObjectKind = "accounts", page_size: int = 2000, extra: tuple[str, ...] = ()) -> ObjectSpec:
    obj = MAPPING.object(kind)
    return ObjectSpec(kind, obj.object, obj.cursor_field, obj.read_fields() + extra, page_size=page_size,
                      parent_field=obj.parent_field)


class Box:
    """A running sandbox plus the helpers the tests use to drive and inspect it."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.url: str = server.url
        self.creds: dict[str, str] = requests.get(f"{self.url}/__sandbox/credentials", timeout=5).json()
        self.sleeps: list[float] = []
        self.cache = ""  # token cache file shared by the module's clients

    @property
    def app(self) -> ZohoApp:
        app = self.server.sandbox.app
        assert isinstance(app, ZohoApp)
        return app

    def faults(self, **spec: Any) -> None:
        requests.post(f"{self.url}/__sandbox/faults", json=spec, timeout=5).raise_for_status()

    def records(self, module: str) -> list[dict[str, Any]]:
        return requests.get(f"{self.url}/__sandbox/records/{module}", timeout=30).json()["records"]

    def calls(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/__sandbox/calls", timeout=5).json()

    def reset_calls(self) -> None:
        requests.delete(f"{self.url}/__sandbox/calls", timeout=5)

    def touch(self, module: str, count: int) -> list[str]:
        return requests.post(f"{self.url}/__sandbox/touch", json={"object": module, "count": count}, timeout=5).json()["ids"]

    def connection(self, **overrides: Any) -> ZohoConnection:
        auth = {k: self.creds[k] for k in ("client_id", "client_secret", "refresh_token")}
        auth.update(overrides.pop("auth", {}))
        fields: dict[str, Any] = {"crm": "zoho", "accounts_url": self.creds["accounts_url"],
                                  "api_url": self.creds["api_url"], "auth": auth, "timeout_s": 10}
        fields.update(overrides)
        return ZohoConnection.model_validate({k: v for k, v in fields.items() if v is not None})

    def client(self, *, attempts: int = 5, clock: Callable[[], float] | None = None, **overrides: Any) -> ZohoClient:
        policy = RetryPolicy(attempts=attempts, sleep=self.sleeps.append)
        if clock is None:
            return ZohoClient(self.connection(**overrides), policy=policy)
        return ZohoClient(self.connection(**overrides), policy=policy, clock=clock)


@pytest.fixture(scope="module")
def shared() -> Iterator[Box]:
    with running_sandbox("zoho", accounts=240, deals_per_account=2, seed=5, today=date(2026, 5, 14)) as server:
        yield Box(server)


@pytest.fixture
def box(shared: Box, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    """The module's sandbox with clean faults and call log; clients share one token cache (Zoho's mint limit)."""
    shared.faults()
    shared.reset_calls()
    shared.sleeps.clear()
    shared.cache = str(tmp_path_factory.getbasetemp() / "zoho-token.json")
    yield shared
    shared.faults()


@pytest.fixture
def fresh() -> Iterator[Box]:
    """A small sandbox of its own: for tests that mint many tokens, and the shared one has a mint budget."""
    with running_sandbox("zoho", accounts=5, deals_per_account=0, seed=3) as server:
        yield Box(server)


def client_of(box: Box, **kw: Any) -> ZohoClient:
    return box.client(token_cache=box.cache, **kw)


def read_all(client: ZohoClient, object_spec: ObjectSpec, cursor: Cursor | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for page in client.extract(object_spec, cursor):
        assert 0 < len(page.rows) <= object_spec.page_size
        rows += page.rows
    return rows


def mtime(row: dict[str, Any]) -> datetime:
    moment = parse_time(row["Modified_Time"])
    assert moment is not None
    return moment


def order_key(row: dict[str, Any]) -> tuple[datetime, str]:
    return mtime(row), row["id"]


def last_cursor(rows: list[dict[str, Any]]) -> Cursor:
    cursor = Cursor(mtime(rows[0]))
    for row in rows:
        cursor = cursor.advance(mtime(row), row["id"])
    return cursor


def endpoint_calls(box: Box, needle: str) -> int:
    return sum(n for name, n in box.calls()["by_endpoint"].items() if needle in name)


# -- reading ------------------------------------------------------------------------------------------------


def test_full_extract_pages_end_and_cover_every_row_once_in_order(box: Box) -> None:
    client = client_of(box)
    rows = read_all(client, spec(page_size=70))
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == len(box.records("Accounts"))
    assert [order_key(r) for r in rows] == sorted(order_key(r) for r in rows)
    wanted = set(spec().fields) - {"id"}
    assert all(wanted <= r.keys() and "Tag" in r for r in rows)
    assert client.api_calls == box.calls()["total"]


def test_incremental_read_returns_only_newer_rows_and_304_means_nothing(box: Box) -> None:
    client = client_of(box)
    cursor = last_cursor(read_all(client, spec()))
    touched = set(box.touch("Accounts", 7))
    newer = read_all(client, spec(), cursor)
    assert {r["id"] for r in newer} == touched  # rows the cursor has seen at its boundary are dropped
    assert all(mtime(r) >= cursor.ts for r in newer)
    box.reset_calls()
    assert read_all(client, spec(), last_cursor(newer)) == []  # the boundary rows again, all seen
    later = Cursor(last_cursor(newer).ts + timedelta(seconds=2))
    assert read_all(client, spec(), later) == []  # If-Modified-Since -> 304
    assert box.calls()["total"] == 2


def test_writes_between_batches_neither_skip_rows_nor_come_back_in_the_same_pass(box: Box) -> None:
    """The engine writes between batches: each written row gets a new Modified_Time and so a later key.
    The walk meets it again and drops it (handed out already); no other row is skipped."""
    client = client_of(box)
    seen: list[str] = []
    for page in client.extract(spec(page_size=60), None):
        seen += [r["id"] for r in page.rows]
        plan = WritePlan(updates=[FieldUpdate("accounts", r["id"], {"Risk_Model_Version": (None, "walk")}, f"u:{r['id']}")
                                  for r in page.rows])
        assert not client.apply(plan).failed
    assert len(seen) == len(set(seen)) and set(seen) == {r["id"] for r in box.records("Accounts")}


def test_user_edits_while_paging_move_records_ahead_of_the_reader_never_past_it(box: Box) -> None:
    """Issue 9 §2: a user edits rows the reader has not reached yet, and rows it has already handed out."""
    client = client_of(box)
    before = {r["id"]: r["Modified_Time"] for r in box.records("Accounts")}
    seen: list[dict[str, Any]] = []
    edited: list[str] = []
    for page in client.extract(spec(page_size=40), None):
        seen += page.rows
        if not edited:
            edited = box.touch("Accounts", 30)  # some on this page, most ahead of the reader
    ids = [r["id"] for r in seen]
    assert len(ids) == len(set(ids)) and set(ids) == set(before)
    latest = {r["id"]: r["Modified_Time"] for r in box.records("Accounts")}
    handed_late = [r for r in seen if r["id"] in edited and r["Modified_Time"] == latest[r["id"]]]
    assert handed_late  # rows edited ahead of the reader were read with their new values
    assert [order_key(r) for r in seen] == sorted(order_key(r) for r in seen)


def test_a_keyset_read_beyond_2000_rows_uses_no_offset() -> None:
    """Deals carry no tags: COQL reads their whole rows, 2,000 a call, by keyset."""
    with running_sandbox("zoho", accounts=1050, deals_per_account=2, seed=2) as server:
        box = Box(server)
        client = box.client()
        client.check([spec(), spec("deals")])
        queries: list[str] = []
        client._session.hooks["response"].append(
            lambda r, *a, **k: queries.append(json.loads(r.request.body)["select_query"]) if r.request.body and
            r.request.url.endswith("/coql") else None)
        box.reset_calls()
        rows = read_all(client, spec("deals", page_size=5000))
        assert len(rows) == len({r["id"] for r in rows}) == len(box.records("Deals")) > 2000
        assert [order_key(r) for r in rows] == sorted(order_key(r) for r in rows)
        assert len(queries) == 2 and all("offset" not in q and " limit 2000" in q for q in queries)
        assert "Modified_Time is not null" in queries[0] and "id > '" in queries[1]
        assert all(set(spec("deals").fields) <= r.keys() for r in rows)
        # two COQL calls of rows, and the record count a full read asks for once its first page is full
        # (is the module big enough for the Bulk Read API?)
        assert box.calls()["by_endpoint"] == {"POST coql": 2, "GET Deals/actions/count": 1}


def test_a_listing_beyond_2000_rows_walks_one_page_token_chain() -> None:
    """Accounts are read with their tags, which COQL cannot select: listed 200 a call, past 2,000 by tokens."""
    with running_sandbox("zoho", accounts=2100, deals_per_account=0, seed=2) as server:
        box = Box(server)
        client = box.client()
        client.check([spec()])
        box.reset_calls()
        rows = read_all(client, spec(page_size=5000))
        assert len(rows) == len({r["id"] for r in rows}) == 2100
        assert [order_key(r) for r in rows] == sorted(order_key(r) for r in rows)
        asked = [c for c in requests.get(f"{box.url}/__sandbox/requests", timeout=5).json()["requests"]
                 if c["endpoint"] == "GET Accounts"]
        assert all(c["query"]["per_page"] == "200" and "ids" not in c["query"] for c in asked)
        assert sum("page_token" in c["query"] for c in asked) == len(asked) - 2  # `page` starts each chain only
        # the first page, the newest stamp, a chain begun after it (its first page overlaps the first page's
        # last second), the check of the chain's ids by COQL (2,000 a call), and the count a full read asks
        # for once its first page is full
        checks = box.calls()["by_endpoint"]["POST coql"] - 1
        assert box.calls()["by_endpoint"] == {"GET Accounts": len(asked), "POST coql": 1 + checks,
                                              "GET Accounts/actions/count": 1}
        assert 1 <= checks <= 2
        assert len(asked) <= 2100 // 200 + 2


def test_an_expired_page_token_starts_a_new_chain_from_the_last_stamp_handed_out() -> None:
    """Every token expires at once here: each chain yields one page, the next starts where it stopped."""
    with running_sandbox("zoho", accounts=700, deals_per_account=0, seed=6) as server:
        box = Box(server)
        client = box.client()
        client.check([spec()])
        box.app.tokens.ttl_s = 0
        rows = read_all(client, spec(page_size=70))
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)) == 700
        assert [order_key(r) for r in rows] == sorted(order_key(r) for r in rows)
        asked = [c["query"] for c in requests.get(f"{box.url}/__sandbox/requests", timeout=5).json()["requests"]
                 if c["endpoint"] == "GET Accounts"]
        assert sum("page_token" in q for q in asked) >= 2  # each refused (EXPIRED_VALUE), then a new chain
        assert box.sleeps == []  # not retried as it was: a new chain is begun


@pytest.mark.parametrize("live_offsets", [False, True], ids=["snapshot-tokens", "offset-tokens"])
def test_rows_a_token_chain_skips_are_found_by_the_coql_check_and_handed_out_in_order(
        live_offsets: bool, caplog: pytest.LogCaptureFixture) -> None:
    """Rows the chain has handed out are edited twice mid-chain (before and after 2,000 rows are checked). On
    offset tokens each edit shifts the row behind the reader into the pages read: the COQL walk of the ids
    finds it, and it comes out in (Modified_Time, id) order with the rest, never after a later stamp."""
    with running_sandbox("zoho", accounts=2700, deals_per_account=0, seed=8) as server:
        box = Box(server)
        client = box.client()
        client.check([spec()])
        box.app.tokens.live_offsets = live_offsets
        store, asked = box.app.store, [0]

        def edit(method: str, path: str) -> bool:
            if method == "GET" and path.rstrip("/").endswith("/crm/v8/Accounts"):
                asked[0] += 1
                if asked[0] in (4, 13):  # the chain (from row 199 or a tie before it) has read past row 300
                    with store.lock:
                        rid = store.ordered("Accounts", "Modified_Time", False)[300]
                        store.stamp("Accounts", store.records["Accounts"][rid], store.users[0])
            return False

        box.app.faults.watch(edit)
        caplog.set_level(logging.WARNING, logger="connector.crm.zoho_listing")
        rows = read_all(client, spec(page_size=300))
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)) == 2700
        assert [order_key(r) for r in rows] == sorted(order_key(r) for r in rows)
        warned = [r.getMessage() for r in caplog.records if "chain skipped" in r.getMessage()]
        assert warned == (["listing Accounts: the page-token chain skipped 2 rows; read by id"] if live_offsets else [])


def test_fetch_by_ids_in_chunks_of_100(box: Box) -> None:
    client = client_of(box)
    ids = [r["id"] for r in box.records("Accounts")][:150]
    rows = [r for page in client.fetch(spec(page_size=1000), ids) for r in page.rows]
    assert sorted(r["id"] for r in rows) == sorted(ids)
    assert endpoint_calls(box, "GET") - endpoint_calls(box, "oauth") == 2


def test_check_reads_field_metadata(box: Box) -> None:
    client = client_of(box)
    caps = client.check([spec(), spec("deals")])
    assert set(caps.fields) == {"Accounts", "Deals", "Tasks"}
    assert caps.fields["Accounts"]["Risk_Score"].updateable
    assert not caps.fields["Accounts"]["Modified_Time"].updateable
    assert caps.fields["Tasks"]["Riskbridge_Key"].external_id
    assert caps.missing("Accounts", ["Risk_Tier", "Nope__x"]) == ["Nope__x"]
    assert caps.user_id == box.app.store.integration.id  # how own writes are recognised


def test_rows_tied_on_modified_time_across_pages_come_out_in_id_order() -> None:
    """1,000 rows share one second; pages of 200 keys walk through them by id, never by offset."""
    with running_sandbox("zoho", accounts=1000, deals_per_account=0, seed=4) as server:
        box = Box(server)
        box.touch("Accounts", 1000)  # one bulk edit: (nearly) every row in the same second
        rows = read_all(box.client(), spec(page_size=200))
        assert len(rows) == len({r["id"] for r in rows}) == 1000
        assert [(mtime(r), int(r["id"])) for r in rows] == sorted((mtime(r), int(r["id"])) for r in rows)


def test_the_keyset_walk_fails_loudly_when_coql_does_not_move_on() -> None:
    walk = KeysetWalk("Accounts", "Modified_Time", None, limit=2)
    t = datetime(2026, 5, 14, 10, 0, tzinfo=UTC)
    walk.advance([("10", t), ("11", t)], True)
    assert "(Modified_Time > '2026-05-14T10:00:00+00:00' or (Modified_Time = '2026-05-14T10:00:00+00:00' " \
           "and id > '11'))" in walk.query()
    with pytest.raises(Fatal, match="never end"):
        walk.advance([("9", t), ("11", t)], True)


# -- writing ------------------------------------------------------------------------------------------------


def test_apply_updates_reports_per_record_errors_and_writes_the_rest(box: Box) -> None:
    client = client_of(box)
    bodies: list[dict[str, Any]] = []
    client._session.hooks["response"].append(
        lambda r, *a, **k: bodies.append(json.loads(r.request.body)) if r.request.method == "PUT" else None)
    ids = [r["id"] for r in box.records("Accounts")][:4]
    box.faults(record_errors={ids[1]: "RECORD_LOCKED"})
    plan = WritePlan(updates=[
        FieldUpdate("accounts", ids[0], {"Risk_Score": (None, 72.5), "Risk_Tier": (None, "high"),
                                         "Risk_Scored_At": (None, datetime(2026, 5, 14, 9, 30, 5, 123000, tzinfo=UTC))},
                    "u0"),
        FieldUpdate("accounts", ids[1], {"Risk_Score": (None, 10.0)}, "u1"),
        FieldUpdate("accounts", ids[2], {"Risk_Scorez": (None, 1.0)}, "u2"),
        FieldUpdate("accounts", ids[3], {"Risk_Score": (None, 55.0)}, "u3"),
    ])
    result = client.apply(plan)
    assert result.outcomes["u0"].ok and result.outcomes["u3"].ok
    assert (result.outcomes["u1"].error or "").startswith("RECORD_LOCKED: ")
    assert result.outcomes["u2"].error == "INVALID_DATA: the field api name given seems to be invalid (Risk_Scorez)"
    by_id = {r["id"]: r for r in box.records("Accounts")}
    assert by_id[ids[0]]["Risk_Score"] == 72.5 and by_id[ids[0]]["Risk_Tier"] == "high"
    assert by_id[ids[0]]["Risk_Scored_At"].startswith("2026-05-14T")
    assert by_id[ids[3]]["Risk_Score"] == 55.0
    assert bodies[0]["trigger"] == [] and box.app.last_trigger == []  # no workflows fired
    assert bodies[0]["data"][0]["Risk_Scored_At"] == "2026-05-14T09:30:05+00:00"
    again = client.apply(plan)  # re-applying is harmless
    assert {k: o.ok for k, o in again.outcomes.items()} == {k: o.ok for k, o in result.outcomes.items()}


def test_updates_go_in_batches_of_100(box: Box) -> None:
    client = client_of(box)
    ids = [r["id"] for r in box.records("Accounts")][:230]
    plan = WritePlan(updates=[FieldUpdate("accounts", i, {"Risk_Recommended_Terms": (None, 30)}, f"b:{i}") for i in ids])
    result = client.apply(plan)
    assert len(result.outcomes) == 230 and not result.failed
    assert endpoint_calls(box, "PUT") == 3


def test_task_upsert_twice_gives_one_task_and_open_keys(box: Box) -> None:
    client = client_of(box)
    account = box.records("Accounts")[0]
    task = TaskCreate(key=f"acc:{account['id']}:tier-high:2026-05", object="accounts", record_id=account["id"],
                      owner_id=account["Owner"]["id"], subject="Credit risk review", description="Top reasons: …",
                      due=date(2026, 5, 17), priority="High")
    first = client.apply(WritePlan(tasks=[task]))
    second = client.apply(WritePlan(tasks=[task]))
    assert first.outcomes[task.key].ok and second.outcomes[task.key].ok
    mine = [t for t in box.records("Tasks") if t.get("Riskbridge_Key") == task.key]
    assert len(mine) == 1
    assert mine[0]["What_Id"]["id"] == account["id"] and mine[0]["$se_module"] == "Accounts"
    assert mine[0]["Status"] == "Not Started" and mine[0]["Due_Date"] == "2026-05-17"
    assert client.open_task_keys([task.key, "acc:none:tier-high:2026-05"]) == {task.key}
    done = requests.put(f"{box.url}/crm/v8/Tasks", timeout=5, json={"data": [{"id": mine[0]["id"], "Status": "Completed"}]},
                        headers={"Authorization": f"Zoho-oauthtoken {client._tokens.token()}"})
    assert done.status_code == 200
    assert client.open_task_keys([task.key]) == set()  # a completed task is not open


def test_tags_added_and_removed_without_touching_user_tags(box: Box) -> None:
    client = client_of(box)
    accounts = box.records("Accounts")[:3]
    ids = [a["id"] for a in accounts]
    client.apply(WritePlan(tag_adds=[TagAdd("accounts", ids[0], "vip", "t:vip")]))
    box.reset_calls()
    added = client.apply(WritePlan(tag_adds=[TagAdd("accounts", i, TAG, f"add:{i}") for i in ids]))
    assert all(o.ok for o in added.outcomes.values()) and len(added.outcomes) == 3
    client.apply(WritePlan(tag_adds=[TagAdd("accounts", ids[0], TAG, "add-again")]))
    assert endpoint_calls(box, "settings/tags") == 1  # the definition is created once
    tags = {r["id"]: {t["name"] for t in r.get("Tag") or []} for r in box.records("Accounts")}
    assert TAG in tags[ids[0]] and "vip" in tags[ids[0]] and all(TAG in tags[i] for i in ids)
    removed = client.apply(WritePlan(tag_removes=[TagRemove("accounts", ids[0], TAG, "rm")]))
    assert removed.outcomes["rm"].ok
    after = {t["name"] for t in next(r for r in box.records("Accounts") if r["id"] == ids[0]).get("Tag") or []}
    assert TAG not in after and "vip" in after


# -- failures -----------------------------------------------------------------------------------------------


def test_429_is_retried_and_every_call_counted(box: Box) -> None:
    client = client_of(box)
    client.check([spec()])
    box.faults(rate_limit={"every": 1, "times": 2})
    rows = read_all(client, spec(page_size=50))
    assert len(rows) == len(box.records("Accounts"))
    assert len(box.sleeps) == 2
    assert client.api_calls == box.calls()["total"]


def test_400_is_fatal_and_not_retried(box: Box) -> None:
    client = client_of(box)
    client.check([spec()])
    box.reset_calls()
    with pytest.raises(Fatal) as info:
        read_all(client, spec(extra=("No_Such_Field",)))
    assert "INVALID_DATA" in str(info.value) and "No_Such_Field" in str(info.value)  # from the listing
    assert box.calls()["total"] == 1 and box.sleeps == []  # the refused first page


def test_500_html_503_and_dropped_connections_are_retried(box: Box) -> None:
    client = client_of(box)
    client.check([spec()])
    box.faults(error_500={"every": 1, "times": 1}, error_503={"every": 1, "times": 1},
               drop={"every": 1, "times": 1, "method": "GET"})
    rows = read_all(client, spec(page_size=50))
    assert len({r["id"] for r in rows}) == len(box.records("Accounts"))
    assert len(box.sleeps) == 3


def test_persistent_429_becomes_quota_exhausted(box: Box) -> None:
    client = client_of(box, attempts=3)
    client.check([spec()])
    box.faults(rate_limit={"every": 1})
    with pytest.raises(QuotaExhausted):
        read_all(client, spec())
    assert len(box.sleeps) == 2


def test_quota_exhausted_mid_apply_keeps_partial_outcomes(box: Box) -> None:
    client = client_of(box, write_concurrency=1)  # one lane: the first PUT is the one that passes
    client.check([spec()])
    ids = [r["id"] for r in box.records("Accounts")][:250]
    plan = WritePlan(updates=[FieldUpdate("accounts", i, {"Risk_Model_Version": (None, "q")}, f"q:{i}") for i in ids])
    box.faults(quota_after=1)  # the first PUT passes, then the org's credits are gone
    with pytest.raises(QuotaExhausted) as info:
        client.apply(plan)
    partial = info.value.partial  # type: ignore[attr-defined]
    assert len(partial.outcomes) == 100 and all(o.ok for o in partial.outcomes.values())
    assert partial.stopped and box.sleeps == []  # a credits message stops at once, without retries
    assert client.credits_remaining == 0


def test_token_expiry_mid_run_is_recovered(fresh: Box) -> None:
    client = client_of(fresh)
    client.check([spec()])
    fresh.faults(session_expiry_after=3)  # every 4th call finds every access token dead
    for _ in range(3):
        rows = read_all(client, spec(page_size=50))
        assert len({r["id"] for r in rows}) == len(fresh.records("Accounts"))
    ids = [r["id"] for r in rows][:5]
    result = client.apply(WritePlan(updates=[FieldUpdate("accounts", i, {"Risk_Score": (None, 1.0)}, i) for i in ids]))
    assert not result.failed
    assert endpoint_calls(fresh, "oauth") >= 1


# -- OAuth --------------------------------------------------------------------------------------------------


def test_one_token_serves_many_calls_and_the_cache_file_is_private(box: Box, tmp_path: Path) -> None:
    cache = tmp_path / "tokens" / "zoho.json"
    first = box.client(token_cache=str(cache))
    first.check([spec(), spec("deals")])
    read_all(first, spec())
    assert endpoint_calls(box, "oauth") == 1
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600
    text = cache.read_text()
    assert box.creds["client_secret"] not in text and box.creds["refresh_token"] not in text
    data = json.loads(text)
    assert {"access_token", "expires_at", "api_domain", "mints"} <= data.keys() and len(data["mints"]) == 1
    second = box.client(token_cache=str(cache))  # another run or job: reuses the token
    second.check([spec()])
    assert endpoint_calls(box, "oauth") == 1
    assert second._tokens.mint_count == 0


def test_mint_limit_is_respected_with_an_injected_clock(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    with running_sandbox("zoho", accounts=5, deals_per_account=0) as server:
        box = Box(server)
        client = box.client(clock=lambda: now[0], token_cache=str(tmp_path / "t.json"))
        tokens = client._tokens
        for _ in range(MINT_LIMIT):
            tokens.invalidate(tokens.token())
            now[0] += 1
        before = client.api_calls
        with pytest.raises(TokenBudgetExhausted) as info:
            tokens.token()
        assert client.api_calls == before  # refused without asking Zoho
        assert 580 < info.value.retry_after <= 600 and isinstance(info.value, AuthError)
        other = box.client(clock=lambda: now[0], token_cache=str(tmp_path / "t.json"))  # another job, same cache
        other._tokens.invalidate(json.loads((tmp_path / "t.json").read_text())["access_token"])
        with pytest.raises(TokenBudgetExhausted):
            other.check([spec()])
        assert other.api_calls == 0
        now[0] += 600
        with pytest.raises(TokenBudgetExhausted) as info:  # our clock says yes, Zoho's own window says no
            tokens.token()
        assert "too many" in str(info.value)


def test_invalid_refresh_token_is_a_clear_auth_error(box: Box, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bad = "1000.0123456789abcdef0123456789abcdef.fedcba9876543210fedcba9876543210"
    client = box.client(auth={"refresh_token": bad})
    with pytest.raises(AuthError) as info:
        client.check([spec()])
    assert "invalid_code" in str(info.value)
    assert bad not in str(info.value) and bad not in caplog.text
    assert box.creds["client_secret"] not in str(info.value) + caplog.text
    assert client.api_calls == 1


def test_foreign_api_domain_is_refused(box: Box, caplog: pytest.LogCaptureFixture) -> None:
    conn = ZohoConnection.model_validate({"crm": "zoho", "data_centre": "eu", "accounts_url": box.creds["accounts_url"],
                                          "auth": {k: box.creds[k] for k in ("client_id", "client_secret", "refresh_token")}})
    client = ZohoClient(conn, policy=RetryPolicy(sleep=box.sleeps.append))
    client._tokens.token()  # the sandbox answers api_domain = its own loopback URL
    assert client.api_url == "https://www.zohoapis.eu"
    assert "ignoring api_domain" in caplog.text
    client._tokens._accept_api_domain("https://sandbox.zohoapis.eu")  # on the data centre: taken
    assert client.api_url == "https://sandbox.zohoapis.eu"
    explicit = box.client()
    explicit._tokens._accept_api_domain("https://www.zohoapis.com")
    assert explicit.api_url == box.creds["api_url"]  # an explicit api_url is never overridden


def test_secrets_never_reach_logs(fresh: Box, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = client_of(fresh)
    fresh.faults(session_expiry_after=4, error_500={"every": 5, "times": 1})
    read_all(client, spec(page_size=100))
    client.apply(WritePlan(updates=[FieldUpdate("accounts", fresh.records("Accounts")[0]["id"],
                                                {"Risk_Score": (None, 3.0)}, "s")]))
    token = client._tokens.token()
    text = caplog.text + repr(client) + repr(client._tokens)
    for secret in (fresh.creds["client_secret"], fresh.creds["refresh_token"], token):
        assert secret not in text


# -- the token endpoint is retried like every other call (issue 9 §5) ------------------------------------


@pytest.mark.parametrize("fault", ["error_500", "error_503", "drop"])
def test_first_token_fetch_in_check_survives_one_token_endpoint_fault(fresh: Box, fault: str) -> None:
    client = fresh.client()  # no token cache: check() must mint, and the first mint meets the fault
    fresh.faults(**{fault: {"every": 1, "times": 1, "path": "/oauth/v2/token"}})
    caps = client.check([spec()])
    assert "Accounts" in caps.fields
    assert endpoint_calls(fresh, "oauth") == 2  # the faulted mint, then the retried one
    assert len(fresh.sleeps) == 1  # one injected wait, never a real one


def test_first_token_fetch_in_check_survives_a_timeout(fresh: Box) -> None:
    """The token endpoint answers too slowly once: the read times out, the retry (after an injected
    wait that also ends the slowness) succeeds."""

    def wait(seconds: float) -> None:
        fresh.sleeps.append(seconds)
        fresh.faults()  # the slow spell is over by the time the client tries again

    client = ZohoClient(fresh.connection(timeout_s=0.2), policy=RetryPolicy(attempts=3, sleep=wait))
    fresh.faults(latency_ms=600)
    caps = client.check([spec()])
    assert "Accounts" in caps.fields and len(fresh.sleeps) == 1
    assert endpoint_calls(fresh, "oauth") == 2


def test_a_token_endpoint_that_stays_down_fails_after_the_retries(fresh: Box) -> None:
    client = fresh.client(attempts=3)
    fresh.faults(error_500={"every": 1, "path": "/oauth/v2/token"})
    with pytest.raises(Retriable):
        client.check([spec()])
    assert endpoint_calls(fresh, "oauth") == 3 and len(fresh.sleeps) == 2


# -- the sandbox's COQL behaves as Zoho's does for the keyset read ---------------------------------------


def coql(box: Box, query: str) -> requests.Response:
    client = client_of(box)
    return requests.post(f"{box.url}/crm/v8/coql", json={"select_query": query}, timeout=10,
                         headers={"Authorization": f"Zoho-oauthtoken {client._tokens.token()}"})


def test_sandbox_coql_keyset_queries_limits_and_errors(box: Box) -> None:
    everyone = sorted(box.records("Accounts"), key=lambda r: (mtime(r), int(r["id"])))
    first = coql(box, "select id, Modified_Time from Accounts where Modified_Time is not null "
                      "order by Modified_Time asc, id asc limit 100")
    body = first.json()
    assert first.status_code == 200 and body["info"] == {"count": 100, "more_records": True}
    assert [r["id"] for r in body["data"]] == [r["id"] for r in everyone[:100]]
    last = body["data"][-1]
    after = coql(box, f"select id, Modified_Time from Accounts where (Modified_Time > '{last['Modified_Time']}' or "
                      f"(Modified_Time = '{last['Modified_Time']}' and id > '{last['id']}')) "
                      "order by Modified_Time asc, id asc limit 2000").json()
    assert [r["id"] for r in after["data"]] == [r["id"] for r in everyone[100:]]
    assert after["info"]["more_records"] is False
    offset = coql(box, "select id from Accounts where Modified_Time is not null order by Modified_Time asc, id asc "
                       "limit 100, 50").json()
    assert [r["id"] for r in offset["data"]] == [r["id"] for r in everyone[100:150]]
    assert coql(box, "select id from Accounts where id is not null limit 50 offset 100").json()["info"]["count"] == 50
    too_many = coql(box, "select id from Accounts where id is not null limit 2001")
    assert too_many.status_code == 400 and too_many.json()["code"] == "LIMIT_EXCEEDED"
    beyond = coql(box, "select id from Accounts where id is not null limit 99000, 2000")
    assert beyond.status_code == 400 and beyond.json()["code"] == "LIMIT_EXCEEDED"
    zero = coql(box, "select id from Accounts where id is not null limit 0").json()
    assert zero == {"code": "INVALID_DATA", "details": {}, "message": "limit should be greater than 0",
                    "status": "error"}
    unbracketed = coql(box, "select id from Accounts where id is not null and Modified_Time is not null and "
                            "Account_Name is not null")
    assert unbracketed.status_code == 400 and unbracketed.json()["code"] == "SYNTAX_ERROR"
    nothing = coql(box, "select id from Accounts where Modified_Time > '2999-01-01T00:00:00+00:00'")
    assert nothing.status_code == 204 and nothing.content == b""


def test_sandbox_coql_compares_ids_as_numbers(box: Box) -> None:
    ids = sorted((r["id"] for r in box.records("Accounts")), key=int)
    pivot = ids[len(ids) // 2]
    # float() would make neighbouring 19-digit ids equal; Zoho compares them exactly
    rows = coql(box, f"select id from Accounts where id > '{pivot}' order by id asc limit 2000").json()["data"]
    assert [r["id"] for r in rows] == ids[len(ids) // 2 + 1:]
    one = coql(box, f"select id from Accounts where id = '{pivot}'").json()["data"]
    assert [r["id"] for r in one] == [pivot]
    bad = coql(box, "select id from Accounts where id > 'abc'")
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_QUERY"
