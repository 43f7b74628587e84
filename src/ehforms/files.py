"""Opening and making files safely, whatever the inbox holds and whatever the share allows.

The lowest layer: used by the mailroom, the ledger, the watcher and ``status``.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("ehforms")

_warned_modes: set[str] = set()


def set_mode(target: int | Path, mode: int) -> None:
    """chmod (or fchmod, for a file descriptor), best effort.

    A share mounted without Unix permissions (CIFS ``noperm``, some NAS exports) refuses or
    ignores modes; there the share's own permissions govern, and refusing to deliver a form
    over it would lose more than it protects. Said once in the log.
    """
    try:
        if isinstance(target, int):
            os.fchmod(target, mode)
        else:
            os.chmod(target, mode)
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES):
            raise
        kind = errno.errorcode.get(error.errno or 0, "error")
        if kind not in _warned_modes:
            _warned_modes.add(kind)
            log.warning("cannot set file modes here (%s): the share's permissions apply", kind)


def display_name(name: str) -> str:
    """A file name as text a receipt, a page or a terminal can hold.

    Names on Linux are bytes: one that is not UTF-8 (a Windows client writing CP1252 over an old
    share) comes to Python with surrogate escapes, which cannot be written as UTF-8. Its bytes
    are shown as ``\\xe9``; control characters (a newline in a name) are escaped the same way.
    """
    text = os.fsencode(name).decode("utf-8", errors="backslashreplace")
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


# What an inbox entry that is not a regular file is, in words business support can act on.
_KINDS = {
    stat.S_IFLNK: "a link (a shortcut to another file), not the file itself",
    stat.S_IFIFO: "a named pipe, not a file",
    stat.S_IFSOCK: "a socket, not a file",
    stat.S_IFCHR: "a device, not a file",
    stat.S_IFBLK: "a device, not a file",
    stat.S_IFDIR: "a folder",
}


def kind_of(mode: int) -> str | None:
    """None for a regular file; else what the entry is, for its receipt."""
    if stat.S_ISREG(mode):
        return None
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


class NotARegularFile(OSError):
    """An entry that ehforms never opens: a link, a pipe, a socket, a device."""

    def __init__(self, kind: str) -> None:
        super().__init__(errno.EINVAL, kind)
        self.kind = kind


def open_regular(path: Path) -> int:
    """Open a regular file for reading, never following a link and never blocking on a pipe.

    Raises :class:`NotARegularFile` for anything else; the caller closes the descriptor.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise NotARegularFile(_KINDS[stat.S_IFLNK]) from None
        if error.errno == errno.ENXIO:  # a socket, or a pipe with no writer
            raise NotARegularFile(kind_of(os.lstat(path).st_mode) or "not a file") from None
        raise
    kind = kind_of(os.fstat(fd).st_mode)
    if kind is not None:
        os.close(fd)
        raise NotARegularFile(kind)
    return fd


def open_beneath(base: Path, parts: tuple[str, ...] | list[str], *, directory: bool = False) -> int:
    """Open ``base/part/part/…`` one step at a time, each step relative to the last and none
    through a link, so a folder on the share swapped for a link (``done/`` pointing at another
    mailbox's) is never followed, wherever it is in the path. The last part is a directory
    when ``directory``, else a regular file (never a pipe or device). ``base`` itself is the
    root's own folder and trusted. Raises OSError (``NotARegularFile`` for a wrong kind); the
    caller closes the descriptor."""
    nofollow = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    if not parts or any(p in ("", ".", "..") or "/" in p or "\0" in p for p in parts):
        raise FileNotFoundError(errno.ENOENT, "Not a path beneath the folder")
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        for step, part in enumerate(parts):
            last = step == len(parts) - 1
            if last and not directory:
                flags = os.O_RDONLY | os.O_NONBLOCK | nofollow
            else:
                flags = os.O_RDONLY | os.O_DIRECTORY | nofollow
            try:
                opened = os.open(part, flags, dir_fd=fd)
            except OSError as error:
                if error.errno == errno.ELOOP:
                    raise NotARegularFile(_KINDS[stat.S_IFLNK]) from None
                raise
            os.close(fd)
            fd = opened
        if not directory:
            kind = kind_of(os.fstat(fd).st_mode)
            if kind is not None:
                raise NotARegularFile(kind)
        return fd
    except BaseException:
        os.close(fd)
        raise
