"""The watchdog handlers: :class:`InboxEvents` only queues paths (an exception in a handler
would kill watchdog's thread, so it does nothing that can fail), and :class:`ClaimEvents` wakes
the loop when a form sent from the web pages is claimed into ``processing/``. Events are hints:
the watcher's rescans catch up with anything missed."""

from __future__ import annotations

import contextlib
import os
import queue
from pathlib import Path
from typing import Any

from ehforms.names import ignored


def _watchdog_handler_class() -> type:
    from watchdog.events import FileSystemEventHandler

    class InboxEvents(FileSystemEventHandler):
        """Queues (path, closed) for files directly in the inbox; nothing else."""

        def __init__(self, inbox: Path, hints: queue.Queue[tuple[Path, bool]]) -> None:
            self.inbox = inbox
            self.hints = hints

        def dispatch(self, event: Any) -> None:
            # A handler must never raise (it would kill watchdog's thread): the rescan
            # catches up with anything missed here.
            with contextlib.suppress(Exception):
                super().dispatch(event)

        def _hint(self, raw: Any, closed: bool = False) -> None:
            path = Path(os.fsdecode(raw))
            if path.parent == self.inbox and not ignored(path.name):
                self.hints.put((path, closed))

        def on_created(self, event: Any) -> None:
            if not event.is_directory:
                self._hint(event.src_path)

        def on_modified(self, event: Any) -> None:
            if not event.is_directory:
                self._hint(event.src_path)

        def on_moved(self, event: Any) -> None:
            if not event.is_directory:  # renamed into the inbox: already whole
                self._hint(event.dest_path, closed=True)
            else:  # a bundle's folder moved in: taken once it has settled (see Postroom.claim)
                self._hint(event.dest_path)

        def on_closed(self, event: Any) -> None:
            if not event.is_directory:
                self._hint(event.src_path, closed=True)

    return InboxEvents


# The hint that a claim arrived in processing/ (a form sent from the web pages): no file.
CLAIMED = Path("\0claimed")


def _claims_handler_class() -> type:
    from watchdog.events import FileSystemEventHandler

    class ClaimEvents(FileSystemEventHandler):
        """Wakes the loop when a folder is renamed into ``processing/``: the web's ``/send``
        claims a form there, and the watcher finishes it at once, not at the next rescan."""

        def __init__(self, processing: Path, hints: queue.Queue[tuple[Path, bool]]) -> None:
            self.processing = processing
            self.hints = hints

        def dispatch(self, event: Any) -> None:
            with contextlib.suppress(Exception):  # the rescan catches up with anything missed
                super().dispatch(event)

        def _arrived(self, raw: Any) -> None:
            path = Path(os.fsdecode(raw))
            if path.parent == self.processing and not path.name.startswith("."):
                self.hints.put((CLAIMED, True))

        def on_created(self, event: Any) -> None:
            if event.is_directory:
                self._arrived(event.src_path)

        def on_moved(self, event: Any) -> None:
            if event.is_directory:
                self._arrived(event.dest_path)

    return ClaimEvents


def _shorten_move_pairing(seconds: float = 0.02) -> None:
    """Every claim renames a file out of the inbox, an IN_MOVED_FROM with no IN_MOVED_TO.

    watchdog holds such an event back for half a second, in case its pair comes, and every
    event behind it waits too: each claim would delay the next form's pickup by 0.5 s. A rename
    inside the inbox that is not paired in time is seen as a delete and a create, which the
    watcher treats the same way, so the wait is shortened.
    """
    with contextlib.suppress(ImportError, AttributeError):
        from watchdog.observers.inotify_move_event_grouper import InotifyMoveEventGrouper

        InotifyMoveEventGrouper.delay = seconds
