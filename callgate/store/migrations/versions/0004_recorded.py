"""Whether a call was recorded.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Set when a recorded call is answered (its WAV is then written to recordings_dir); false for every
call before this revision, and for calls that were not recorded.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column(
        "cdr",
        sa.Column("recorded", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("cdr") as batch:
        batch.drop_column("recorded")
