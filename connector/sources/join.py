"""The map stage's join: a job's sources read (or taken from the snapshot), changes turned into the
durable re-score set, and each mapped account given its outside values with their provenance.

Per canonical field the source wins over the CRM's value unless the source says ``prefer = "crm"``;
a CRM value that differs from the source's is a conflict, counted per source and field. Invoice
amounts are converted into the account's currency with the job's rates source, or left alone when
the currencies match.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from connector.model import Account
from connector.secret_refs import resolve_secret
from connector.sources.keys import normalise_key
from connector.sources.load import SourceRows, account_rows, invoice_rows, rate_table, wanted_columns
from connector.sources.read import content_hash, read_database, read_file
from connector.sources.spec import SOURCED_FIELDS, SourceSpec
from connector.state import StateStore
from connector.transforms import TRANSFORMS, Unconvertible

__all__ = ["HISTORY_FIELDS", "SourceJoin", "SourceStats"]

log = logging.getLogger(__name__)

# Invoice figures that are canonical inputs; the rest (trend, overdue share, ...) are shown, not scored.
CRM = "CRM"  # the provenance of a value no source supplied
HISTORY_FIELDS = ("open_receivables", "overdue_amount", "max_days_past_due", "avg_days_late", "disputes_12m")
_AMOUNTS = ("open_receivables", "overdue_amount")


@dataclass
class SourceStats:
    """What one source contributed this run (the `sources` part of a run report and of `check`)."""

    rows: int = 0
    keys: int = 0
    read: bool = False  # read this run (else taken from the snapshot)
    changed: int = 0  # keys whose rows changed since the last read
    accounts: int = 0  # accounts joined this run
    matched: int = 0  # of them, with a source row
    conflicts: dict[str, int] = field(default_factory=dict)  # canonical field -> accounts whose CRM value differed
    bad_rows: int = 0
    bad: list[dict[str, str]] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)
    unconverted: int = 0  # accounts whose invoice amounts had no rate into their currency

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "keys": self.keys, "read": self.read, "changed": self.changed,
                "accounts": self.accounts, "matched": self.matched, "conflicts": self.conflicts,
                "bad_rows": self.bad_rows, "bad": self.bad[:20], "duplicates": dict(list(self.duplicates.items())[:50]),
                "unconverted": self.unconverted}


class SourceJoin:
    """A job's sources for one run. `load()` once, then `join()` each batch of mapped accounts."""

    def __init__(self, specs: dict[str, SourceSpec], names: list[str], *, base: Path, store: StateStore, job: str,
                 id_field: str, today: date, dry_run: bool, env: dict[str, str] | None = None) -> None:
        self.specs, self.names = specs, list(names)
        self.base, self.store, self.job, self.id_field = base, store, job, id_field
        self.today, self.dry_run, self.env = today, dry_run, env
        self.values: dict[str, dict[str, dict[str, Any]]] = {}
        self.rates: dict[str, dict[str, float]] = {}
        self.stats: dict[str, SourceStats] = {n: SourceStats() for n in self.names}
        self.rescore: set[str] = set()
        self.provenance: dict[str, dict[str, str]] = {}  # account id -> canonical field -> source name

    @property
    def key_fields(self) -> list[str]:
        """CRM fields the account extract must read for the keys."""
        return [spec.key.crm_field for n in self.names if (spec := self.specs[n]).key is not None]

    # --- reading --------------------------------------------------------------------------------------
    def load(self) -> None:
        for name in dict.fromkeys(self.specs[n].rates for n in self.names if self.specs[n].rates):
            assert name is not None
            spec = self.specs[name]
            self.rates[name] = rate_table(spec, self._read(name, spec, None)[0])
        for name in self.names:
            self._load(name, self.specs[name])

    def _read(self, name: str, spec: SourceSpec, since: Any) -> tuple[Any, Any]:
        wanted = wanted_columns(spec)
        if spec.path is not None:
            return read_file(name, spec, self._path(spec), wanted), None
        assert spec.url is not None
        url = resolve_secret(spec.url.get_secret_value(), f"sources.{name}.url", self.env).get_secret_value()
        return read_database(name, spec, url, wanted, since)

    def _path(self, spec: SourceSpec) -> Path:
        assert spec.path is not None
        path = Path(spec.path).expanduser()
        return path if path.is_absolute() else self.base / path

    def _load(self, name: str, spec: SourceSpec) -> None:
        stats = self.stats[name]
        state = self.store.source_state(self.job, name)
        snapshot = self.store.source_rows(self.job, name)
        fingerprint = content_hash(self._path(spec)) if spec.path is not None else None
        fresh = (state is not None and fingerprint is not None and state.fingerprint == fingerprint
                 and (spec.kind != "invoices" or state.as_of == self.today))
        if fresh:  # the file is as last read (and invoice figures are for today): the snapshot holds its rows
            self.values[name] = {k: r.values for k, r in snapshot.items() if r.row_hash is not None}
            assert state is not None
            stats.rows, stats.keys = int(state.stats.get("rows", 0)), len(self.values[name])
            stats.duplicates = dict(state.stats.get("duplicates", {}))
            return
        since = None
        incremental = spec.changed_column is not None and state is not None and state.watermark.get("value") is not None
        if incremental:
            assert state is not None
            since = _revive_mark(state.watermark)
        frame, watermark = self._read(name, spec, since)
        rows: SourceRows = invoice_rows(spec, frame, self.today) if spec.kind == "invoices" else account_rows(spec, frame)
        stats.read, stats.rows, stats.bad_rows, stats.bad = True, rows.rows, rows.bad_count, rows.bad
        stats.duplicates = rows.duplicates
        for bad in rows.bad[:20]:
            log.warning("source %s: row %s (key %s) skipped: %s", name, bad["row"], bad["key"] or "-", bad["reason"])
        before = {k: r.row_hash for k, r in snapshot.items() if r.row_hash is not None}
        changed = {k for k, h in rows.hashes.items() if before.get(k) != h}
        removed = set() if incremental else {k for k in before if k not in rows.hashes}
        stats.changed = len(changed | removed)
        values = {k: r.values for k, r in snapshot.items() if r.row_hash is not None and k not in removed}
        values.update(rows.values)
        self.values[name] = values
        stats.keys = len(values)
        if state is None:
            # A source new to this job: every account scored before must be scored again with it.
            accounts = set(self.store.account_ids(self.job))
        else:
            accounts = self.store.source_accounts(self.job, name, changed | removed)
        if accounts:
            log.info("source %s: %d keys changed; %d accounts are scored again", name, stats.changed, len(accounts))
        self.rescore |= accounts
        if self.dry_run:
            return
        # The re-score set first, then the snapshot: a crash in between re-scores, never forgets.
        self.store.mark_rescore(self.job, accounts)
        # Rows whose figures moved without their lines changing (invoice ages on a new day) are saved too,
        # so the snapshot always holds what this read computed; only `changed` rows re-score.
        stored = {k: r.values for k, r in snapshot.items()}
        dirty = {k for k, v in rows.values.items() if k in changed or stored.get(k) != _as_json(v)}
        self.store.save_source_rows(self.job, name, {k: (rows.hashes[k], rows.values[k]) for k in dirty},
                                    removed=removed)
        mark = _store_mark(watermark) if spec.changed_column else {}
        self.store.save_source_state(self.job, name, fingerprint=fingerprint, as_of=self.today, watermark=mark,
                                     stats={"rows": rows.rows, "duplicates": dict(list(rows.duplicates.items())[:50])})

    # --- joining --------------------------------------------------------------------------------------
    def join(self, accounts: list[Account], rows: dict[str, dict[str, Any]]) -> None:
        """Give each account its sources' values (in place), recording where each value came from."""
        links: dict[str, dict[str, str]] = {n: {} for n in self.names}
        for account in accounts:
            raw = rows.get(account.id, {})
            origin = self.provenance.setdefault(account.id, {})
            for name in self.names:
                spec = self.specs[name]
                assert spec.key is not None
                field_value = account.id if spec.key.crm_field == self.id_field else _dig(raw, spec.key.crm_field)
                key = normalise_key(field_value, spec.key)
                stats = self.stats[name]
                stats.accounts += 1
                if key is None:
                    continue
                links[name][key] = account.id
                found = self.values.get(name, {}).get(key)
                if found is None:
                    continue
                stats.matched += 1
                incoming = self._canonical(name, spec, found, account)
                for canonical, value in incoming.items():
                    if value is None:
                        continue
                    current = account.values.get(canonical)
                    if current is not None and not _same(current, value):
                        stats.conflicts[canonical] = stats.conflicts.get(canonical, 0) + 1
                    if spec.prefer == "crm" and current is not None:
                        continue
                    account.values[canonical] = value
                    origin[canonical] = name
            for canonical in SOURCED_FIELDS:  # the rest of what the account is scored on came from the CRM
                if canonical not in origin and account.values.get(canonical) is not None:
                    origin[canonical] = CRM
        if not self.dry_run:
            for name, by_key in links.items():
                self.store.link_source_keys(self.job, name, by_key)

    def _canonical(self, name: str, spec: SourceSpec, found: dict[str, Any], account: Account) -> dict[str, Any]:
        if spec.kind != "invoices":
            return {c: _revive(c, v) for c, v in found.items()}
        out: dict[str, Any] = {f: found.get(f) for f in HISTORY_FIELDS if f not in _AMOUNTS}
        target = str(account.values.get("currency") or "").upper() or None
        rates = self.rates.get(spec.rates or "", {})
        for amount in _AMOUNTS:
            total, ok = 0.0, True
            for currency, value in (found.get(amount) or {}).items():
                converted = _convert(value, currency, target, rates)
                if converted is None:
                    ok = False
                    break
                total += converted
            if not ok:
                self.stats[name].unconverted += 1
                continue
            out[amount] = round(max(0.0, total), 2)
        return out

    def explain(self, account_id: str) -> dict[str, str]:
        """Canonical field -> the source its value came from this run ("CRM"; absent: no value anywhere)."""
        return dict(self.provenance.get(account_id, {}))


