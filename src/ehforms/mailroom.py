"""The only writer under the working root (besides the ledger): claim, deliver, archive.

A file's life: ``inbox/<name>`` is claimed by an atomic rename into
``.ehforms/processing/<submission_id>/<name>``; its outcome is written to each mailbox as
``outbox/<mailbox>/.partial-<folder>/`` and renamed into place, so a folder either is there whole
or not at all; then the ledger records the outcome and the claim moves to
``.ehforms/archive/<submission_id>/``. A crash at any point leaves the file in ``processing/``,
and :meth:`Mailroom.recover` finishes the job without delivering anything twice. Nothing is
deleted here but our own half-written ``.partial-`` folders (what is past its retention time
is deleted by ``ehforms.purging``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import logging
import os
import shutil
import stat
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ulid import ULID

from ehforms.bundles import is_zip_name, settle_state
from ehforms.config import Config
from ehforms.errors import ClaimError, DeliveryError, RootError
from ehforms.files import (
    display_name,
    kind_of,
    open_regular,
    set_mode,
)
from ehforms.mailboxes import DONE, HEARTBEAT, MailboxViews
from ehforms.names import (
    ignored,
    new_submission_id,
    received_at_of,
    safe_file_name,
    safe_part,
)
from ehforms.receipts import Receipt

log = logging.getLogger("ehforms")

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


class Mailroom(MailboxViews):
    """The working root's folders, and every write made under them."""

    def __init__(self, root: Path, config: Config) -> None:
        self.root = root.resolve()
        self.config = config
        self.inbox = self.root / INBOX
        self.outbox = self.root / OUTBOX
        self.rejected = self.root / REJECTED
        self.state = self.root / STATE
        self.processing = self.state / PROCESSING
        self.archive = self.state / ARCHIVE

    # -- layout -------------------------------------------------------------------------

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

    # -- the inbox ----------------------------------------------------------------------

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

    # -- outcomes -----------------------------------------------------------------------

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

    # -- watcher heartbeat --------------------------------------------------------------

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


def _reserved(documents: Iterable[str]) -> list[str]:
    """What else a form's folder holds, which its original files never overwrite."""
    return [ATTACHMENTS, *(safe_file_name(d) for d in documents)]


def original_names(sources: Iterable[str], documents: Iterable[str]) -> list[str]:
    """The names a form's original files are written under beside its documents: safe, and
    never a document's name or ``attachments`` (a form sent as ``consent-letter.pdf`` keeps
    its own file as ``consent-letter-2.pdf`` beside the letter made for it)."""
    return list(_unclashed(((name, b"") for name in sources), _reserved(documents)))


def _older(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


def unclashed_names(names: Iterable[str]) -> list[str]:
    """The names files are written under (see :func:`_unclashed`), in the same order."""
    return list(_unclashed((name, b"") for name in names))


def _unclashed(
    files: Iterable[tuple[str, bytes]], taken_already: Iterable[str] = ()
) -> dict[str, bytes]:
    """Files under safe names, none the same as another (or as one of ``taken_already``) but
    for capital letters."""
    out: dict[str, bytes] = {}
    taken: set[str] = {name.lower() for name in taken_already}
    for name, data in files:
        safe = safe_file_name(name)
        stem, dot, suffix = safe.rpartition(".")
        if not dot:
            stem, suffix = safe, ""
        n = 1
        while safe.lower() in taken:
            n += 1
            safe = f"{stem}-{n}.{suffix}" if suffix else f"{stem}-{n}"
        taken.add(safe.lower())
        out[safe] = data
    return out


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
