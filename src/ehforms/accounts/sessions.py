"""Server-side sessions: a random token given to the browser and stored only as its SHA-256.
A session ends when its person signs out, is disabled or has a new password, after
``idle_minutes`` without a request, or after ``session_hours`` in all. :class:`Sessions` is the
half of :class:`ehforms.accounts.Accounts` that starts, checks and ends them."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ehforms.accounts.passwords import token_hash
from ehforms.accounts.records import COLUMNS, Account, Session, from_row
from ehforms.audit import Action, add, stamp
from ehforms.database import accounts, sessions, transaction
from ehforms.errors import SessionEnded

TOUCH_EVERY = dt.timedelta(seconds=15)
DAY = dt.timedelta(days=1)  # last_seen is written at most this often


class Sessions:
    """The sessions of one root's accounts (a part of :class:`ehforms.accounts.Accounts`)."""

    engine: Engine
    clock: Callable[[], dt.datetime]
    idle: dt.timedelta
    longest: dt.timedelta

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
                    *COLUMNS, sessions.c.started_at, sessions.c.last_seen, sessions.c.ended_at
                )
                .join(accounts, accounts.c.email == sessions.c.email)
                .where(sessions.c.token_sha256 == hashed)
            ).first()
        if row is None or row[7] is not None:
            raise SessionEnded("ended")
        account = from_row(tuple(row)[:5])
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
                end(connection, sessions.c.token_sha256 == hashed, at, ended[0])
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
            end(connection, sessions.c.token_sha256 == hashed, at, "signed out")
            add(connection, at, email, Action.SIGNED_OUT)


def end(connection: Connection, where: sa.ColumnElement[bool], at: dt.datetime, why: str) -> None:
    connection.execute(
        sessions.update()
        .where(where, sessions.c.ended_at.is_(None))
        .values(ended_at=stamp(at), ended_because=why)
    )


def end_all(connection: Connection, email: str, at: dt.datetime, why: str) -> None:
    end(connection, sessions.c.email == email, at, why)
