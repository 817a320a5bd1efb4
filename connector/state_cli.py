"""`riskbridge state`: the state store's schema revision, and its upgrade (also done by every sync on open).

Exit codes as elsewhere: 0 done, 2 the config or store is wrong (or newer than this riskbridge),
3 the store's database server did not answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from connector.errors import ConfigError, StateStoreUnreachable

__all__ = ["state_app"]

EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

state_app = typer.Typer(help="The state store's schema: upgrade it to this release, show its revision and history.",
                        no_args_is_help=True)
out = Console(emoji=False)
err = Console(stderr=True, emoji=False)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Config file (its state_url names the store).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _fail(error: ConfigError, json_out: bool) -> NoReturn:
    code = EXIT_UNREACHABLE if isinstance(error, StateStoreUnreachable) else EXIT_USAGE
    if json_out:
        problems = [{"file": p.file, "key": p.key, "message": p.message, "hint": p.hint} for p in error.problems]
        print(json.dumps({"status": "error", "exit_code": code, "error": {
            "kind": "connection" if code == EXIT_UNREACHABLE else "config", "type": type(error).__name__,
            "message": str(error), "problems": problems}}, ensure_ascii=False))
    else:
        for p in error.problems:
            err.print(f"[bold red]error:[/] {escape(p.file)}: {escape(p.key)}: {escape(p.message)}"
                      + (f"\n  hint: {escape(p.hint)}" if p.hint else ""), highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _store_url(config: Path, json_out: bool) -> str:
    from connector.config import load_config

    try:
        return load_config(config).state_url
    except ConfigError as exc:
        _fail(exc, json_out)


@state_app.command("upgrade")
def state_upgrade(config: ConfigOption = Path("config.toml"), json_out: JsonOption = False) -> None:
    """Upgrade the state store's schema to this release's newest revision (creating it if it is empty).

    Safe while replicas run: one migrates under a lock (PostgreSQL advisory lock, SQLite exclusive
    transaction), the others wait and find it current."""
    from connector.migrations import head_revision
    from connector.state import StateStore

    url = _store_url(config, json_out)
    try:
        store = StateStore(url, migrate=False)
        applied = store.upgrade()
    except ConfigError as exc:
        _fail(exc, json_out)
    shown = store.url
    store.close()
    head = head_revision()
    if json_out:
        print(json.dumps({"status": "ok", "store": shown, "applied": applied, "revision": head}))
    elif applied:
        out.print(f"state store {escape(shown)}: applied {', '.join(applied)}; now at {head} (newest)",
                  highlight=False, soft_wrap=True)
    else:
        out.print(f"state store {escape(shown)}: already at {head} (newest)", highlight=False, soft_wrap=True)


@state_app.command("current")
def state_current(config: ConfigOption = Path("config.toml"), json_out: JsonOption = False) -> None:
    """Show the revision the state store is at and what `state upgrade` would apply (changes nothing)."""
    from connector.migrations import SchemaTooNew, head_revision, legacy_version, pending
    from connector.state import StateStore

    url = _store_url(config, json_out)
    try:
        store = StateStore(url, migrate=False)
        revision = store.revision()
        legacy = legacy_version(store.engine) if revision is None else None
        todo = pending(store.engine)
    except SchemaTooNew as exc:
        todo, legacy, revision = [], None, exc.revision
        note = str(exc)
    except ConfigError as exc:
        _fail(exc, json_out)
    else:
        if legacy is not None:
            note = f"made before Alembic (hand-rolled schema version {legacy}); `state upgrade` adopts it"
        elif revision is None:
            note = "empty; `state upgrade` (or the first sync) creates it"
        else:
            note = f"{len(todo)} revision(s) to apply" if todo else "newest"
    shown = store.url
    store.close()
    if json_out:
        print(json.dumps({"status": "ok", "store": shown, "revision": revision, "head": head_revision(),
                          "legacy_version": legacy, "pending": todo, "note": note}))
        return
    out.print(f"state store {escape(shown)}: revision {revision or '-'} ({escape(note)})"
              + (f"; pending: {', '.join(todo)}" if todo else ""), highlight=False, soft_wrap=True)


@state_app.command("history")
def state_history(json_out: JsonOption = False) -> None:
    """List this release's schema revisions, oldest first."""
    from connector.migrations import history

    revisions = history()
    if json_out:
        print(json.dumps([{"revision": r.revision, "down_revision": r.down_revision, "doc": r.doc}
                          for r in revisions], ensure_ascii=False))
        return
    for r in revisions:
        out.print(f"{r.revision}  {escape(r.doc.splitlines()[0] if r.doc else '')}", highlight=False, soft_wrap=True)
