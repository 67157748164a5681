"""Alembic migrations of the CDR store (run by callgate.store.migrate)."""
