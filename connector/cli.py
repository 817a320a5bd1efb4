"""The riskbridge command line: the only module that prints and maps errors to exit codes.

Exit codes: 0 success, 1 partial (some records failed), 2 config or usage error,
3 connection or authentication failure (or the CRM kept failing), 4 internal error.
Every command with ``--json`` prints exactly one JSON value on stdout on every exit path; an error is
``{"status": "error", "exit_code": N, "error": {...}}``. Text from the CRM or from files is escaped
before Rich renders it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

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
from connector.state_cli import state_app

if TYPE_CHECKING:
    from connector.config import Config
    from connector.state import AssessmentRow
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
app.add_typer(state_app, name="state")

out = Console(emoji=False)  # ":smile:" in a CRM value stays text
err = Console(stderr=True, emoji=False)


def exit_code(error: BaseException) -> int:
    """The exit code for an error that ended a command."""
    if isinstance(error, ConfigError | JobBusy | Fatal):
        return EXIT_USAGE  # fix the config or mapping (or wait for the running job)
    if isinstance(error, ConnectionFailed | Retriable):
        return EXIT_CONNECTION  # the CRM cannot be reached, refused our credentials, or kept failing
    if isinstance(error, QuotaExhausted):
        return EXIT_PARTIAL
    return EXIT_INTERNAL


def to_json(value: Any) -> str:
    """One line of JSON; readable text stays as it is, but control and bidi characters from the CRM are
    \\u-escaped too (JSON itself escapes only C0), so the output is safe to show in a terminal."""
    from connector.report import UNSAFE_CHARS

    text = json.dumps(value, ensure_ascii=False, default=str)
    return UNSAFE_CHARS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def error_json(error: BaseException, code: int) -> dict[str, Any]:
    """The one JSON object `--json` prints when a command ends in an error before it has a run report."""
    problems = [{"file": p.file, "key": p.key, "message": p.message, "hint": p.hint}
                for p in (error.problems if isinstance(error, ConfigError) else [])]
    kind = {EXIT_USAGE: "busy" if isinstance(error, JobBusy) else "config", EXIT_CONNECTION: "connection",
            EXIT_PARTIAL: "quota", EXIT_INTERNAL: "internal"}.get(code, "error")
    return {"status": "error", "exit_code": code,
            "error": {"kind": kind, "type": type(error).__name__, "message": _message(error), "problems": problems}}


def _message(error: BaseException) -> str:
    """An error's message; an unexpected one (a bug) also says what kind of exception it was."""
    return str(error) if isinstance(error, RiskbridgeError) else f"{type(error).__name__}: {error}"


def fail(error: BaseException, *, json_out: bool = False, config: Config | None = None, job: str | None = None,
         printed: bool = False) -> NoReturn:
    """Print one clear message for an error (and, with `json_out`, one JSON object unless `printed`), then exit
    with its code."""
    from connector.report import safe

    code = exit_code(error)
    label = {EXIT_CONNECTION: "connection failed", EXIT_INTERNAL: "internal error"}.get(code, "error")
    hint = " (run with --verbose for the traceback; please report it)" if code == EXIT_INTERNAL else ""
    where = _hosts(config, job) if code == EXIT_CONNECTION else ""
    if json_out and not printed:
        payload = error_json(error, code)
        if where:
            payload["error"]["hosts"] = where
        print(to_json(payload), flush=True)
    err.print(f"[bold red]{label}:[/] {safe(_message(error), 100_000)}{f' (tried {safe(where)})' if where else ''}{hint}",
              highlight=False, soft_wrap=True, crop=False)
    raise typer.Exit(code)


def _hosts(config: Config | None, job: str | None) -> str:
    from connector.config import connection_hosts

    return connection_hosts(config, job) if config is not None else ""


def _boundary(error: BaseException, *, json_out: bool = False, config: Config | None = None,
              job: str | None = None) -> NoReturn:
    """The one place an unexpected exception becomes exit 4: logged with its traceback at debug level."""
    logging.getLogger(__name__).debug("command failed", exc_info=error)
    fail(error, json_out=json_out, config=config, job=job)


def _setup_logging(verbose: bool, quiet: bool = False, console: Console | None = None,
                   log_format: str = "human") -> None:
    """Log to stderr, as JSON lines with ``--log-format json``; with `console` (progress bars are shown on it)
    through Rich's handler, so log lines print above the bars instead of breaking into them."""
    from connector.service.logformat import JsonFormatter, quiet_apscheduler

    level = logging.DEBUG if verbose else (logging.WARNING if quiet else logging.INFO)
    if console is not None and log_format != "json":
        from rich.logging import RichHandler

        logging.basicConfig(level=level, format="%(name)s: %(message)s", force=True,
                            handlers=[RichHandler(console=console, show_path=False, markup=False)])
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    quiet_apscheduler(verbose)


