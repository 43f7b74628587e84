"""Claim order as a column (not SQLite's rowid), failures per submission, deliveries per
mailbox.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    columns = {c["name"] for c in inspector.get_columns("submissions")}
    # plain ALTER TABLE ADD COLUMN, which SQLite does without copying the table (a ledger made
    # by a development build between 0.1.0 and migrations may have failures already)
    op.add_column("submissions", sa.Column("claim_seq", sa.Integer, nullable=True))
    if "failures" not in columns:
        op.add_column(
            "submissions",
            sa.Column("failures", sa.Integer, nullable=False, server_default=sa.text("0")),
        )
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
    if "deliveries" in inspector.get_table_names():
        op.drop_table("deliveries")  # a development build's, rebuilt from the outcomes below
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
        sa.Column("priority", sa.Text),
        sa.Column("due_at", sa.Text),  # the earliest due, in the primary mailbox only
    )
    op.create_index("deliveries_place", "deliveries", ["place", "delivered_at"])
    # what earlier versions delivered: each mailbox a done submission went to
    rows = bind.execute(
        sa.text(
            "SELECT submission_id, mailboxes, folder, priority, completed_at FROM submissions "
            "WHERE state = 'done'"
        )
    ).all()
    table = sa.table(
        "deliveries",
        sa.column("submission_id"),
        sa.column("place"),
        sa.column("folder"),
        sa.column("delivered_at"),
        sa.column("priority"),
    )
    for submission_id, mailboxes, folder, priority, completed_at in rows:
        places = [f"outbox/{m}" for m in json.loads(mailboxes or "[]")] or ["rejected"]
        op.bulk_insert(
            table,
            [
                {
                    "submission_id": submission_id,
                    "place": place,
                    "folder": folder or "",
                    "delivered_at": completed_at or "",
                    "priority": priority,
                }
                for place in places
            ],
        )


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_index("submissions_claim_seq", "submissions")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("failures")
        batch.drop_column("claim_seq")
