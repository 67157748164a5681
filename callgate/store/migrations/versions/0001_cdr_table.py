"""The CDR table, its indexes, and the substring index on destination.

Revision ID: 0001
Revises:
Create Date: 2025-07-23

Times: timestamptz on PostgreSQL, integer epoch milliseconds on SQLite (see store/timecol.py).
Text on PostgreSQL uses collation "C": byte order, the same as SQLite's, so both databases sort
alike, and prefix ranges on a B-tree index are exact.

Indexes, for listings scoped to one account (every query is), measured at 1,000,000 rows
(bench/cdr_query.py). Every listing also counts its matches; an account's COUNT(*) is read from
the narrowest (account, ...) index without touching the table.
- (account, id): the default listing, newest first.
- (account, start_time, id): time ranges and sorting by time (SQLite adds the id by itself).
- (account, duration), (account, billable_seconds): numeric filters and sorts, and their counts
  answered from the index alone.
- (account, disposition, billable_seconds): "answered calls that lasted over N seconds".
- (account, destination, start_time): a number's calls ($eq, $in) and prefixes ($sw), also
  within a time range, answered from the index alone.
- (node) WHERE end_time IS NULL: the few open records, for crash recovery and the heartbeat.
- Substring search ($contains, $ilike) on destination: a pg_trgm GIN index on PostgreSQL (skipped
  with a warning when the extension cannot be created), an FTS5 trigram table on SQLite kept in step
  by triggers.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

log = logging.getLogger("callgate.store")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    time_type = sa.TIMESTAMP(timezone=True) if postgres else sa.BigInteger()
    text_type = sa.Text(collation="C") if postgres else sa.Text()
    # INTEGER PRIMARY KEY is SQLite's rowid; AUTOINCREMENT keeps ids from being reused.
    id_column = (
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True)
        if postgres
        else sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True)
    )
    op.create_table(
        "cdr",
        id_column,
        sa.Column("session_id", text_type, nullable=False),
        sa.Column("account", text_type, nullable=False),
        sa.Column("direction", text_type, nullable=False),
        sa.Column("destination", text_type, nullable=False),
        sa.Column("caller_id", text_type),
        sa.Column("start_time", time_type, nullable=False),
        sa.Column("answer_time", time_type),
        sa.Column("end_time", time_type),
        sa.Column("duration", sa.Integer(), nullable=False),
        sa.Column("billable_seconds", sa.Integer(), nullable=False),
        sa.Column("disposition", text_type),
        sa.Column("hangup_by", text_type),
        sa.Column("hangup_cause_code", sa.Integer()),
        sa.Column("hangup_cause_text", text_type),
        sa.Column("created_at", time_type, nullable=False),
        sa.Column("updated_at", time_type, nullable=False),
        sa.Column("node", text_type, nullable=False, server_default=""),
        sa.UniqueConstraint("session_id", name="uq_cdr_session_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_cdr_account_id", "cdr", ["account", "id"])
    # SQLite appends the rowid (id) to every index entry by itself.
    by_time = ["account", "start_time", "id"] if postgres else ["account", "start_time"]
    op.create_index("ix_cdr_account_start", "cdr", by_time)
    op.create_index("ix_cdr_account_duration", "cdr", ["account", "duration"])
    op.create_index("ix_cdr_account_billable", "cdr", ["account", "billable_seconds"])
    # NULLs sort first ascending on both databases (store/filters.py); SQLite's indexes do that.
    disposition = sa.text("disposition NULLS FIRST") if postgres else "disposition"
    op.create_index(
        "ix_cdr_account_disposition", "cdr", ["account", disposition, "billable_seconds"]
    )
    op.create_index("ix_cdr_account_destination", "cdr", ["account", "destination", "start_time"])
    op.create_index(
        "ix_cdr_open",
        "cdr",
        ["node"],
        postgresql_where=sa.text("end_time IS NULL"),
        sqlite_where=sa.text("end_time IS NULL"),
    )
    if postgres:
        _postgres_trigram_index()
    else:
        _sqlite_fts()


def _postgres_trigram_index() -> None:
    bind = op.get_bind()
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        visible = bind.execute(
            sa.text(
                "SELECT 1 FROM pg_opclass"
                " WHERE opcname = 'gin_trgm_ops' AND pg_opclass_is_visible(oid)"
            )
        ).first()
        if visible is None:
            raise RuntimeError("pg_trgm is installed in a schema outside the search_path")
        bind.execute(
            sa.text(
                "CREATE INDEX ix_cdr_destination_trgm ON cdr USING gin (destination gin_trgm_ops)"
            )
        )
        savepoint.commit()
    except (sa.exc.DBAPIError, RuntimeError) as exc:
        savepoint.rollback()
        log.warning(
            "no trigram index on cdr.destination (%s): $contains filters will scan the account's rows",
            exc,
        )


def _sqlite_fts() -> None:
    op.execute(
        "CREATE VIRTUAL TABLE cdr_destination_fts USING fts5("
        "destination, content='cdr', content_rowid='id', tokenize='trigram')"
    )
    op.execute(
        "CREATE TRIGGER cdr_fts_insert AFTER INSERT ON cdr BEGIN"
        " INSERT INTO cdr_destination_fts(rowid, destination) VALUES (new.id, new.destination);"
        " END"
    )
    op.execute(
        "CREATE TRIGGER cdr_fts_delete AFTER DELETE ON cdr BEGIN"
        " INSERT INTO cdr_destination_fts(cdr_destination_fts, rowid, destination)"
        " VALUES ('delete', old.id, old.destination);"
        " END"
    )
    # Upserts rewrite destination with the same value; only a real change touches the index.
    op.execute(
        "CREATE TRIGGER cdr_fts_update AFTER UPDATE OF destination ON cdr"
        " WHEN old.destination IS NOT new.destination BEGIN"
        " INSERT INTO cdr_destination_fts(cdr_destination_fts, rowid, destination)"
        " VALUES ('delete', old.id, old.destination);"
        " INSERT INTO cdr_destination_fts(rowid, destination) VALUES (new.id, new.destination);"
        " END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("cdr_fts_insert", "cdr_fts_delete", "cdr_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS cdr_destination_fts")
    op.drop_table("cdr")
