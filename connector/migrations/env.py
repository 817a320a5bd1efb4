"""Alembic's environment for the state store: migrations run on the connection `connector.migrations` hands
over (inside its lock and transaction); a developer's `alembic revision --autogenerate` gets one from the URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from connector.tables import Base


def _run(connection: Connection) -> None:
    # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("connector.migrations: no connection and no sqlalchemy.url to make one")
    engine = create_engine(url)
    with engine.begin() as connection:
        _run(connection)
    engine.dispose()
