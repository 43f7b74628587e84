"""Accounts for the web pages: who may sign in, in which role, with which mailboxes; their
passwords (Argon2id), server-side sessions, and the growing delay after failed sign-ins.

Kept in the root's ledger. Emails are trimmed and compared case-insensitively. A password is
at least 12 characters and not a common one (``common-passwords.txt``, shipped). ``add`` and
``set_password(one_time=True)`` set a one-time password, which the person must change at their
next sign-in. A session is a random token given to the browser and stored only as its SHA-256;
it ends when its person signs out, is disabled or has a new password, after ``idle_minutes``
without a request, or after ``session_hours`` in all.

Failed sign-ins slow further tries: after ``FREE_FAILURES`` failures in ``FAILURE_WINDOW`` for
the email typed, or from the same address (whichever has more), each answer waits
1, 2, 4, 8, then at most ``MAX_DELAY`` seconds before it is given. Nothing ever locks an
account: the person whose email someone else is guessing waits at most ``MAX_DELAY`` seconds,
then signs in as usual. An email with no account costs the same work (a dummy Argon2 check).
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib.resources import files

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection, Engine

from ehforms.audit import Action, add, email_hash, normal_email, os_user, stamp, utcnow
from ehforms.database import accounts, sessions, sign_in_failures, transaction
from ehforms.errors import (
    AccountExists,
    BadAccount,
    SessionEnded,
    SignInRefused,
    UnknownAccount,
    UnknownMailbox,
    WeakPassword,
)

__all__ = [
    "Account",
    "AccountExists",
    "Accounts",
    "BadAccount",
    "Role",
    "Session",
    "SessionEnded",
    "SignInRefused",
    "UnknownAccount",
    "UnknownMailbox",
    "WeakPassword",
]

MIN_LENGTH = 12
FREE_FAILURES = 3
FAILURE_WINDOW = dt.timedelta(minutes=15)
MAX_DELAY = 10.0
TOUCH_EVERY = dt.timedelta(seconds=15)
DAY = dt.timedelta(days=1)  # last_seen is written at most this often

# OWASP's first Argon2id setting (19 MiB, 2 passes, 1 lane): a sign-in costs tens of
# milliseconds, and 20 people signing in at once stay inside `serve`'s memory budget. A hash
# made with other parameters is remade at the next sign-in (check_needs_rehash).
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Role(StrEnum):
    PRACTITIONER = "practitioner"
    HUB = "hub"
    MANAGER = "manager"


@dataclass(frozen=True)
class Account:
    email: str  # trimmed, lower-cased
    role: Role
    mailboxes: tuple[str, ...]  # hub only
    active: bool
    must_change_password: bool


@dataclass(frozen=True)
class Session:
    account: Account
    started_at: dt.datetime
    last_seen: dt.datetime


@cache
def common_passwords() -> frozenset[str]:
    text = files("ehforms").joinpath("common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line and not line.startswith("#")
    )


def weakness(password: str) -> str | None:
    """Why a password may not be used, in words that say what to do; None when it may."""
    if len(password) < MIN_LENGTH:
        return f"Password must be {MIN_LENGTH} characters or more"
    lowered = password.lower()
    core = lowered.strip("0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
    common = common_passwords()
    if lowered in common or core in common or len(set(lowered)) <= 3:
        return "Choose a password that is harder to guess"
    return None


@cache
def dummy_hash() -> str:
    """What an email without an account is checked against, so it costs the same work."""
    return HASHER.hash(secrets.token_urlsafe(24))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def delay_for(failures: int) -> float:
    """Seconds to wait before answering, after this many recent failures."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(2.0 ** (failures - FREE_FAILURES), MAX_DELAY)


def _account(row: sa.Row[tuple[str, str, str, bool, bool]] | tuple[object, ...]) -> Account:
    email, role, mailboxes, active, must_change = tuple(row)
    return Account(
        str(email),
        Role(str(role)),
        tuple(json.loads(str(mailboxes))),
        bool(active),
        bool(must_change),
    )


_ACCOUNT = (
    accounts.c.email,
    accounts.c.role,
    accounts.c.mailboxes,
    accounts.c.active,
    accounts.c.must_change_password,
)


