"""The mailboxes, as the pages and the command line see them: the forms waiting in each
(the ledger's deliveries joined with the folders present), a page of a listing, the counts,
a copy's page and the files it may serve (``ehforms.handling``), and marking it handled."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ehforms.core.base import RootBase
from ehforms.core.values import Waiting, now
from ehforms.errors import NotFound
from ehforms.mailroom import DONE
from ehforms.names import safe_part

if TYPE_CHECKING:
    from ehforms.handling import FileRef, FormView


class Mailboxes(RootBase):
    """``Root``'s mailboxes: listing, counting, showing and handling what waits in them."""

    def mailbox(self, mailbox: str, at: dt.datetime | None = None) -> list[Waiting]:
        """The forms waiting in a mailbox: urgent first, then overdue (as of ``at``), then
        oldest. The ledger says what each is; the folder on the share says whether it still
        waits (hub staff may have moved it into ``done/`` by hand)."""
        from ehforms.errors import LedgerError

        self._known(mailbox)
        base = self.mailroom.outbox / mailbox
        try:
            present = {
                entry.name
                for entry in os.scandir(base)
                if entry.name != DONE
                and not entry.name.startswith(".")
                and entry.is_dir(follow_symlinks=False)
            }
        except FileNotFoundError:
            return []
        found: dict[str, Waiting] = {}
        ledger = self.reader()
        if ledger is not None:
            try:
                for row in ledger.delivered_to(f"outbox/{mailbox}", present):
                    if row.folder in present:  # (asked for these only)
                        found[row.folder] = Waiting(
                            row.folder,
                            row.submission_id,
                            row.form_type,
                            row.priority,
                            row.received_at,
                            row.due_at,
                            row.case_id,
                        )
            except LedgerError:
                pass  # a ledger not yet upgraded: the receipts say the same
        for folder in present - set(found):  # copied in by hand, or an older ledger
            found[folder] = Waiting.from_receipt(
                folder, self.mailroom.receipt(mailbox, folder), mailbox
            )
        when = at or now()
        return sorted(
            found.values(),
            key=lambda w: (not w.urgent, not w.overdue(when), w.received_at or when, w.folder),
        )

    def listing(self, mailbox: str, rows: list[Waiting]) -> list[Waiting]:
        """The rows of one page of a listing with each form's first child's name (read from
        their folders: call it for a page, not the whole mailbox)."""
        from dataclasses import replace

        from ehforms.handling import first_child

        self._known(mailbox)
        named = []
        for row in rows:
            try:
                path = self.mailroom.outbox / mailbox / row.folder / "form.json"
                data = json.loads(path.read_bytes())
            except (OSError, ValueError):
                data = None
            named.append(replace(row, child=first_child(data if isinstance(data, dict) else None)))
        return named

    def counts(self, at: dt.datetime) -> dict[str, dict[str, int]]:
        """Per mailbox: waiting, urgent, overdue, as ``ehforms status`` counts them."""
        from ehforms.handling import counts

        return counts(self._root, at)

    def form_view(self, mailbox: str, submission_id: str) -> FormView:
        """A mailbox's copy of a submission as its page shows it; NotFound when there is none
        (an unknown mailbox, an id that is not one, a copy in neither the mailbox nor done/)."""
        from ehforms.handling import form_view

        return form_view(self._root, mailbox, submission_id)

    def form_file(self, mailbox: str, submission_id: str, n: int) -> tuple[FileRef, Path]:
        """The ``n``th file the receipt names (documents, then attachments), from 1."""
        from ehforms.handling import form_file

        return form_file(self._root, mailbox, submission_id, n)

    def open_form_file(self, mailbox: str, submission_id: str, n: int) -> tuple[FileRef, BinaryIO]:
        """As ``form_file``, opened (never through a link): the safer call for serving."""
        from ehforms.handling import open_form_file

        return open_form_file(self._root, mailbox, submission_id, n)

    def mark_handled(self, mailbox: str, folder: str, *, by: str | None = None) -> Path:
        """Move a form's folder into the mailbox's ``done/``, as hub staff would on the share.

        With ``by`` (a person, for the pages and the audit trail), ``folder`` is the
        submission id: AlreadyHandled the second time, FolderBusy when it cannot be moved,
        NotFinished while the watcher works on it, NotFound when it is not there."""
        if by is not None:
            from ehforms.handling import mark_handled

            return mark_handled(self._root, mailbox, folder, by, now())
        self._known(mailbox)
        missing = NotFound(f"There is no form {folder!r} waiting in {mailbox}")
        if folder != safe_part(folder, 255) or folder.startswith(".") or folder == DONE:
            raise missing
        source = self.mailroom.outbox / mailbox / folder
        target = self.mailroom.outbox / mailbox / DONE / folder
        if not source.is_dir() or target.exists():
            raise missing
        try:
            os.rename(source, target)
        except FileNotFoundError:  # handled by someone else a moment ago
            raise missing from None
        return target

    def _known(self, mailbox: str) -> None:
        if mailbox not in self.config.mailboxes:
            raise NotFound(f"There is no mailbox called {mailbox}")
