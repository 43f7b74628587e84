"""The practitioners' pages: what each person sent through ``/send`` (before the watcher has
seen it), and the cases a hub user allowed a practitioner to prefill.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sent",
        sa.Column("submission_id", sa.Text, primary_key=True),
        sa.Column("sent_by", sa.Text, nullable=False),
        sa.Column("sent_at", sa.Text, nullable=False),
        sa.Column("form_type", sa.Text),
        sa.Column("case_id", sa.Text),
    )
    op.create_index("sent_by_at", "sent", ["sent_by", "sent_at"])
    op.create_table(
        "prefill_allowed",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("case_id", sa.Text, nullable=False),
        sa.Column("allowed_by", sa.Text, nullable=False),
        sa.Column("allowed_at", sa.Text, nullable=False),
        sa.Column("submission_id", sa.Text, nullable=False),
        sa.Column("mailbox", sa.Text, nullable=False),
    )
    op.create_index("prefill_allowed_email", "prefill_allowed", ["email", "case_id"])


def downgrade() -> None:
    op.drop_table("prefill_allowed")
    op.drop_table("sent")
