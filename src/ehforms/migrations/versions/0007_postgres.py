"""A PostgreSQL ledger behaves as the SQLite one: its audit trail append-only but for a
purge's permit (SQLite's triggers are 0004's and 0006's), and its foreign keys documentation
only, as SQLite's always were (SQLite enforces none unless asked; ehforms never asked, and
removes an account's or a submission's rows in the order that suits it).

Nothing changes in a SQLite ledger. The same migrations make both.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

APPEND_ONLY = (
    # a row may be deleted only while a purge has written a permit for rows older than its
    # cut-off, in the same transaction (as 0006 makes SQLite's trigger)
    "CREATE FUNCTION ehforms_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN "
    "IF TG_OP = 'DELETE' AND EXISTS "
    "(SELECT 1 FROM audit_purge WHERE OLD.at < audit_purge.before) THEN RETURN OLD; END IF; "
    "RAISE EXCEPTION 'the audit trail is append-only'; END $$",
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION ehforms_audit_append_only()",
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION ehforms_audit_append_only()",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for statement in APPEND_ONLY:
        op.execute(statement)
    inspector = sa.inspect(bind)
    for table in ("case_data", "deliveries", "sessions"):
        for key in inspector.get_foreign_keys(table):
            if key["name"]:
                op.drop_constraint(key["name"], table, type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_no_delete ON audit")
        op.execute("DROP TRIGGER audit_no_update ON audit")
        op.execute("DROP FUNCTION ehforms_audit_append_only()")
