"""Alembic environment for the CDR store: migrates the connection that `migrate.py` hands over.

Several gateway nodes may start at once against one PostgreSQL database; a transaction-scoped
advisory lock makes them migrate one after the other. On SQLite the write transaction
(BEGIN IMMEDIATE) already serializes them.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from callgate.store.migrate import VERSION_TABLE

# An arbitrary constant naming "the callgate CDR schema" among advisory locks.
MIGRATION_LOCK_KEY = 0x63616C6C67617465  # "callgate"


def run_migrations(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    context.configure(connection=connection, target_metadata=None, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError("run the CDR migrations through callgate.store.migrate.upgrade_to_head()")
run_migrations(_connection)
