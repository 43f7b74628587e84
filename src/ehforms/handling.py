"""Hub staff's work on a mailbox copy, for the pages: a form as its page shows it, the files
it may serve, marking it handled, and each mailbox's counts.

The share and the pages agree: a copy is handled when its folder is in the mailbox's
``done/``, whoever moved it (``handled`` in the ledger says who, when it was done through
ehforms; a folder moved by hand was handled by someone unknown). A form is a submission in a
mailbox when the ledger's deliveries say so; a folder copied in by hand, which the ledger does
not know, is found by its name (which ends with the submission id). Only files the receipt
names are served, and only plain files directly in the form's folder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import sqlalchemy as sa
from ulid import ULID

from ehforms.audit import Action, add, stamp
from ehforms.database import deliveries, handled, submissions, transaction
from ehforms.errors import AlreadyHandled, FolderBusy, NotFinished, NotFound
from ehforms.files import NotARegularFile, open_beneath, open_regular
from ehforms.mailroom import ATTACHMENTS, DONE, original_names, unclashed_names
from ehforms.names import safe_file_name
from ehforms.receipts import Receipt
from ehforms.rows import withheld_in

if TYPE_CHECKING:
    from ehforms.core import Root

CONTENT_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "json": "application/json",
    "txt": "text/plain; charset=utf-8",
}
GENERIC = "application/octet-stream"
_NOT_SERVED = {"receipt.json", "form.json", "errors.txt"}


@dataclass(frozen=True)
class FileRef:
    """A file of a form: its position (from 1) among the files the receipt names (the
    original, documents, attachments), and its name (which may carry a child's name: never
    in a URL)."""

    n: int
    name: str
    content_type: str


@dataclass(frozen=True)
class FormView:
    submission_id: str
    mailbox: str
    folder: str
    receipt: Receipt
    form: dict[str, Any] | None  # form.json, None when the folder has none
    withheld: list[str] | None  # None: this form records no consent
    files: list[FileRef]
    handled: bool
    handled_by: str | None  # None when not handled, or handled by hand on the share
    finished: bool  # the watcher has finished it (only then can it be marked handled)
    allow_prefill: list[str]  # referrer / lead practitioner emails with an active account
    case: str | None


@dataclass(frozen=True)
class Located:
    folder: str
    path: Path
    done: bool
    finished: bool
    form_sha256: str | None = None  # a bundle's form's own hash, from the ledger


def content_type(name: str) -> str:
    return CONTENT_TYPES.get(name.rpartition(".")[2].lower(), GENERIC) if "." in name else GENERIC


def valid_id(submission_id: str) -> bool:
    """A submission id is a ULID, in its canonical form: anything else is never looked up."""
    if not isinstance(submission_id, str) or len(submission_id) != 26:
        return False
    try:
        return str(ULID.from_str(submission_id)) == submission_id
    except ValueError:
        return False


def locate(root: Root, mailbox: str, submission_id: str) -> Located:
    """Where a mailbox's copy of a submission is: waiting, or in ``done/``; NotFound when the
    mailbox is not configured, the id is not one, or the copy is in neither place."""
    missing = NotFound(f"There is no form {submission_id} in {mailbox}")
    if mailbox not in root.config.mailboxes or not valid_id(submission_id):
        raise missing
    base = root.mailroom.outbox / mailbox
    folder: str | None = None
    state: str | None = None
    form_sha256: str | None = None
    ledger = root.reader()
    if ledger is not None:
        with ledger.reading() as connection:
            row = connection.execute(
                sa.select(submissions.c.state, deliveries.c.folder, submissions.c.form_sha256)
                .select_from(submissions)
                .outerjoin(
                    deliveries,
                    sa.and_(
                        deliveries.c.submission_id == submissions.c.submission_id,
                        deliveries.c.place == f"outbox/{mailbox}",
                    ),
                )
                .where(submissions.c.submission_id == submission_id)
            ).first()
        if row is not None:
            state, folder, form_sha256 = row
    if folder is None:  # unknown to the ledger (copied in by hand), or not yet recorded
        folder = _by_name(base, submission_id)
    if folder is None:
        raise missing
    for steps, done in (((mailbox, folder), False), ((mailbox, DONE, folder), True)):
        try:  # each step, the mailbox and done/ included, a real folder and never a link
            os.close(open_beneath(root.mailroom.outbox, steps, directory=True))
        except OSError:
            continue
        # finished: the ledger recorded its outcome, or never knew it (copied in by hand)
        path = root.mailroom.outbox.joinpath(*steps)
        return Located(folder, path, done, state in (None, "done"), form_sha256)
    raise missing


def _by_name(base: Path, submission_id: str) -> str | None:
    for where in (base, base / DONE):
        try:
            with os.scandir(where) as entries:
                for entry in entries:
                    if entry.name.endswith("_" + submission_id) and not entry.name.startswith("."):
                        return entry.name
        except OSError:
            continue
    return None


def named_files(
    receipt: Receipt, folder: Path | None = None, form_sha256: str | None = None
) -> list[str]:
    """The files a receipt names, as the mailroom wrote them into the folder: the original
    the form arrived as (``source``), its documents, then its attachments (in
    ``attachments/``). A bundle's ZIP file or folder stays in the archive: its original is
    the form's own file, the file in the folder that is none of the others and has the
    form's hash (``form_sha256``, from the ledger), so a file someone added to the folder on
    the share is never shown as the form."""
    documents = [safe_file_name(name) for name in receipt.documents if name]
    originals = original_names([receipt.source], documents) if receipt.source else []
    if folder is not None and originals and not (folder / originals[0]).is_file():
        known = set(documents) | _NOT_SERVED
        try:
            originals = sorted(
                entry.name
                for entry in os.scandir(folder)
                if entry.is_file(follow_symlinks=False)
                and entry.name not in known
                and not entry.name.startswith(".")
            )
        except OSError:
            originals = []
        if form_sha256 is not None:  # a refused bundle's forms (none is "the" form): all kept
            originals = [n for n in originals if _sha256_of(folder / n) == form_sha256] or originals
    attachments = unclashed_names(a.name for a in receipt.attachments)
    return originals + documents + [f"{ATTACHMENTS}/{name}" for name in attachments]


def _sha256_of(path: Path) -> str | None:
    try:
        with os.fdopen(open_regular(path), "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def _servable(folder: Path, name: str) -> Path | None:
    """A file the receipt names, if it is a plain file directly in the form's folder (or in
    its ``attachments/``)."""
    inner = name.removeprefix(ATTACHMENTS + "/")
    if inner != name:
        return _plain(folder / ATTACHMENTS, inner)
    return _plain(folder, name)


def _plain(folder: Path, name: str) -> Path | None:
    if (
        not name
        or "/" in name
        or "\\" in name
        or "\0" in name
        or name.startswith(".")
        or name in _NOT_SERVED
    ):
        return None
    path = folder / name
    try:
        os.close(open_regular(path))
    except (NotARegularFile, OSError):
        return None
    return path


def read_receipt(path: Path) -> Receipt:
    try:
        return Receipt.from_json((path / "receipt.json").read_bytes())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise NotFound("This form's receipt cannot be read") from None


def form_view(root: Root, mailbox: str, submission_id: str) -> FormView:
    at = locate(root, mailbox, submission_id)
    receipt = read_receipt(at.path)
    form: dict[str, Any] | None = None
    try:
        loaded = json.loads((at.path / "form.json").read_bytes())
        form = loaded if isinstance(loaded, dict) else None
    except (OSError, ValueError):
        form = None
    withheld = withheld_in([(receipt.form_type or "", form)]) if form is not None else None
    files = [
        FileRef(n, _base(name), content_type(name))
        for n, name in enumerate(named_files(receipt, at.path, at.form_sha256), start=1)
        if _servable(at.path, name) is not None
    ]
    by = handled_by(root, mailbox, submission_id) if at.done else None
    emails = []
    for part in ("referrer", "lead_practitioner"):
        who = (form or {}).get(part)
        if isinstance(who, dict) and isinstance(who.get("email"), str):
            emails.append(who["email"])
    case = (form or {}).get("case_id")
    return FormView(
        submission_id=submission_id,
        mailbox=mailbox,
        folder=at.folder,
        receipt=receipt,
        form=form,
        withheld=withheld,
        files=files,
        handled=at.done,
        handled_by=by,
        finished=at.finished,
        allow_prefill=root.accounts.active(emails) if emails else [],
        case=case if isinstance(case, str) and case else None,
    )


def form_file(root: Root, mailbox: str, submission_id: str, n: int) -> tuple[FileRef, Path]:
    at = locate(root, mailbox, submission_id)
    names = named_files(read_receipt(at.path), at.path, at.form_sha256)
    if not isinstance(n, int) or not 1 <= n <= len(names):
        raise NotFound(f"Form {submission_id} has no file {n}")
    path = _servable(at.path, names[n - 1])
    if path is None:
        raise NotFound(f"Form {submission_id} has no file {n}")
    return FileRef(n, _base(names[n - 1]), content_type(names[n - 1])), path


def _base(name: str) -> str:
    """A file's own name, without the ``attachments/`` it is kept in."""
    return name.rsplit("/", 1)[-1]


