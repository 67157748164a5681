"""Answering-machine detection's result.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

human, machine, fax or unknown for outbound calls placed with `machineDetection`
(docs/listen.md); null for every other call, and for every call before this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("cdr", sa.Column("machine_detection", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cdr") as batch:
        batch.drop_column("machine_detection")
