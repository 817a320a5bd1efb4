"""The naive integration the issue compares riskbridge with: a plain simple-salesforce script.

`query_all` the accounts and their opportunities, score them (riskbridge's own scorecard, so both write
the same values), then one `Account.update` per account and one `Task.create` per high or critical
account: no diffing, no batching, no state. Login reuses riskbridge's (the sandbox's JWT flow over
loopback); everything after it is simple-salesforce as a script would call it. Run in a fresh process:

    python bench/naive_script.py CONFIG

Prints one JSON line like `sync_process.py`.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import UTC, datetime, timedelta

STARTED = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    args = parser.parse_args()

    from simple_salesforce import Salesforce

    from connector.config import load_config
    from connector.crm.sf_auth import Credentials, login
    from connector.crm.transport import session_for
    from connector.mapping import map_rows
    from connector.model import Account, Deal
    from scoring.engine import assess

    config = load_config(args.config)
    job_name, job = config.job(None)
    conn = config.connections[job.connection]
    mapping = config.mappings[job_name]
    session = login(conn, Credentials.resolve(conn), http := session_for(conn.instance_url))
    sf = Salesforce(session_id=session.token.get_secret_value(), instance=session.instance, session=http)

    accounts_obj, deals_obj = mapping.accounts, mapping.object("deals")
    account_rows = sf.query_all(f"SELECT {', '.join(accounts_obj.read_fields())} FROM Account")["records"]
    deal_rows = sf.query_all(f"SELECT {', '.join(deals_obj.read_fields())} FROM Opportunity")["records"]
    accounts = [a for a in map_rows(mapping, "accounts", account_rows)[0] if isinstance(a, Account)]
    deals = [d for d in map_rows(mapping, "deals", deal_rows)[0] if isinstance(d, Deal)]
    now = datetime.now(UTC).replace(microsecond=0)
    scored = assess([a.values for a in accounts], as_of=now.date(), deals=[d.values for d in deals],
                    scored_at=now)
    out = accounts_obj.outputs
    tasks = 0
    for i, account in enumerate(accounts):
        a = scored.assessment(i)
        sf.Account.update(account.id, {
            out["risk_score"]: a.risk_score, out["risk_tier"]: a.tier, out["reasons"]: a.reasons_text,
            out["recommended_terms_days"]: a.recommended_terms_days,
            out["recommended_credit_limit"]: a.recommended_credit_limit,
            out["scored_at"]: now.isoformat(), out["model_version"]: a.model_version})
        if a.tier in ("high", "critical"):
            # Subject holds 255 characters: the 10,000-account org has names long enough to exceed it.
            subject = f"Credit risk review: {account.name} is {a.tier}"[:255]
            sf.Task.create({"WhatId": account.id, "Subject": subject,
                            "ActivityDate": (now.date() + timedelta(days=3)).isoformat(), "Priority": "High"})
            tasks += 1
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"status": "success", "read": {"accounts": len(account_rows), "deals": len(deal_rows)},
                      "written": {"accounts": len(accounts)}, "tasks": tasks, "tags": 0,
                      "wall_s": time.perf_counter() - STARTED, "cpu_s": usage.ru_utime + usage.ru_stime,
                      "peak_rss_mib": usage.ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
