"""End to end: the engine against a sandbox CRM over loopback HTTP, for Salesforce, Zoho and Fxiaoke alike.

Every assertion reads the sandbox's resulting records and its call log, not the engine's own word.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.config import Config, load_config
from connector.crm import open_client
from connector.crm.base import RetryPolicy
from connector.model import FieldUpdate, WritePlan
from connector.state import StateStore
from connector.sync import Sync
from tests.conftest import Org, owner_of, ref_id, task_target

OUTPUTS = ("score", "tier", "reasons")


def run(config: Config, policy: RetryPolicy, **kwargs: Any) -> Any:
    return Sync(config, policy=policy).run(**kwargs)


def edit(config: Config, org: Org, kind: str, record_id: str, values: dict[str, Any]) -> None:
    """Change fields the way a person in the CRM would, through the CRM's own API."""
    conn = config.connections["sandbox"]
    client = open_client(conn, objects={"accounts": org.names.accounts, "deals": org.names.deals},
                         policy=RetryPolicy(sleep=lambda _s: None))
    if org.names.crm == "fxiaoke":  # dates travel as epoch milliseconds: hand the client dates, not text
        values = {k: date.fromisoformat(v) if isinstance(v, str) and len(v) == 10 and v[4] == "-" else v
                  for k, v in values.items()}
    result = client.apply(WritePlan(updates=[FieldUpdate(kind, record_id,  # type: ignore[arg-type]
                                                         {k: (None, v) for k, v in values.items()}, "edit")]))
    client.close()
    assert result.outcomes["edit"].ok, result.outcomes["edit"]


def by_id(org: Org, obj: str) -> dict[str, dict[str, Any]]:
    return {str(r[org.names.id]): r for r in org.records(obj)}


def test_full_sync_writes_every_account_and_deal(org: Org, config: Config, no_wait: RetryPolicy) -> None:
    report = run(config, no_wait)
    n = org.names
    accounts = by_id(org, n.accounts)
    skipped = {s["id"] for s in report.skipped if s["object"] == "accounts"}
    assert report.status == "success", report.failures
    assert report.objects["accounts"].extracted == len(accounts)
    written = [a for i, a in accounts.items() if i not in skipped]
    assert written and all(a[n.score] is not None and a[n.tier] in ("low", "medium", "high", "critical")
                           and a[n.reasons] is not None for a in written)
    assert all(accounts[i][n.score] is None for i in skipped)  # dirty records are skipped, not guessed
    store = StateStore(config.state_url)
    stored = store.assessments("default", "accounts", accounts)
    assert {i: float(a[n.score]) for i, a in accounts.items() if i in stored} == \
        {i: row.score for i, row in stored.items()}
    deals = org.records(n.deals)
    scored_deals = [d for d in deals if d[n.tier] is not None]
    assert len(scored_deals) >= len(deals) - 2 * len(skipped)
    assert report.objects["deals"].written == len(scored_deals)
    # The first run creates tasks only for accounts already critical (within the caps), none for the rest.
    critical = {i for i, row in stored.items() if row.tier == "critical"}
    tasks = [t for t in org.records(n.tasks) if t.get(n.task_key)]
    assert {_linked(org, t) for t in tasks} == critical and len(tasks) == len(critical)
    assert report.tasks_created == len(critical)
    assert report.first_run == {"first_run": True, "tiers": ["critical"], "created": len(critical), "held": 0,
                                "cap": 50, "cap_per_owner": 5}


def _linked(org: Org, task: dict[str, Any]) -> str:
    return task_target(org, task)


def _owner(org: Org, record: dict[str, Any]) -> str:
    owner = owner_of(record)
    assert owner is not None, record
    return owner


