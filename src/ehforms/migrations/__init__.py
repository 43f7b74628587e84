"""Alembic migrations of the ledger: a root made by an earlier version upgrades on open."""