def open_form_file(
    root: Root, mailbox: str, submission_id: str, n: int
) -> tuple[FileRef, BinaryIO]:
    """As ``form_file``, but the file opened one step at a time from the outbox, no step
    through a link, so a file or folder (``done/``, the mailbox) swapped for a link on the
    share after the check is never followed (the caller closes it)."""
    ref, path = form_file(root, mailbox, submission_id, n)
    outbox = root.mailroom.outbox
    try:  # every step from the outbox opened without following a link, not just the last
        fd = open_beneath(outbox, path.relative_to(outbox).parts)
    except (OSError, ValueError):
        raise NotFound(f"Form {submission_id} has no file {n}") from None
    return ref, os.fdopen(fd, "rb")


def handled_by(root: Root, mailbox: str, submission_id: str) -> str | None:
    ledger = root.reader()
    if ledger is None:
        return None
    try:
        with ledger.reading() as connection:
            found = connection.execute(
                sa.select(handled.c.handled_by).where(
                    handled.c.mailbox == mailbox, handled.c.submission_id == submission_id
                )
            ).scalar()
    except sa.exc.SQLAlchemyError:
        return None
    return str(found) if found else None


def mark_handled(root: Root, mailbox: str, submission_id: str, by: str, when: dt.datetime) -> Path:
    """Move the copy's folder into ``done/`` (as a person on the share would) and record who
    did it, in one write transaction: two people at once get one success and one
    AlreadyHandled naming the first."""
    at = locate(root, mailbox, submission_id)
    if not at.done and not at.finished:
        raise NotFinished(
            "This form is still being processed: it can be marked as handled once it is finished"
        )
    target = root.mailroom.outbox / mailbox / DONE / at.folder
    with transaction(root.store(), write=True) as connection:
        earlier = connection.execute(
            sa.select(handled.c.handled_by).where(
                handled.c.mailbox == mailbox, handled.c.submission_id == submission_id
            )
        ).scalar()
        # in the write transaction: whoever moved it first through ehforms has committed
        if at.done:
            raise AlreadyHandled(str(earlier) if earlier else None)
        _move_into_done(root.mailroom.outbox, mailbox, at.folder, earlier)
        values = {"folder": at.folder, "handled_by": by, "handled_at": stamp(when)}
        if earlier is None:
            connection.execute(
                handled.insert().values(mailbox=mailbox, submission_id=submission_id, **values)
            )
        else:  # handled before, then moved back out of done/ by hand
            connection.execute(
                handled.update()
                .where(handled.c.mailbox == mailbox, handled.c.submission_id == submission_id)
                .values(**values)
            )
        add(connection, when, by, Action.MARKED_HANDLED, submission_id, detail=mailbox)
    return target


