"""Reading the mailboxes and the watcher's heartbeat: what the mailroom wrote, never changed.

:class:`~ehforms.mailroom.Mailroom` (the only writer) has these as a base, so readers and
writers agree on where everything is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ehforms.receipts import Receipt

DONE = "done"
HEARTBEAT = "heartbeat.json"


class MailboxViews:
    """What a root's mailboxes hold; ``outbox``, ``rejected`` and ``state`` are its folders."""

    outbox: Path
    rejected: Path
    state: Path

    def whereabouts(self, state: str, mailboxes: Iterable[str], folder: str | None) -> str:
        """Where an earlier submission's outcome is now, for a duplicate's message."""
        mailboxes = list(mailboxes)
        if state != "done":
            return "is still being processed"
        if not folder:  # a purge blanked it: its files are gone (forms.md "Keeping and deleting")
            return "has since been deleted under the retention policy"
        if mailboxes:
            mailbox = mailboxes[0]
            if (self.outbox / mailbox / folder).is_dir():
                return f"is waiting in outbox/{mailbox}/{folder}"
            if (self.outbox / mailbox / DONE / folder).is_dir():
                return f"has been handled (outbox/{mailbox}/{DONE}/{folder})"
            return f"went to outbox/{mailbox}/{folder} and has since been moved"
        if (self.rejected / folder).is_dir():
            return f"is in rejected/{folder}"
        return f"went to rejected/{folder} and has since been moved"

    def heartbeat(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.state / HEARTBEAT).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    # -- hub mailboxes ------------------------------------------------------------------

    def receipt(self, mailbox: str, folder: str) -> Receipt | None:
        """The receipt of a form in a mailbox; None when it cannot be read."""
        try:
            return Receipt.from_json((self.outbox / mailbox / folder / "receipt.json").read_bytes())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def waiting(self, mailbox: str) -> Iterator[tuple[str, Receipt | None]]:
        """(folder name, receipt) of each form still waiting in a mailbox (not in ``done/``);
        None for a receipt that cannot be read (edited by hand, half copied back)."""
        base = self.outbox / mailbox
        if not base.is_dir():
            return
        for folder in sorted(base.iterdir()):
            if folder.name == DONE or folder.name.startswith(".") or not folder.is_dir():
                continue
            try:
                yield folder.name, Receipt.from_json((folder / "receipt.json").read_bytes())
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                yield folder.name, None