def _flags_take_no_value() -> None:
    """Typer 0.2x shows a boolean flag's type in --help as ``<bool>``, as if it took a value: show nothing,
    as Click does (``--dry-run``, not ``--dry-run <bool>``)."""
    import typer.core

    option: Any = getattr(typer.core, "TyperOption", None)
    shown = getattr(option, "display_type_rich", None)
    if shown is None or getattr(shown, "_riskbridge", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> Any:
        if getattr(self, "is_flag", False) and not getattr(self, "count", False):
            return None
        return shown(self, ctx)

    display_type_rich._riskbridge = True  # type: ignore[attr-defined]
    option.display_type_rich = display_type_rich


_flags_take_no_value()


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
    sources: Annotated[Path | None, typer.Option(help="Also write outside source files for the org's accounts "
                                                      "here (ERP invoices, bureau, financials) and make "
                                                      "--write-config use them.")] = None,
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
    day = date.today()  # the sandbox and its source files share one day
    app_ = make_app(crm, accounts=accounts, deals_per_account=deals_per_account, seed=seed, faults=spec, org=org,
                    today=day)
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
    if write_config is not None or sources is not None:
        try:
            from connector.sandbox.data import generate
            from connector.sandbox.sources import add_sources_to_config, write_sources

            files = write_sources(sources, generate(seed, accounts, deals_per_account, day), seed=seed,
                                  today=day, crm=crm, org=org) if sources is not None else {}
            if write_config is not None:
                written = write_sandbox_config(write_config, crm, app_.credentials(), org=org)
                if files:
                    add_sources_to_config(written, files, crm)
        except OSError as exc:
            server.stop()
            fail(ConfigError([ConfigProblem(str(write_config), "--write-config",
                                            f"cannot write the config or the sources: {exc.strerror}",
                                            "give a file path in a folder you can write to")]))
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


FormatOption = Annotated[str, typer.Option("--format", help="Output format: csv, or xlsx (needs the xlsx extra).")]


@app.command()
def score(
    input_csv: Annotated[Path, typer.Option("--input", help="CSV of accounts; columns are the canonical field names (README).")],
    output_csv: Annotated[Path, typer.Option("--output", help="Where to write the scored file.")],
    scorecard: ScorecardOption = None,
    lang: LangOption = "en",
    as_of: AsOfOption = None,
    excel: Annotated[bool, typer.Option("--excel", help="Start the CSV with a UTF-8 byte order mark, so Excel "
                                        "reads Chinese text right.")] = False,
    output_format: FormatOption = "csv",
    exact: Annotated[bool, typer.Option("--exact", help="Write pd and points with every digit (17 significant), "
                                        "to compare with another implementation such as a training pipeline.")
                     ] = False,
) -> None:
    """Score a CSV of accounts offline: the input columns plus the scored columns.

    Scored columns: risk_score (0-100, higher is riskier); risk_tier (effective: an active override wins);
    computed_tier (before any override); pd (probability of default within 12 months); points (scorecard
    points, higher is safer); reasons (what pushes the risk up, worst first); advice (what to do);
    recommended_terms_days; recommended_credit_limit; model_version. With --lang zh the texts are Chinese.
    Columns that are no canonical field pass through, and a scorecard's raw-column characteristics read them.

    Every row that can be read is scored. Cells that cannot be read are listed (row, column, value, reason)
    and only their rows are skipped. Exit 0 all rows scored, 1 some rows skipped, 2 the file, scorecard or
    options are unusable (nothing written).
    """
    from connector.report import safe
    from scoring import TIERS, assess, write_scored_csv
    from scoring.catalogue import text, tier_name

    day = _scoring_date(as_of, lang)
    if output_format not in ("csv", "xlsx"):
        fail(ConfigError(f"--format must be csv or xlsx, not {output_format!r}"))
    card, table = _scoring_inputs(scorecard, input_csv)
    try:
        result = assess(table.accounts, card, as_of=day)
        if output_format == "xlsx":
            from scoring.xlsxfile import write_scored_xlsx

            count = write_scored_xlsx(output_csv, table, result, lang=lang, exact=exact)
        else:
            count = write_scored_csv(output_csv, table, result, lang=lang, excel=excel, exact=exact)
    except ConfigError as exc:
        fail(exc)
    tiers = ", ".join(f"{tier_name(name, lang)} {int((result.tier == i).sum())}" for i, name in enumerate(TIERS))
    out.print(safe(text("score.scored", lang, count=count, version=card.version, day=day, tiers=tiers,
                        path=output_csv), 2000), highlight=False)
    if table.skipped:
        from connector.skipped_view import skipped_lines

        for line in skipped_lines(table, lang):
            err.print(safe(line, 2000), highlight=False, soft_wrap=True)
        raise typer.Exit(1)


@app.command("explain")
def explain_account(
    ctx: typer.Context,
    record_id: Annotated[str, typer.Option("--id", help="The id of the account to explain (a CSV id, or the CRM "
                                                        "record id with --config).")],
    input_csv: Annotated[Path | None, typer.Option("--input", help="CSV of accounts; columns are the canonical field "
                                                                   "names (README).")] = None,
    scorecard: ScorecardOption = None,
    lang: LangOption = "en",
    as_of: AsOfOption = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Explain a live record of a job instead of a "
                                                                       "CSV row: from its latest assessment in the "
                                                                       "state store.")] = None,
    job: Annotated[str | None, typer.Option(help="With --config: the job (default: the only job, or 'default').")]
    = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="With --config: read the record from the CRM first "
                                                            "(nothing is written).")] = False,
) -> None:
    """Show why one account scored as it did: the points table, knockouts, override and advice.

    From a CSV (--input) or, with --config, a live CRM record from its latest assessment (--refresh reads
    it from the CRM first); both print the same table, in the job's language unless --lang is given."""
    from scoring import explain

    if config is not None or input_csv is None:
        _explain_live(ctx, config, input_csv, job, record_id, refresh, lang, as_of)
        return
    day = _scoring_date(as_of, lang)
    assert input_csv is not None
    card, table = _scoring_inputs(scorecard, input_csv)
    row = table.index_of(record_id)
    if row is None:
        skipped = table.skipped_cells_of(record_id)
        if skipped:  # its row could not be read: say which cells, as `score` does
            fail(ConfigError([ConfigProblem(str(input_csv), f"row {c.row} (line {c.line}), column {c.column}",
                                            f"{c.value!r}: {c.reason}", c.hint) for c in skipped]))
        fail(ConfigError(f"{input_csv}: no account with id {record_id!r}"))
    _print_explanation(explain(table.accounts.take([row]), card, as_of=day, lang=lang))


