"""The audit trail: who saw, downloaded, prefilled, exported or handled which submission or
case, and when; account changes; sign-ins and failed sign-ins.

Rows are only ever added (the ledger's triggers refuse to change or remove one). A row names a
person (an account's email, or the operating-system user for the command line), an action, and
a submission id or case reference: never a child's name, a file's name or anything else from a
form. The email typed at a failed sign-in is kept only as a hash (people type passwords into
it): ``who`` is then ``#`` and the hash, so ``rows(user=email)`` still finds the failures for
an email someone asks about, while the ledger never holds what was typed.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehforms.database import audit, transaction


class Action(StrEnum):
    """The actions the trail records (a face may record others; these are the ones ehforms
    itself writes or that its pages use)."""

    VIEWED_MAILBOX = "viewed mailbox"
    VIEWED_FORM = "viewed form"
    DOWNLOADED_FILE = "downloaded file"
    PREFILLED_FORM = "prefilled form"
    REFUSED_PREFILL = "refused prefill"
    ALLOWED_PREFILL = "allowed prefill"
    EXPORTED_CASE = "exported case"
    MARKED_HANDLED = "marked handled"
    SIGNED_IN = "signed in"
    SIGNED_OUT = "signed out"
    SIGN_IN_FAILED = "sign-in failed"
    ACCOUNT_ADDED = "account added"
    ACCOUNT_DISABLED = "account disabled"
    PASSWORD_SET = "password set"  # noqa: S105 - an action's name
    PASSWORD_CHANGED = "password changed"  # noqa: S105


@dataclass(frozen=True)
class AuditRow:
    at: dt.datetime
    who: str
    action: str
    submission_id: str | None
    case: str | None
    detail: str | None


def normal_email(email: str) -> str:
    """Emails are trimmed and compared case-insensitively."""
    return email.strip().lower()


def email_hash(email: str) -> str:
    """The hash a failed sign-in keeps of the email typed (trimmed, lower-cased)."""
    return hashlib.sha256(b"ehforms sign-in\0" + normal_email(email).encode()).hexdigest()


def os_user() -> str:
    """The person at the command line: the operating-system user."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid {os.getuid()}"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Audit:
    """The trail in one root's ledger."""

    def __init__(self, engine: Engine, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def record(
        self,
        who: str,
        action: str,
        *,
        submission_id: str | None = None,
        case: str | None = None,
        detail: str | None = None,
    ) -> None:
        with transaction(self.engine, write=True) as connection:
            add(connection, self.clock(), who, action, submission_id, case, detail)

    def rows(
        self,
        *,
        case: str | None = None,
        user: str | None = None,
        since: dt.datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[AuditRow]:
        """Newest first; ``user`` matches an email case-insensitively, and the failed
        sign-ins at which it was typed."""
        query = sa.select(
            audit.c.at,
            audit.c.who,
            audit.c.action,
            audit.c.submission_id,
            audit.c.case_ref,
            audit.c.detail,
        )
        if case is not None:
            query = query.where(audit.c.case_ref == case.strip())
        if user is not None:
            query = query.where(
                audit.c.who.in_([user.strip(), normal_email(user), "#" + email_hash(user)])
            )
        if since is not None:
            query = query.where(audit.c.at >= stamp(since))
        query = query.order_by(audit.c.at.desc(), audit.c.id.desc())
        query = query.limit(max(0, limit)).offset(max(0, offset))
        with transaction(self.engine) as connection:
            found = connection.execute(query).all()
        return [
            AuditRow(dt.datetime.fromisoformat(at), who, action, sid, case_ref, detail)
            for at, who, action, sid, case_ref, detail in found
        ]


def stamp(at: dt.datetime) -> str:
    """A time as the trail stores it: UTC, ISO 8601 to the microsecond (sorts as text)."""
    if at.tzinfo is None:
        raise ValueError("an audit time needs a time zone")
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


def add(
    connection: sa.Connection,
    at: dt.datetime,
    who: str,
    action: str,
    submission_id: str | None = None,
    case: str | None = None,
    detail: str | None = None,
) -> None:
    """One row, inside a transaction the caller holds (an account change and its row are
    written together)."""
    connection.execute(
        audit.insert().values(
            at=stamp(at),
            who=normal_email(who) if "@" in who else who,  # an email: as accounts keep it
            action=str(action),
            submission_id=submission_id,
            case_ref=case,
            detail=detail,
        )
    )