def test_first_run_tasks_keep_both_caps_and_later_runs_create_the_rest_riskiest_first(
        org: Org, config_path: Path, no_wait: RetryPolicy) -> None:
    config_path.write_text(config_path.read_text() + '\n[jobs.default.tasks]\nfirst_run_tiers = ["medium", "high", "critical"]'
                           "\nfirst_run_cap = 4\nfirst_run_cap_per_owner = 2\n")
    config = load_config(config_path)
    n = org.names
    accounts = by_id(org, n.accounts)
    store = StateStore(config.state_url)
    reports, created_by_run = [], []
    seen: set[str] = set()
    for _ in range(12):
        reports.append(run(config, no_wait))
        now = {_linked(org, t) for t in org.records(n.tasks) if t.get(n.task_key)}
        created_by_run.append(now - seen)
        seen = now
        if reports[-1].first_run is None or reports[-1].first_run["held"] == 0:
            break
    rows = store.assessments("default", "accounts", accounts)
    owed = sorted((r for r in rows.values() if r.tier != "low"), key=lambda r: (-r.score, r.record_id))
    assert len(owed) > 8, "the sandbox org needs enough accounts above low for the caps to bite"
    # What each run should create: the riskiest held tasks, at most 4 a run and 2 per owner a run.
    left, expected = list(owed), []
    while left:
        take: list[str] = []
        per_owner: dict[str, int] = {}
        for r in list(left):
            owner = _owner(org, accounts[r.record_id])
            if len(take) < 4 and per_owner.get(owner, 0) < 2:
                per_owner[owner] = per_owner.get(owner, 0) + 1
                take.append(r.record_id)
                left.remove(r)
        expected.append(set(take))
    assert created_by_run == expected
    assert [r.tasks_created for r in reports] == [len(e) for e in expected]
    assert [r.first_run["held"] for r in reports if r.first_run] == \
        [len(owed) - sum(len(e) for e in expected[: k + 1]) for k in range(len(expected))]
    assert reports[0].first_run["first_run"] is True and all(not r.first_run["first_run"] for r in reports[1:]
                                                             if r.first_run)
    assert all(r.status == "success" for r in reports)
    tasks = [t for t in org.records(n.tasks) if t.get(n.task_key)]
    assert len(tasks) == len(owed)  # exactly one each, nothing duplicated by the holding back
    org.reset_calls()
    assert run(config, no_wait).tasks_created == 0 and org.calls()["writes"] == 0


def test_escalations_create_one_task_each_for_the_owner(org: Org, config: Config, no_wait: RetryPolicy) -> None:
    n = org.names
    run(config, no_wait)
    first_run = {t[n.task_key] for t in org.records(n.tasks) if t.get(n.task_key)}  # accounts already critical
    accounts = by_id(org, n.accounts)
    calm = [i for i, a in accounts.items() if a[n.tier] in ("low", "medium") and not a.get(n.override_tier)][:3]
    for record_id in calm:
        edit(config, org, "accounts", record_id, {n.sanctions: True})  # a compliance hit: critical at once
    report = run(config, no_wait)
    assert report.tasks_created == 3
    tasks = [t for t in org.records(n.tasks) if t.get(n.task_key) and t[n.task_key] not in first_run]
    assert {task_target(org, t) for t in tasks} == set(calm)
    assert {owner_of(t) for t in tasks} == {owner_of(accounts[i]) for i in calm}
    assert all(by_id(org, n.accounts)[i][n.tier] == "critical" for i in calm)
    again = run(config, no_wait, full=True)
    assert again.tasks_created == 0  # the escalation's task is still open: no second one


def test_second_run_without_changes_writes_nothing(org: Org, config: Config, no_wait: RetryPolicy) -> None:
    run(config, no_wait)
    org.reset_calls()
    second = run(config, no_wait)
    assert second.status == "success"
    assert org.calls()["writes"] == 0
    assert second.tasks_created == 0 and second.objects["accounts"].written == 0
    assert second.objects["accounts"].mapped == len(second.skipped)  # only the unreadable rows, retried


def test_touched_records_are_reread_and_rewritten_only_where_changed(org: Org, config: Config,
                                                                     no_wait: RetryPolicy) -> None:
    run(config, no_wait)
    run(config, no_wait)
    touched = set(org.touch(org.names.accounts, 5))
    before = by_id(org, org.names.accounts)
    org.reset_calls()
    third = run(config, no_wait)
    retried = {s["id"] for s in third.skipped}
    # Rows that are only the echo of riskbridge's own write-back are recognised and not processed.
    assert third.objects["accounts"].mapped == len(touched)
    assert third.objects["accounts"].unchanged == third.objects["accounts"].extracted - len(touched) - len(retried)
    after = by_id(org, org.names.accounts)
    rewritten = {i for i in after if after[i] != before[i]}
    assert rewritten <= touched
    assert third.objects["accounts"].written == len(rewritten)
    calls = org.calls()
    # Batch endpoints take every update in one or two calls; Fxiaoke has none: one call per record.
    updates = 2 if org.names.crm != "fxiaoke" else third.objects["accounts"].written + third.objects["deals"].written
    assert calls["writes"] <= updates + third.tasks_created + third.tags_added + third.tags_removed


