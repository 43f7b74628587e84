"""Keeping and deleting: when a purge first saw a folder in done/, the tombstones of consent
withdrawn, and the permit that lets a purge (and nothing else) delete audit rows past their
time.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The trail stays append-only: a row may be deleted only while a purge has written a permit
# for rows older than its cut-off, in the same transaction.
PURGEABLE = (
    "DROP TRIGGER IF EXISTS audit_no_delete",
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
    "WHEN NOT EXISTS (SELECT 1 FROM audit_purge WHERE OLD.at < audit_purge.before) "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
)
APPEND_ONLY = (
    "DROP TRIGGER IF EXISTS audit_no_delete",
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
)


def upgrade() -> None:
    op.create_table(
        "done_seen",
        sa.Column("place", sa.Text, primary_key=True),
        sa.Column("folder", sa.Text, primary_key=True),
        sa.Column("seen_at", sa.Text, nullable=False),
    )
    op.create_table(
        "withdrawals",
        sa.Column("case_id", sa.Text, primary_key=True),
        sa.Column("withdrawn_on", sa.Text, nullable=False),
    )
    op.create_table("audit_purge", sa.Column("before", sa.Text, primary_key=True))
    if op.get_bind().dialect.name == "sqlite":
        for statement in PURGEABLE:
            op.execute(statement)
    _tombstones()


def _tombstones() -> None:
    """A ledger made before this revision may hold the prefill data of families who withdrew
    consent: their tombstones are written, and the data erased, now."""
    from ehforms.purging import settle_withdrawals, withdrawals_in

    connection = op.get_bind()
    rows = connection.execute(
        sa.text("SELECT case_id, data FROM case_data WHERE form_type = 'closure'")
    ).all()
    found = []
    for case_id, data in rows:
        try:
            found.append(("closure", case_id, json.loads(data)))
        except ValueError:
            continue
    withdrawn = withdrawals_in(found)
    if withdrawn:
        settle_withdrawals(connection, withdrawn, withdrawn)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in APPEND_ONLY:
            op.execute(statement)
    op.drop_table("audit_purge")
    op.drop_table("withdrawals")
    op.drop_table("done_seen")
