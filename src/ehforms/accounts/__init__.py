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

from ehforms.accounts.passwords import (
    FAILURE_WINDOW,
    FREE_FAILURES,
    HASHER,
    MAX_DELAY,
    MIN_LENGTH,
    common_passwords,
    delay_for,
    dummy_hash,
    token_hash,
    weakness,
)
from ehforms.accounts.records import Account, Role, Session
from ehforms.accounts.sessions import DAY, TOUCH_EVERY
from ehforms.accounts.store import Accounts
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
    "DAY",
    "FAILURE_WINDOW",
    "FREE_FAILURES",
    "HASHER",
    "MAX_DELAY",
    "MIN_LENGTH",
    "TOUCH_EVERY",
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
    "common_passwords",
    "delay_for",
    "dummy_hash",
    "token_hash",
    "weakness",
]
