"""The riskbridge command line: the only module that prints and maps errors to exit codes.

Exit codes: 0 success, 1 partial (some records failed), 2 config or usage error,
3 connection or authentication failure.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from connector.errors import AuthError, ConfigError, ConnectionFailed, RiskbridgeError

EXIT_SUCCESS = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_CONNECTION = 3

app = typer.Typer(
    name="riskbridge",
    help="Credit-risk scoring inside your CRM: sync, score and write back risk fields, tasks and a watchlist.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
sandbox_app = typer.Typer(help="Local wire-compatible CRM sandboxes for tests, demos and benchmarks.",
                          no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")

out = Console()
err = Console(stderr=True)


def fail(error: Exception) -> NoReturn:
    """Print one clear message for an expected error and exit with its code."""
    if isinstance(error, ConfigError):
        err.print(f"[bold red]error:[/] {error}", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    if isinstance(error, AuthError | ConnectionFailed):
        err.print(f"[bold red]connection failed:[/] {error}", highlight=False)
        raise typer.Exit(EXIT_CONNECTION)
    err.print(f"[bold red]error:[/] {error}", highlight=False)
    raise typer.Exit(EXIT_USAGE if isinstance(error, RiskbridgeError) else 1)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


# --- sandbox -------------------------------------------------------------------------------------


@sandbox_app.command("serve")
def sandbox_serve(
    crm: Annotated[str, typer.Option(help="Which CRM to imitate: salesforce or zoho.")],
    host: Annotated[str, typer.Option(help="Loopback address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 0,
    accounts: Annotated[int, typer.Option(help="Accounts to generate.")] = 2000,
    deals_per_account: Annotated[int, typer.Option(help="Deals per account.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the data generator (same seed, same data).")] = 1,
    latency_ms: Annotated[int, typer.Option(help="Latency added to every API call.")] = 0,
    faults: Annotated[Path | None, typer.Option(help="JSON fault spec (rate limits, 5xx, drops, expiry, ...).")] = None,
    write_config: Annotated[Path | None, typer.Option(help="Write a riskbridge config for this sandbox here.")] = None,
) -> None:
    """Serve a wire-compatible CRM sandbox on loopback until SIGINT or SIGTERM."""
    import signal
    import threading

    from connector.sandbox import FaultSpec, Sandbox, SandboxServer, load_fault_file, make_app
    from connector.sandbox.client_config import write_config as write_sandbox_config

    if crm not in ("salesforce", "zoho"):
        fail(ConfigError(f"--crm must be salesforce or zoho, not {crm!r}"))
    try:
        spec = load_fault_file(str(faults)) if faults else FaultSpec()
    except (OSError, ValueError) as exc:
        fail(ConfigError(f"{faults}: not a valid fault spec: {exc}"))
    if latency_ms:
        spec = spec.model_copy(update={"latency_ms": latency_ms})
    app_ = make_app(crm, accounts=accounts, deals_per_account=deals_per_account, seed=seed, faults=spec)
    try:
        server = SandboxServer(Sandbox(app_), host=host, port=port)
    except OSError as exc:
        fail(ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    if write_config is not None:
        write_sandbox_config(write_config, crm, app_.credentials())
    print(f"sandbox {crm} listening on {server.url}", flush=True)
    while not stop.wait(0.5):
        pass
    server.stop()


# --- scoring: score / explain --------------------------------------------------------------------


# --- sync / runs / demo --------------------------------------------------------------------------


def main() -> None:
    """Console-script entry point."""
    app()


_ = (Annotated, Path)
