"""Idempotency keys, stored with the call they answered.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

`POST /pbx/call` and `POST /pbx/hangup` accept an `Idempotency-Key` header (callgate/api/idempotency.py).
The key of the request that placed a call, and a hash of that request's body, are written in the same
transaction as the call's first record; the key of the hangup that ended it travels with the closing
record. So a key survives a restart exactly as long as its call's record does, and a retry after a
restart finds it here. Nullable: most requests carry no key.

Lookups are per account and key; the partial indexes hold only the rows that have one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

COLUMNS = (
    "idempotency_key",
    "idempotency_hash",
    "hangup_idempotency_key",
    "hangup_idempotency_hash",
)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    text_type = sa.Text(collation="C") if postgres else sa.Text()
    for name in COLUMNS:
        op.add_column("cdr", sa.Column(name, text_type, nullable=True))
    for index, key in (
        ("ix_cdr_idempotency", "idempotency_key"),
        ("ix_cdr_hangup_idempotency", "hangup_idempotency_key"),
    ):
        op.create_index(
            index,
            "cdr",
            ["account", key],
            postgresql_where=sa.text(f"{key} IS NOT NULL"),
            sqlite_where=sa.text(f"{key} IS NOT NULL"),
        )


def downgrade() -> None:
    op.drop_index("ix_cdr_hangup_idempotency", "cdr")
    op.drop_index("ix_cdr_idempotency", "cdr")
    with op.batch_alter_table("cdr") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
