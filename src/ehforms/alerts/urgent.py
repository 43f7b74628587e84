"""The alerts an urgent outcome calls for, queued in the transaction that records the outcome
(:func:`queue_statement`, used by ``Ledger.done_many``), so a crash never loses one nor queues
one twice."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ehforms.alerts.queue import iso
from ehforms.database import alerts

if TYPE_CHECKING:
    from ehforms.receipts import Receipt


def queue_statement(dialect: str) -> Any:
    """An alert queued unless that submission and mailbox has one already (ever)."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(alerts)
        .values(
            submission_id=sa.bindparam("a_submission_id"),
            mailbox=sa.bindparam("a_mailbox"),
            title=sa.bindparam("a_title"),
            received_at=sa.bindparam("a_received_at"),
            queued_at=sa.bindparam("a_queued_at"),
        )
        .on_conflict_do_nothing(index_elements=[alerts.c.submission_id, alerts.c.mailbox])
    )


def title_of(form_type: str | None) -> str:
    """What a person calls a form type (an alert names nothing else of the form)."""
    from ehforms.registry import FORM_TYPES

    known = FORM_TYPES.get(form_type or "")
    return known.title if known is not None else "A form ehforms could not read"


def queue_rows(receipt: Receipt, to: Iterable[str], now: str) -> list[dict[str, str]]:
    """The alerts an outcome calls for: an urgent form delivered to mailboxes that have
    addresses (a duplicate or a rejection alerts no one)."""
    wanted = set(to)
    if receipt.priority.value != "urgent" or receipt.status.value == "duplicate":
        return []
    return [
        {
            "a_submission_id": receipt.submission_id,
            "a_mailbox": mailbox,
            "a_title": title_of(receipt.form_type),
            "a_received_at": iso(receipt.received_at),
            "a_queued_at": now,
        }
        for mailbox in receipt.mailboxes
        if mailbox in wanted
    ]