def _explain_live(ctx: typer.Context, config: Path | None, input_csv: Path | None, job: str | None, record_id: str,
                  refresh: bool, lang: str, as_of: str | None) -> None:
    """`explain --config F [--job J] --id CRM_ID [--refresh]`."""
    from connector.live_explain import explain_live
    from scoring.catalogue import text

    problems = []
    if config is None:
        problems.append(ConfigProblem("command line", "--input", "say what to explain",
                                      "give --input FILE.csv, or --config FILE to explain a live record of a job"))
    if config is not None and input_csv is not None:
        problems.append(ConfigProblem("command line", "--input", "--input and --config explain different things",
                                      "give one of them"))
    if problems:
        fail(ConfigError(problems))
    assert config is not None
    cfg = _load(config)
    name = _job_of(cfg, job)
    source = ctx.get_parameter_source("lang")
    explicit = source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")
    language = lang if explicit else cfg.jobs[name].lang
    day = _scoring_date(as_of, language) if as_of is not None else None  # default: the day it was scored
    if language not in ("en", "zh"):
        fail(ConfigError(f"--lang must be en or zh, not {language!r}"))
    try:
        live = explain_live(cfg, name, record_id, refresh=refresh, lang=language, as_of=day)
    except typer.Exit:
        raise
    except Exception as exc:
        _boundary(exc, config=cfg, job=name)
    _print_explanation(live.explanation, live.provenance)
    if live.refreshed:
        out.print(text("explain.live_refreshed", language), highlight=False)
    elif live.stored is not None:
        out.print(text("explain.live_source", language, run=live.stored.detail.get("run_id", "?"),
                       when=f"{live.stored.scored_at:%Y-%m-%d %H:%M} UTC"), highlight=False)


def _print_explanation(e: Explanation, provenance: dict[str, str] | None = None) -> None:
    from connector.explain_view import explanation_view

    for part in explanation_view(e, provenance):
        out.print(part, highlight=False)


# --- sync / runs / demo --------------------------------------------------------------------------

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Config file (see config.example.toml).")]


def _load(config: Path, json_out: bool = False) -> Config:
    from connector.config import load_config

    try:
        return load_config(config)
    except typer.Exit:
        raise
    except Exception as exc:
        _boundary(exc, json_out=json_out)


