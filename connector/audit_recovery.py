"""Auditing field updates whose answer never arrived: read them back from the CRM.

Before a plan is sent, its field updates are recorded as pending (`audit.expected`); each is settled in
the transaction that audits the CRM's answer. One still pending when the next run starts was sent by a
run that ended before the answer came: killed, or every answer lost on the way back. That run's
successor finds the values in place and writes nothing, so without a read-back the write would never be
audited. The next run therefore reads those records and audits each pending update the CRM holds
exactly as sent, under the run that sent it, marked ``"confirmed": "read back"``; the rest (never
applied, or changed since by someone else) are dropped with a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC
from typing import Any

from connector.audit import AuditEntry
from connector.tables import PendingWriteRow
from connector.transforms import Unconvertible, parse_datetime

__all__ = ["READ_BACK", "confirmed_writes", "same_value"]

log = logging.getLogger(__name__)

READ_BACK = "read back"


def confirmed_writes(pending: Iterable[PendingWriteRow], current: dict[tuple[str, str], dict[str, Any]]
                     ) -> dict[int, tuple[list[AuditEntry], list[str]]]:
    """By the run that sent them: (entries for the pending updates the CRM holds as sent, every key settled).

    `current` maps (object, record id) to the record's row as the CRM returns it now."""
    by_run: dict[int, tuple[list[AuditEntry], list[str]]] = {}
    unconfirmed = 0
    for write in pending:
        entries, keys = by_run.setdefault(write.run_id, ([], []))
        keys.append(write.key)
        row = current.get((write.object, write.record_id))
        changes = write.detail.get("changes") if isinstance(write.detail, dict) else None
        if row is None or not isinstance(changes, dict) or not all(
                isinstance(pair, list) and len(pair) == 2 and same_value(pair[1], row.get(name))
                for name, pair in changes.items()):
            unconfirmed += 1
            continue
        entries.append(AuditEntry("update", write.object, write.record_id, write.key,
                                  {**write.detail, "confirmed": READ_BACK}))
    confirmed = sum(len(e) for e, _ in by_run.values())
    if confirmed or unconfirmed:
        log.warning("audit: %d field updates of an interrupted run were confirmed by reading them back and "
                    "audited; %d were not found in the CRM as sent (never applied, or changed since)",
                    confirmed, unconfirmed)
    return by_run


def same_value(sent: Any, now: Any) -> bool:
    """Whether the CRM holds the value riskbridge sent, as the CRM formats it: empty is empty, numbers to
    two decimals, times to the second (Zoho keeps seconds, Salesforce milliseconds, Fxiaoke epoch ms)."""
    if sent in (None, "") or now in (None, ""):
        return sent in (None, "") and now in (None, "")
    if isinstance(sent, bool) or isinstance(now, bool):
        return str(sent).lower() == str(now).lower()
    if isinstance(sent, str) and "T" in sent and isinstance(now, int) and not isinstance(now, bool):
        try:  # Fxiaoke returns a datetime as epoch milliseconds
            return _second(sent) == _second(now)
        except Unconvertible:
            return False
    number = _number(sent), _number(now)
    if number[0] is not None and number[1] is not None:
        return round(number[0], 2) == round(number[1], 2)
    if isinstance(sent, str) and isinstance(now, str):
        if sent.strip() == now.strip():
            return True
        if "T" in sent and "T" in now:
            try:
                return _second(sent) == _second(now)
            except Unconvertible:
                return False
    return False


def _number(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _second(value: str | int) -> str:
    moment = parse_datetime(value)
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.replace(microsecond=0).isoformat()
