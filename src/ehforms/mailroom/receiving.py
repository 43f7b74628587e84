"""Receiving: files taken from the inbox by an atomic rename into
``.ehforms/processing/<submission_id>/``, forms sent from the web pages written whole (or
streamed, in parts) under ``.ehforms/incoming/`` and renamed into ``processing/`` at once, and
the claims a stopped process left there, found again.

A claim that cannot be made leaves the file where it was, with a message saying why
(:func:`_claim_message`); it is tried again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import shutil
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ehforms.bundles import is_zip_name, settle_state
from ehforms.errors import ClaimError, RootError
from ehforms.files import display_name, kind_of, set_mode
from ehforms.mailroom.layout import DELIVERED, INCOMING, SENT_BY, Layout
from ehforms.mailroom.naming import _unclashed
from ehforms.names import ignored, new_submission_id, received_at_of, safe_file_name


@dataclass(frozen=True)
class Claim:
    """A file taken from the inbox: ``path`` is inside ``processing/<submission_id>/``."""

    submission_id: str
    path: Path
    received_at: dt.datetime

    @property
    def source(self) -> str:
        """The original name, escaped where it is not text (see :func:`display_name`)."""
        return display_name(self.path.name)

    @property
    def kind(self) -> str | None:
        """None for a regular file or a bundle's folder; else what the entry is (a link, a
        pipe...)."""
        try:
            mode = os.lstat(self.path).st_mode
        except OSError:
            return None
        return None if stat.S_ISDIR(mode) else kind_of(mode)

    @property
    def bundle(self) -> str | None:
        """``"zip"`` or ``"folder"`` when the claim is a bundle; None for a lone file."""
        try:
            mode = os.lstat(self.path).st_mode
        except OSError:
            return None
        if stat.S_ISDIR(mode):
            return "folder"
        if stat.S_ISREG(mode) and is_zip_name(self.path.name):
            return "zip"
        return None

    @property
    def home(self) -> Path:
        return self.path.parent

    @property
    def sent_by(self) -> str | None:
        """The web account that sent it (None: dropped in the inbox)."""
        try:
            return (self.home / SENT_BY).read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def marker(self, mailbox: str | None) -> Path:
        """The mark that this claim's outcome is written to ``mailbox`` (None: rejected/)."""
        name = f"{DELIVERED}outbox-{mailbox}" if mailbox else f"{DELIVERED}rejected"
        return self.home / name