def test_dry_run_writes_nothing_and_plans_everything(org: Org, config: Config, no_wait: RetryPolicy) -> None:
    before = org.records(org.names.accounts)
    org.reset_calls()
    report = run(config, no_wait, dry_run=True)
    assert org.calls()["writes"] == 0
    assert org.records(org.names.accounts) == before
    updates = [p for p in report.plan if p["op"] == "update" and p["object"] == "accounts"]
    assert len(updates) == report.objects["accounts"].mapped
    real = run(config, no_wait)
    assert real.objects["accounts"].written == len(updates)  # the dry run left no state behind


def test_per_record_errors_give_partial_and_are_retried(org: Org, config: Config, no_wait: RetryPolicy) -> None:
    ids = list(by_id(org, org.names.accounts))[:3]
    code = "UNABLE_TO_LOCK_ROW" if org.names.crm == "salesforce" else "INVALID_DATA"
    org.faults(record_errors={i: code for i in ids[:2]})
    first = run(config, no_wait)
    assert first.status == "partial"
    assert {f["id"] for f in first.failures if f["object"] == "accounts"} >= set(ids[:2])
    accounts = by_id(org, org.names.accounts)
    assert accounts[ids[0]][org.names.tier] is None and accounts[ids[2]][org.names.tier] is not None
    org.faults()
    second = run(config, no_wait)
    assert second.status == "success"
    accounts = by_id(org, org.names.accounts)
    assert accounts[ids[0]][org.names.tier] is not None and accounts[ids[1]][org.names.tier] is not None
    assert StateStore(config.state_url).issues("default", "accounts") == [] or all(
        i.stage == "map" for i in StateStore(config.state_url).issues("default", "accounts"))


def test_session_expiry_mid_run_is_recovered(org: Org, config: Config, no_wait: RetryPolicy) -> None:
    # Fxiaoke writes one record per call and allows 10 token calls a minute: tokens die every 40 calls there.
    # Zoho mints at most 10 tokens in 10 minutes, and each death also kills the calls its write lanes have in
    # flight (each retried on the one new token): every 6 calls keeps a run (16 calls) inside that budget.
    every = {"fxiaoke": 40, "zoho": 6}.get(org.names.crm, 4)
    org.faults(session_expiry_after=every)
    report = run(config, no_wait)
    assert report.status == "success"
    assert report.api_calls > 2 * every  # tokens died more than once mid-run
    assert all(a[org.names.tier] for a in org.records(org.names.accounts)
               if a[org.names.id] not in {s["id"] for s in report.skipped})


def test_reruns_and_retries_never_duplicate_tasks(org: Org, config: Config, no_wait: RetryPolicy) -> None:
    n = org.names
    run(config, no_wait)
    already = len([t for t in org.records(n.tasks) if t.get(n.task_key)])  # first-run tasks: already critical
    calm = [i for i, a in by_id(org, n.accounts).items() if a[n.tier] in ("low", "medium")][:3]
    for record_id in calm:
        edit(config, org, "accounts", record_id, {n.sanctions: True})
    # The CRM creates the tasks but the answer is lost: the client retries, the key-based upsert dedupes
    # (Fxiaoke, whose create is not idempotent: the client looks the key up before it creates again).
    org.faults(drop={"every": 1, "times": 1, "path": "data/create" if n.crm == "fxiaoke" else "Task"})
    first = run(config, no_wait)
    org.faults()
    assert first.status == "success" and first.tasks_created == 3
    run(config, no_wait, full=True)
    keys = [t[n.task_key] for t in org.records(n.tasks) if t.get(n.task_key)]
    assert len(keys) == len(set(keys)) == already + 3


