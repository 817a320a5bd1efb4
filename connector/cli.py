"""The riskbridge command line: the only module that prints and maps errors to exit codes.

Exit codes: 0 success, 1 partial (some records failed), 2 config or usage error,
3 connection or authentication failure (or the CRM kept failing), 4 internal error.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from connector.errors import (
    ConfigError,
    ConfigProblem,
    ConnectionFailed,
    Fatal,
    JobBusy,
    QuotaExhausted,
    Retriable,
    RiskbridgeError,
)

if TYPE_CHECKING:
    from connector.config import Config
    from scoring import Explanation
    from scoring.csvfile import CsvTable
    from scoring.scorecard import Scorecard

EXIT_SUCCESS = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_CONNECTION = 3
EXIT_INTERNAL = 4

app = typer.Typer(
    name="riskbridge",
    help="Credit-risk scoring inside your CRM: sync, score and write back risk fields, tasks and a watchlist.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from connector import __version__

        print(f"riskbridge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Credit-risk scoring inside your CRM: sync, score and write back risk fields, tasks and a watchlist."""
sandbox_app = typer.Typer(help="Local wire-compatible CRM sandboxes for tests, demos and benchmarks.",
                          no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")

out = Console()
err = Console(stderr=True)


def exit_code(error: BaseException) -> int:
    """The exit code for an error that ended a command."""
    if isinstance(error, ConfigError | JobBusy | Fatal):
        return EXIT_USAGE  # fix the config or mapping (or wait for the running job)
    if isinstance(error, ConnectionFailed | Retriable):
        return EXIT_CONNECTION  # the CRM cannot be reached, refused our credentials, or kept failing
    if isinstance(error, QuotaExhausted):
        return EXIT_PARTIAL
    return EXIT_INTERNAL


def fail(error: Exception) -> NoReturn:
    """Print one clear message for an error and exit with its code."""
    code = exit_code(error)
    label = {EXIT_CONNECTION: "connection failed", EXIT_INTERNAL: "internal error"}.get(code, "error")
    hint = " (run with --verbose for the traceback; please report it)" if code == EXIT_INTERNAL else ""
    err.print(f"[bold red]{label}:[/] {escape(str(error))}{hint}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _setup_logging(verbose: bool, quiet: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else (logging.WARNING if quiet else logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


# --- sandbox -------------------------------------------------------------------------------------


@sandbox_app.command("serve")
def sandbox_serve(
    crm: Annotated[str, typer.Option(help="Which CRM to imitate: salesforce, zoho or fxiaoke.")],
    host: Annotated[str, typer.Option(help="Loopback address to bind (127.0.0.0/8, localhost or ::1).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 0,
    accounts: Annotated[int, typer.Option(help="Accounts to generate.")] = 2000,
    deals_per_account: Annotated[int, typer.Option(help="Deals per account.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the data generator (same seed, same data).")] = 1,
    latency_ms: Annotated[int, typer.Option(help="Latency added to every API call.")] = 0,
    faults: Annotated[Path | None, typer.Option(help="JSON fault spec (rate limits, 5xx, drops, expiry, ...).")] = None,
    write_config: Annotated[Path | None, typer.Option(help="Write a riskbridge config for this sandbox here.")] = None,
    org: Annotated[str, typer.Option(help="Org variant: provisioned (riskbridge's fields in place), bare (standard "
                                          "fields only) or renamed (the org's own names for the credit inputs).")]
    = "provisioned",
    rate_limit: Annotated[int | None, typer.Option(min=1, help="fxiaoke only: calls allowed per API path in 20 s "
                                                               "(default 60; past it the sandbox answers 30004).")]
    = None,
    daily_quota: Annotated[int | None, typer.Option(min=0, help="fxiaoke only: OpenAPI calls allowed per day "
                                                                "(default 100000; past it 30002).")] = None,
) -> None:
    """Serve a wire-compatible CRM sandbox on loopback until SIGINT or SIGTERM."""
    import signal
    import threading

    from connector.crm.transport import is_loopback_http
    from connector.sandbox import FaultSpec, Sandbox, SandboxServer, load_fault_file, make_app
    from connector.sandbox.client_config import write_config as write_sandbox_config
    from connector.sandbox.server import ORG_VARIANTS

    if crm not in ("salesforce", "zoho", "fxiaoke"):
        fail(ConfigError(f"--crm must be salesforce, zoho or fxiaoke, not {crm!r}"))
    if org not in ORG_VARIANTS:
        fail(ConfigError(f"--org must be one of {', '.join(ORG_VARIANTS)}, not {org!r}"))
    if not is_loopback_http(f"http://{host}/"):
        fail(ConfigError(f"--host must be a loopback address: the sandbox hands out its credentials to anyone "
                         f"who asks, so it never listens on {host!r}"))
    try:
        spec = load_fault_file(str(faults)) if faults else FaultSpec()
    except OSError as exc:
        fail(ConfigError(f"{faults}: cannot read the fault spec: {exc.strerror}"))
    except ValueError as exc:
        problems = exc.errors() if isinstance(exc, ValidationError) else [{"loc": (), "msg": str(exc)}]
        fail(ConfigError([ConfigProblem(str(faults), ".".join(str(p) for p in e["loc"]), str(e["msg"]),
                                        "see the fault spec in the README") for e in problems]))
    if latency_ms:
        spec = spec.model_copy(update={"latency_ms": latency_ms})
    if crm != "fxiaoke" and (rate_limit is not None or daily_quota is not None):
        fail(ConfigError("--rate-limit and --daily-quota apply to --crm fxiaoke only"))
    app_ = make_app(crm, accounts=accounts, deals_per_account=deals_per_account, seed=seed, faults=spec, org=org)
    limits = getattr(app_, "limits", None)
    if limits is not None:  # Fxiaoke's per-path window and daily quota
        limits.rate_limit = rate_limit or limits.rate_limit
        limits.daily_quota = limits.daily_quota if daily_quota is None else daily_quota
    try:
        server = SandboxServer(Sandbox(app_), host=host, port=port)
    except OSError as exc:
        fail(ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    if write_config is not None:
        write_sandbox_config(write_config, crm, app_.credentials(), org=org)
    print(f"sandbox {crm} listening on {server.url}", flush=True)
    while not stop.wait(0.5):
        pass
    server.stop()


# --- scoring: score / explain --------------------------------------------------------------------

ScorecardOption = Annotated[
    Path | None, typer.Option("--scorecard", help="Scorecard TOML file (default: the bundled default scorecard).")
]
AsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="Score as of this date, YYYY-MM-DD (default: today).")
]
LangOption = Annotated[str, typer.Option("--lang", help="Language of reasons and advice: en or zh.")]


def _scoring_date(as_of: str | None, lang: str) -> date:
    """Validate the shared scoring options; today is read here, at the edge, never inside scoring/."""
    if lang not in ("en", "zh"):
        fail(ConfigError(f"--lang must be en or zh, not {lang!r}"))
    if as_of is None:
        return date.today()
    try:
        return date.fromisoformat(as_of)
    except ValueError:
        fail(ConfigError(f"--as-of must be a date like 2025-06-30, not {as_of!r}"))


def _scoring_inputs(scorecard: Path | None, input_csv: Path) -> tuple[Scorecard, CsvTable]:
    """The scorecard and the accounts CSV, or exit 2 with every problem found."""
    from scoring import load_scorecard, read_accounts_csv

    try:
        return load_scorecard(scorecard), read_accounts_csv(input_csv)
    except ConfigError as exc:
        fail(exc)


@app.command()
def score(
    input_csv: Annotated[Path, typer.Option("--input", help="CSV of accounts; columns are the canonical field names (README).")],
    output_csv: Annotated[Path, typer.Option("--output", help="Where to write the scored CSV.")],
    scorecard: ScorecardOption = None,
    lang: LangOption = "en",
    as_of: AsOfOption = None,
) -> None:
    """Score a CSV of accounts offline: the input columns plus risk_score, risk_tier, reasons and advice."""
    from scoring import TIERS, assess, write_scored_csv

    day = _scoring_date(as_of, lang)
    card, table = _scoring_inputs(scorecard, input_csv)
    try:
        result = assess(table.accounts, card, as_of=day)
        count = write_scored_csv(output_csv, table, result, lang=lang)
    except ConfigError as exc:
        fail(exc)
    tiers = ", ".join(f"{name} {int((result.tier == i).sum())}" for i, name in enumerate(TIERS))
    out.print(f"scored {count} accounts with {card.version} as of {day}: {tiers} -> {output_csv}", highlight=False)


@app.command("explain")
def explain_account(
    input_csv: Annotated[Path, typer.Option("--input", help="CSV of accounts; columns are the canonical field names (README).")],
    record_id: Annotated[str, typer.Option("--id", help="The id of the account to explain.")],
    scorecard: ScorecardOption = None,
    lang: LangOption = "en",
    as_of: AsOfOption = None,
) -> None:
    """Show why one account scored as it did: the points table, knockouts, override and advice."""
    from scoring import explain

    day = _scoring_date(as_of, lang)
    card, table = _scoring_inputs(scorecard, input_csv)
    row = table.index_of(record_id)
    if row is None:
        fail(ConfigError(f"{input_csv}: no account with id {record_id!r}"))
    _print_explanation(explain(table.accounts.take([row]), card, as_of=day, lang=lang))


def _print_explanation(e: Explanation) -> None:
    from rich.table import Table

    table = Table(title=f"{e.name or e.record_id} ({e.record_id}) — {e.model_version}", title_justify="left")
    for column in ("characteristic", "value", "bin", "points", "maximum", "shortfall"):
        table.add_column(column, justify="right" if column in ("points", "maximum", "shortfall") else "left",
                         no_wrap=column == "characteristic")
    for r in e.rows:
        table.add_row(r.characteristic, r.value, r.bin, f"{r.points:g}", f"{r.maximum:g}",
                      f"[red]{r.shortfall:g}[/]" if r.shortfall else "0")
    table.add_row("total", "", "", f"{e.score:g}", f"{e.max_score:g}", f"{e.max_score - e.score:g}", style="bold")
    out.print(table)
    out.print(f"Risk Score {e.risk_score}, tier {e.tier} (points alone: {e.model_tier}), pd {e.pd:.2%}",
              highlight=False)
    out.print("Reasons: " + ("; ".join(f"{r.code} {r.text}" for r in e.reasons) or "none"), highlight=False)
    out.print("Knockouts: " + ("; ".join(f"{k.code} {k.text}" for k in e.knockouts) or "none"), highlight=False)
    o = e.override
    out.print("Override: " + (f"{o.state}: tier {o.tier or '?'} until {o.until or '?'}"
                              f"{f' ({o.reason})' if o.reason else ''}" if o else "none"), highlight=False)
    a = e.action
    limit = f"{a.credit_limit:,.0f}" if a.credit_limit is not None else "none"
    out.print(f"Recommended action: terms {a.terms_days} days; credit limit {limit} ({a.limit_rationale}); "
              f"prepayment {a.prepayment_share:.0%}; {a.monitoring}", highlight=False)
    if a.task is not None:
        out.print(f"Task: {a.task.subject}\n{a.task.description}", highlight=False)


# --- sync / runs / demo --------------------------------------------------------------------------

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Config file (see config.example.toml).")]


def _load(config: Path) -> Config:
    from connector.config import load_config

    try:
        return load_config(config)
    except ConfigError as exc:
        fail(exc)


@app.command()
def sync(
    config: ConfigOption = Path("config.toml"),
    job: Annotated[str | None, typer.Option(help="Job to run (default: the only job, or 'default').")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan and print every write; write nothing.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Ignore the cursor and re-read every record.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")] = False,
) -> None:
    """Run one sync: extract, map, score, plan, apply and record.

    Exit 0 success, 1 partial (some writes failed; listed and retried next run), 2 config or usage error,
    3 the CRM could not be reached or refused the credentials, 4 internal error."""
    from connector.report import failures_table, plan_table, progress_bar, skipped_table, summary_table
    from connector.sync import Sync

    _setup_logging(verbose, quiet=json_out)
    cfg = _load(config)
    try:
        with progress_bar(enabled=not json_out and out.is_terminal, console=err) as progress:
            report = Sync(cfg, job, progress=progress).run(dry_run=dry_run, full=full)
    except Exception as exc:
        failed = getattr(exc, "report", None)
        if failed is not None:  # the run started: its summary is printed like any other
            print(json.dumps(failed.to_json(), ensure_ascii=False, default=str)) if json_out else \
                out.print(summary_table(failed))
        logging.getLogger(__name__).debug("sync failed", exc_info=exc)
        fail(exc)
    if json_out:
        print(json.dumps(report.to_json(), ensure_ascii=False, default=str))
    else:
        if report.dry_run:
            out.print(plan_table(report))
        out.print(summary_table(report))
        if report.skipped:
            out.print(skipped_table(report))
        if report.failures:
            out.print(failures_table(report))
    raise typer.Exit(EXIT_SUCCESS if report.status == "success" else EXIT_PARTIAL)


@app.command()
def schedule(
    config: ConfigOption = Path("config.toml"),
    job: Annotated[list[str] | None, typer.Option(help="Only these jobs (repeatable); default all.")] = None,
) -> None:
    """Run the scheduler daemon: every job on its cron `schedule`, never overlapping itself."""
    from connector.scheduler import build_scheduler

    _setup_logging(False)
    cfg = _load(config)
    try:
        scheduler = build_scheduler(cfg, job)
    except RiskbridgeError as exc:
        fail(exc)
    for entry in scheduler.get_jobs():
        err.print(f"scheduled {entry.id}: {cfg.jobs[entry.id].schedule} (UTC)")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)


@app.command()
def runs(
    config: ConfigOption = Path("config.toml"),
    job: Annotated[str | None, typer.Option(help="Only this job.")] = None,
    limit: Annotated[int, typer.Option(help="How many runs, newest first.")] = 20,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """List the run history with status, counts and API calls."""
    from connector.report import runs_table
    from connector.state import StateStore

    cfg = _load(config)
    store = StateStore(cfg.state_url)
    rows = store.runs(job, limit)
    if json_out:
        print(json.dumps([{"run_id": r.id, "job": r.job, "status": r.status, "started_at": r.started_at.isoformat(),
                           "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                           "dry_run": r.dry_run, "api_calls": r.api_calls, "summary": r.summary, "error": r.error}
                          for r in rows], ensure_ascii=False, default=str))
    else:
        out.print(runs_table(rows))


_DEMO_EN = {
    "title": "[bold]riskbridge demo[/] · {crm} sandbox at {url} · {accounts} accounts, {deals} deals",
    "limit": "", "clerk": "a credit clerk edits {n} accounts in the CRM …", "tiers": "accounts by tier: ",
    "watch": " · on the watchlist {n}", "riskiest": "the five riskiest accounts",
    "columns": "account|score|tier|top reasons",
}
_DEMO_ZH = {
    "title": "[bold]riskbridge 演示[/] · 纷享销客沙箱 {url} · {accounts} 个客户, {deals} 个商机",
    "limit": "演示租户不限调用频次 (标准租户每个接口每 20 秒 60 次, 2,000 个客户的全量同步约需 30 分钟; "
             "见 bench/bench_fxiaoke.py)",
    "clerk": "信用专员在 CRM 中修改了 {n} 个客户 …", "tiers": "各风险等级的客户数: ", "watch": " · 风险观察名单 {n}",
    "riskiest": "风险最高的五个客户", "columns": "客户|风险评分|风险等级|主要原因",
}
_DEMO_TIERS_ZH = {"low": "低", "medium": "中", "high": "高", "critical": "严重"}
_DEMO_RATE_LIMIT = 100_000


@app.command()
def demo(
    crm: Annotated[str, typer.Option(help="salesforce, zoho or fxiaoke (纷享销客, in Chinese).")] = "salesforce",
    accounts: Annotated[int, typer.Option(help="Accounts in the sandbox org.")] = 2000,
    keep_serving: Annotated[bool, typer.Option("--keep-serving", help="Keep the sandbox up to browse it.")] = False,
) -> None:
    """Start a sandbox CRM, run a full sync, touch a few records, run an incremental sync, show the result."""
    import tempfile

    import requests
    from rich.table import Table

    from connector.config import load_config
    from connector.report import summary_table
    from connector.sandbox import running_sandbox
    from connector.sandbox.client_config import write_config
    from connector.state import StateStore
    from connector.sync import Sync

    if crm not in ("salesforce", "zoho", "fxiaoke"):
        fail(ConfigError(f"--crm must be salesforce, zoho or fxiaoke, not {crm!r}"))
    _setup_logging(False, quiet=True)
    zh = crm == "fxiaoke"  # a Fxiaoke tenant's credit manager reads Chinese
    words = _DEMO_ZH if zh else _DEMO_EN
    with tempfile.TemporaryDirectory(prefix="riskbridge-demo-") as tmp, \
            running_sandbox(crm, accounts=accounts, deals_per_account=2, seed=7) as sandbox:
        out.print(words["title"].format(crm=crm, url=sandbox.url, accounts=accounts, deals=accounts * 2))
        creds = requests.get(f"{sandbox.url}/__sandbox/credentials", timeout=10).json()
        environ = None
        if zh:  # Fxiaoke writes one record per call: the demo lifts the tenant's frequency limit on both sides
            import os

            requests.post(f"{sandbox.url}/__sandbox/limits", json={"rate_limit": _DEMO_RATE_LIMIT}, timeout=10)
            environ = {**os.environ, "RISKBRIDGE_CONNECTIONS__SANDBOX__RATE_LIMIT": str(_DEMO_RATE_LIMIT)}
            out.print(words["limit"])
        cfg = load_config(write_config(Path(tmp) / "config.toml", crm, creds), environ=environ)
        try:
            first = Sync(cfg).run()
            out.print(summary_table(first))
            obj = {"salesforce": "Account", "zoho": "Accounts", "fxiaoke": "AccountObj"}[crm]
            touched = requests.post(f"{sandbox.url}/__sandbox/touch", json={"object": obj, "count": 20},
                                    timeout=10).json()["ids"]
            out.print(words["clerk"].format(n=len(touched)))
            second = Sync(cfg).run()
            out.print(summary_table(second))
        except RiskbridgeError as exc:
            fail(exc)
        store = StateStore(cfg.state_url)
        tiers = store.tier_counts("default")
        tier_name = _DEMO_TIERS_ZH if zh else {t: t for t in _DEMO_TIERS_ZH}
        out.print(words["tiers"] + " · ".join(f"{tier_name[t]} {tiers.get(t, 0)}" for t in
                                              ("low", "medium", "high", "critical"))
                  + words["watch"].format(n=store.watchlist_count("default")))
        table = Table(title=words["riskiest"], title_justify="left")
        for col in words["columns"].split("|"):
            table.add_column(col)
        for row in store.riskiest("default", 5):
            detail = row.detail
            table.add_row(str(detail.get("name") or row.record_id), f"{row.score:.0f}", tier_name.get(row.tier, row.tier),
                          "\n".join(detail.get("reasons", [])[:4]))
        out.print(table)
        store.close()
        if keep_serving:
            out.print(f"browse the CRM view at [bold]{sandbox.url}/[/] · Ctrl-C to stop")
            import signal
            import threading

            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            while not stop.wait(0.5):
                pass


# --- the admin's path: check / provision / mappings suggest ------------------------------------

mappings_app = typer.Typer(help="Mapping files: suggest one from the org's own fields.", no_args_is_help=True)
app.add_typer(mappings_app, name="mappings")
_STATUS_STYLE = {"ok": "green", "warning": "yellow", "error": "bold red", "missing": "bold red",
                 "create": "cyan", "define": "cyan", "exists": "green", "skip": "yellow", "conflict": "bold red",
                 "cannot": "bold red"}


def _job_of(cfg: Config, job: str | None) -> str:
    try:
        return cfg.job(job)[0]
    except ConfigError as exc:
        fail(exc)


def _admin_failure(exc: Exception, json_out: bool, payload: dict[str, object]) -> NoReturn:
    """The CRM refused or could not be reached while reading metadata: one message (or JSON object), exit 2/3."""
    if json_out:
        print(json.dumps({**payload, "ok": False, "exit_code": exit_code(exc), "error": str(exc)}, ensure_ascii=False))
        raise typer.Exit(exit_code(exc))
    fail(exc)


@app.command()
def check(
    config: ConfigOption = Path("config.toml"),
    job: Annotated[str | None, typer.Option(help="Job to check (default: the only job, or 'default').")] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Only config, mapping, scorecard and secrets; "
                                                            "no network call.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")] = False,
) -> None:
    """Tell whether a job will work against its CRM, from the CRM's own metadata. Changes nothing.

    Exit 0 all well, 2 configuration problems (listed), 3 the CRM cannot be reached or refuses the credentials."""
    from rich.table import Table

    from connector.admin.check import check_offline, check_online
    from connector.crm import open_admin

    _setup_logging(verbose, quiet=True)
    report, cfg, name = check_offline(config, job)
    report.offline = offline
    if cfg is not None and name is not None and not offline:
        conn = cfg.connections[cfg.jobs[name].connection]
        try:
            check_online(report, cfg, name, lambda: open_admin(conn))
        except RiskbridgeError as exc:
            _admin_failure(exc, json_out, report.to_json())
    if json_out:
        print(json.dumps(report.to_json(), ensure_ascii=False))
        raise typer.Exit(report.exit_code)
    for p in report.problems:
        err.print(f"[bold red]error:[/] {escape(str(p))}", highlight=False, soft_wrap=True)
    for obj, rows in report.tables().items():
        table = Table(title=escape(obj), title_justify="left")
        for col in ("canonical field", "CRM field", "status", "hint"):
            table.add_column(col, no_wrap=col == "status")
        for r in rows:
            table.add_row(escape(r.canonical), escape(r.field),
                          f"[{_STATUS_STYLE[r.status]}]{r.status}[/]", escape(r.hint))
        out.print(table)
    counts = report.counts()
    verdict = "[green]all well[/]" if report.ok else "[bold red]not ready[/]"
    scope = "offline check" if offline or cfg is None else f"{report.crm} org"
    out.print(f"{verdict}: {scope}, job {escape(str(report.job))}: {counts['ok']} ok, {counts['warning']} warnings, "
              f"{counts['error']} errors, {counts['missing']} missing, {len(report.problems)} config problems",
              highlight=False)
    for step in report.next_steps():
        out.print(f"next: {escape(step)}", highlight=False)
    raise typer.Exit(report.exit_code)


@app.command()
def provision(
    config: ConfigOption = Path("config.toml"),
    job: Annotated[str | None, typer.Option(help="Job to provision for (default: the only job, or 'default').")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Create the missing fields, tag and permission set; "
                                                        "without it the plan is printed and nothing changes.")] = False,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Salesforce: write a DX source project here to "
                                                               "deploy with `sf project deploy start` (offline).")] = None,
    inputs: Annotated[bool, typer.Option("--inputs", help="Also create the mapped credit input fields the org "
                                                          "lacks.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")] = False,
) -> None:
    """Create what the job needs and the org lacks: output, override and task-key fields, the watchlist tag.

    Never changes or deletes an existing field; one that does not fit is reported (exit 2). Idempotent."""
    from rich.table import Table

    from connector.admin.needs import job_needs
    from connector.admin.provision import apply_plan, plan_provision, read_org
    from connector.admin.sfdx import write_project
    from connector.crm import open_admin

    _setup_logging(verbose, quiet=json_out)
    cfg = _load(config)
    name = _job_of(cfg, job)
    mapping, job_model = cfg.mappings[name], cfg.jobs[name]
    if out_dir is not None:
        if mapping.crm != "salesforce":
            fail(ConfigError(f"--out writes a Salesforce DX project; job {name!r} is on {mapping.crm} "
                             "(use --apply)"))
        needs = job_needs(mapping, job_model)
        objects = list(dict.fromkeys(n.object for n in needs))
        files = write_project(out_dir, needs, objects=objects, inputs=inputs)
        if not apply:
            if json_out:
                print(json.dumps({"crm": mapping.crm, "out": str(out_dir), "files": [str(f) for f in files]}))
            else:
                out.print(f"wrote {len(files)} files to {escape(str(out_dir))}; deploy them with "
                          f"`sf project deploy start --source-dir {escape(str(out_dir / 'force-app'))}`",
                          highlight=False)
            raise typer.Exit(EXIT_SUCCESS)
    admin = open_admin(cfg.connections[job_model.connection])
    try:
        plan = plan_provision(cfg, name, read_org(cfg, name, admin), inputs=inputs)
        if apply:
            apply_plan(plan, admin)
    except RiskbridgeError as exc:
        _admin_failure(exc, json_out, {"crm": mapping.crm, "applied": False})
    finally:
        admin.close()
    if json_out:
        print(json.dumps(plan.to_json(), ensure_ascii=False))
        raise typer.Exit(plan.exit_code)
    table = Table(title=f"provision {escape(name)} on {mapping.crm}" + ("" if apply else " (plan only; --apply to "
                                                                                          "create)"), title_justify="left")
    for col in ("action", "object", "field", "detail"):
        table.add_column(col)
    for s in plan.steps:
        action = s.action if apply or s.action not in ("create", "define") else f"will {s.action}"
        table.add_row(f"[{_STATUS_STYLE[s.action]}]{action}[/]", escape(s.object), escape(s.field), escape(s.detail))
    out.print(table)
    done = f"{plan.writes} write calls" if apply else f"{len(plan.todo)} to create, nothing changed"
    out.print(f"{done}; {len(plan.blocked)} conflicts", highlight=False)
    if mapping.crm == "fxiaoke" and plan.todo:
        out.print("Fxiaoke has no public field-creation API: create the fields above in 管理后台 → 对象管理 → "
                  "字段管理 → 新建字段 with the types shown, then run `riskbridge check`", highlight=False)
    raise typer.Exit(plan.exit_code)


