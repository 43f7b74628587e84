"""Which file first, and trying again: the backlog's order, backoff for what failed, and why
a file could not be taken, in words."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ehforms.bundles import heads, is_zip_name
from ehforms.errors import ClaimError
from ehforms.files import NotARegularFile, open_regular
from ehforms.submission import hints


@dataclass
class Retry:
    attempts: int = 0
    not_before: float = 0.0
    reason: str = ""


def _backoff(retry: Retry, now: float, most: float) -> None:
    retry.attempts += 1
    retry.not_before = now + min(2.0**retry.attempts, most)


def _unreadable(error: OSError) -> str:
    if error.errno in (errno.EACCES, errno.EPERM):
        return "ehforms may not read it: check its permissions"
    return f"it cannot be read ({error.strerror or type(error).__name__})"


def _claim_reason(error: Exception) -> str:
    if isinstance(error, ClaimError):
        return str(error)
    if isinstance(error, OSError):
        return _unreadable(error)
    return type(error).__name__


def fault_lines(inbox: Iterable[Retry], claims: Iterable[tuple[str, Retry]]) -> list[str]:
    """What waits to be tried again, in words for ``status``: submission ids, never names."""
    inbox = [retry for retry in inbox if retry.reason]
    lines = []
    if inbox:
        reasons = sorted({retry.reason for retry in inbox})
        lines.append(
            f"{len(inbox)} file{'s' if len(inbox) > 1 else ''} in the inbox cannot be "
            f"taken: {'; '.join(reasons)}"
        )
    for submission_id, retry in sorted(claims):
        if retry.reason:
            lines.append(f"submission {submission_id}: {retry.reason}")
    return lines


def note(retry: Retry, now: float, most: float, reason: str) -> None:
    """One more failed try: wait longer (up to ``most`` seconds), and say why."""
    _backoff(retry, now, most)
    retry.reason = reason


def urgent_first(closures: set[str], paths: Iterable[Path]) -> list[Path]:
    """Urgent-looking files first, then oldest first; the names of those that look like a
    closure are added to ``closures``, from the same one look at each file's first bytes."""

    def order(path: Path) -> tuple[int, float]:
        if is_zip_name(path.name) or (path.is_dir() and not path.is_symlink()):
            try:
                mtime = os.lstat(path).st_mtime
            except OSError:
                return (1, 0.0)
            return (0 if any(hints(head)[0] for head in heads(path)) else 1, mtime)
        try:
            mtime = os.lstat(path).st_mtime
            with os.fdopen(open_regular(path), "rb") as handle:
                head = handle.read(65536)
        except NotARegularFile:
            return (1, 0.0)  # set aside at once: nothing to wait for
        except OSError:
            return (1, 0.0)
        urgent, closure = hints(head)
        if closure:
            closures.add(path.name)
        return (0 if urgent else 1, mtime)

    return sorted(paths, key=order)
