"""Alembic's environment: ehforms always passes the connection to migrate (see ledger.py)."""

from __future__ import annotations

from alembic import context

from ehforms.database import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters a table by copying it
)
with context.begin_transaction():
    context.run_migrations()