class Accounts:
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
            if _get(connection, email) is not None:
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
            rows = connection.execute(sa.select(*_ACCOUNT).order_by(accounts.c.email)).all()
        return [_account(row) for row in rows]

    def get(self, email: str) -> Account | None:
        with transaction(self.engine) as connection:
            return _get(connection, normal_email(email))

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
            _end_all(connection, email, at, "disabled")
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
            _end_all(connection, email, at, "password")
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
                sa.select(*_ACCOUNT, accounts.c.password_hash).where(accounts.c.email == email)
            ).first()
        wait = delay_for(failures)
        if wait:
            self.sleep(wait)
        account = _account(tuple(row)[:5]) if row is not None else None
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

    # -- sessions -------------------------------------------------------------------------

    def start_session(self, account: Account) -> str:
        """A new session for a signed-in account: the token for the browser (stored only
        as its hash)."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        at = stamp(now)
        with transaction(self.engine, write=True) as connection:
            # sessions long over are forgotten (the audit trail keeps the sign-ins)
            connection.execute(
                sessions.delete().where(sessions.c.last_seen < stamp(now - self.longest - DAY))
            )
            connection.execute(
                sessions.insert().values(
                    token_sha256=token_hash(token),
                    email=account.email,
                    started_at=at,
                    last_seen=at,
                )
            )
        return token

    def session(self, token: str) -> Session:
        """The session a browser's token names, with its account as it is now; SessionEnded
        when it is over. A request keeps it alive (``last_seen``)."""
        hashed = token_hash(token or "")
        at = self.clock()
        with transaction(self.engine) as connection:
            row = connection.execute(
                sa.select(
                    *_ACCOUNT, sessions.c.started_at, sessions.c.last_seen, sessions.c.ended_at
                )
                .join(accounts, accounts.c.email == sessions.c.email)
                .where(sessions.c.token_sha256 == hashed)
            ).first()
        if row is None or row[7] is not None:
            raise SessionEnded("ended")
        account = _account(tuple(row)[:5])
        started = dt.datetime.fromisoformat(row[5])
        last_seen = dt.datetime.fromisoformat(row[6])
        ended = None
        if not account.active:
            ended = ("disabled", "ended")
        elif at - last_seen > self.idle:
            ended = ("inactive", "inactive")
        elif at - started > self.longest:
            ended = ("expired", "ended")
        if ended is not None:
            with transaction(self.engine, write=True) as connection:
                _end(connection, sessions.c.token_sha256 == hashed, at, ended[0])
            raise SessionEnded(ended[1])
        if at - last_seen >= TOUCH_EVERY:
            with transaction(self.engine, write=True) as connection:
                connection.execute(
                    sessions.update()
                    .where(sessions.c.token_sha256 == hashed, sessions.c.ended_at.is_(None))
                    .values(last_seen=stamp(at))
                )
            last_seen = at
        return Session(account, started, last_seen)

    def end_session(self, token: str) -> None:
        """Sign out: the session ends (an unknown or ended token changes nothing)."""
        hashed = token_hash(token or "")
        at = self.clock()
        with transaction(self.engine, write=True) as connection:
            email = connection.execute(
                sa.select(sessions.c.email).where(
                    sessions.c.token_sha256 == hashed, sessions.c.ended_at.is_(None)
                )
            ).scalar()
            if email is None:
                return
            _end(connection, sessions.c.token_sha256 == hashed, at, "signed out")
            add(connection, at, email, Action.SIGNED_OUT)

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
        if _get(connection, email) is None:
            raise UnknownAccount(f"There is no account for {email}")


def _get(connection: Connection, email: str) -> Account | None:
    row = connection.execute(sa.select(*_ACCOUNT).where(accounts.c.email == email)).first()
    return _account(tuple(row)) if row is not None else None


def _count(connection: Connection, where: sa.ColumnElement[bool], since: str) -> int:
    found = connection.execute(
        sa.select(sa.func.count())
        .select_from(sign_in_failures)
        .where(where, sign_in_failures.c.at >= since)
    ).scalar()
    return int(found or 0)


def _end(connection: Connection, where: sa.ColumnElement[bool], at: dt.datetime, why: str) -> None:
    connection.execute(
        sessions.update()
        .where(where, sessions.c.ended_at.is_(None))
        .values(ended_at=stamp(at), ended_because=why)
    )


def _end_all(connection: Connection, email: str, at: dt.datetime, why: str) -> None:
    _end(connection, sessions.c.email == email, at, why)
