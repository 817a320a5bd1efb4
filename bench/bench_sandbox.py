"""How many simple read requests per second the sandbox CRMs serve (target: at least 500 on 2 cores).

The sandbox runs in its own process (`riskbridge sandbox serve`), as it does for the demo and the
benchmarks. The load comes from worker processes, each with one keep-alive `http.client` connection
(lighter than `requests`, so the figure is the server's, not the client's). Prints one line per CRM.

    python bench/bench_sandbox.py [--seconds 5] [--clients 3]
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import requests


def start(crm: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "connector.cli", "sandbox", "serve", "--crm", crm,
                             "--accounts", "2000"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    return proc, line.rsplit(" ", 1)[-1]


def salesforce_target(url: str) -> tuple[dict[str, str], list[str]]:
    creds = requests.get(f"{url}/__sandbox/credentials", timeout=10).json()
    token = requests.post(f"{url}/services/oauth2/token", data={
        "grant_type": "password", "client_id": creds["consumer_key"], "client_secret": creds["consumer_secret"],
        "username": creds["username"], "password": creds["password"] + creds["security_token"]}, timeout=10).json()
    ids = [r["Id"] for r in requests.get(f"{url}/__sandbox/records/Account", timeout=30).json()["records"][:200]]
    return {"Authorization": f"Bearer {token['access_token']}"}, [f"/services/data/v59.0/sobjects/Account/{i}"
                                                                   for i in ids]


def zoho_target(url: str) -> tuple[dict[str, str], list[str]]:
    creds = requests.get(f"{url}/__sandbox/credentials", timeout=10).json()
    token = requests.post(f"{creds['accounts_url']}/oauth/v2/token", data={
        "grant_type": "refresh_token", "client_id": creds["client_id"], "client_secret": creds["client_secret"],
        "refresh_token": creds["refresh_token"]}, timeout=10).json()
    ids = [r["id"] for r in requests.get(f"{url}/__sandbox/records/Accounts", timeout=30).json()["records"][:200]]
    return {"Authorization": f"Zoho-oauthtoken {token['access_token']}"}, [f"/crm/v8/Accounts/{i}" for i in ids]


def _client(netloc: str, headers: dict[str, str], paths: list[str], until: float, offset: int,
            out: Any) -> None:
    conn = http.client.HTTPConnection(netloc, timeout=10)
    done = errors = 0
    i = offset
    while time.time() < until:
        conn.request("GET", paths[i % len(paths)], headers=headers)
        resp = conn.getresponse()
        resp.read()
        done += 1
        errors += resp.status != 200
        i += 7
    conn.close()
    out.put((done, errors))


def load(crm: str, seconds: float, clients: int) -> dict[str, Any]:
    proc, url = start(crm)
    try:
        headers, paths = (salesforce_target if crm == "salesforce" else zoho_target)(url)
        results: Any = multiprocessing.Queue()
        began = time.time() + 0.5  # let every worker connect first
        until = began + seconds
        workers = [multiprocessing.Process(target=_client, args=(urlsplit(url).netloc, headers, paths, until, n,
                                                                 results)) for n in range(clients)]
        for w in workers:
            w.start()
        totals = [results.get(timeout=seconds + 30) for _ in workers]
        for w in workers:
            w.join()
        done, errors = sum(t[0] for t in totals), sum(t[1] for t in totals)
        return {"crm": crm, "requests": done, "errors": errors, "seconds": seconds, "rate": done / seconds}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=3)
    args = parser.parse_args()
    for crm in ("salesforce", "zoho"):
        r = load(crm, args.seconds, args.clients)
        verdict = "ok" if r["rate"] >= 500 and not r["errors"] else "BELOW TARGET"
        print(f"sandbox {crm:10s} {r['rate']:7.0f} simple reads/s  ({r['requests']} in {r['seconds']:.1f}s, "
              f"{args.clients} keep-alive client processes, {r['errors']} errors; target >= 500: {verdict})")


if __name__ == "__main__":
    main()