def test_override_in_the_crm_wins_until_it_expires(org: Org, config: Config, no_wait: RetryPolicy) -> None:
    n = org.names
    run(config, no_wait)
    accounts = by_id(org, n.accounts)
    target = next(i for i, a in accounts.items() if a[n.tier] in ("high", "critical") and not a.get(n.override_tier))
    edit(config, org, "accounts", target, {n.override_tier: "low", n.override_reason: "Parent company guarantee",
                                           n.override_until: (date.today() + timedelta(days=30)).isoformat()})
    run(config, no_wait)
    account = by_id(org, n.accounts)[target]
    assert account[n.tier] == "low"
    assert "Parent company guarantee" in account[n.reasons]
    edit(config, org, "accounts", target, {n.override_until: (date.today() - timedelta(days=1)).isoformat()})
    run(config, no_wait)
    assert by_id(org, n.accounts)[target][n.tier] in ("high", "critical")


def test_watchlist_hysteresis(org: Org, config: Config, no_wait: RetryPolicy) -> None:
    n = org.names
    run(config, no_wait)
    accounts = by_id(org, n.accounts)
    target = next(i for i, a in accounts.items() if a[n.tier] == "high" and not a.get(n.override_tier))
    assert _on_watchlist(org, accounts[target])
    # A credit manager marks it low for a while: the tier drops at once, the watchlist only after 3 runs.
    edit(config, org, "accounts", target, {n.override_tier: "low", n.override_reason: "Collateral received",
                                           n.override_until: (date.today() + timedelta(days=30)).isoformat()})
    seen = []
    for _ in range(3):
        run(config, no_wait, full=True)
        account = by_id(org, n.accounts)[target]
        seen.append((account[n.tier], _on_watchlist(org, account)))
    assert seen == [("low", True), ("low", True), ("low", False)]


def _on_watchlist(org: Org, account: dict[str, Any]) -> bool:
    if org.names.crm == "zoho":
        return any(t.get("name") == "credit-watchlist" for t in account.get("Tag") or [])
    if org.names.crm == "fxiaoke":  # a select_many: riskbridge's option among the list a user may extend
        return "credit_watch" in (account[org.names.watchlist] or [])
    return bool(account[org.names.watchlist])


def test_quota_exhaustion_stops_cleanly_and_the_next_run_finishes(org: Org, config: Config,
                                                                  no_wait: RetryPolicy) -> None:
    org.faults(quota_after=8)  # the allowance runs out at the first writes
    stopped = run(config, no_wait)
    assert stopped.status == "partial" and stopped.stopped and "quota" in stopped.stopped.lower()
    store = StateStore(config.state_url)
    assert store.cursor("default", "deals") is None  # the deal cursor did not move past unprocessed work
    org.faults()
    finished = run(config, no_wait)
    assert finished.status == "success"
    accounts = org.records(org.names.accounts)
    skipped = {s["id"] for s in finished.skipped}
    assert all(a[org.names.tier] for a in accounts if a[org.names.id] not in skipped and not a.get("IsDeleted"))
    keys = [t[org.names.task_key] for t in org.records(org.names.tasks) if t.get(org.names.task_key)]
    assert len(keys) == len(set(keys))


def test_salesforce_reports_org_api_usage(org: Org, config: Config, no_wait: RetryPolicy) -> None:
    report = run(config, no_wait)
    if org.names.crm == "salesforce":
        assert report.api_usage is not None and report.api_usage[0] >= report.api_calls - 2
        assert report.to_json()["api_usage"]["limit"] > 0
    else:
        assert report.api_usage is None  # Zoho and Fxiaoke report no allowance


def test_the_cursor_never_passes_the_runs_start(org: Org, config: Config, no_wait: RetryPolicy) -> None:
    # A run that started three days ago (injected clock) must leave its cursors at most a second
    # before that start, however new the rows it read: in-flight writes may still commit behind it.
    start = datetime.now(UTC) - timedelta(days=3)
    Sync(config, policy=no_wait, clock=lambda: start).run()
    store = StateStore(config.state_url)
    horizon = start.replace(microsecond=0) - timedelta(seconds=1)
    for kind in ("accounts", "deals"):
        cursor = store.cursor("default", kind)
        assert cursor is not None and cursor.ts <= horizon
    newer = [a for a in org.records(org.names.accounts) if _modified(org, a) > horizon]
    assert newer  # the org has rows modified after that start: they are read again next run
    again = run(config, no_wait)
    assert again.objects["accounts"].extracted >= len(newer)