@mappings_app.command("suggest")
def mappings_suggest(
    config: ConfigOption = Path("config.toml"),
    job: Annotated[str | None, typer.Option(help="Job whose connection and objects to use.")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the mapping here (default: print it).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")] = False,
) -> None:
    """Suggest a mapping for the org: the best field for each canonical input, with a confidence."""
    from rich.table import Table

    from connector.admin.suggest import render_toml, reserved_fields, suggest_object
    from connector.crm import open_admin
    from connector.mapping import MAPPINGS_DIR, load_mapping

    _setup_logging(verbose, quiet=out_file is None)
    cfg = _load(config)
    name = _job_of(cfg, job)
    current, job_model = cfg.mappings[name], cfg.jobs[name]
    template = load_mapping(MAPPINGS_DIR / f"{current.crm}.toml")
    objects = {kind: current.object(kind) for kind in job_model.objects}
    reserved = reserved_fields(template)
    admin = open_admin(cfg.connections[job_model.connection])
    try:
        org = admin.read([o.object for o in objects.values()])
    except RiskbridgeError as exc:
        fail(exc)
    finally:
        admin.close()
    missing = [o.object for o in objects.values() if not org.object(o.object).exists]
    if missing:
        fail(ConfigError(f"{current.source}: no object {', '.join(map(repr, missing))} in the org; fix the object "
                         "names in the job's mapping"))
    suggestions = {kind: suggest_object(kind, template.object(kind), org.object(obj.object), current.crm, reserved)
                   for kind, obj in objects.items()}
    text = render_toml(current.crm, template, objects, suggestions, source=f"job {name}")
    if out_file is None:
        print(text)
        raise typer.Exit(EXIT_SUCCESS)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(text, encoding="utf-8")
    load_mapping(out_file)  # what we write must load as it is
    table = Table(title=f"suggested mapping -> {escape(str(out_file))}", title_justify="left")
    for col in ("object", "canonical field", "CRM field", "confidence", "label"):
        table.add_column(col)
    matched = total = 0
    for kind, items in suggestions.items():
        for item in items:
            if item.fixed:
                continue
            total += 1
            best = item.best
            matched += best is not None
            table.add_row(kind, item.canonical, escape(best.field) if best else "[yellow]none[/]",
                          f"{min(best.score, 1.0):.2f}" if best else "", escape(best.label) if best else "")
    out.print(table)
    out.print(f"{matched} of {total} inputs matched; review {escape(str(out_file))}, then point the job's mapping "
              "at it and run `riskbridge provision`", highlight=False)


def main() -> None:
    """Console-script entry point."""
    app()



# --- audit: verify / show / export ---------------------------------------------------------------

if TYPE_CHECKING:
    from datetime import datetime

    from connector.audit import Verdict
    from connector.state import StateStore

audit_app = typer.Typer(help="The hash-chained audit log of every write the CRM accepted: verify, show, export.",
                        no_args_is_help=True)
app.add_typer(audit_app, name="audit")


def _audit_since(value: str | None, problems: list[ConfigProblem]) -> datetime | None:
    """--since as a UTC datetime: a date (midnight UTC) or an ISO time (UTC unless it names an offset)."""
    from datetime import UTC, datetime

    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        problems.append(ConfigProblem("command line", "--since", f"not a date or time: {value!r}",
                                      "use 2026-06-30 or 2026-06-30T14:00:00+00:00"))
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _audit_key(reference: str | None, option: str, problems: list[ConfigProblem]) -> bytes | None:
    """An HMAC key from file: (or env:); never inline, so it stays out of shell history and `ps`."""
    from connector.config import resolve_secret

    if reference is None:
        return None
    if not reference.startswith(("file:", "env:")):
        problems.append(ConfigProblem("command line", option, "the key must be a reference, not the key itself",
                                      "write the key to a file readable only by you and pass file:/path/to/key"))
        return None
    try:
        return resolve_secret(reference, option).get_secret_value().encode("utf-8")
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None


def _audit_fail(error: Exception, json_out: bool) -> NoReturn:
    """`fail`, and with --json also the one JSON object every exit path prints."""
    if json_out:
        print(json.dumps({"ok": False, "error": str(error)}, ensure_ascii=False))
    fail(error)


def _audit_store(config: Path, json_out: bool = False) -> StateStore:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from connector.config import load_config
    from connector.state import StateStore

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        _audit_fail(exc, json_out)
    url = make_url(cfg.state_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" \
            and not Path(url.database).exists():  # opening it would create an empty log that verifies
        _audit_fail(ConfigError([ConfigProblem(str(config), "state_url", f"no state store at {url.database}",
                                               "point state_url at the database the syncs write to")]), json_out)
    try:
        return StateStore(cfg.state_url)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or type(exc).__name__)
        _audit_fail(ConfigError([ConfigProblem(str(config), "state_url", f"cannot open the state store: {reason}",
                                               "check the path or database URL and that riskbridge may read it")]),
                    json_out)


def _print_verdict(verdict: Verdict, json_out: bool, what: str, extra: dict[str, object] | None = None) -> None:
    from connector.audit_export import problem_text

    p = verdict.problem
    if json_out:
        print(json.dumps({"ok": verdict.ok, "entries": verdict.count, "head_id": verdict.head_id,
                          "head": verdict.head_hash, **(extra or {}),
                          "problem": {"entry": p.entry_id, "kind": p.kind, "message": p.message} if p else None}))
    elif p is not None:
        err.print(f"[bold red]{escape(what)} is not intact:[/] {escape(problem_text(p))}", highlight=False,
                  soft_wrap=True)
    elif verdict.anchored is False:
        err.print(f"[bold red]{escape(what)} does not contain the anchor[/]: the log was rewritten after it, "
                  "or the anchor comes from another store", highlight=False, soft_wrap=True)
    else:
        head = f"entry {verdict.head_id}, {verdict.head_hash}" if verdict.head_id is not None else "none (empty)"
        out.print(f"{escape(what)} intact: {verdict.count} entries; head {head}"
                  + (" (contains the anchor)" if verdict.anchored else ""), highlight=False, soft_wrap=True)


@audit_app.command("verify")
def audit_verify(
    config: ConfigOption = Path("config.toml"),
    export: Annotated[Path | None, typer.Option("--export", help="Check this export file instead of the store.")
                      ] = None,
    key: Annotated[str | None, typer.Option("--key", help="file:/path of the key a signed export was signed with.")
                   ] = None,
    anchor: Annotated[str | None, typer.Option("--anchor", help="A head hash kept outside (from an earlier verify "
                                               "or a signed export): it must still be in the chain.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Recompute the audit hash chain. Exit 0 and print the head, or exit 1 naming the first bad entry."""
    from connector.audit import verify
    from connector.audit_export import verify_export

    problems: list[ConfigProblem] = []
    secret = _audit_key(key, "--key", problems)
    if anchor is not None and not (16 <= len(anchor) <= 64 and all(c in "0123456789abcdef" for c in anchor)):
        problems.append(ConfigProblem("command line", "--anchor", "not a hash (16 to 64 lowercase hex digits)",
                                      "copy the head printed by `riskbridge audit verify`"))
    if export is not None and anchor is not None:
        problems.append(ConfigProblem("command line", "--anchor", "checks the store, not an export",
                                      "run `audit verify --anchor HEAD` without --export"))
    if export is None and key is not None:
        problems.append(ConfigProblem("command line", "--key", "only an export is signed", "add --export FILE"))
    data = b""
    if export is not None:
        try:
            data = export.read_bytes()
        except OSError as exc:
            problems.append(ConfigProblem(str(export), "--export", f"cannot read the export: {exc.strerror}"))
    if problems:
        _audit_fail(ConfigError(problems), json_out)
    if export is not None:
        check = verify_export(data, secret)
        if check.signed and secret is None and check.error is None:
            _audit_fail(ConfigError([ConfigProblem(str(export), "--key", "the export is signed: checking it needs "
                                                   "its key", "add --key file:/path/to/key")]), json_out)
        signature: dict[str, object] = {"signed": check.signed, "signature_ok": check.signature_ok}
        if check.error is not None:
            if json_out:
                print(json.dumps({"ok": False, "error": check.error, **signature}))
            else:
                err.print(f"[bold red]{escape(str(export))} is not intact:[/] {escape(check.error)}", highlight=False,
                          soft_wrap=True)
            raise typer.Exit(EXIT_PARTIAL)
        what = f"export {export}" + (" (signature valid)" if check.signature_ok else "")
        _print_verdict(check.verdict, json_out, what, signature)
        if not json_out and check.verdict.ok and not check.signed:
            err.print("note: the export is not signed, so it proves its chain is consistent, not who wrote it")
        raise typer.Exit(EXIT_SUCCESS if check.ok else EXIT_PARTIAL)
    store = _audit_store(config, json_out)
    verdict = verify(store.iter_audit(), anchor=anchor)
    store.close()
    _print_verdict(verdict, json_out, "audit log")
    raise typer.Exit(EXIT_SUCCESS if verdict.ok else EXIT_PARTIAL)


@audit_app.command("show")
def audit_show(
    config: ConfigOption = Path("config.toml"),
    job: Annotated[str | None, typer.Option(help="Only this job.")] = None,
    record: Annotated[str | None, typer.Option("--record", help="Only this CRM record id.")] = None,
    since: Annotated[str | None, typer.Option(help="Only entries at or after this date or time (UTC).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show the newest N matching entries.")] = 200,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """List audit entries (oldest first): when, which run, what was written to which record."""
    from collections import deque

    from rich.table import Table

    from connector.audit_export import to_json

    problems: list[ConfigProblem] = []
    moment = _audit_since(since, problems)
    if problems:
        _audit_fail(ConfigError(problems), json_out)
    store = _audit_store(config, json_out)
    rows = list(deque(store.iter_audit(job=job, record_id=record, since=moment), maxlen=limit))
    store.close()
    if json_out:
        print(json.dumps([to_json(r) for r in rows], ensure_ascii=False))
        return
    table = Table(title=f"audit log: {len(rows)} entries", title_justify="left")
    for column in ("id", "at (UTC)", "job", "run", "action", "record", "what", "hash"):
        table.add_column(column, no_wrap=column in ("id", "at (UTC)", "hash"))
    for r in rows:
        table.add_row(str(r.id), to_json(r)["at"][:19].replace("T", " "), escape(r.job or ""), str(r.run_id),
                      escape(r.action), escape(f"{r.object} {r.record_id}"), escape(_audit_what(r.action, r.detail)),
                      (r.hash or "-")[:12])
    out.print(table)


def _audit_what(action: str, detail: object) -> str:
    if not isinstance(detail, dict):
        return str(detail)  # not JSON any more: `audit verify` reports the entry
    changes = detail.get("changes", detail if action == "update" else None)  # schema 1 stored the changes bare
    if isinstance(changes, dict):
        return "; ".join(f"{k}: {_audit_value(v[0])} → {_audit_value(v[1])}" for k, v in changes.items()
                         if isinstance(v, list) and len(v) == 2)
    if "tag" in detail:
        return f"tag {detail['tag']}"
    return f"task {detail.get('subject', '')} (owner {detail.get('owner') or '-'}, due {detail.get('due', '-')})"


def _audit_value(value: object, width: int = 30) -> str:
    text = "∅" if value is None or value == "" else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


@audit_app.command("export")
def audit_export(
    config: ConfigOption = Path("config.toml"),
    since: Annotated[str | None, typer.Option(help="From the first entry at or after this date or time (UTC).")] = None,
    sign: Annotated[str | None, typer.Option("--sign", help="file:/path of an HMAC-SHA256 key: end the export "
                                                            "with a signature line.")] = None,
) -> None:
    """Write the audit log as JSON Lines to stdout, one entry per line with its hash and prev_hash.

    From --since on, the export runs to the head without gaps, so it verifies on its own; with --sign its
    last line signs every byte before it (check it with `audit verify --export FILE --key file:...`)."""
    from connector.audit_export import Signer, export_line

    problems: list[ConfigProblem] = []
    moment = _audit_since(since, problems)
    secret = _audit_key(sign, "--sign", problems)
    if problems:
        fail(ConfigError(problems))
    store = _audit_store(config)
    first = store.audit_entries(since=moment, limit=1) if moment is not None else []
    start = first[0].id - 1 if first else (0 if moment is None else None)
    rows = store.iter_audit(after_id=start) if start is not None else iter(())
    signer = Signer(secret) if secret is not None else None
    written, head = 0, None
    for row in rows:
        line = export_line(row)
        sys.stdout.buffer.write(line)
        if signer is not None:
            signer.add(row, line)
        written, head = written + 1, row.hash
    if signer is not None:
        sys.stdout.buffer.write(signer.closing_line())
    sys.stdout.buffer.flush()
    store.close()
    err.print(f"exported {written} audit entries" + (f", head {head}" if head else "") + (", signed" if secret else ""),
              highlight=False)


if __name__ == "__main__":
    main()
