"""Alerts by email: the queue of urgent alerts (one per submission and mailbox, ever), the
daily digests, and every attempt to send either.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("submission_id", sa.Text, primary_key=True),
        sa.Column("mailbox", sa.Text, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("received_at", sa.Text, nullable=False),
        sa.Column("queued_at", sa.Text, nullable=False),
        sa.Column("tries", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("next_at", sa.Text),
        sa.Column("message_id", sa.Text),
        sa.Column("sent_at", sa.Text),
    )
    op.create_index("alerts_unsent", "alerts", ["sent_at", "mailbox"])
    op.create_table(
        "digests",
        sa.Column("day", sa.Text, primary_key=True),
        sa.Column("mailbox", sa.Text, primary_key=True),
        sa.Column("made_at", sa.Text, nullable=False),
        sa.Column("items", sa.Text, nullable=False),
        sa.Column("tries", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("next_at", sa.Text),
        sa.Column("message_id", sa.Text),
        sa.Column("sent_at", sa.Text),
    )
    op.create_table(
        "alert_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("mailbox", sa.Text, nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("items", sa.Integer, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("reply", sa.Text, nullable=False),
    )
    op.create_index("alert_attempts_mailbox", "alert_attempts", ["mailbox", "kind", "at"])


def downgrade() -> None:
    op.drop_table("alert_attempts")
    op.drop_table("digests")
    op.drop_table("alerts")
