"""A PostgreSQL ledger behaves as the SQLite one: its audit trail append-only (SQLite's
triggers are 0004's), and its foreign keys documentation only, as SQLite's always were
(SQLite enforces none unless asked; ehforms never asked, and removes an account's or a
submission's rows in the order that suits it).

Nothing changes in a SQLite ledger. The same migrations make both.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

APPEND_ONLY = (
    "CREATE FUNCTION ehforms_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END $$",
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