def _modified(org: Org, record: dict[str, Any]) -> datetime:
    from connector.transforms import parse_datetime

    return parse_datetime(record[org.names.modstamp])


def test_a_deleted_deal_leaves_its_accounts_exposure_on_the_next_incremental_run(
        org: Org, config: Config, no_wait: RetryPolicy) -> None:
    run(config, no_wait)
    store = StateStore(config.state_url)
    deal = next(d for d in org.records(org.names.deals) if d.get(org.names.tier))
    account_id = str(ref_id(deal[org.names.deal_account]))
    before = store.assessments("default", "accounts", [account_id])[account_id].detail["exposure"]
    deal_id = str(deal[org.names.id])
    # Delete it the way a user would, through the CRM's own REST API.
    creds = org.credentials()
    if org.names.crm == "salesforce":
        import requests

        token = requests.post(f"{org.url}/services/oauth2/token", data={
            "grant_type": "password", "client_id": creds["consumer_key"], "client_secret": creds["consumer_secret"],
            "username": creds["username"], "password": creds["password"] + creds["security_token"]},
            timeout=10).json()["access_token"]
        resp = requests.delete(f"{org.url}/services/data/v59.0/sobjects/Opportunity/{deal_id}",
                               headers={"Authorization": f"Bearer {token}"}, timeout=10)
    elif org.names.crm == "fxiaoke":  # Fxiaoke invalidates (作废) instead of deleting
        org.fx_call("crm/v2/data/invalid", {"dataObjectApiName": org.names.deals, "object_data_id": deal_id})
    else:
        import requests

        token = requests.post(f"{creds['accounts_url']}/oauth/v2/token", data={
            "grant_type": "refresh_token", "client_id": creds["client_id"], "client_secret": creds["client_secret"],
            "refresh_token": creds["refresh_token"]}, timeout=10).json()["access_token"]
        resp = requests.delete(f"{org.url}/crm/v8/Deals/{deal_id}",
                               headers={"Authorization": f"Zoho-oauthtoken {token}"}, timeout=10)
    if org.names.crm != "fxiaoke":
        assert resp.status_code in (200, 204), resp.text
    run(config, no_wait)
    after = store.assessments("default", "accounts", [account_id])[account_id].detail["exposure"]
    assert after < before
    assert deal_id not in {d.id for d in store.deals_for_accounts("default", [account_id])}


def test_an_override_that_expires_is_undone_without_any_crm_edit(org: Org, config: Config,
                                                                  no_wait: RetryPolicy) -> None:
    n = org.names
    run(config, no_wait)
    target = next(i for i, a in by_id(org, n.accounts).items()
                  if a[n.tier] in ("high", "critical") and not a.get(n.override_tier))
    tomorrow = date.today() + timedelta(days=1)
    edit(config, org, "accounts", target, {n.override_tier: "low", n.override_reason: "Guarantee until tomorrow",
                                           n.override_until: tomorrow.isoformat()})
    run(config, no_wait)
    assert by_id(org, n.accounts)[target][n.tier] == "low"
    later = datetime.now(UTC) + timedelta(days=3)  # nobody touches the record; the calendar moves on
    report = Sync(config, policy=no_wait, clock=lambda: later).run()
    assert report.status == "success"
    assert by_id(org, n.accounts)[target][n.tier] in ("high", "critical")


def test_the_watchlist_lets_go_after_three_assessments_below_its_tier_and_no_change_runs_write_nothing(
        org: Org, config: Config, no_wait: RetryPolicy) -> None:
    n = org.names
    run(config, no_wait)
    target = next(i for i, a in by_id(org, n.accounts).items() if a[n.tier] == "high" and not a.get(n.override_tier))
    edit(config, org, "accounts", target, {n.override_tier: "low", n.override_reason: "Collateral received",
                                           n.override_until: (date.today() + timedelta(days=30)).isoformat()})
    run(config, no_wait)  # reads the edit: the first assessment below the entry tier
    account = by_id(org, n.accounts)[target]
    assert (account[n.tier], _on_watchlist(org, account)) == ("low", True)
    for _ in range(3):  # runs with no CRM change read nothing new: no write at all, the count stays (issue 9 §8)
        org.reset_calls()
        quiet = run(config, no_wait)
        assert org.calls()["writes"] == 0 and quiet.status == "success"
        assert _on_watchlist(org, by_id(org, n.accounts)[target])
    # The calendar re-score reads every assessment a week old: the second and third assessments below.
    seen = []
    for weeks in (1, 2):
        later = datetime.now(UTC) + timedelta(days=8 * weeks)
        assert Sync(config, policy=no_wait, clock=lambda at=later: at).run().status == "success"  # type: ignore[misc]
        account = by_id(org, n.accounts)[target]
        seen.append((account[n.tier], _on_watchlist(org, account)))
    assert seen == [("low", True), ("low", False)]


