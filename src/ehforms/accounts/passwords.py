"""The password rules and the work of checking one: at least ``MIN_LENGTH`` characters and not a
common one (``common-passwords.txt``, shipped); Argon2id hashes; the dummy hash an email without
an account is checked against; a session token's hash; the growing delay after failed sign-ins
(1, 2, 4, 8, then at most ``MAX_DELAY`` seconds after ``FREE_FAILURES`` in ``FAILURE_WINDOW``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from functools import cache
from importlib.resources import files

from argon2 import PasswordHasher

MIN_LENGTH = 12
FREE_FAILURES = 3
FAILURE_WINDOW = dt.timedelta(minutes=15)
MAX_DELAY = 10.0

# OWASP's first Argon2id setting (19 MiB, 2 passes, 1 lane): a sign-in costs tens of
# milliseconds, and 20 people signing in at once stay inside `serve`'s memory budget. A hash
# made with other parameters is remade at the next sign-in (check_needs_rehash).
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


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
