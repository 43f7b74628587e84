"""Delivering: an outcome written into each mailbox (or ``rejected/``) as
``<base>/.partial-<folder>/``, filled file by file (the configured modes, each file synced) and
renamed into place, so a folder is there whole or not at all; a mark beside the claim for each
mailbox written, so a retry writes only what is missing.

Any fault of the share while writing is a :class:`~ehforms.errors.DeliveryError` with a message
saying where and why (:func:`_delivery_message`); the claim stays to be tried again.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ehforms.errors import DeliveryError
from ehforms.files import open_regular, set_mode
from ehforms.mailboxes import DONE
from ehforms.mailroom.layout import ATTACHMENTS, PARTIAL, Layout
from ehforms.mailroom.naming import _reserved, _unclashed, original_names
from ehforms.mailroom.receiving import Claim
from ehforms.names import safe_file_name, safe_part
from ehforms.receipts import Receipt


@dataclass(frozen=True)
class Outcome:
    """What to write for one submission; built by the pipeline, written by :meth:`deliver`."""

    receipt: Receipt
    folder: str
    form_json: bytes | None = None
    errors_txt: str | None = None
    documents: Mapping[str, bytes] | None = None
    case_id: str | None = None
    case_data: Mapping[str, Any] | None = None
    # a bundle's: its form file(s), written in place of the claimed ZIP or folder (which stays
    # in the archive), and its checked attachments, written into attachments/
    originals: tuple[tuple[str, bytes], ...] | None = None
    attachments: tuple[tuple[str, bytes], ...] | None = None

    @property
    def mailboxes(self) -> list[str]:
        return list(self.receipt.mailboxes)


class Delivering(Layout):
    """The delivering half of the mailroom: outcomes written into the mailboxes."""

    def deliver(self, claim: Claim, outcome: Outcome) -> list[Path]:
        """Write the outcome into every mailbox (or ``rejected/``) that does not have it yet.

        Each mailbox written is marked beside the claim (``.delivered-<mailbox>``), so a retry
        after a partial delivery or a crash writes only what is missing, even when hub staff
        have already moved the first copy into ``done/``. Raises :class:`DeliveryError` when a
        folder cannot be written; the claim stays in ``processing/`` to be tried again.
        """
        targets: list[str | None] = list(outcome.mailboxes) or [None]
        if outcome.folder != safe_part(outcome.folder, 255):
            raise DeliveryError(
                f"Refused to write outside the working root: folder {outcome.folder!r}"
            )
        written = []
        for mailbox in targets:
            base = self.rejected if mailbox is None else self.outbox / mailbox
            final = base / outcome.folder
            self._inside(final)
            try:  # any fault of the share here is a delivery to try again, not the file's
                self._deliver_one(claim, outcome, mailbox, base, final, len(targets) > 1)
            except OSError as error:
                raise DeliveryError(
                    _delivery_message(error, mailbox, claim.submission_id)
                ) from error
            written.append(final)
        return written

    def _deliver_one(
        self,
        claim: Claim,
        outcome: Outcome,
        mailbox: str | None,
        base: Path,
        final: Path,
        several: bool,
    ) -> None:
        marker = claim.marker(mailbox)
        if marker.exists():
            return
        if final.exists() or (mailbox is not None and (base / DONE / outcome.folder).exists()):
            self._mark(marker)  # written before a crash, before its marker
            return
        if not base.is_dir():
            where = "rejected" if mailbox is None else f"outbox/{mailbox}"
            raise DeliveryError(
                f"The {where} folder is missing: make it again (or run `ehforms init`); "
                f"submission {claim.submission_id} waits until then"
            )
        partial = base / (PARTIAL + outcome.folder)
        if partial.exists():
            shutil.rmtree(partial)  # our own half-written folder from a crash
        partial.mkdir(mode=self.config.dir_mode)  # base and folder checked above
        set_mode(partial, self.config.dir_mode)
        self._fill(partial, claim, outcome)
        os.rename(partial, final)
        if several:  # one target: its folder (or done/'s) is the mark
            self._mark(marker)

    @staticmethod
    def _mark(marker: Path) -> None:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)

    def _fill(self, folder: Path, claim: Claim, outcome: Outcome) -> None:
        """Every name below is made safe, in a folder already checked to be inside the root.

        An entry that is not a regular file (a link, a pipe) is never opened or copied: it is
        kept in the archive, and the receipt says what it was."""
        write = self.write_file
        documents = list(outcome.documents or {})
        if outcome.originals is not None:
            for name, data in _unclashed(outcome.originals, _reserved(documents)).items():
                write(folder / name, data, checked=True)
        elif claim.kind is None and claim.bundle != "folder":
            (name,) = original_names([claim.source], documents)
            self.copy_file(claim.path, folder / name)
        if outcome.form_json is not None:
            write(folder / "form.json", outcome.form_json, checked=True)
        for name, data in (outcome.documents or {}).items():
            write(folder / safe_file_name(name), data, checked=True)
        if outcome.attachments:
            attachments = folder / ATTACHMENTS
            attachments.mkdir(mode=self.config.dir_mode)
            set_mode(attachments, self.config.dir_mode)
            for name, data in _unclashed(outcome.attachments).items():
                write(attachments / name, data, checked=True)
        if outcome.errors_txt:
            write(folder / "errors.txt", outcome.errors_txt.encode("utf-8"), checked=True)
        write(folder / "receipt.json", outcome.receipt.to_json(), checked=True)

    def copy_file(self, source: Path, target: Path) -> None:
        """Copy a file of any size without holding it in memory (target already checked)."""
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, self.config.file_mode)
        try:
            set_mode(fd, self.config.file_mode)
            with (
                os.fdopen(open_regular(source), "rb") as handle,
                os.fdopen(os.dup(fd), "wb") as out,
            ):
                shutil.copyfileobj(handle, out, 1024 * 1024)
                out.flush()
            os.fsync(fd)
        finally:
            os.close(fd)


def _delivery_message(error: OSError, mailbox: str | None, submission_id: str) -> str:
    where = "rejected/" if mailbox is None else f"outbox/{mailbox}"
    if error.errno == errno.ENOSPC:
        reason = "the disk is full"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason = "ehforms is not allowed to write there"
    else:
        reason = error.strerror or str(error)
    return (
        f"Could not write submission {submission_id} to {where}: {reason}. "
        "It stays claimed and will be tried again"
    )
