"""The state store's URL: resolved from a secret reference, shown with its password masked, and checked
before anything opens it, so a bad `state_url` is a configuration error (exit 2) with a hint, never a
traceback or an "internal error" after the CRM was already called.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from connector.errors import ConfigProblem

__all__ = ["DRIVER_PACKAGES", "SQLITE_HEADER", "check_state_url", "display_url", "is_reference"]

SQLITE_HEADER = b"SQLite format 3\x00"
# The DBAPI module each supported driver imports, and what to install to get it.
DRIVER_PACKAGES = {
    ("sqlite", "pysqlite"): ("sqlite3", "a Python built with sqlite3"),
    ("postgresql", "psycopg"): ("psycopg", "pip install 'psycopg[binary]'"),
    ("postgresql", "psycopg2"): ("psycopg2", "pip install psycopg2-binary"),
    ("postgresql", "pg8000"): ("pg8000", "pip install pg8000"),
}
_EXAMPLES = "sqlite:////var/lib/riskbridge/state.db or postgresql+psycopg://riskbridge@db-host/riskbridge"


def is_reference(value: str) -> bool:
    return value.startswith(("env:", "file:"))


def display_url(url: str) -> str:
    """The URL with any password replaced by ***; an unparseable URL is not shown at all (it may hold one)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<not a URL>" if ":" in url and "@" in url else url


def check_state_url(url: str, *, source: str, key: str = "state_url", literal: bool = True) -> list[ConfigProblem]:
    """Everything wrong with a state URL that can be known without connecting; `literal` says it was written
    inline in the config (not read from a secret reference or the environment)."""
    shown = display_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        return [ConfigProblem(source, key, f"{shown!r} is not a database URL",
                              f"write a URL such as {_EXAMPLES} (a plain path needs the sqlite:/// prefix)")]
    problems: list[ConfigProblem] = []
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        return [ConfigProblem(source, key, f"{shown}: riskbridge keeps its state in sqlite or postgresql, "
                                           f"not {backend}", f"use a URL such as {_EXAMPLES}")]
    try:
        driver = parsed.get_driver_name()
    except NoSuchModuleError:
        return [ConfigProblem(source, key, f"{shown}: unknown database driver {parsed.drivername!r}",
                              "use sqlite:///… or postgresql+psycopg://…")]
    if (backend, driver) not in DRIVER_PACKAGES:
        known = ", ".join(f"{b}+{d}" for b, d in DRIVER_PACKAGES)
        return [ConfigProblem(source, key, f"{shown}: riskbridge does not support the driver {driver!r}",
                              f"use one of {known}")]
    module, install = DRIVER_PACKAGES[(backend, driver)]
    if importlib.util.find_spec(module) is None:
        problems.append(ConfigProblem(source, key, f"{shown}: the {backend} driver {module!r} is not installed",
                                      install))
    if backend == "sqlite":
        problems += _sqlite_path(parsed, shown, source, key)
    elif parsed.password and literal and not _loopback(parsed):
        problems.append(ConfigProblem(source, key, f"{shown}: the database password is written inline",
                                      'put the whole URL in a secret: state_url = "env:RISKBRIDGE_DB_URL" or '
                                      '"file:/etc/riskbridge/db-url" (an inline password is accepted only '
                                      'for a loopback database)'))
    return problems


def _loopback(url: URL) -> bool:
    return url.host in ("localhost", "127.0.0.1", "::1") or bool(url.host and url.host.startswith("127."))


def _sqlite_path(url: URL, shown: str, source: str, key: str) -> list[ConfigProblem]:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return []  # in memory, or an SQLite URI the driver interprets itself
    path = Path(database).expanduser()
    if path.is_dir():
        return [ConfigProblem(source, key, f"{shown}: {path} is a folder", "name a file inside it, e.g. "
                              f"sqlite:///{path / 'riskbridge.db'}")]
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            return [ConfigProblem(source, key, f"{shown}: {parent} is a file, not a folder",
                                  "put the database in a folder")]
        if parent.exists():
            break
    folder = path.parent
    if not folder.exists():
        return [ConfigProblem(source, key, f"{shown}: the folder {folder} does not exist",
                              f"create it (mkdir -p {folder}) or fix state_url")]
    if path.exists():
        try:
            with path.open("rb") as file:
                head = file.read(len(SQLITE_HEADER))
        except OSError as exc:
            return [ConfigProblem(source, key, f"{shown}: cannot read {path}: {exc.strerror}",
                                  "check its permissions")]
        if head and head != SQLITE_HEADER:
            return [ConfigProblem(source, key, f"{shown}: {path} is not a riskbridge state database "
                                  "(not an SQLite file, or damaged)",
                                  "move it aside and let riskbridge create a new one, or restore it from a backup")]
        if not os.access(path, os.W_OK):
            return [ConfigProblem(source, key, f"{shown}: {path} is not writable", "check its owner and mode")]
    elif not os.access(folder, os.W_OK | os.X_OK):
        return [ConfigProblem(source, key, f"{shown}: cannot create a database in {folder}",
                              "riskbridge needs write access to that folder; choose another one")]
    return []
