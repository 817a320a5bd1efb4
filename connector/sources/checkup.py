"""`check` for a job's sources: can each be read, how many rows and keys, which keys are duplicated, which
rows are unreadable, and (from the last sync) how many accounts found a row and how many source rows
found no account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from connector.config import Config
from connector.errors import ConfigError
from connector.sources.load import SourceRows, account_rows, invoice_rows, rate_table, wanted_columns
from connector.sources.read import read_database, read_file
from connector.sources.spec import SourceSpec
from connector.state import StateStore

__all__ = ["SourceCheck", "check_sources"]

GOOD_MATCH = 0.9  # below this share of accounts finding a row, the key mapping deserves a look
_SHOWN = 5


@dataclass(frozen=True)
class SourceCheck:
    source: str
    item: str  # read, duplicates, unreadable rows, match rate
    where: str
    status: str  # ok, warning, error
    hint: str


def _where(spec: SourceSpec) -> str:
    if spec.path is not None:
        return Path(spec.path).name
    raw = spec.url.get_secret_value() if spec.url is not None else ""
    if raw.startswith(("env:", "file:")):
        return raw.split(":", 1)[0] + " reference"
    return urlsplit(raw).hostname or "database"


def _open_store(url: str) -> StateStore | None:
    """The job's state store, if there is one already (check never creates it)."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return None
    try:
        return StateStore(url)
    except ConfigError:
        return None


def check_sources(config: Config, job_name: str, *, databases: bool, files: bool = True,
                  env: dict[str, str] | None = None, today: date | None = None) -> list[SourceCheck]:
    """Rows for `check`; database sources only when `databases` (they are a network call), file sources
    only when `files`."""
    from connector.secret_refs import resolve_secret

    job = config.jobs[job_name]
    checks: list[SourceCheck] = []
    store = _open_store(config.state_url) if job.sources else None
    day = today or date.today()
    for name in job.sources:
        spec = config.sources[name]
        where = _where(spec)
        if spec.is_database and not databases:
            checks.append(SourceCheck(name, "read", where, "ok", "a database: read by the online check"))
            continue
        if not spec.is_database and not files:
            continue
        try:
            wanted = wanted_columns(spec)
            if spec.path is not None:
                frame = read_file(name, spec, Path(spec.path), wanted)
            else:
                assert spec.url is not None
                url = resolve_secret(spec.url.get_secret_value(), f"sources.{name}.url", env).get_secret_value()
                frame = read_database(name, spec, url, wanted)[0]
            rates = config.sources[spec.rates] if spec.rates else None
            if rates is not None and rates.path is not None:  # a rates table the invoices cannot do without
                rate_table(rates, read_file(str(spec.rates), rates, Path(rates.path), wanted_columns(rates)))
        except ConfigError as exc:
            checks.append(SourceCheck(name, "read", where, "error", "; ".join(p.message for p in exc.problems)))
            continue
        rows: SourceRows = invoice_rows(spec, frame, day) if spec.kind == "invoices" else account_rows(spec, frame)
        checks.append(SourceCheck(name, "read", where, "ok", f"{rows.rows} rows, {len(rows.values)} keys"))
        if rows.bad_count:
            first = "; ".join(f"row {b['row']}: {b['reason']}" for b in rows.bad[:3])
            checks.append(SourceCheck(name, "unreadable rows", where, "warning",
                                      f"{rows.bad_count} rows skipped (the run goes on without them): {first}"))
        if rows.duplicates:
            shown = ", ".join(f"{k} ({n} rows)" for k, n in list(rows.duplicates.items())[:_SHOWN])
            more = f" and {len(rows.duplicates) - _SHOWN} more" if len(rows.duplicates) > _SHOWN else ""
            checks.append(SourceCheck(name, "duplicated keys", spec.key.column if spec.key else "", "warning",
                                      f"{len(rows.duplicates)} keys on several rows: {shown}{more}"))
        checks.append(_match(store, job_name, name, spec, rows))
    if store is not None:
        store.close()
    return checks


def _match(store: StateStore | None, job: str, name: str, spec: SourceSpec, rows: SourceRows) -> SourceCheck:
    field = spec.key.crm_field if spec.key else ""
    state = store.source_state(job, name) if store is not None else None
    joined = (state.stats.get("join") if state is not None else None) or {}
    if store is None or not joined.get("accounts"):
        return SourceCheck(name, "match rate", field, "ok", "measured by the first sync (or `riskbridge sync "
                                                            "--dry-run --json`, under sources)")
    linked = {k for k, r in store.source_rows(job, name).items() if r.account_id}
    orphans = sorted(k for k in rows.values if k not in linked)
    accounts, matched = int(joined["accounts"]), int(joined.get("matched", 0))
    share = matched / accounts if accounts else 0.0
    shown = ", ".join(orphans[:_SHOWN]) + (f" and {len(orphans) - _SHOWN} more" if len(orphans) > _SHOWN else "")
    hint = (f"{matched} of {accounts} accounts found a row ({share:.0%}) in the last sync; "
            f"{len(orphans)} source keys found no account" + (f": {shown}" if orphans else ""))
    return SourceCheck(name, "match rate", field, "ok" if share >= GOOD_MATCH else "warning", hint)
