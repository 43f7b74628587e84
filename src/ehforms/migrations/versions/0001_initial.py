"""The ledger as ehforms 0.1.0 made it (before migrations): submissions, case data, events.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "submissions",
        sa.Column("submission_id", sa.Text, primary_key=True),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("received_at", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("status", sa.Text),
        sa.Column("form_type", sa.Text),
        sa.Column("case_id", sa.Text),
        sa.Column("mailboxes", sa.Text),
        sa.Column("folder", sa.Text),
        sa.Column("priority", sa.Text),
        sa.Column("duplicate_of", sa.Text),
        sa.Column("completed_at", sa.Text),
        sa.CheckConstraint("state IN ('claimed', 'done')", name="submissions_state"),
    )
    op.create_index("submissions_sha256", "submissions", ["sha256", "received_at"])
    op.create_index("submissions_case", "submissions", ["case_id", "received_at"])
    op.create_table(
        "case_data",
        sa.Column(
            "submission_id",
            sa.Text,
            sa.ForeignKey("submissions.submission_id"),
            primary_key=True,
        ),
        sa.Column("case_id", sa.Text, nullable=False),
        sa.Column("form_type", sa.Text, nullable=False),
        sa.Column("received_at", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("case_data_case", "case_data", ["case_id", "received_at"])
    op.create_table(
        "events",
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("submission_id", sa.Text),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("detail", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("case_data")
    op.drop_table("submissions")
