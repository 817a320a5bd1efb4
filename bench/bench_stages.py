"""The sync's in-process stages without the network or the store: map, score, per-record outcome, hashes.

Reads a sandbox org's raw Salesforce rows once, then times (process CPU, min of `--repeats`) what the
engine does per batch of 2,000: `map_rows` for accounts and deals, `assess` + `assess_deals`, and the
per-record reads the planner makes (`outcome` of accounts and deals where the checkout has it, else the full
`assessment`), with the values hash. Run it with PYTHONPATH at a checkout to compare two checkouts:

    PYTHONPATH=. python bench/bench_stages.py [--accounts 10000]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

import requests

from connector.mapping import MAPPINGS_DIR, load_mapping, map_rows
from connector.model import Account, Deal
from connector.sandbox import running_sandbox
from scoring.deals import assess_deals
from scoring.engine import assess

BATCH = 2000


def timed(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        began = time.process_time()
        fn()
        best = min(best, time.process_time() - began)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    mapping = load_mapping(MAPPINGS_DIR / "salesforce.toml")
    with running_sandbox("salesforce", accounts=args.accounts, deals_per_account=2, seed=3) as sb:
        account_rows = requests.get(f"{sb.url}/__sandbox/records/Account", timeout=600).json()["records"]
        deal_rows = requests.get(f"{sb.url}/__sandbox/records/Opportunity", timeout=600).json()["records"]
    now = datetime.now(UTC).replace(microsecond=0)

    def mapped() -> tuple[list[Account], list[Deal]]:
        accounts = [a for a in map_rows(mapping, "accounts", account_rows)[0] if isinstance(a, Account)]
        deals = [d for d in map_rows(mapping, "deals", deal_rows)[0] if isinstance(d, Deal)]
        return accounts, deals

    accounts, deals = mapped()
    by_account: dict[str, list[Deal]] = {}
    for d in deals:
        by_account.setdefault(str(d.account_id), []).append(d)
    batches = [(accounts[i:i + BATCH], [d for a in accounts[i:i + BATCH] for d in by_account.get(a.id, [])])
               for i in range(0, len(accounts), BATCH)]

    def score() -> list[tuple[object, object]]:
        out = []
        for batch, batch_deals in batches:
            scored = assess([a.values for a in batch], as_of=now.date(), deals=[d.values for d in batch_deals],
                            scored_at=now)
            out.append((scored, assess_deals([d.values for d in batch_deals], scored)))
        return out

    scored = score()
    from connector.plan import values_hash

    def per_record() -> None:
        for (batch, batch_deals), (acc, dls) in zip(batches, scored, strict=True):
            read = getattr(acc, "outcome", None) or acc.assessment  # type: ignore[attr-defined]
            for i, account in enumerate(batch):
                read(i)
                values_hash(account.values)
            deal_read = getattr(dls, "outcome", None) or dls.assessment  # type: ignore[attr-defined]
            matched = dls.matched  # type: ignore[attr-defined]
            for i in range(len(batch_deals)):
                if matched[i]:
                    deal_read(i)

    figures = {"map_s": timed(mapped, args.repeats), "score_s": timed(score, args.repeats),
               "per_record_s": timed(per_record, args.repeats)}
    figures["total_s"] = sum(figures.values())
    print(f"{args.accounts:,} accounts, {len(deals):,} deals: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))
    print(json.dumps({"bench": "stages", "accounts": args.accounts, **figures}))


if __name__ == "__main__":
    main()