def _as_json(values: dict[str, Any]) -> dict[str, Any]:
    """Values as the snapshot's JSON column hands them back (dates as ISO text)."""
    return dict(json.loads(json.dumps(values, default=str)))


def _convert(value: float, currency: str, target: str | None, rates: dict[str, float]) -> float | None:
    if currency in ("None", "") or target is None or currency == target:
        return value  # same currency (or nothing to convert into): left alone
    if currency in rates and target in rates:
        return value * rates[currency] / rates[target]
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return abs(float(a) - float(b)) <= max(0.5, 0.005 * abs(float(b)))
    return bool(a == b)


def _revive(canonical: str, value: Any) -> Any:
    """Snapshot values come back from JSON: dates as text."""
    if canonical in ("statement_date", "customer_since") and isinstance(value, str):
        try:
            return TRANSFORMS["date"](value)
        except Unconvertible:
            return None
    return value


def _dig(row: dict[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _store_mark(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if hasattr(value, "isoformat"):
        return {"value": value.isoformat(), "type": type(value).__name__}
    return {"value": value, "type": type(value).__name__}


def _revive_mark(mark: dict[str, Any]) -> Any:
    from datetime import datetime

    kinds: dict[str, Callable[[str], Any]] = {"datetime": datetime.fromisoformat, "date": date.fromisoformat}
    value = mark.get("value")
    convert = kinds.get(str(mark.get("type")))
    return convert(value) if convert is not None and isinstance(value, str) else value
