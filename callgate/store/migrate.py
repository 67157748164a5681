"""Bring the CDR schema up to date with the Alembic migrations shipped in this package.

No alembic.ini is needed: the configuration is built here and the migrations run on the
connection (and inside the transaction) the store hands over.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Our own version table, so the store can share a database with an application that uses Alembic.
VERSION_TABLE = "callgate_schema_version"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade_to_head(connection: Connection) -> None:
    """Run every pending migration on `connection` (a synchronous facade: use `run_sync`)."""
    command.upgrade(alembic_config(connection), "head")
