"""Alembic's environment for the Assay store.

:mod:`engine.store.schema` passes the connection to migrate in ``config.attributes``, inside
a transaction that holds the migration lock. Run by the ``alembic`` command (writing a
revision, or ``--sql`` to print one), it connects to ``ASSAY_DATABASE_URL``.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine

from assay.engine.store.database import metadata

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite alters a table by copying it: autogenerate writes batch operations for it.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def _run() -> None:
    given: Connection | None = config.attributes.get("connection")
    if given is not None:
        _configure(given)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = os.environ.get("ASSAY_DATABASE_URL")
    if not url:
        raise SystemExit("set ASSAY_DATABASE_URL to the database to compare or migrate")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


_run()