@app.command()
def sync(
    config: ConfigOption = Path("config.toml"),
    job: Annotated[str | None, typer.Option(help="Job to run (default: the only job, or 'default').")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan and print every write; write nothing.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Ignore the cursor and re-read every record.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")] = False,
    log_format: Annotated[str, typer.Option("--log-format", help="human (default) or json lines on stderr.")]
    = "human",
    limit: Annotated[int, typer.Option("--limit", help="Dry run: list the first N operations (the summary "
                                                        "counts them all).")] = 200,
    ids: Annotated[list[str] | None, typer.Option("--ids", help="Dry run: list only the operations on these CRM "
                                                               "record ids (comma-separated or repeated).")] = None,
    plan_out: Annotated[Path | None, typer.Option("--out", help="Dry run: write every operation to this CSV file "
                                                               "(UTF-8 with BOM, opens in Excel).")] = None,
) -> None:
    """Run one sync: extract, map, score, plan, apply and record.

    A dry run prints the plan a credit manager approves: a summary (tier moves, watchlist entries and exits,
    tasks, fields changed by object), then the operations with record names and formatted values.

    Exit 0 success, 1 partial (some writes failed, or an input failed on most rows so the mapping is probably
    wrong; listed and retried next run), 2 config or usage error (nothing was sent), 3 the CRM could not be
    reached or refused the credentials (the hosts tried are named), 4 internal error. With --json, exactly
    one JSON object on stdout on every exit path."""
    from connector.plan_review import write_csv
    from connector.report import (
        failures_table,
        plan_summary_table,
        plan_table,
        progress_bar,
        skipped_table,
        summary_table,
    )
    from connector.sync import Sync
    from scoring.catalogue import text

    fmt = _log_format(log_format)
    bars = not json_out and out.is_terminal and fmt == "human"
    _setup_logging(verbose, quiet=json_out, console=err if bars else None, log_format=fmt)
    cfg = _load(config, json_out)
    name = _job_of(cfg, job, json_out)
    lang = cfg.jobs[name].lang
    wanted = [i.strip() for value in ids or [] for i in value.split(",") if i.strip()]
    _check_plan_options(dry_run or cfg.jobs[name].dry_run, limit, ids, plan_out, json_out)
    try:
        with progress_bar(enabled=bars, console=err, lang=lang) as progress:
            report = Sync(cfg, job, progress=progress).run(dry_run=dry_run, full=full)
    except Exception as exc:
        failed = getattr(exc, "report", None)
        if failed is not None:  # the run started: its summary is printed like any other
            if json_out:
                hosts = {"hosts": _hosts(cfg, job)} if exit_code(exc) == EXIT_CONNECTION else {}
                print(to_json({**failed.to_json(), "exit_code": exit_code(exc), **hosts}), flush=True)
            else:
                _print_safely(lambda: out.print(summary_table(failed, lang)))
        logging.getLogger(__name__).debug("sync failed", exc_info=exc)
        fail(exc, json_out=json_out, config=cfg, job=job, printed=failed is not None)
    code = EXIT_SUCCESS if report.status == "success" else EXIT_PARTIAL
    if plan_out is not None and report.dry_run:
        try:
            rows = write_csv(plan_out, report.plan, lang)
        except OSError as exc:
            fail(ConfigError([ConfigProblem(str(plan_out), "--out", f"cannot write the plan: {exc.strerror}",
                                            "give a file path in a folder you can write to")]), json_out=json_out)
        err.print(text("plan.csv_written", lang, ops=f"{len(report.plan):,}", rows=f"{rows:,}",
                       path=escape(str(plan_out))), highlight=False)
    if json_out:
        print(to_json({**report.to_json(), "exit_code": code}))
    else:
        def show() -> None:
            if report.dry_run:
                out.print(plan_summary_table(report, lang))
                out.print(plan_table(report, limit=limit, ids=wanted, lang=lang))
            out.print(summary_table(report, lang))
            if report.skipped:
                out.print(skipped_table(report, lang=lang))
            if report.failures:
                out.print(failures_table(report, lang=lang))
        _print_safely(show)
    raise typer.Exit(code)


def _check_plan_options(dry_run: bool, limit: int, ids: list[str] | None, plan_out: Path | None,
                        json_out: bool) -> None:
    """--limit, --ids and --out shape the dry-run plan: every problem with them, before any network call."""
    problems = []
    if limit < 1:
        problems.append(ConfigProblem("command line", "--limit", f"must be at least 1, not {limit}"))
    for option, given in (("--ids", bool(ids)), ("--out", plan_out is not None)):
        if given and not dry_run:
            problems.append(ConfigProblem("command line", option, "shapes the dry-run plan; nothing is planned "
                                          "without a dry run", "add --dry-run"))
    if plan_out is not None and (plan_out.is_dir() or not plan_out.parent.is_dir()):
        problems.append(ConfigProblem(str(plan_out), "--out", "is a folder" if plan_out.is_dir() else
                                      f"folder {plan_out.parent} does not exist", "give a CSV file path"))
    if problems:
        fail(ConfigError(problems), json_out=json_out)


def _print_safely(show: Callable[[], None]) -> None:
    """Print a run's tables; a bug in rendering them must not turn an honest exit code into 4 (the run is
    already recorded), so it is reported on stderr and the run's own code stands."""
    try:
        show()
    except Exception as exc:  # noqa: BLE001 - the boundary for output only
        logging.getLogger(__name__).debug("printing the run failed", exc_info=exc)
        err.print(f"[bold red]could not print the run's tables:[/] {escape(type(exc).__name__)}; use --json",
                  highlight=False)


schedule_app = typer.Typer(help="The scheduler daemon: `riskbridge schedule` runs every job on its cron `schedule` "
                           "and its monitor on `monitor.schedule`, never overlapping; `riskbridge schedule list` "
                           "shows them. SIGTERM/SIGINT: no new run, the running sync finishes its batch, exit 0 "
                           "(1 if service.stop_timeout_s passes first); a second signal exits 1 at once. "
                           "Several replicas on one state store run each job and monitor tick exactly once.")
app.add_typer(schedule_app, name="schedule")
LogFormat = Annotated[str, typer.Option("--log-format", help="human (default) or json: one JSON object per line.")]


@schedule_app.callback(invoke_without_command=True)
def schedule(
    ctx: typer.Context,
    config: ConfigOption = Path("config.toml"),
    job: Annotated[list[str] | None, typer.Option(help="Only these jobs (repeatable); default all.")] = None,
    log_format: LogFormat = "human",
    run_now: Annotated[bool, typer.Option("--run-now", help="Run every job once at start, then on schedule.")]
    = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging, APScheduler's included.")] = False,
) -> None:
    """Run the scheduler daemon: every job on its cron `schedule` and its monitor on `monitor.schedule`,
    never overlapping. SIGTERM/SIGINT: no new run, the running sync finishes its batch, exit 0 (1 if
    `service.stop_timeout_s` passes first); a second signal exits at once. `schedule list` shows the jobs."""
    if ctx.invoked_subcommand is not None:
        return
    import os

    from connector.report import safe
    from connector.scheduler import next_runs
    from connector.service.daemon import Daemon

    _setup_logging(verbose, log_format=_log_format(log_format))
    cfg = _load(config)
    try:
        daemon = Daemon(cfg, job)  # a store that cannot be opened would fail every tick: refuse to start
        upcoming = next_runs(cfg, daemon.clock(), job)
    except typer.Exit:
        raise
    except Exception as exc:
        _boundary(exc, config=cfg)
    for entry_id, (cron, _next) in upcoming.items():
        err.print(f"scheduled {safe(entry_id)}: {safe(cron)} (UTC)", highlight=False)
    if daemon.endpoint is not None:
        err.print(f"health and metrics on http://{safe(daemon.endpoint.address)}/healthz and /metrics", highlight=False)
    daemon.install_signals()
    code = daemon.serve(run_now)
    if code:
        logging.shutdown()
        os._exit(code)  # a run thread is still going: do not wait for it at interpreter exit
    raise typer.Exit(code)


def _log_format(value: str) -> str:
    if value not in ("human", "json"):
        fail(ConfigError([ConfigProblem("command line", "--log-format", f"{value!r} is not a log format",
                                        "human or json")]))
    return value


@schedule_app.command("list")
def schedule_list(
    config: ConfigOption = Path("config.toml"),
    job: Annotated[list[str] | None, typer.Option(help="Only these jobs (repeatable); default all.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON array (one error object on failure).")] = False,
) -> None:
    """Each job and monitor: trigger, next run time, and the last run's status, time and reason."""
    from datetime import UTC, datetime

    from connector.report import schedule_table
    from connector.scheduler import MONITOR_SUFFIX, next_runs
    from connector.service.history import last_runs
    from connector.state import StateStore

    cfg = _load(config, json_out)
    try:
        upcoming = next_runs(cfg, datetime.now(UTC), job)
        store = StateStore(cfg.state_url)
        history = {name: last_runs(store, name) for name in dict.fromkeys(
            e.removesuffix(MONITOR_SUFFIX) for e in upcoming)}
        store.close()
    except typer.Exit:
        raise
    except Exception as exc:
        _boundary(exc, json_out=json_out, config=cfg)
    rows: list[dict[str, Any]] = []
    for entry_id, (cron, next_at) in upcoming.items():
        name, kind = entry_id.removesuffix(MONITOR_SUFFIX), "monitor" if entry_id.endswith(MONITOR_SUFFIX) else "job"
        last = history[name].get("monitor" if kind == "monitor" else "job")
        rows.append({"id": entry_id, "job": name, "kind": kind, "trigger": f"cron[{cron}] UTC",
                     "next_run": next_at.isoformat() if next_at else None,
                     "last_run": None if last is None else {
                         "run_id": last.run_id, "status": last.status, "started_at": last.started_at.isoformat(),
                         "finished_at": last.finished_at.isoformat() if last.finished_at else None,
                         "reason": last.reason}})
    if json_out:
        print(to_json(rows))
    else:
        out.print(schedule_table(rows))


@app.command()
def runs(
    config: ConfigOption = Path("config.toml"),
    job: Annotated[str | None, typer.Option(help="Only this job.")] = None,
    limit: Annotated[int, typer.Option(help="How many runs, newest first.")] = 20,
    run_id: Annotated[int | None, typer.Option("--id", help="Show this one run in full: counts, failures, skipped "
                                                            "records, API usage.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON array (one object with --id; one error "
                                                          "object on failure).")] = False,
) -> None:
    """List the run history: status, counts and, for a failed or partial run, the reason (80 columns)."""
    from connector.report import run_detail, run_reason, runs_table
    from connector.state import StateStore

    if limit < 1:
        fail(ConfigError([ConfigProblem("command line", "--limit", f"must be at least 1, not {limit}")]),
             json_out=json_out)
    cfg = _load(config, json_out)
    try:
        store = StateStore(cfg.state_url)
        rows = [r for r in [store.run(run_id)] if r is not None] if run_id is not None else store.runs(job, limit)
        store.close()
    except typer.Exit:
        raise
    except Exception as exc:
        _boundary(exc, json_out=json_out, config=cfg)
    langs = {j.lang for name, j in cfg.jobs.items() if job is None or name == job}
    lang = langs.pop() if len(langs) == 1 else "en"  # the jobs' language when they agree
    if run_id is not None and not rows:
        fail(ConfigError([ConfigProblem("command line", "--id", f"no run {run_id} in the state store",
                                        "`riskbridge runs` lists the runs")]), json_out=json_out)
    found = [{"run_id": r.id, "job": r.job, "status": r.status, "started_at": r.started_at.isoformat(),
              "finished_at": r.finished_at.isoformat() if r.finished_at else None, "dry_run": r.dry_run,
              "full": r.full, "api_calls": r.api_calls, "reason": run_reason(r), "summary": r.summary,
              "error": r.error} for r in rows]
    if json_out:
        print(to_json(found[0] if run_id is not None else found))
    elif run_id is not None:
        for table in run_detail(rows[0], lang):
            out.print(table)
    else:
        out.print(runs_table(rows, lang))


# Fxiaoke writes one record per call; at the tenant's 60 calls per 20 s a 2,000-account demo would take half an
# hour (bench/bench_fxiaoke.py), so the demo lifts the limit on both sides and says so.
_DEMO_RATE_LIMIT = 100_000


@app.command()
def demo(
    crm: Annotated[str, typer.Option(help="salesforce, zoho or fxiaoke (纷享销客, in Chinese).")] = "salesforce",
    accounts: Annotated[int, typer.Option(help="Accounts in the sandbox org.")] = 2000,
    keep_serving: Annotated[bool, typer.Option("--keep-serving", help="Keep the sandbox up to browse it.")] = False,
    sources: Annotated[bool, typer.Option("--sources/--no-sources", help="Join the sandbox's ERP invoices, bureau "
                                                                         "and finance files (default on).")] = True,
    lang: Annotated[str | None, typer.Option(help="Language of every text: en or zh (default: zh on Fxiaoke, "
                                                  "else en).")] = None,
) -> None:
    """Start a sandbox CRM, run a full sync, touch a few records, run an incremental sync, show the result.

    With sources (the default) the ERP invoices, bureau file and finance files join the CRM's accounts, and
    the riskiest accounts' reasons say which source their data came from."""
    import tempfile

    import requests

    from connector.config import load_config
    from connector.report import riskiest_table, summary_table
    from connector.sandbox import running_sandbox
    from connector.sandbox.client_config import write_config
    from connector.state import StateStore
    from connector.sync import Sync
    from scoring.catalogue import text, tier_name

    if crm not in ("salesforce", "zoho", "fxiaoke"):
        fail(ConfigError(f"--crm must be salesforce, zoho or fxiaoke, not {crm!r}"))
    lang = lang or ("zh" if crm == "fxiaoke" else "en")  # a Fxiaoke tenant's credit manager reads Chinese
    if lang not in ("en", "zh"):
        fail(ConfigError(f"--lang must be en or zh, not {lang!r}"))
    sources = sources and crm != "fxiaoke"  # the sandbox writes source files keyed for Salesforce and Zoho orgs
    _setup_logging(False, quiet=True)
    with tempfile.TemporaryDirectory(prefix="riskbridge-demo-") as tmp, \
            running_sandbox(crm, accounts=accounts, deals_per_account=2, seed=7) as sandbox:
        # A Chinese reader knows the CRM by its Chinese name, not riskbridge's config key.
        crm_label = "纷享销客" if lang == "zh" and crm == "fxiaoke" else crm
        out.print("[bold]" + text("demo.title", lang, crm=crm_label, url=sandbox.url, accounts=f"{accounts:,}",
                                  deals=f"{accounts * 2:,}") + "[/]", highlight=False)
        creds = requests.get(f"{sandbox.url}/__sandbox/credentials", timeout=10).json()
        cfg_path = write_config(Path(tmp) / "config.toml", crm, creds)
        if sources:
            from connector.sandbox.data import generate
            from connector.sandbox.sources import add_sources_to_config, write_sources

            day = date.today()
            files = write_sources(Path(tmp) / "sources", generate(7, accounts, 2, day), seed=7, today=day, crm=crm,
                                  org="provisioned")
            add_sources_to_config(cfg_path, files, crm)
            out.print(text("demo.sources_joined", lang), highlight=False)
        environ = None
        if crm == "fxiaoke":  # Fxiaoke writes one record per call: the demo lifts the tenant's frequency limit
            import os

            requests.post(f"{sandbox.url}/__sandbox/limits", json={"rate_limit": _DEMO_RATE_LIMIT}, timeout=10)
            environ = {**os.environ, "RISKBRIDGE_CONNECTIONS__SANDBOX__RATE_LIMIT": str(_DEMO_RATE_LIMIT)}
            out.print(text("demo.rate_limit", lang, limit=f"{_DEMO_RATE_LIMIT:,}"), highlight=False)
        cfg = load_config(cfg_path, environ=environ)
        cfg.jobs["default"] = cfg.jobs["default"].model_copy(update={"lang": lang})
        try:
            first = Sync(cfg).run()
            out.print(summary_table(first, lang))
            obj = {"salesforce": "Account", "zoho": "Accounts", "fxiaoke": "AccountObj"}[crm]
            touched = requests.post(f"{sandbox.url}/__sandbox/touch", json={"object": obj, "count": 20},
                                    timeout=10).json()["ids"]
            out.print(text("demo.edits", lang, count=len(touched)), highlight=False)
            second = Sync(cfg).run()
            out.print(summary_table(second, lang))
        except RiskbridgeError as exc:
            fail(exc)
        store = StateStore(cfg.state_url)
        tiers = store.tier_counts("default")
        counts = " · ".join(f"{tier_name(t, lang)} {tiers.get(t, 0):,}" for t in ("low", "medium", "high", "critical"))
        out.print(text("demo.by_tier", lang, counts=counts, watch=f"{store.watchlist_count('default'):,}"),
                  highlight=False)
        origins = None
        if sources:
            from connector.sources.provenance import reason_origins
            from scoring.scorecard import load_scorecard

            card = load_scorecard(None)

            def origins(row: AssessmentRow) -> list[str]:
                return reason_origins(row.detail.get("codes", [])[:4], card, row.detail.get("sources", {}))
        out.print(riskiest_table(store.riskiest("default", 5), lang, origins))
        store.close()
        if keep_serving:
            out.print(text("demo.browse", lang, url=f"[bold]{sandbox.url}/[/]"))
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


def _job_of(cfg: Config, job: str | None, json_out: bool = False) -> str:
    try:
        return cfg.job(job)[0]
    except ConfigError as exc:
        fail(exc, json_out=json_out)


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


# --- train / backtest / drift: a scorecard from the customer's own outcomes ---------------------


def _needs_train_extra(lang: str) -> None:
    from scoring.catalogue import text
    from scoring.train import missing_extra

    module = missing_extra()
    if module is not None:
        fail(ConfigError(text("train.needs_extra", lang, module=module)))


def _names(value: str | None) -> list[str]:
    return [n.strip() for n in (value or "").split(",") if n.strip()]


def _f(value: float, digits: int = 4) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"  # NaN: no bads or no goods to compare


@app.command()
def train(
    data: Annotated[Path, typer.Option("--data", help="Labelled CSV: canonical columns (README), any columns of "
                                      "your own, and the outcome.")],
    target: Annotated[str, typer.Option("--target", help="The outcome column.")],
    bad: Annotated[str, typer.Option("--bad", help="The outcome value that marks a bad customer (e.g. default).")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the trained scorecard TOML.")],
    characteristics: Annotated[str | None, typer.Option("--characteristics",
                                                        help="Comma-separated characteristics to try: canonical "
                                                        "names or raw column names (default: every numeric canonical "
                                                        "one the data has inputs for, and every other column).")] = None,
    exclude: Annotated[str | None, typer.Option("--exclude", help="Comma-separated characteristics or raw columns to "
                                                "leave out.")] = None,
    monotone: Annotated[str, typer.Option("--monotone", help="auto: each characteristic's bad rate moves one way, "
                                          "the way its definition says (the only mode the scorecard accepts).")] = "auto",
    test_size: Annotated[float, typer.Option("--test-size", help="Share of rows held out for validation.")] = 0.3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the holdout split.")] = 0,
    report: Annotated[Path | None, typer.Option("--report", help="Also save the validation report as JSON.")] = None,
    as_of: AsOfOption = None,
    lang: LangOption = "en",
) -> None:
    """Train a scorecard on your own outcomes: optimal monotone bins, logistic regression, points.

    Writes a scorecard that `score` and `sync` use unchanged (the default card's knockouts, tiers,
    advice and policy, with fitted characteristics; raw columns of your own become raw-column
    characteristics, numeric or categorical, which `score` reads from its input) and prints the holdout validation: AUC, Gini, KS,
    tiers, calibration, PSI and information values, with warnings for leakage, weak characteristics and
    too few bads. Needs the optional extra riskbridge[train]. Exit 2 when the data or options are unusable.
    """
    from connector.report import safe
    from scoring import load_scorecard, read_accounts_csv
    from scoring.catalogue import text, tier_name

    day = _scoring_date(as_of, lang)
    if monotone != "auto":
        fail(ConfigError(f"--monotone must be auto, not {monotone!r}: a scorecard's points must move one way"))
    _needs_train_extra(lang)
    from scoring.train import train_scorecard

    try:
        table = read_accounts_csv(data)
        result = train_scorecard(table, target=target, bad=bad, as_of=day, characteristics=_names(characteristics),
                                 exclude=_names(exclude), test_size=test_size, seed=seed)
        out_file.write_text(result.card_text, encoding="utf-8")
        version = load_scorecard(out_file).version  # named for the file, as `score` and `sync` will name it
        if report is not None:
            payload = {**result.validation.as_dict(), "scorecard": str(out_file), "version": version,
                       "fit_seconds": result.fit_seconds, "selected": list(result.selected),
                       "pipeline_agreement": result.agreement}
            report.write_text(to_json(payload) + "\n", encoding="utf-8")
    except ConfigError as exc:
        fail(exc)
    except OSError as exc:
        fail(ConfigError(f"cannot write {exc.filename}: {exc.strerror}"))
    v = result.validation
    say = lambda line: out.print(safe(line, 2000), highlight=False)  # noqa: E731
    say(text("train.written", lang, path=out_file, version=version, selected=len(result.selected),
             candidates=len(result.candidates), seconds=f"{result.fit_seconds:.2f}"))
    say(text("train.figures", lang, holdout=len(result.holdout), bads=v.bads, rows=v.accounts, auc=_f(v.auc),
             gini=_f(v.gini), ks=_f(v.ks), psi=_f(v.psi_train_holdout)))
    say(text("train.tiers_title", lang))
    say("  " + " | ".join(text(f"train.col_{c}", lang) for c in ("tier", "accounts", "bads", "bad_rate", "mean_pd")))
    for row in v.tiers:
        say(f"  {tier_name(row.tier, lang)} | {row.accounts} | {row.bads} | {_f(row.bad_rate)} | {_f(row.mean_pd)}")
    say(text("train.calibration_title", lang))
    say("  " + " | ".join(text(f"train.col_{c}", lang) for c in ("decile", "accounts", "mean_pd", "bad_rate")))
    for d in v.calibration:
        say(f"  {d['decile']} | {d['accounts']} | {_f(d['mean_pd'])} | {_f(d['bad_rate'])}")
    say(text("train.iv_title", lang))
    for name, iv in v.iv.items():
        say(f"  {name} | {iv:.4f} | {text('train.kept' if name in result.selected else 'train.dropped', lang)}")
    for w in v.warnings:
        err.print(safe(text(f"train.warn.{w['code']}", lang, **{k: x for k, x in w.items() if k != "code"}), 2000),
                  highlight=False)
    if report is not None:
        say(text("train.report", lang, path=report))


@app.command()
def backtest(
    config: Annotated[Path, typer.Option("--config", help="The riskbridge config whose state store holds the runs.")],
    job: Annotated[str, typer.Option("--job", help="The job whose recorded assessments to judge.")],
    outcomes: Annotated[Path, typer.Option("--outcomes", help="CSV: account_id, outcome_date (YYYY-MM-DD), bad (1/0).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
    lang: LangOption = "en",
) -> None:
    """How well the tiers at the time ranked the accounts that later went bad: AUC and bad rate per tier.

    Each outcome is joined with the last assessment riskbridge recorded for its account before the
    outcome date; outcomes without one are counted as unmatched. Exit 2 when the outcomes file is unusable.
    """
    from connector.backtest import backtest as run_backtest
    from connector.backtest import read_outcomes
    from connector.report import safe
    from scoring.catalogue import text, tier_name

    cfg = _load(config, json_out)
    name = _job_of(cfg, job, json_out)
    try:
        found = read_outcomes(outcomes)
    except ConfigError as exc:
        fail(exc, json_out=json_out)
    store = _audit_store(config, json_out)
    result = run_backtest(store, name, found)
    if json_out:
        out.print(to_json({"job": name, "matched": result.matched, "unmatched": result.unmatched, "bads": result.bads,
                           "auc": result.auc, "tiers": [vars(r) for r in result.tiers]}), highlight=False)
        return
    say = lambda line: out.print(safe(line, 2000), highlight=False)  # noqa: E731
    say(text("train.backtest", lang, job=name, matched=result.matched, unmatched=result.unmatched, bads=result.bads,
             auc=_f(result.auc)))
    say("  " + " | ".join(text(f"train.col_{c}", lang) for c in ("tier", "accounts", "bads", "bad_rate")))
    for row in result.tiers:
        say(f"  {tier_name(row.tier, lang)} | {row.accounts} | {row.bads} | {_f(row.bad_rate)}")


@app.command()
def drift(
    config: Annotated[Path, typer.Option("--config", help="The riskbridge config whose state store holds the runs.")],
    job: Annotated[str, typer.Option("--job", help="The job whose last run to compare.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
    lang: LangOption = "en",
) -> None:
    """PSI per characteristic between the job's scorecard's development data and its last run's accounts.

    Characteristics above 0.25 are flagged (exit 1): the population has moved and the card may need
    retraining. Only a card made by `riskbridge train` records a development distribution.
    """
    from connector.backtest import drift as run_drift
    from connector.report import safe
    from scoring import load_scorecard
    from scoring.catalogue import text
    from scoring.validation import DRIFT_PSI

    cfg = _load(config, json_out)
    name = _job_of(cfg, job, json_out)
    path = cfg.jobs[name].scorecard
    try:
        card = load_scorecard(None if path == "default" else path)
    except ConfigError as exc:
        fail(exc, json_out=json_out)
    result = run_drift(_audit_store(config, json_out), name, card)
    if json_out:
        out.print(to_json({"job": name, "scorecard": card.version, "run_id": result.run_id,
                           "accounts": result.accounts, "psi": result.psi, "flagged": result.flagged,
                           "limit": DRIFT_PSI}), highlight=False)
    else:
        say = lambda line: out.print(safe(line, 2000), highlight=False)  # noqa: E731
        say(text("train.drift", lang, job=name, version=card.version, run=result.run_id, accounts=result.accounts))
        say("  " + " | ".join(text(f"train.col_{c}", lang) for c in ("name", "psi", "status")))
        for char, value in result.psi.items():
            status = ("train.no_dev" if value is None else "train.drifted" if char in result.flagged
                      else "train.stable")
            say(f"  {char} | {'' if value is None else _f(value)} | {text(status, lang, limit=DRIFT_PSI)}")
    if result.flagged:
        raise typer.Exit(1)


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


# --- report -----------------------------------------------------------------------------------------

@app.command("report")
def report_command(
    out_file: Annotated[Path, typer.Option("--out", help="The HTML file to write (one self-contained file).")],
    config: ConfigOption = Path("config.toml"),
    job: Annotated[str | None, typer.Option(help="The job to report on (the only one if omitted).")] = None,
    since: Annotated[str | None, typer.Option(help="Period start: a date or ISO time, UTC (default: 28 days "
                                                   "ago).")] = None,
    lang: Annotated[str, typer.Option(help="Language of the report: en or zh.")] = "en",
    offline: Annotated[bool, typer.Option("--offline", help="Do not ask the CRM which tasks are closed.")] = False,
) -> None:
    """Write the risk report: tier mix and migration, exposure, top movers, reasons, watchlist and tasks,
    overrides, score drift and run health, with charts, in one HTML file that works offline."""
    from datetime import UTC, datetime, timedelta

    problems: list[ConfigProblem] = []
    moment = _audit_since(since, problems)
    if lang not in ("en", "zh"):
        problems.append(ConfigProblem("command line", "--lang", f"unknown language {lang!r}", "use en or zh"))
    if not out_file.parent.is_dir():
        problems.append(ConfigProblem("command line", "--out", f"no such folder: {out_file.parent}",
                                      "create the folder or write the report elsewhere"))
    try:
        import jinja2  # noqa: F401
        import matplotlib  # noqa: F401
    except ImportError:
        problems.append(ConfigProblem("command line", "report", "the report needs matplotlib and Jinja2",
                                      "pip install 'riskbridge[report]'"))
    if problems:
        fail(ConfigError(problems))
    cfg = _load(config)
    try:
        from connector.crm import open_client
        from connector.riskreport import gather, render
        from connector.riskreport.links import record_link
        from connector.state import StateStore
        from scoring.scorecard import load_scorecard

        job_name, job_cfg = cfg.job(job)
        conn = cfg.connections[job_cfg.connection]
        until = datetime.now(UTC)
        store = StateStore(cfg.state_url)
        objects: dict[str, str] = {kind: cfg.mappings[job_name].object(kind).object for kind in job_cfg.objects}
        client = None if offline else open_client(conn, objects=objects)
        try:
            data = gather(store, job_name, since=moment or until - timedelta(days=28), until=until,
                          scorecard=load_scorecard(None if job_cfg.scorecard == "default" else job_cfg.scorecard),
                          link=record_link(conn), lang=lang,
                          watch_field=cfg.mappings[job_name].object("accounts").outputs.get("watchlist"),
                          open_tasks=None if client is None else lambda keys: client.open_task_keys(keys))
        finally:
            store.close()
            if client is not None:
                client.close()
        out_file.write_text(render(data, lang), encoding="utf-8")
    except typer.Exit:
        raise
    except Exception as exc:
        _boundary(exc, config=cfg, job=job)
    err.print(f"report written to {out_file} ({out_file.stat().st_size:,} bytes)", highlight=False)


if __name__ == "__main__":
    main()
