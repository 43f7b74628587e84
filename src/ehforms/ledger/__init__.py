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
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ehforms.alerts import queue_rows, queue_statement
from ehforms.database import (
    _CLAIM,
    _DONE,
    _EVENT,
    _REHASH,
    Where,
    _translated,
    engine_for,
    exists,
    migrate,
    submissions,
    upserts,
)
from ehforms.ledger.lookups import Lookups
from ehforms.purging import settle_withdrawals, withdrawals_in
from ehforms.rows import History, Seen, withheld_in

if TYPE_CHECKING:
    from ehforms.receipts import Receipt

__all__ = ["LEDGER_MODE", "Ledger", "Seen", "case_history_at", "private", "withheld_in"]

log = logging.getLogger("ehforms")

LEDGER_MODE = 0o600


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class Ledger(Lookups):
    """One root's ledger. ``migrate``: bring the schema up to date on open (only the process
    that owns the root does; a reader opens it as it is)."""

    def __init__(
        self,
        path: Where,
        timeout: float = 30.0,
        *,
        migrate_schema: bool = True,
    ) -> None:
        self.path = path  # the SQLite file, or the PostgreSQL server's URL
        if migrate_schema and isinstance(path, Path):
            private(path)
        self.engine = engine_for(path, timeout=timeout, owner=migrate_schema)
        self._writer: Connection | None = None
        self._case_data, self._delivery = upserts(self.engine.dialect.name)
        # mailboxes with alert addresses: an urgent outcome delivered to one queues an alert,
        # in the transaction that records it (ehforms.alerts)
        self.alert_to: frozenset[str] = frozenset()
        self._alert = queue_statement(self.engine.dialect.name)
        if migrate_schema:
            # immediate: two processes opening a ledger at once migrate one after the other
            with (
                _translated(self.engine),
                self.engine.connect() as connection,
                connection.execution_options(immediate=True).begin(),
            ):
                migrate(connection)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.engine.dispose()

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """One short write transaction, on the writer's own connection (kept open: a burst
        writes once a form, and a connection per write would cost more than the write)."""
        with _translated(self.engine):
            if self._writer is None:
                self._writer = self.engine.connect().execution_options(immediate=True)
            try:
                with self._writer.begin():
                    yield self._writer
            except BaseException:
                if self._writer.invalidated:
                    self._writer.close()
                    self._writer = None
                raise

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with _translated(self.engine), self.engine.connect() as connection, connection.begin():
            yield connection

    @staticmethod
    def _event(
        connection: Connection, submission_id: str | None, event: str, detail: str = ""
    ) -> None:
        connection.execute(
            _EVENT,
            {
                "b_at": _now(),
                "b_submission_id": submission_id,
                "b_event": event,
                "b_detail": detail,
            },
        )

    def claimed(
        self,
        claims: Iterable[
            tuple[str, str | None, str, dt.datetime]
            | tuple[str, str | None, str, dt.datetime, str | None]
        ],
    ) -> None:
        """Record claimed files (id, sha256, source, received_at[, form_sha256]) in one
        transaction, in order. ``form_sha256`` is a bundle's form's own hash (``sha256`` being
        the bundle's identity); for a lone file it is its ``sha256``.

        A claim already recorded keeps its place in the claim order; its hash is brought up to
        date (the file may have changed before it was read again)."""
        claims = list(claims)
        if not claims:
            return
        ids = [claim[0] for claim in claims]
        with self.writing() as connection:
            last = connection.execute(sa.select(sa.func.max(submissions.c.claim_seq))).scalar()
            seq = int(last or 0)
            known: dict[str, str] = {}
            for start in range(0, len(ids), 500):
                rows = connection.execute(
                    sa.select(submissions.c.submission_id, submissions.c.state).where(
                        submissions.c.submission_id.in_(ids[start : start + 500])
                    )
                )
                known.update({submission_id: state for submission_id, state in rows})
            new, rehashed, claimed_events = [], [], []
            at = _now()
            for claim in claims:
                submission_id, sha256, source, received_at = claim[:4]
                form_sha256 = claim[4] if len(claim) > 4 else sha256
                if submission_id not in known:
                    seq += 1
                    known[submission_id] = "claimed"
                    new.append(
                        {
                            "b_submission_id": submission_id,
                            "b_sha256": sha256 or "",
                            "b_source": source,
                            "b_received_at": received_at.isoformat(),
                            "b_claim_seq": seq,
                            "b_form_sha256": form_sha256,
                        }
                    )
                    claimed_events.append(
                        {
                            "b_at": at,
                            "b_submission_id": submission_id,
                            "b_event": "claimed",
                            "b_detail": "",
                        }
                    )
                elif known[submission_id] == "claimed":
                    rehashed.append(
                        {
                            "b_submission_id": submission_id,
                            "b_sha256": sha256 or "",
                            "b_form_sha256": form_sha256,
                        }
                    )
            for statement, rows_ in ((_CLAIM, new), (_REHASH, rehashed), (_EVENT, claimed_events)):
                if rows_:
                    connection.execute(statement, rows_)  # one executemany each

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

    def done(
        self,
        receipt: Receipt,
        folder: str,
        case_id: str | None,
        case_data_: Mapping[str, Any] | None,
    ) -> None:
        """Record an outcome, where it was delivered, and what the form says of its case for
        prefill, in one transaction."""
        self.done_many([(receipt, folder, case_id, case_data_)])

    def done_many(
        self, outcomes: Iterable[tuple[Receipt, str, str | None, Mapping[str, Any] | None]]
    ) -> None:
        """Record several outcomes in one transaction: a burst writes its ledger in a few
        transactions, not one a form."""
        now = _now()
        updates, data, places, happened, queued = [], [], [], [], []
        consent: list[tuple[str | None, str | None, Any]] = []  # for withdrawals of consent
        for receipt, folder, case_id, case_data_ in outcomes:
            consent.append((receipt.form_type, case_id, case_data_))
            if self.alert_to:
                queued += queue_rows(receipt, self.alert_to, now)
            ids = {"b_submission_id": receipt.submission_id}
            updates.append(
                {
                    **ids,
                    "b_status": receipt.status.value,
                    "b_form_type": receipt.form_type,
                    "b_case_id": case_id,
                    "b_mailboxes": json.dumps(list(receipt.mailboxes)),
                    "b_folder": folder,
                    "b_priority": receipt.priority.value,
                    "b_duplicate_of": receipt.duplicate_of,
                    "b_completed_at": now,
                    "b_sent_by": receipt.sent_by,
                }
            )
            if case_id and case_data_ is not None:
                data.append(
                    {
                        **ids,
                        "b_case_id": case_id,
                        "b_form_type": receipt.form_type,
                        "b_received_at": receipt.received_at.isoformat(),
                        "b_data": json.dumps(case_data_, default=str),
                    }
                )
            first_due = min((d.by for d in receipt.due), default=None)
            for n, place in enumerate([f"outbox/{m}" for m in receipt.mailboxes] or ["rejected"]):
                places.append(
                    {
                        **ids,
                        "b_place": place,
                        "b_folder": folder,
                        "b_delivered_at": now,
                        "b_priority": receipt.priority.value,
                        "b_due_at": first_due.isoformat() if first_due and n == 0 else None,
                    }
                )
            happened.append(
                {**ids, "b_at": now, "b_event": receipt.status.value, "b_detail": folder}
            )
        if not updates:
            return
        with self.writing() as connection:
            for statement, rows in (
                (_DONE, updates),
                (self._case_data, data),
                (self._delivery, places),
                (_EVENT, happened),
                (self._alert, queued),
            ):
                if rows:
                    connection.execute(statement, rows)  # one executemany each
            # a family that withdrew consent: the case's prefill data erased at once, and
            # kept erased (forms.md "Keeping and deleting")
            withdrawn = withdrawals_in(consent)
            if withdrawn or data:
                settle_withdrawals(connection, {str(row["b_case_id"]) for row in data}, withdrawn)


def private(path: Path) -> None:
    """The ledger (and its WAL files) readable by the service user alone, mode 0600: it holds
    accounts, sessions and the audit trail. A new ledger is made empty at that mode before
    SQLite opens it (its WAL files take the same mode); an older one, 0640, is tightened."""
    import os

    from ehforms.files import set_mode

    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, LEDGER_MODE))
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if each.stat().st_mode & 0o077:
                set_mode(each, LEDGER_MODE)
        except FileNotFoundError:
            continue


def case_history_at(path: Where, case_id: str) -> History:
    """A case's history from the ledger at ``path``; none when there is no ledger yet."""
    if not exists(path):
        return []
    ledger = Ledger(path, migrate_schema=False)
    try:
        return ledger.case_history(case_id)
    finally:
        ledger.close()