def test_leftover_outbox_tasks_are_superseded_or_abandoned_not_resent_forever(
        org: Org, config: Config, no_wait: RetryPolicy) -> None:
    from connector.state import OutboxRow

    n = org.names
    run(config, no_wait)
    store = StateStore(config.state_url)
    low = next(i for i, a in by_id(org, n.accounts).items() if a[n.tier] == "low")
    now = datetime.now(UTC) - timedelta(days=1)  # left by a crash before the run that recorded the low tier
    payload = {"rule": "tier-high", "episode": 1, "subject": "High credit risk", "description": "left by a crash",
               "due": date.today().isoformat(), "owner_id": None, "priority": "High"}
    store.enqueue([
        OutboxRow(key="rb-default-stale", job="default", kind="task", object="accounts", record_id=low,
                  payload=payload, created_at=now, updated_at=now),  # its escalation no longer holds
        OutboxRow(key="rb-default-stuck", job="default", kind="tag_add", object="accounts", record_id=low,
                  payload={"tag": "credit-watchlist"}, status="failed", attempts=3, last_error="INVALID_DATA: x",
                  created_at=now, updated_at=now),  # failed three times already
    ])
    report = run(config, no_wait)
    assert report.resent == 0 and report.tasks_created == 0
    assert [f["op"] for f in report.failures] == ["tag_add (abandoned)"] and report.status == "partial"
    rows = store.outbox(["rb-default-stale", "rb-default-stuck"])
    assert (rows["rb-default-stale"].status, rows["rb-default-stuck"].status) == ("superseded", "abandoned")
    assert run(config, no_wait).status == "success"  # reported once, then out of the way
    assert not [t for t in org.records(n.tasks) if t.get(n.task_key) == "rb-default-stale"]


def test_salesforce_watchlist_can_also_assign_a_topic(org: Org, config: Config, no_wait: RetryPolicy) -> None:
    if org.names.crm != "salesforce":
        return  # Zoho's watchlist is always a native tag (covered above)
    config.jobs["default"].watchlist.topic = True
    run(config, no_wait)
    topics = {t["Id"]: t["Name"] for t in org.records("Topic")}
    assigned = {a["EntityId"] for a in org.records("TopicAssignment") if topics.get(a["TopicId"]) == "credit-watchlist"}
    flagged = {a["Id"] for a in org.records("Account") if a["Risk_Watchlist__c"]}
    assert flagged and assigned == flagged
    run(config, no_wait)  # nothing changed: no second assignment
    again = [a for a in org.records("TopicAssignment") if topics.get(a["TopicId"]) == "credit-watchlist"]
    assert len(again) == len(flagged)


def test_a_deal_unlinked_from_its_account_leaves_its_exposure(org: Org, config: Config,
                                                              no_wait: RetryPolicy) -> None:
    n = org.names
    if n.crm == "fxiaoke":
        pytest.skip("a Fxiaoke 商机's 客户名称 (account_id) is required: a deal cannot be unlinked from its account")
    run(config, no_wait)
    store = StateStore(config.state_url)
    deal = next(d for d in org.records(n.deals) if d.get(n.tier) and not d.get("IsClosed", False))
    link = n.deal_account
    account_id = str(ref_id(deal[link]))
    edit(config, org, "deals", str(deal[n.id]), {link: None})
    report = run(config, no_wait)
    assert any(s["id"] == str(deal[n.id]) and "is empty" in s["reason"] for s in report.skipped)
    assert str(deal[n.id]) not in {d.id for d in store.deals_for_accounts("default", [account_id])}
    assert store.issues("default", "deals") == []  # not an error to retry forever
