"""The ledger's statements run once or more per form, built once (``ehforms.ledger`` runs
them): a claim, its outcome, an event, the first copy of the same bytes; and the upserts of
case data and deliveries, in the dialect's own words.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ehforms.database.tables import case_data, deliveries, events, submissions

SEEN = (
    submissions.c.submission_id,
    submissions.c.source,
    submissions.c.received_at,
    submissions.c.state,
    submissions.c.status,
    submissions.c.folder,
    submissions.c.mailboxes,
    submissions.c.form_type,
)


# The statements run once or more per form, built once: SQLAlchemy then reuses their compiled
# form, and a burst spends its time on the forms, not on building SQL.
_ID: sa.BindParameter[str] = sa.bindparam("b_submission_id")
_EVENT = events.insert().values(
    at=sa.bindparam("b_at"),
    submission_id=_ID,
    event=sa.bindparam("b_event"),
    detail=sa.bindparam("b_detail"),
)
_STATE = sa.select(submissions.c.state).where(submissions.c.submission_id == _ID)
_CLAIM = submissions.insert().values(
    submission_id=_ID,
    sha256=sa.bindparam("b_sha256"),
    source=sa.bindparam("b_source"),
    received_at=sa.bindparam("b_received_at"),
    state="claimed",
    claim_seq=sa.bindparam("b_claim_seq"),
    form_sha256=sa.bindparam("b_form_sha256"),
)
_REHASH = (
    submissions.update()
    .where(submissions.c.submission_id == _ID)
    .values(sha256=sa.bindparam("b_sha256"), form_sha256=sa.bindparam("b_form_sha256"))
)
_FIRST = (
    sa.select(*SEEN)
    .where(
        submissions.c.sha256 == sa.bindparam("b_sha256"),
        submissions.c.claim_seq
        < sa.select(submissions.c.claim_seq)
        .where(submissions.c.submission_id == _ID)
        .scalar_subquery(),
    )
    .order_by(submissions.c.claim_seq)
    .limit(1)
)
_GET = sa.select(*SEEN).where(submissions.c.submission_id == _ID)
_DONE = (
    submissions.update()
    .where(submissions.c.submission_id == _ID)
    .values(
        state="done",
        status=sa.bindparam("b_status"),
        form_type=sa.bindparam("b_form_type"),
        case_id=sa.bindparam("b_case_id"),
        mailboxes=sa.bindparam("b_mailboxes"),
        folder=sa.bindparam("b_folder"),
        priority=sa.bindparam("b_priority"),
        duplicate_of=sa.bindparam("b_duplicate_of"),
        completed_at=sa.bindparam("b_completed_at"),
        sent_by=sa.bindparam("b_sent_by"),
    )
)


def upserts(dialect: str) -> tuple[Any, Any]:
    """(case data written or replaced, a delivery recorded unless it is already): one statement
    each, in the dialect's own words (SQLite and PostgreSQL say them the same way)."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    data = insert(case_data).values(
        submission_id=_ID,
        case_id=sa.bindparam("b_case_id"),
        form_type=sa.bindparam("b_form_type"),
        received_at=sa.bindparam("b_received_at"),
        data=sa.bindparam("b_data"),
    )
    data = data.on_conflict_do_update(
        index_elements=[case_data.c.submission_id],
        set_={
            name: data.excluded[name] for name in ("case_id", "form_type", "received_at", "data")
        },
    )
    delivery = (
        insert(deliveries)
        .values(
            submission_id=_ID,
            place=sa.bindparam("b_place"),
            folder=sa.bindparam("b_folder"),
            delivered_at=sa.bindparam("b_delivered_at"),
            priority=sa.bindparam("b_priority"),
            due_at=sa.bindparam("b_due_at"),
        )
        .on_conflict_do_nothing(index_elements=[deliveries.c.submission_id, deliveries.c.place])
    )
    return data, delivery
