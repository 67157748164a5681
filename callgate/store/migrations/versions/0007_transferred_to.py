"""Where a blind transfer sent the call.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

The target (a number or a sip: URI) of a transfer that succeeded (`POST /pbx/transfer`, the
Socket.IO `transfer` event); null for every other call, and for every call before this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("cdr", sa.Column("transferred_to", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cdr") as batch:
        batch.drop_column("transferred_to")
