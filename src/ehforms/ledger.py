"""The ledger: a database of every file seen, by SHA-256, and its outcome.

It answers "have these bytes been seen before, and where did they go?", "what was in flight
when the process stopped?", and "what do we already know of this case?" (for prefilled forms).

SQLAlchemy Core over SQLite (WAL, a busy timeout, short transactions) by default; the schema is
made and upgraded by the Alembic migrations in ``ehforms/migrations``, so a root made by an
earlier version upgrades itself when the process that owns the root opens it. Readers (a
worker, ``template --case``) never migrate.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ehforms.database import (
    _translated,
    case_data,
    deliveries,
    engine_for,
    events,
    migrate,
    submissions,
)

if TYPE_CHECKING:
    from ehforms.receipts import Receipt

log = logging.getLogger("ehforms")


@dataclass(frozen=True)
class Seen:
    """A submission the ledger knows."""

    submission_id: str
    source: str
    received_at: dt.datetime
    state: str
    status: str | None
    folder: str | None
    mailboxes: tuple[str, ...]
    form_type: str | None


@dataclass(frozen=True)
class Delivered:
    """A submission as a mailbox listing shows it, from the ledger alone."""

    submission_id: str
    folder: str
    form_type: str | None
    status: str | None
    priority: str
    received_at: dt.datetime
    due_at: dt.datetime | None


_SEEN = (
    submissions.c.submission_id,
    submissions.c.source,
    submissions.c.received_at,
    submissions.c.state,
    submissions.c.status,
    submissions.c.folder,
    submissions.c.mailboxes,
    submissions.c.form_type,
)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class Ledger:
    """One root's ledger. ``migrate``: bring the schema up to date on open (only the process
    that owns the root does; a reader opens it as it is)."""

    def __init__(
        self,
        path: Path,
        file_mode: int = 0o640,
        timeout: float = 30.0,
        *,
        migrate_schema: bool = True,
    ) -> None:
        from ehforms.files import set_mode

        self.path = path
        new = not path.exists()
        self.engine = engine_for(path, timeout=timeout, owner=migrate_schema)
        if migrate_schema:
            with _translated(), self.engine.connect() as connection:
                if new:
                    set_mode(path, file_mode)
                with connection.begin():
                    migrate(connection)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """One short write transaction."""
        with _translated(), self.engine.connect() as connection:
            connection = connection.execution_options(immediate=True)
            with connection.begin():
                yield connection

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with _translated(), self.engine.connect() as connection, connection.begin():
            yield connection

    @staticmethod
    def _event(
        connection: Connection, submission_id: str | None, event: str, detail: str = ""
    ) -> None:
        connection.execute(
            events.insert().values(
                at=_now(), submission_id=submission_id, event=event, detail=detail
            )
        )

    def claimed(self, claims: Iterable[tuple[str, str | None, str, dt.datetime]]) -> None:
        """Record claimed files (id, sha256, source, received_at) in one transaction, in order.

        A claim already recorded keeps its place in the claim order; its hash is brought up to
        date (the file may have changed before it was read again)."""
        claims = list(claims)
        if not claims:
            return
        with self.writing() as connection:
            last = connection.execute(sa.select(sa.func.max(submissions.c.claim_seq))).scalar()
            seq = int(last or 0)
            for submission_id, sha256, source, received_at in claims:
                known = connection.execute(
                    sa.select(submissions.c.state).where(
                        submissions.c.submission_id == submission_id
                    )
                ).scalar()
                if known is None:
                    seq += 1
                    connection.execute(
                        submissions.insert().values(
                            submission_id=submission_id,
                            sha256=sha256 or "",
                            source=source,
                            received_at=received_at.isoformat(),
                            state="claimed",
                            claim_seq=seq,
                        )
                    )
                    self._event(connection, submission_id, "claimed")
                elif known == "claimed":
                    connection.execute(
                        submissions.update()
                        .where(submissions.c.submission_id == submission_id)
                        .values(sha256=sha256 or "")
                    )

    def failed(self, submission_id: str) -> int:
        """Count one more failure of ehforms on this submission; returns how many so far."""
        with self.writing() as connection:
            connection.execute(
                submissions.update()
                .where(submissions.c.submission_id == submission_id)
                .values(failures=submissions.c.failures + 1)
            )
            self._event(connection, submission_id, "failed")
        return self.failures(submission_id)

    def failures(self, submission_id: str) -> int:
        with self.reading() as connection:
            found = connection.execute(
                sa.select(submissions.c.failures).where(
                    submissions.c.submission_id == submission_id
                )
            ).scalar()
        return int(found or 0)

    def deliveries(self, submission_id: str) -> list[tuple[str, str]]:
        """Where a submission was delivered: (place, folder), place ``outbox/<m>`` or
        ``rejected``."""
        with self.reading() as connection:
            rows = connection.execute(
                sa.select(deliveries.c.place, deliveries.c.folder)
                .where(deliveries.c.submission_id == submission_id)
                .order_by(deliveries.c.delivered_at, deliveries.c.place)
            ).all()
        return [(place, folder) for place, folder in rows]

    def first_with_hash(self, sha256: str | None, submission_id: str) -> Seen | None:
        """The first submission of the same bytes claimed before this one (claim order)."""
        if not sha256:  # an entry that was never read (a link, a pipe)
            return None
        me = sa.select(submissions.c.claim_seq).where(submissions.c.submission_id == submission_id)
        with self.reading() as connection:
            row = connection.execute(
                sa.select(*_SEEN)
                .where(
                    submissions.c.sha256 == sha256, submissions.c.claim_seq < me.scalar_subquery()
                )
                .order_by(submissions.c.claim_seq)
                .limit(1)
            ).first()
        return _seen(tuple(row)) if row else None

    def get(self, submission_id: str) -> Seen | None:
        with self.reading() as connection:
            row = connection.execute(
                sa.select(*_SEEN).where(submissions.c.submission_id == submission_id)
            ).first()
        return _seen(tuple(row)) if row else None

    def done(
        self,
        receipt: Receipt,
        folder: str,
        case_id: str | None,
        case_data_: Mapping[str, Any] | None,
    ) -> None:
        """Record an outcome, where it was delivered, and what the form says of its case for
        prefill, in one transaction."""
        submission_id = receipt.submission_id
        now = _now()
        with self.writing() as connection:
            connection.execute(
                submissions.update()
                .where(submissions.c.submission_id == submission_id)
                .values(
                    state="done",
                    status=receipt.status.value,
                    form_type=receipt.form_type,
                    case_id=case_id,
                    mailboxes=json.dumps(list(receipt.mailboxes)),
                    folder=folder,
                    priority=receipt.priority.value,
                    duplicate_of=receipt.duplicate_of,
                    completed_at=now,
                )
            )
            if case_id and case_data_ is not None:
                connection.execute(
                    case_data.delete().where(case_data.c.submission_id == submission_id)
                )
                connection.execute(
                    case_data.insert().values(
                        submission_id=submission_id,
                        case_id=case_id,
                        form_type=receipt.form_type,
                        received_at=receipt.received_at.isoformat(),
                        data=json.dumps(case_data_, default=str),
                    )
                )
            places = [f"outbox/{m}" for m in receipt.mailboxes] or ["rejected"]
            first_due = min((d.by for d in receipt.due), default=None)
            recorded = set(
                connection.execute(
                    sa.select(deliveries.c.place).where(deliveries.c.submission_id == submission_id)
                ).scalars()
            )
            for n, place in enumerate(places):
                if place not in recorded:
                    connection.execute(
                        deliveries.insert().values(
                            submission_id=submission_id,
                            place=place,
                            folder=folder,
                            delivered_at=now,
                            priority=receipt.priority.value,
                            due_at=first_due.isoformat() if first_due and n == 0 else None,
                        )
                    )
            self._event(connection, submission_id, receipt.status.value, folder)

    def delivered_to(self, place: str) -> list[Delivered]:
        """Every submission delivered to ``place`` (``outbox/<mailbox>``), oldest first."""
        with self.reading() as connection:
            rows = connection.execute(
                sa.select(
                    deliveries.c.submission_id,
                    deliveries.c.folder,
                    submissions.c.form_type,
                    submissions.c.status,
                    deliveries.c.priority,
                    submissions.c.received_at,
                    deliveries.c.due_at,
                )
                .join(submissions, submissions.c.submission_id == deliveries.c.submission_id)
                .where(deliveries.c.place == place)
                .order_by(submissions.c.received_at, deliveries.c.submission_id)
            ).all()
        return [
            Delivered(
                submission_id,
                folder,
                form_type,
                status,
                priority or "normal",
                dt.datetime.fromisoformat(received_at),
                dt.datetime.fromisoformat(due_at) if due_at else None,
            )
            for submission_id, folder, form_type, status, priority, received_at, due_at in rows
        ]

    def case_history(self, case_id: str) -> History:
        """What routed forms said of a case, oldest first: (form_type, normalised form)."""
        with self.reading() as connection:
            rows = connection.execute(
                sa.select(case_data.c.form_type, case_data.c.data)
                .where(case_data.c.case_id == case_id)
                .order_by(case_data.c.received_at)
            ).all()
        return [(form_type, json.loads(data)) for form_type, data in rows]

    def withheld(self, case_id: str) -> list[str] | None:
        return withheld_in(self.case_history(case_id))

    def in_flight(self) -> list[str]:
        with self.reading() as connection:
            return list(
                connection.execute(
                    sa.select(submissions.c.submission_id)
                    .where(submissions.c.state == "claimed")
                    .order_by(submissions.c.received_at)
                ).scalars()
            )

    def counts(self) -> dict[str, int]:
        status = sa.func.coalesce(submissions.c.status, submissions.c.state)
        with self.reading() as connection:
            rows = connection.execute(sa.select(status, sa.func.count()).group_by(status)).all()
        return {name: count for name, count in rows}


def _seen(row: tuple[Any, ...]) -> Seen:
    submission_id, source, received_at, state, status, folder, mailboxes, form_type = row
    return Seen(
        submission_id,
        source,
        dt.datetime.fromisoformat(received_at),
        state,
        status,
        folder,
        tuple(json.loads(mailboxes)) if mailboxes else (),
        form_type,
    )


History = list[tuple[str, dict[str, Any]]]


def withheld_in(history: History) -> list[str] | None:
    """What the family last said it does not agree to share, or None if no form said."""
    for _form_type, data in reversed(history):
        consent = data.get("consent")
        if isinstance(consent, dict):
            return list(consent.get("withheld", []))
    return None


def case_history_at(path: Path, case_id: str) -> History:
    """A case's history from the ledger at ``path``; none when there is no ledger yet."""
    if not path.exists():
        return []
    ledger = Ledger(path, migrate_schema=False)
    try:
        return ledger.case_history(case_id)
    finally:
        ledger.close()
