"""The only writer under the working root (besides the ledger): claim, deliver, archive.

A file's life: ``inbox/<name>`` is claimed by an atomic rename into
``.ehforms/processing/<submission_id>/<name>``; its outcome is written to each mailbox as
``outbox/<mailbox>/.partial-<folder>/`` and renamed into place, so a folder either is there whole
or not at all; then the ledger records the outcome and the claim moves to
``.ehforms/archive/<submission_id>/``. A crash at any point leaves the file in ``processing/``,
and the next batch (``ehforms.claiming``) finishes the job without delivering anything
twice. Nothing is deleted here but our own half-written ``.partial-`` folders (what is past
its retention time is deleted by ``ehforms.purging``).

The rooms of this package: :mod:`~ehforms.mailroom.layout` (the root's folders, made and
checked, and a file written whole), :mod:`~ehforms.mailroom.receiving` (the inbox and
``processing/``), :mod:`~ehforms.mailroom.delivery` (the outcomes, into the mailboxes) and
:mod:`~ehforms.mailroom.naming` (the names files are written under). :class:`Mailroom` joins
them, with the watcher's heartbeat and the archive.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable

from ulid import ULID

from ehforms.mailboxes import DONE, HEARTBEAT
from ehforms.mailroom.delivery import Delivering, Outcome
from ehforms.mailroom.layout import (
    ARCHIVE,
    ATTACHMENTS,
    DELIVERED,
    INBOX,
    INCOMING,
    LEDGER,
    LOCK,
    OUTBOX,
    PARTIAL,
    PROCESSING,
    REJECTED,
    SENT_BY,
    STATE,
    STATE_MODE,
)
from ehforms.mailroom.naming import original_names, unclashed_names
from ehforms.mailroom.receiving import Claim, Receiving

__all__ = [
    "ARCHIVE",
    "ATTACHMENTS",
    "DELIVERED",
    "DONE",
    "INBOX",
    "INCOMING",
    "LEDGER",
    "LOCK",
    "OUTBOX",
    "PARTIAL",
    "PROCESSING",
    "REJECTED",
    "SENT_BY",
    "STATE",
    "STATE_MODE",
    "Claim",
    "Mailroom",
    "Outcome",
    "original_names",
    "unclashed_names",
]


class Mailroom(Receiving, Delivering):
    """The working root's folders, and every write made under them."""

    # -- the watcher's heartbeat, and the archive ---------------------------------------

    def beat(self, mode: str, now: dt.datetime, faults: Iterable[str] = ()) -> None:
        """The watcher's heartbeat, with what it is waiting to try again (no names)."""
        data = {"pid": os.getpid(), "at": now.isoformat(), "mode": mode, "faults": list(faults)}
        tmp = self.state / (HEARTBEAT + ".tmp")
        self.write_file(tmp, json.dumps(data).encode())
        os.replace(tmp, self.state / HEARTBEAT)

    def archive_claim(self, claim: Claim) -> None:
        """Keep the original, outside the inbox and the rescans ([retention] archive_days)."""
        home = claim.path.parent
        self.mkdir(self.archive)
        target = self.archive / home.name
        if target.exists():  # a crash after an earlier archive: keep both, lose nothing
            target = self.archive / f"{home.name}-{ULID()}"
        os.rename(home, target)
