"""The state store's schema, versioned by Alembic and shipped inside the package (no alembic.ini needed).

`upgrade` brings a store to the newest revision under a lock, so replicas starting together never migrate at
once; a store made by the release before Alembic (hand-rolled schema versions 1 and 2) is adopted first.
Add a revision as a file in ``versions/`` whose ``down_revision`` is the current head (see README)."""

from connector.migrations.upgrade import (
    SchemaTooNew,
    alembic_config,
    current_revision,
    head_revision,
    history,
    legacy_version,
    pending,
    upgrade,
)

__all__ = ["SchemaTooNew", "alembic_config", "current_revision", "head_revision", "history", "legacy_version",
           "pending", "upgrade"]