def _move_into_done(outbox: Path, mailbox: str, folder: str, earlier: object) -> None:
    """Rename ``<mailbox>/<folder>`` into ``<mailbox>/done/``, both folders opened without
    following a link (a ``done/`` swapped for a link to another mailbox's never receives it)."""
    already = AlreadyHandled(str(earlier) if earlier else None)
    with contextlib.ExitStack() as opened:
        try:
            box = open_beneath(outbox, (mailbox,), directory=True)
            opened.callback(os.close, box)
            with contextlib.suppress(FileExistsError):
                os.mkdir(DONE, 0o700, dir_fd=box)
            done = open_beneath(outbox, (mailbox, DONE), directory=True)
            opened.callback(os.close, done)
            os.close(open_beneath(outbox, (mailbox, folder), directory=True))
            with contextlib.suppress(FileNotFoundError):
                os.stat(folder, dir_fd=done, follow_symlinks=False)
                raise already
            os.rename(folder, folder, src_dir_fd=box, dst_dir_fd=done)
        except FileNotFoundError:
            raise already from None
        except OSError:
            raise FolderBusy(
                "This form's folder could not be moved (a file in it may be open on the "
                "share): close it and try again"
            ) from None


def counts(root: Root, at: dt.datetime) -> dict[str, dict[str, int]]:
    """Per mailbox: waiting, urgent and overdue, as ``ehforms status`` counts them (a due
    belongs to the primary mailbox only)."""
    found = {}
    for mailbox in root.config.mailboxes:
        rows = root.mailbox(mailbox, at)
        found[mailbox] = {
            "waiting": len(rows),
            "urgent": sum(row.urgent for row in rows),
            "overdue": sum(row.overdue(at) for row in rows),
        }
    return found


def first_child(form: dict[str, Any] | None) -> str | None:
    """The first child's name as a person writes it, for a listing."""
    children = (form or {}).get("children")
    if not isinstance(children, list) or not children or not isinstance(children[0], dict):
        return None
    child = children[0]
    parts = [child.get("given_name"), child.get("family_name")]
    name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    return name or None