class Receiving(Layout):
    """The receiving half of the mailroom: the inbox, the web's incoming forms, processing/."""

    def candidates(self, now: float | None = None) -> list[Path]:
        """Entries directly in the inbox to take: regular files (a ZIP file is a bundle), links,
        pipes, sockets and devices (taken to be set aside, never opened), and subfolders (bundles)
        once nothing in them has changed for ``bundle_settle_seconds``."""
        found = []
        now = time.time() if now is None else now
        with os.scandir(self.inbox) as entries:
            for entry in entries:
                if ignored(entry.name):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        settled, _ = settle_state(
                            Path(entry.path), now, self.config.bundle_settle_seconds
                        )
                        if not settled:
                            continue
                except OSError:
                    continue
                found.append(Path(entry.path))
        return found

    def unsettled(self, now: float, older_than: float = 3600.0) -> int:
        """Subfolders of the inbox not taken because they have not settled (still changing, or
        holding a copy's temporary file) although they have been there over ``older_than``."""
        count = 0
        with contextlib.suppress(OSError), os.scandir(self.inbox) as entries:
            for entry in entries:
                if ignored(entry.name) or not entry.is_dir(follow_symlinks=False):
                    continue
                settled, oldest = settle_state(
                    Path(entry.path), now, self.config.bundle_settle_seconds
                )
                if not settled and oldest <= now - older_than:
                    count += 1
        return count

    def claim(self, path: Path, received_at: dt.datetime) -> Claim | None:
        """Take a file from the inbox by atomic rename; None when another process took it."""
        submission_id = new_submission_id(received_at)
        home = self.processing / submission_id  # a ULID: always a safe name under the root
        try:
            home.mkdir(mode=self.config.dir_mode)
            set_mode(home, self.config.dir_mode)
        except OSError as error:
            raise ClaimError(_claim_message(error, making=True)) from error
        target = home / path.name
        try:
            os.rename(path, target)
        except FileNotFoundError:
            home.rmdir()
            return None
        except OSError as error:  # a lock held by a Windows client, no permission
            home.rmdir()
            raise ClaimError(_claim_message(error, making=False)) from error
        return Claim(submission_id, target, received_at_of(submission_id))

    def accept(
        self,
        form: tuple[str, bytes],
        attachments: Iterable[tuple[str, bytes]],
        received_at: dt.datetime,
        sent_by: str | None = None,
    ) -> Claim:
        """A form sent with its attachments (the web's ``/send``), claimed at once: written
        whole under ``.ehforms/incoming/<id>/`` (private), then renamed into ``processing/``,
        where the watcher finishes it like any claim. With attachments it is a bundle's
        folder (the same path as a folder dropped in the inbox); without, a lone file."""
        submission_id = new_submission_id(received_at)
        incoming = self.state / INCOMING
        self.mkdir(incoming)
        set_mode(incoming, 0o700)
        home = incoming / submission_id
        home.mkdir(mode=0o700)
        attachments = list(attachments)
        name = safe_file_name(form[0])
        self.mkdir(self.processing)
        if attachments:
            folder = home / name  # named as the form is: the receipt's source
            folder.mkdir(mode=self.config.dir_mode)
            for entry, data in _unclashed([form, *attachments]).items():
                self.write_file(folder / entry, data)
            entry_path = folder
        else:
            entry_path = home / name
            self.write_file(entry_path, form[1])
        if sent_by is not None:
            self.write_file(home / SENT_BY, sent_by.encode("utf-8"))
        os.rename(home, self.processing / submission_id)  # the claim, whole at once
        return Claim(
            submission_id,
            self.processing / submission_id / entry_path.name,
            received_at_of(submission_id),
        )

    # -- a form streamed in by the web's /send, in parts ------------------------------------

    def private_temporary(self) -> Path:
        """``.ehforms/tmp/`` (0700): where the web server's own temporary files go (a
        request's body it buffers before the page reads it), never the system's folder."""
        folder = self.state / "tmp"
        self.mkdir(folder)
        set_mode(folder, 0o700)
        return folder

    def incoming_home(self, received_at: dt.datetime) -> tuple[str, Path]:
        """A new submission id and its private folder ``.ehforms/incoming/<id>/`` (0700), for
        the web to stream a form and its attachments into before they are checked."""
        submission_id = new_submission_id(received_at)
        incoming = self.state / INCOMING
        self.mkdir(incoming)
        set_mode(incoming, 0o700)
        home = incoming / submission_id
        home.mkdir(mode=0o700)
        return submission_id, home

    def arrange_incoming(
        self, home: Path, form: tuple[str, Path], attachments: list[tuple[str, Path]]
    ) -> Path:
        """The streamed files put as ``accept`` writes them (renamed, never copied, inside
        ``home``): a lone form as ``<safe name>``; with attachments, a bundle's folder named
        as the form, holding the form and its attachments under safe names that never clash.
        Returns the entry to check and claim."""
        if home.parent != self.state / INCOMING or not home.is_dir():
            raise RootError("Refused to arrange a folder outside .ehforms/incoming")
        name = safe_file_name(form[0])
        kept = {form[1], *(path for _, path in attachments)}
        for other in home.iterdir():  # a part the browser sent empty (no file chosen)
            if other not in kept:
                other.unlink()
        if not attachments:
            entry = home / name
            os.rename(form[1], entry)
            return entry
        folder = home / name
        folder.mkdir(mode=0o700)
        files = [(form[0], form[1]), *attachments]
        names = _unclashed([(n, b"") for n, _ in files])
        for safe, (_, path) in zip(names, files, strict=True):
            os.rename(path, folder / safe)
        return folder

    def claim_incoming(self, home: Path, entry: Path, sent_by: str | None) -> Claim:
        """The arranged folder renamed into ``processing/``: the claim, whole at once."""
        submission_id = home.name
        self.mkdir(self.processing)
        if sent_by is not None:
            self.write_file(home / SENT_BY, sent_by.encode("utf-8"))
        os.rename(home, self.processing / submission_id)
        return Claim(
            submission_id,
            self.processing / submission_id / entry.name,
            received_at_of(submission_id),
        )

    def discard_incoming(self, home: Path) -> None:
        """A send refused (or broken off): its streamed files removed."""
        if home.parent == self.state / INCOMING:
            shutil.rmtree(home, ignore_errors=True)

    def claims_in_processing(
        self, *, tidy: bool = True, tidy_after: float = 0.0
    ) -> Iterator[Claim]:
        """Claims left by a process that stopped. With ``tidy``, an empty claim folder (a crash
        between making it and the rename) is removed once ``tidy_after`` seconds old; without,
        nothing is changed."""
        if not self.processing.is_dir():
            return
        for home in sorted(self.processing.iterdir()):
            if home.name.startswith(".") or not home.is_dir():
                continue
            try:
                files = [p for p in home.iterdir() if not p.name.startswith(".")]
            except FileNotFoundError:  # finished (archived) by another watcher meanwhile
                continue
            if not files:
                if tidy and (tidy_after <= 0 or _older(home, tidy_after)):
                    with contextlib.suppress(OSError):  # markers only: left for the archive
                        home.rmdir()
                continue
            try:
                received_at = received_at_of(home.name)
            except ValueError:
                continue
            yield Claim(home.name, files[0], received_at)


def _older(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


def _claim_message(error: OSError, *, making: bool) -> str:
    """Why a file could not be taken from the inbox (it stays there, and is tried again)."""
    if error.errno == errno.ENOSPC:
        reason = "the disk is full"
    elif making:
        reason = f"ehforms cannot write in .ehforms/processing ({error.strerror})"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EBUSY, errno.ETXTBSY):
        reason = (
            "it is open in another program, or ehforms may not move it: close it, or check "
            "its permissions"
        )
    else:
        reason = error.strerror or type(error).__name__
    return reason
