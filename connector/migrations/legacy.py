"""Stores made before Alembic: their hand-rolled `schema_version` table says how far they got.

Version 2 is the baseline revision's schema (revision 0001 adopts it as it is). Version 1 lacked the audit
hash chain; its step to 2 is kept here, as it ran then, so such a store still reaches the baseline."""

from __future__ import annotations

import logging

from sqlalchemy import Connection, inspect, text
from sqlalchemy.orm import Session

from connector import audit as audit_log

__all__ = ["LAST_HAND_VERSION", "adopt"]

log = logging.getLogger(__name__)

LAST_HAND_VERSION = 2
_AUDIT_CHAIN = [  # schema 1 -> 2: the audit log becomes a hash chain
    "ALTER TABLE audit ADD COLUMN job VARCHAR(100)", "ALTER TABLE audit ADD COLUMN key VARCHAR(200)",
    "ALTER TABLE audit ADD COLUMN prev_hash VARCHAR(64)", "ALTER TABLE audit ADD COLUMN hash VARCHAR(64)",
    "CREATE INDEX IF NOT EXISTS ix_audit_job ON audit (job)",
    "CREATE INDEX IF NOT EXISTS ix_audit_record_id ON audit (record_id)",
]


def hand_version(connection: Connection) -> int | None:
    """The hand-rolled schema version of a store made before Alembic; None when there is no such table."""
    if "schema_version" not in inspect(connection).get_table_names():
        return None
    return connection.execute(text("SELECT max(version) FROM schema_version")).scalar()


def adopt(connection: Connection) -> int | None:
    """Bring a pre-Alembic store to hand version 2 (the baseline) inside the caller's transaction; returns the
    version it was found at (None: not such a store)."""
    found = hand_version(connection)
    if found is None or found >= LAST_HAND_VERSION:
        return found
    for statement in _AUDIT_CHAIN:
        connection.execute(text(statement))
    with Session(bind=connection) as session:  # joins the caller's transaction; the caller commits
        chained = audit_log.chain_unchained(session)
        session.flush()
    if chained:  # vouch for the rows written before the chain, from now on
        log.warning("audit: %d entries written before the audit log was hash-chained were chained now; the chain "
                    "vouches for them from this moment only", chained)
    connection.execute(text("INSERT INTO schema_version (version) VALUES (:v)"), {"v": LAST_HAND_VERSION})
    log.info("state store migrated from hand-rolled schema version %d to %d", found, LAST_HAND_VERSION)
    return found
