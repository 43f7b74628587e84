"""The web service: accounts, their server-side sessions, failed sign-ins (for the growing
delay), the append-only audit trail, who marked a mailbox copy handled, and the account a
form was sent from.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The audit trail is append-only: the database itself refuses to change or remove a row.
APPEND_ONLY = (
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
)


def upgrade() -> None:
    op.add_column("submissions", sa.Column("sent_by", sa.Text, nullable=True))
    op.create_table(
        "accounts",
        sa.Column("email", sa.Text, primary_key=True),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("mailboxes", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("must_change_password", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("changed_at", sa.Text, nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("token_sha256", sa.Text, primary_key=True),
        sa.Column("email", sa.Text, sa.ForeignKey("accounts.email"), nullable=False),
        sa.Column("started_at", sa.Text, nullable=False),
        sa.Column("last_seen", sa.Text, nullable=False),
        sa.Column("ended_at", sa.Text),
        sa.Column("ended_because", sa.Text),
    )
    op.create_index("sessions_email", "sessions", ["email", "ended_at"])
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("email_hash", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
    )
    op.create_index("sign_in_failures_email", "sign_in_failures", ["email_hash", "at"])
    op.create_index("sign_in_failures_address", "sign_in_failures", ["address", "at"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("who", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("submission_id", sa.Text),
        sa.Column("case_ref", sa.Text),
        sa.Column("detail", sa.Text),
    )
    op.create_index("audit_at", "audit", ["at"])
    op.create_index("audit_case", "audit", ["case_ref", "at"])
    op.create_index("audit_who", "audit", ["who", "at"])
    if op.get_bind().dialect.name == "sqlite":
        for statement in APPEND_ONLY:
            op.execute(statement)
    op.create_table(
        "handled",
        sa.Column("mailbox", sa.Text, primary_key=True),
        sa.Column("submission_id", sa.Text, primary_key=True),
        sa.Column("folder", sa.Text, nullable=False),
        sa.Column("handled_by", sa.Text, nullable=False),
        sa.Column("handled_at", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("handled")
    op.drop_table("audit")  # its triggers go with it
    op.drop_table("sign_in_failures")
    op.drop_table("sessions")
    op.drop_table("accounts")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("sent_by")
