"""A call's metadata.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

The application's JSON object (POST /pbx/call's `metadata`; for inbound calls, the route's and the
INVITE's X- headers) as compact JSON text, at most 2 KB; null for calls without any. Text on both
databases so a value reads back byte for byte; `filter.metadata.<key>` looks into it with each
database's JSON functions (callgate/store/filters.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("cdr", sa.Column("metadata", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cdr") as batch:
        batch.drop_column("metadata")
