"""When an inbox file has settled: :class:`Settling` tracks each path's size and mtime and lets
it go once they have not changed for the quiet time, or at once on a closed-after-write event
(inotify) of a file that ends as a whole form ends (:func:`looks_complete`). A file still being
copied is never read."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ehforms.files import open_regular


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float
    closed: bool = False
    looks: int = 1


@dataclass
class Settling:
    """Which inbox files have stopped changing for ``quiet`` seconds (or were closed)."""

    quiet: float
    files: dict[Path, _Seen] = field(default_factory=dict)

    def observe(self, path: Path, now: float, *, closed: bool = False) -> None:
        try:
            stat = os.lstat(path)  # a link is looked at, never followed
        except OSError:
            self.files.pop(path, None)
            return
        seen = self.files.get(path)
        # a writer's close is a hint, not proof: an empty file, or one that does not end as a
        # form ends, may be written again in a moment (open, append, close, again)
        closed = closed and stat.st_size > 0 and looks_complete(path)
        if seen is None or (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
            self.files[path] = _Seen(stat.st_size, stat.st_mtime_ns, now, closed)
        else:
            seen.looks += 1
            seen.closed = seen.closed or closed

    def ready(self, now: float, wall: float | None = None) -> list[Path]:
        """Paths to take now; each is re-checked so that a change restarts its quiet time.

        A file is settled when a writer closed it (inotify), when it has looked the same for
        ``quiet`` seconds, or when it looks the same twice and its modification time (``wall``
        clock) is already ``quiet`` seconds old: a file found by a rescan or a poll after its
        copy finished need not wait again.
        """
        settled = []
        for path in list(self.files):
            seen = self.files[path]
            self.observe(path, now)
            current = self.files.get(path)
            if current is None:
                continue
            if current is not seen:  # changed since the last look
                continue
            old = wall is not None and wall - seen.mtime_ns / 1e9 >= self.quiet
            if seen.closed or now - seen.since >= self.quiet or (old and seen.looks >= 2):
                settled.append(path)
        return settled

    def forget(self, path: Path) -> None:
        self.files.pop(path, None)


def looks_complete(path: Path) -> bool:
    """Whether a file ends as a whole form does: a JSON object's closing brace (in UTF-8 or
    UTF-16) or a PDF's ``%%EOF``. Only its last bytes are read, never following a link."""
    try:
        with os.fdopen(open_regular(path), "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(max(0, size - 1024))
            tail = handle.read(1024)
    except OSError:
        return False
    end = tail.replace(b"\x00", b"").rstrip()
    return end.endswith(b"}") or b"%%EOF" in tail[-64:].replace(b"\x00", b"")
