"""Migrating on open: the ledger's schema brought to the newest of the Alembic migrations in
``ehforms/migrations`` (a new ledger is made from nothing, one made by ehforms 0.1.0 is stamped
and upgraded).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Connection

log = logging.getLogger("ehforms")

# The newest migration: a ledger already at it is opened without loading Alembic at all.
HEAD = "0008"


def _at_head(connection: Connection) -> bool:
    if connection.dialect.name != "sqlite" and not sa.inspect(connection).has_table(
        "alembic_version"
    ):
        return False  # (asked first: on PostgreSQL a failed statement ends the transaction)
    try:
        found = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except sa.exc.DBAPIError:
        return False  # no version table: a new ledger, or one made before migrations
    return found == HEAD


def migrate(connection: Connection) -> None:
    """Bring the ledger's schema to the newest version (a new ledger is made from nothing)."""
    if _at_head(connection):
        return
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from alembic.migration import MigrationContext

    current = MigrationContext.configure(connection).get_current_revision()
    names = set(sa.inspect(connection).get_table_names())
    settings = AlembicConfig()
    settings.set_main_option("script_location", "ehforms:migrations")
    settings.attributes["connection"] = connection
    if current is None and "submissions" in names:
        # made by ehforms 0.1.0, before migrations: its schema is revision 0001
        command.stamp(settings, "0001")
        log.info("the ledger was made by ehforms 0.1.0: upgrading it")
    command.upgrade(settings, "head")
