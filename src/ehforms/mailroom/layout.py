"""The working root's layout: the names of its folders and marks, making them (with their
modes), checking that a root is laid out, and writing a whole file durably inside it.

:class:`Layout` is the base of :class:`~ehforms.mailroom.Mailroom`; its receiving half
(:mod:`ehforms.mailroom.receiving`) and its delivering half (:mod:`ehforms.mailroom.delivery`)
write through it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ehforms.config import Config
from ehforms.errors import DeliveryError, RootError
from ehforms.files import set_mode
from ehforms.mailboxes import DONE, MailboxViews

INBOX = "inbox"
OUTBOX = "outbox"
REJECTED = "rejected"
STATE = ".ehforms"
PROCESSING = "processing"
INCOMING = "incoming"  # forms sent from the web pages, written here before they are claimed
SENT_BY = ".sent-by"  # beside a claim: the web account that sent it
ARCHIVE = "archive"
PARTIAL = ".partial-"
LEDGER = "ledger.sqlite3"
STATE_MODE = 0o700  # .ehforms/: never the share group's (web.md)
LOCK = "lock"
ATTACHMENTS = "attachments"  # a bundle's attachments, inside each of its outcome folders
# Beside a claimed file: which mailboxes already have its outcome, so a retry after a partial
# delivery (or a crash) writes only what is missing.
DELIVERED = ".delivered-"


class Layout(MailboxViews):
    """The working root's folders, made and checked, and a whole file written under them."""

    def __init__(self, root: Path, config: Config) -> None:
        self.root = root.resolve()
        self.config = config
        self.inbox = self.root / INBOX
        self.outbox = self.root / OUTBOX
        self.rejected = self.root / REJECTED
        self.state = self.root / STATE
        self.processing = self.state / PROCESSING
        self.archive = self.state / ARCHIVE

    def mkdir(self, path: Path) -> None:
        """Make a folder (and its parents under the root) with the configured mode."""
        self._inside(path)
        missing = []
        node = path
        while not node.exists() and node != self.root:
            missing.append(node)
            node = node.parent
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            set_mode(folder, self.mode_for(folder))

    def mode_for(self, folder: Path) -> int:
        """A folder's mode: ``.ehforms/`` and all in it are the service user's alone (the
        ledger holds accounts and the audit trail); the mailboxes follow ``dir_mode``."""
        folder = folder.resolve()
        if folder == self.state or self.state in folder.parents:
            return STATE_MODE
        return self.config.dir_mode

    def init(self) -> list[Path]:
        """Make every folder the root needs; what exists already is left as it is."""
        made = []
        wanted = [self.inbox, self.rejected, self.processing, self.archive]
        for mailbox in self.config.mailboxes:
            wanted += [self.outbox / mailbox / DONE]
        for folder in wanted:
            if not folder.exists():
                made.append(folder)
            self.mkdir(folder)
        if self.inbox in made:
            set_mode(self.inbox, self.config.inbox_mode)  # business support write here
        return made

    def check(self, *, create: bool = True) -> None:
        """The root is laid out as `init` makes it. ``create``: make the state folders a
        process needs (a reader passes False, and changes nothing)."""
        if not self.root.is_dir():
            raise RootError(f"{self.root} is not a folder: make it with `ehforms init {self.root}`")
        if not self.inbox.is_dir():
            raise RootError(
                f"{self.root} has no inbox folder: make the working root with "
                f"`ehforms init {self.root}`"
            )
        if create:
            self.mkdir(self.processing)
            self.mkdir(self.archive)
            if self.state.stat().st_mode & 0o077:  # made by an earlier version: 0750
                set_mode(self.state, STATE_MODE)

    def _inside(self, path: Path) -> Path:
        resolved = path.resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise DeliveryError(f"Refused to write outside the working root: {path}")
        return resolved

    def write_file(self, path: Path, data: bytes, *, checked: bool = False) -> None:
        """Write a whole file, durably, with the configured mode. ``checked``: the caller has
        already made sure ``path`` is inside the root."""
        if not checked:
            self._inside(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, self.config.file_mode)
        try:
            set_mode(fd, self.config.file_mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
