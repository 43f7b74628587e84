"""What the ledger is asked (:class:`Lookups`, the reading half of
:class:`ehforms.ledger.Ledger`): the first of the same bytes or form, what a look in
``processing/`` needs to know, what was delivered where, what routed forms said of a case, and
counts. Each is one short read.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Collection, Iterable
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ehforms.database import _FIRST, _GET, SEEN, case_data, deliveries, submissions
from ehforms.rows import Delivered, History, Seen, _seen, withheld_in


class Lookups:
    """The ledger's reads; :class:`ehforms.ledger.Ledger` gives them its connections."""

    reading: Callable[[], AbstractContextManager[Connection]]  # one short read (Ledger's)

    def failures(self, submission_id: str) -> int:
        with self.reading() as connection:
            found = connection.execute(
                sa.select(submissions.c.failures).where(
                    submissions.c.submission_id == submission_id
                )
            ).scalar()
        return int(found or 0)

    def recovering(self, submission_ids: list[str]) -> dict[str, tuple[str, int]]:
        """The state and failure count of each of these submissions the ledger knows, in one
        read (a few hundred ids at a time)."""
        found: dict[str, tuple[str, int]] = {}
        if not submission_ids:
            return found
        with self.reading() as connection:
            for start in range(0, len(submission_ids), 500):
                rows = connection.execute(
                    sa.select(
                        submissions.c.submission_id, submissions.c.state, submissions.c.failures
                    ).where(submissions.c.submission_id.in_(submission_ids[start : start + 500]))
                )
                found.update({str(sid): (str(state), int(n or 0)) for sid, state, n in rows})
        return found

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
        with self.reading() as connection:
            row = connection.execute(
                _FIRST, {"b_sha256": sha256, "b_submission_id": submission_id}
            ).first()
        return _seen(tuple(row)) if row else None

    def first_copies(self, claims: Iterable[tuple[str, str | None]]) -> dict[str, Seen]:
        """For a batch of (submission_id, sha256): each submission's first earlier copy of the
        same bytes, in claim order, in one query per 500 hashes. Those with none are left out."""
        read = [(sid, sha) for sid, sha in claims if sha]
        hashes = sorted({sha for _, sha in read})
        first: dict[str, tuple[int, Seen]] = {}  # by hash: the lowest claim_seq
        seq_of: dict[str, int] = {}
        with self.reading() as connection:
            for start in range(0, len(hashes), 500):
                rows = connection.execute(
                    sa.select(*SEEN, submissions.c.sha256, submissions.c.claim_seq).where(
                        submissions.c.sha256.in_(hashes[start : start + 500])
                    )
                )
                for row in rows:
                    *seen, sha, seq = tuple(row)
                    seq_of[seen[0]] = seq
                    if sha not in first or seq < first[sha][0]:
                        first[sha] = (seq, _seen(tuple(seen)))
        found = {}
        for sid, sha in read:
            earliest = first.get(sha)
            if earliest is not None and sid in seq_of and earliest[0] < seq_of[sid]:
                found[sid] = earliest[1]
        return found

    def first_forms(self, claims: Iterable[tuple[str, str | None, str | None]]) -> dict[str, str]:
        """For a batch of (submission_id, sha256, form_sha256): the first submission claimed
        before each that had the same form with other attachments (another identity), by id.
        Those with none are left out."""
        read = [(sid, sha, form) for sid, sha, form in claims if form]
        forms = sorted({form for _, _, form in read})
        rows_by_form: dict[str, list[tuple[int, str, str]]] = {}
        seq_of: dict[str, int] = {}
        with self.reading() as connection:
            for start in range(0, len(forms), 500):
                rows = connection.execute(
                    sa.select(
                        submissions.c.submission_id,
                        submissions.c.sha256,
                        submissions.c.form_sha256,
                        submissions.c.claim_seq,
                    ).where(submissions.c.form_sha256.in_(forms[start : start + 500]))
                )
                for submission_id, sha, form, seq in rows:
                    seq_of[submission_id] = seq
                    rows_by_form.setdefault(form, []).append((seq, submission_id, sha))
        found = {}
        for sid, sha, form in read:
            mine = seq_of.get(sid)
            earlier = sorted(
                (seq, other)
                for seq, other, other_sha in rows_by_form.get(form, [])
                if mine is not None and seq < mine and other_sha != sha
            )
            if earlier:
                found[sid] = earlier[0][1]
        return found

    def get(self, submission_id: str) -> Seen | None:
        with self.reading() as connection:
            row = connection.execute(_GET, {"b_submission_id": submission_id}).first()
        return _seen(tuple(row)) if row else None

    def delivered_to(self, place: str, folders: Collection[str] | None = None) -> list[Delivered]:
        """Every submission delivered to ``place`` (``outbox/<mailbox>``), oldest first; with
        ``folders``, only those delivered into these folders (a mailbox's listing asks for
        what still waits, not for the thousands handled since)."""
        query = (
            sa.select(
                deliveries.c.submission_id,
                deliveries.c.folder,
                submissions.c.form_type,
                submissions.c.status,
                deliveries.c.priority,
                submissions.c.received_at,
                deliveries.c.due_at,
                submissions.c.case_id,
            )
            .join(submissions, submissions.c.submission_id == deliveries.c.submission_id)
            .where(deliveries.c.place == place)
        )
        if folders is None:
            queries = [query]
        else:
            names = sorted(set(folders))
            queries = [
                query.where(deliveries.c.folder.in_(names[start : start + 500]))
                for start in range(0, len(names), 500)
            ]
        with self.reading() as connection:
            rows = [row for each in queries for row in connection.execute(each)]
        found = [
            Delivered(
                submission_id,
                folder,
                form_type,
                status,
                priority or "normal",
                dt.datetime.fromisoformat(received_at),
                dt.datetime.fromisoformat(due_at) if due_at else None,
                case_id,
            )
            for (
                submission_id,
                folder,
                form_type,
                status,
                priority,
                received_at,
                due_at,
                case_id,
            ) in rows
        ]
        return sorted(found, key=lambda row: (row.received_at, row.submission_id))

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
