"""Alembic, driven from code: the revision a store is at, the newest one, and the locked upgrade between."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from connector.migrations import legacy
from connector.migrations.lock import exclusive

__all__ = ["Revision", "SchemaTooNew", "alembic_config", "current_revision", "head_revision", "history",
           "legacy_version", "pending", "upgrade"]

log = logging.getLogger(__name__)
# Alembic says "Context impl SQLiteImpl" and "Will assume non-transactional DDL" at INFO each time a store is
# opened: noise in every run's output. What was applied is logged here instead.
logging.getLogger("alembic").setLevel(logging.WARNING)

_HERE = Path(__file__).resolve().parent


class SchemaTooNew(Exception):
    """The store is at a revision this riskbridge does not know: a newer release migrated it."""

    def __init__(self, revision: str, head: str) -> None:
        super().__init__(f"the state store is at schema revision {revision}, newer than this riskbridge knows "
                         f"(its newest is {head}); run the riskbridge release that upgraded it, or a newer one")
        self.revision = revision


@dataclass(frozen=True)
class Revision:
    revision: str
    down_revision: str | None
    doc: str


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic config for the packaged migrations; `url` lets a developer's `command.revision(...,
    autogenerate=True)` connect, `connection` is what `upgrade` migrates on."""
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = _scripts().get_current_head()
    assert head is not None, "connector/migrations/versions holds no revision"
    return head


def history() -> list[Revision]:
    """Every revision, oldest first."""
    return [Revision(str(s.revision), _down(s.down_revision), (s.doc or "").strip())
            for s in reversed(list(_scripts().walk_revisions()))]


def _down(value: object) -> str | None:
    return None if value is None else str(value)


def _at(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def current_revision(engine: Engine) -> str | None:
    """The revision the store is at; None for an empty store or one made before Alembic."""
    with engine.connect() as connection:
        return _at(connection)


def legacy_version(engine: Engine) -> int | None:
    """The hand-rolled schema version of a store made before Alembic (None: not such a store)."""
    with engine.connect() as connection:
        return legacy.hand_version(connection)


def pending(engine: Engine) -> list[str]:
    """The revisions `upgrade` would apply, oldest first."""
    return _pending(current_revision(engine))


def _pending(at: str | None) -> list[str]:
    """The revisions from `at` to head, oldest first; raises SchemaTooNew for a revision we do not know."""
    scripts = _scripts()
    if at is not None and at not in {s.revision for s in scripts.walk_revisions()}:
        raise SchemaTooNew(at, head_revision())
    return [str(s.revision) for s in reversed(list(scripts.iterate_revisions("heads", at or "base")))]


def upgrade(engine: Engine) -> list[str]:
    """Bring the store to the newest revision; returns the revisions applied (none when it was current).

    Looks first without the lock (the common case: nothing to do), then migrates holding it; a replica that
    waited for the lock finds the store current and applies nothing."""
    if not _pending(current_revision(engine)):
        return []
    with exclusive(engine) as connection:
        at = _at(connection)
        if at is None:
            legacy.adopt(connection)
        todo = _pending(at)
        if todo:
            command.upgrade(alembic_config(connection=connection), "head")
            log.info("state store schema upgraded to revision %s (applied %s)", todo[-1], ", ".join(todo))
        return todo
