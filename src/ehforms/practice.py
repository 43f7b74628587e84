"""The practitioners' pages in the ledger: what each person sent through ``/send``, the cases a
hub user allowed a practitioner to prefill, and whether a person works on a case.

The web writes only its own tables (``sent``, ``prefill_allowed`` and the audit trail), each
change one short transaction; it reads the watcher's ``submissions`` and the ``handled`` rows
to say what became of a form. Nothing here holds a child's name: case references, submission
ids, form types and emails only.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehforms.audit import Action, add, normal_email, stamp, utcnow
from ehforms.database import audit, handled, prefill_allowed, sent, submissions, transaction

# What a form sent from an account must have become for that account to work on its case:
# a form the watcher turned away says nothing about who works on the case.
COUNTS_FOR_ACCESS = ("routed", "redirected", "duplicate")


@dataclass(frozen=True)
class SentForm:
    """One form a person sent, as ``/sent`` lists it."""

    submission_id: str
    sent_at: dt.datetime
    form_type: str | None
    case_id: str | None
    status: str | None  # None while the watcher has not finished it
    mailboxes: tuple[str, ...]
    handled: bool


class Practice:
    """The practitioners' tables in one root's ledger."""

    def __init__(self, engine: Engine, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def record_sent(
        self,
        submission_id: str,
        email: str,
        at: dt.datetime,
        form_type: str | None,
        case_id: str | None,
    ) -> None:
        with transaction(self.engine, write=True) as connection:
            connection.execute(
                sent.insert().values(
                    submission_id=submission_id,
                    sent_by=normal_email(email),
                    sent_at=_utc(at),
                    form_type=form_type,
                    case_id=case_id,
                )
            )

    def sent_by(self, email: str, limit: int = 200) -> list[SentForm]:
        """What ``email`` sent, newest first, with what the watcher and hub staff made of it."""
        query = (
            sa.select(
                sent.c.submission_id,
                sent.c.sent_at,
                sa.func.coalesce(submissions.c.form_type, sent.c.form_type),
                sa.func.coalesce(submissions.c.case_id, sent.c.case_id),
                sa.case((submissions.c.state == "done", submissions.c.status), else_=None),
                submissions.c.mailboxes,
            )
            .select_from(
                sent.outerjoin(submissions, submissions.c.submission_id == sent.c.submission_id)
            )
            .where(sent.c.sent_by == normal_email(email))
            .order_by(sent.c.sent_at.desc(), sent.c.submission_id.desc())
            .limit(limit)
        )
        with transaction(self.engine) as connection:
            rows = connection.execute(query).all()
            ids = [row[0] for row in rows]
            done = set(
                connection.execute(
                    sa.select(handled.c.submission_id, handled.c.mailbox).where(
                        handled.c.submission_id.in_(ids)
                    )
                ).all()
            )
        found = []
        for sid, at, form_type, case_id, status, mailboxes in rows:
            places = tuple(json.loads(mailboxes)) if mailboxes else ()
            found.append(
                SentForm(
                    sid,
                    dt.datetime.fromisoformat(at),
                    form_type,
                    case_id,
                    status,
                    places,
                    # handled in the mailbox it went to first (the one that acts on it)
                    bool(places) and (sid, places[0]) in done,
                )
            )
        return found

    def is_sender(self, email: str, submission_id: str) -> bool:
        with transaction(self.engine) as connection:
            return (
                connection.execute(
                    sa.select(sent.c.submission_id).where(
                        sent.c.submission_id == submission_id,
                        sent.c.sent_by == normal_email(email),
                    )
                ).first()
                is not None
            )

    def taken(self, submission_id: str) -> bool:
        """Whether the watcher has taken the form (recorded its claim)."""
        with transaction(self.engine) as connection:
            return (
                connection.execute(
                    sa.select(submissions.c.state).where(
                        submissions.c.submission_id == submission_id
                    )
                ).first()
                is not None
            )

    def allow(self, email: str, case_id: str, *, by: str, submission_id: str, mailbox: str) -> None:
        """``email`` may prefill ``case_id`` from now on (until the case's days run out);
        recorded in the audit trail in the same transaction."""
        at = self.clock()
        with transaction(self.engine, write=True) as connection:
            connection.execute(
                prefill_allowed.insert().values(
                    email=normal_email(email),
                    case_id=case_id,
                    allowed_by=normal_email(by),
                    allowed_at=_utc(at),
                    submission_id=submission_id,
                    mailbox=mailbox,
                )
            )
            add(
                connection,
                at,
                by,
                Action.ALLOWED_PREFILL,
                submission_id=submission_id,
                case=case_id,
                detail=f"for {normal_email(email)}",
            )

    def allowed(self, submission_id: str, mailbox: str) -> set[str]:
        """The emails already allowed to prefill from this mailbox's copy of a form."""
        with transaction(self.engine) as connection:
            return set(
                connection.execute(
                    sa.select(prefill_allowed.c.email).where(
                        prefill_allowed.c.submission_id == submission_id,
                        prefill_allowed.c.mailbox == mailbox,
                    )
                ).scalars()
            )

    def works_on(self, email: str, case_id: str, since: dt.datetime) -> bool:
        """Whether a form of ``case_id`` sent from ``email``'s account was routed, or a hub user
        allowed ``email`` to prefill it, at or after ``since``. Both look-ups are always made,
        whatever the first says, so every answer costs the same."""
        who = normal_email(email)
        with transaction(self.engine) as connection:
            sent_one = connection.execute(
                sa.select(sa.func.count())
                .select_from(submissions)
                .where(
                    submissions.c.sent_by == who,
                    submissions.c.case_id == case_id,
                    submissions.c.status.in_(COUNTS_FOR_ACCESS),
                    submissions.c.received_at >= _utc(since),
                )
            ).scalar_one()
            allowed = connection.execute(
                sa.select(sa.func.count())
                .select_from(prefill_allowed)
                .where(
                    prefill_allowed.c.email == who,
                    prefill_allowed.c.case_id == case_id,
                    prefill_allowed.c.allowed_at >= _utc(since),
                )
            ).scalar_one()
        return bool(sent_one) or bool(allowed)

    def prefill_tries(self, email: str, since: dt.datetime) -> int:
        """Prefill look-ups by ``email`` since ``since`` (given and refused), from the audit
        trail: every web server on the root counts the same."""
        with transaction(self.engine) as connection:
            return int(
                connection.execute(
                    sa.select(sa.func.count())
                    .select_from(audit)
                    .where(
                        audit.c.who == normal_email(email),
                        audit.c.action.in_(
                            [str(Action.PREFILLED_FORM), str(Action.REFUSED_PREFILL)]
                        ),
                        audit.c.at >= stamp(since),
                    )
                ).scalar_one()
            )


def _utc(at: dt.datetime) -> str:
    """As the ledger's ``received_at`` is kept: UTC, whole seconds, ISO 8601."""
    return at.astimezone(dt.UTC).replace(microsecond=0).isoformat()
