"""Claim order as a column (not SQLite's rowid), failures per submission, deliveries per
mailbox.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE ADD COLUMN, which SQLite does without copying the table
    op.add_column("submissions", sa.Column("claim_seq", sa.Integer, nullable=True))
    op.add_column(
        "submissions",
        sa.Column("failures", sa.Integer, nullable=False, server_default=sa.text("0")),
    )
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":  # claims were ordered by rowid until now
        bind.execute(sa.text("UPDATE submissions SET claim_seq = rowid"))
    else:
        bind.execute(
            sa.text(
                "UPDATE submissions SET claim_seq = ordered.n FROM (SELECT submission_id, "
                "row_number() OVER (ORDER BY received_at, submission_id) AS n "
                "FROM submissions) AS ordered "
                "WHERE submissions.submission_id = ordered.submission_id"
            )
        )
    op.create_index("submissions_claim_seq", "submissions", ["claim_seq"], unique=True)
    op.create_table(
        "deliveries",
        sa.Column(
            "submission_id",
            sa.Text,
            sa.ForeignKey("submissions.submission_id"),
            primary_key=True,
        ),
        sa.Column("place", sa.Text, primary_key=True),
        sa.Column("folder", sa.Text, nullable=False),
        sa.Column("delivered_at", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_index("submissions_claim_seq", "submissions")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("failures")
        batch.drop_column("claim_seq")
