"""The accounts in one root's ledger: adding one, its role and mailboxes, disabling it, setting
its password, and signing in (the work and the delay the same whatever the cause of a refusal).
Nothing ever locks an account."""

from __future__ import annotations

import builtins
import datetime as dt
import json
import re
import time
from collections.abc import Callable, Iterable

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection, Engine

from ehforms.accounts.passwords import FAILURE_WINDOW, HASHER, delay_for, dummy_hash, weakness
from ehforms.accounts.records import COLUMNS, Account, Role, from_row, read_account
from ehforms.accounts.sessions import Sessions, end_all
from ehforms.audit import Action, add, email_hash, normal_email, os_user, stamp, utcnow
from ehforms.database import accounts, sign_in_failures, transaction
from ehforms.errors import (
    AccountExists,
    BadAccount,
    SignInRefused,
    UnknownAccount,
    UnknownMailbox,
    WeakPassword,
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Accounts(Sessions):
    """The accounts in one root's ledger. ``mailboxes``: the configured ones; ``clock`` and
    ``sleep`` are replaced by tests (no test waits 30 minutes)."""

    def __init__(
        self,
        engine: Engine,
        mailboxes: Iterable[str],
        *,
        idle_minutes: float = 30.0,
        session_hours: float = 12.0,
        clock: Callable[[], dt.datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        hasher: PasswordHasher = HASHER,
    ) -> None:
        self.engine = engine
        self.known_mailboxes = tuple(mailboxes)
        self.idle = dt.timedelta(minutes=idle_minutes)
        self.longest = dt.timedelta(hours=session_hours)
        self.clock = clock
        self.sleep = sleep
        self.hasher = hasher

    weakness = staticmethod(weakness)

    # -- accounts -------------------------------------------------------------------------

    def add(
        self,
        email: str,
        role: Role | str,
        mailboxes: Iterable[str] = (),
        *,
        password: str,
        by: str | None = None,
    ) -> Account:
        """A new account with a one-time password; AccountExists when the email has one."""
        email = self._checked_email(email)
        try:
            role = Role(role)
        except ValueError:
            raise BadAccount(
                f"There is no role {role!r}: use practitioner, hub or manager"
            ) from None
        boxes = tuple(dict.fromkeys(m.strip() for m in mailboxes))
        for mailbox in boxes:
            if mailbox not in self.known_mailboxes:
                raise UnknownMailbox(
                    f"There is no mailbox called {mailbox}: use one of "
                    + ", ".join(self.known_mailboxes)
                )
        if role == Role.HUB and not boxes:
            raise BadAccount("A hub account needs at least one mailbox (--mailbox NAME)")
        if role != Role.HUB and boxes:
            raise BadAccount("Only hub accounts work mailboxes: leave out --mailbox")
        self._strong(password)
        if self.get(email) is not None:  # before the slow hash; checked again below
            raise AccountExists(f"There is already an account for {email}")
        hashed = self.hasher.hash(password)
        at = self.clock()
        with transaction(self.engine, write=True) as connection:
            if read_account(connection, email) is not None:
                raise AccountExists(f"There is already an account for {email}")
            connection.execute(
                accounts.insert().values(
                    email=email,
                    role=role.value,
                    mailboxes=json.dumps(list(boxes)),
                    password_hash=hashed,
                    active=True,
                    must_change_password=True,
                    created_at=stamp(at),
                    changed_at=stamp(at),
                )
            )
            detail = f"role {role.value}" + (f", mailboxes {', '.join(boxes)}" if boxes else "")
            add(connection, at, by or os_user(), Action.ACCOUNT_ADDED, detail=f"{email}: {detail}")
        return Account(email, role, boxes, True, True)

    def list(self) -> list[Account]:
        with transaction(self.engine) as connection:
            rows = connection.execute(sa.select(*COLUMNS).order_by(accounts.c.email)).all()
        return [from_row(row) for row in rows]

    def get(self, email: str) -> Account | None:
        with transaction(self.engine) as connection:
            return read_account(connection, normal_email(email))

    def active(self, emails: Iterable[str]) -> builtins.list[str]:
        """Which of these emails belong to an active account (normalised, in order)."""
        wanted = list(dict.fromkeys(normal_email(e) for e in emails if e and e.strip()))
        if not wanted:
            return []
        with transaction(self.engine) as connection:
            found = set(
                connection.execute(
                    sa.select(accounts.c.email).where(
                        accounts.c.email.in_(wanted), accounts.c.active.is_(True)
                    )
                ).scalars()
            )
        return [email for email in wanted if email in found]

    def disable(self, email: str, *, by: str | None = None) -> None:
        """The account can no longer sign in; its sessions end now."""
        email = normal_email(email)
        at = self.clock()
        with transaction(self.engine, write=True) as connection:
            self._known(connection, email)
            connection.execute(
                accounts.update()
                .where(accounts.c.email == email)
                .values(active=False, changed_at=stamp(at))
            )
            end_all(connection, email, at, "disabled")
            add(connection, at, by or os_user(), Action.ACCOUNT_DISABLED, detail=email)

    def set_password(
        self, email: str, password: str, *, one_time: bool, by: str | None = None
    ) -> None:
        """A new password (``one_time``: to be changed at the next sign-in); the account's
        sessions end. ``by``: who did it (default: the operating-system user)."""
        email = normal_email(email)
        self._strong(password)
        with transaction(self.engine) as connection:
            self._known(connection, email)
        hashed = self.hasher.hash(password)
        at = self.clock()
        with transaction(self.engine, write=True) as connection:
            self._known(connection, email)
            connection.execute(
                accounts.update()
                .where(accounts.c.email == email)
                .values(password_hash=hashed, must_change_password=one_time, changed_at=stamp(at))
            )
            end_all(connection, email, at, "password")
            action = Action.PASSWORD_SET if one_time else Action.PASSWORD_CHANGED
            add(connection, at, by or os_user(), action, detail=email)

    # -- signing in -----------------------------------------------------------------------

    def sign_in(self, email: str, password: str, address: str) -> Account:
        """The account, when the email and password are right and it is active; otherwise
        SignInRefused, after the same work whatever the cause (and after the delay that
        recent failures for this email or from this address call for)."""
        email = normal_email(email)
        address = address or "unknown"
        hashed_email = email_hash(email)
        at = self.clock()
        since = stamp(at - FAILURE_WINDOW)
        with transaction(self.engine) as connection:
            failures = max(
                _count(connection, sign_in_failures.c.email_hash == hashed_email, since),
                _count(connection, sign_in_failures.c.address == address, since),
            )
            row = connection.execute(
                sa.select(*COLUMNS, accounts.c.password_hash).where(accounts.c.email == email)
            ).first()
        wait = delay_for(failures)
        if wait:
            self.sleep(wait)
        account = from_row(tuple(row)[:5]) if row is not None else None
        stored = str(row[5]) if row is not None else dummy_hash()
        try:
            self.hasher.verify(stored, password)
            right = row is not None
        except (VerificationError, InvalidHashError):
            right = False
        at = self.clock()
        if not right or account is None or not account.active:
            with transaction(self.engine, write=True) as connection:
                # failures older than the window no longer count: kept no longer either
                connection.execute(sign_in_failures.delete().where(sign_in_failures.c.at < since))
                connection.execute(
                    sign_in_failures.insert().values(
                        at=stamp(at), email_hash=hashed_email, address=address
                    )
                )
                add(connection, at, "#" + hashed_email, Action.SIGN_IN_FAILED, detail=address)
            raise SignInRefused()
        rehashed = self.hasher.hash(password) if self.hasher.check_needs_rehash(stored) else None
        with transaction(self.engine, write=True) as connection:
            connection.execute(
                sign_in_failures.delete().where(sign_in_failures.c.email_hash == hashed_email)
            )
            if rehashed is not None:
                connection.execute(
                    accounts.update()
                    .where(accounts.c.email == email, accounts.c.password_hash == stored)
                    .values(password_hash=rehashed)
                )
            add(connection, at, email, Action.SIGNED_IN, detail=address)
        return account

    # -- helpers --------------------------------------------------------------------------

    def _checked_email(self, email: str) -> str:
        email = normal_email(email)
        if not _EMAIL.match(email) or len(email) > 254:
            raise BadAccount(f"{email!r} is not an email address, like name@example.gov.uk")
        return email

    def _strong(self, password: str) -> None:
        problem = weakness(password)
        if problem:
            raise WeakPassword(problem)

    @staticmethod
    def _known(connection: Connection, email: str) -> None:
        if read_account(connection, email) is None:
            raise UnknownAccount(f"There is no account for {email}")


def _count(connection: Connection, where: sa.ColumnElement[bool], since: str) -> int:
    found = connection.execute(
        sa.select(sa.func.count())
        .select_from(sign_in_failures)
        .where(where, sign_in_failures.c.at >= since)
    ).scalar()
    return int(found or 0)
