"""Media quality in every CDR.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

The figures of callgate/calls/quality.py, written when a call ends: null while it is live and for
calls that never had media. `client_frames_dropped` is 0 unless the application lost frames.
(account, mos) answers "this account's bad calls" (`filter.mos=$lt:3.5`) from the index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

WHOLE = ("rx_packets", "rx_lost", "rx_late", "rx_concealed", "rx_underruns", "tx_packets")
DECIMAL = ("rx_jitter_ms", "loss_percent", "mos")


def upgrade() -> None:
    for name in WHOLE:
        op.add_column("cdr", sa.Column(name, sa.Integer(), nullable=True))
    for name in DECIMAL:
        op.add_column("cdr", sa.Column(name, sa.Float(), nullable=True))
    op.add_column(
        "cdr",
        sa.Column("client_frames_dropped", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_cdr_account_mos", "cdr", ["account", "mos"])


def downgrade() -> None:
    op.drop_index("ix_cdr_account_mos", "cdr")
    with op.batch_alter_table("cdr") as batch:
        for name in (*WHOLE, *DECIMAL, "client_frames_dropped"):
            batch.drop_column(name)
