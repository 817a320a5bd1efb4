"""`riskbridge sandbox serve` as an operator runs it: one line on stdout, a working config, clean exit."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from connector.config import load_config
from connector.crm.base import RetryPolicy
from connector.sync import Sync


@pytest.mark.parametrize("crm", ["salesforce", "zoho"])
def test_serve_prints_one_line_writes_a_config_and_stops_on_sigterm(crm: str, tmp_path: Path) -> None:
    config_path = tmp_path / "sandbox.toml"
    proc = subprocess.Popen([sys.executable, "-m", "connector.cli", "sandbox", "serve", "--crm", crm,
                             "--accounts", "30", "--deals-per-account", "1", "--write-config", str(config_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(rf"sandbox {crm} listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        url = match.group(1)
        assert requests.get(f"{url}/__sandbox/health", timeout=5).json()["ok"]
        report = Sync(load_config(config_path), policy=RetryPolicy(sleep=lambda _s: None)).run()
        assert report.status == "success" and report.objects["accounts"].written > 0
        assert "<table>" in requests.get(f"{url}/", timeout=5).text
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert out == ""  # exactly one line in all


def test_serve_rejects_a_bad_fault_file(tmp_path: Path) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text('{"rate_limit": {"every": 0}}')
    result = subprocess.run([sys.executable, "-m", "connector.cli", "sandbox", "serve", "--crm", "zoho",
                             "--faults", str(faults)], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2 and "fault spec" in result.stderr
