"""CDR persistence: the domain's RecordStore on SQL (SQLite by default, PostgreSQL at scale)."""

from callgate.store.sql_store import DEFAULT_URL, SqlRecordStore

__all__ = ["DEFAULT_URL", "SqlRecordStore"]
