"""Everything a root holds about one case, for a subject access request (forms.md "Keeping and
deleting"): its forms in the mailboxes, ``done/`` and ``rejected/`` with their documents,
attachments and receipts; forms without a case reference that name the same child (name and
date of birth); the originals in the archive; the prefill data in the ledger; the audit rows.
And the export of it all into a folder a data protection officer reviews before disclosure.

Reads never follow a link; the export writes only into the folder named, which must be new or
empty (and is neither a link nor inside the working root), folders 0700 and files 0600.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehforms.audit import AuditRow
from ehforms.config import Config
from ehforms.database import audit, case_data, submissions, transaction, withdrawals
from ehforms.errors import ExportRefused
from ehforms.files import NotARegularFile, open_regular
from ehforms.retention import PURGING, case_of, children_of, held, received_at, submission_of

BY_CASE = "case reference"
BY_CHILD = "child's name and date of birth"
EXPORT_DIR_MODE = 0o700
EXPORT_FILE_MODE = 0o600
MAX_READ = 64 * 1024 * 1024

README = """\
Subject access export from ehforms
==================================

This folder holds everything one ehforms working root held about case {ref} when it was
exported ({at}), for a subject access request. Start with index.txt.

Before anything is disclosed:
- it holds third parties' information (other family members, practitioners, referrers, what
  the family asked not to be shared): review it and redact what may not be disclosed;
- it is a copy of personal data about a child: keep it only as long as the request needs,
  somewhere only the people answering the request can read.

ehforms is a mailroom, not the case record: the council's case system holds more.
"""


@dataclass(frozen=True)
class HeldFile:
    kind: str  # form, document, attachment, receipt, original
    path: str  # relative to the working root


@dataclass(frozen=True)
class HeldForm:
    """A form the root holds about the case, in a mailbox, ``done/`` or ``rejected/``."""

    submission_id: str | None
    received_at: dt.datetime | None
    form_type: str | None
    status: str | None
    folder: str  # relative to the working root
    matched_by: str
    files: tuple[HeldFile, ...]


@dataclass(frozen=True)
class CaseFile:
    ref: str
    forms: tuple[HeldForm, ...] = ()
    archived: tuple[HeldFile, ...] = ()  # originals in the archive
    prefill: tuple[dict[str, Any], ...] = ()  # the ledger's prefill data
    withdrawn_on: str | None = None  # consent withdrawn: prefill data erased
    audit: tuple[AuditRow, ...] = ()
    on_hold: bool = False

    @property
    def empty(self) -> bool:
        return not (self.forms or self.archived or self.prefill or self.audit or self.withdrawn_on)


@dataclass
class _Folder:
    path: Path
    form: dict[str, Any] | None
    receipt: dict[str, Any] | None
    sid: str | None = None
    files: list[HeldFile] = field(default_factory=list)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        fd = open_regular(path)
    except (OSError, NotARegularFile):
        return None
    with os.fdopen(fd, "rb") as handle:
        try:
            data = json.loads(handle.read(MAX_READ))
        except ValueError:
            return None
    return data if isinstance(data, dict) else None


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _files(root: Path, folder: Path) -> Iterator[Path]:
    """Every regular file under ``folder``, never through a link."""
    for here, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if _is_dir(Path(here) / d))
        for name in sorted(names):
            path = Path(here) / name
            try:
                if stat.S_ISREG(os.lstat(path).st_mode):
                    yield path
            except OSError:
                continue


def _kind(relative: Path, receipt: dict[str, Any] | None) -> str:
    if relative.parts[0] == "attachments":
        return "attachment"
    if relative.name in ("receipt.json", "errors.txt"):
        return "receipt"
    if relative.name == "form.json":
        return "form"
    documents = (receipt or {}).get("documents") or []
    if relative.name in documents:
        return "document"
    return "original"


def _folders(root: Path, config: Config) -> Iterator[Path]:
    """Every form folder under the mailboxes, their ``done/``, and ``rejected/``."""
    bases = []
    for mailbox in config.mailboxes:
        bases += [root / "outbox" / mailbox, root / "outbox" / mailbox / "done"]
    bases.append(root / "rejected")
    for base in bases:
        if not _is_dir(base):
            continue
        with os.scandir(base) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.name.startswith(".") or entry.name == "done":
                    continue
                if entry.is_dir(follow_symlinks=False):
                    yield Path(entry.path)


def _load(root: Path, path: Path) -> _Folder:
    form = _read_json(path / "form.json")
    receipt = _read_json(path / "receipt.json")
    if form is None:  # a rejected form: its original, if it is JSON
        for candidate in sorted(path.glob("*.json")):
            if candidate.name != "receipt.json":
                form = _read_json(candidate)
                if form is not None:
                    break
    sid = (receipt or {}).get("submission_id") or submission_of(path.name)
    return _Folder(path, form, receipt, sid if isinstance(sid, str) else None)


def find(root: Path, config: Config, engine: Engine | None, ref: str) -> CaseFile:
    """Everything held about case ``ref`` (its reference as typed, trimmed)."""
    ref = ref.strip()
    ledger_ids: set[str] = set()
    prefill: list[dict[str, Any]] = []
    rows: list[AuditRow] = []
    withdrawn = None
    if engine is not None:
        with transaction(engine) as connection:
            ledger_ids = set(
                connection.execute(
                    sa.select(submissions.c.submission_id).where(submissions.c.case_id == ref)
                ).scalars()
            )
            for sid, form_type, at, data in connection.execute(
                sa.select(
                    case_data.c.submission_id,
                    case_data.c.form_type,
                    case_data.c.received_at,
                    case_data.c.data,
                )
                .where(case_data.c.case_id == ref)
                .order_by(case_data.c.received_at)
            ):
                prefill.append(
                    {
                        "submission_id": sid,
                        "form_type": form_type,
                        "received_at": at,
                        "data": json.loads(data),
                    }
                )
            try:
                withdrawn = connection.execute(
                    sa.select(withdrawals.c.withdrawn_on).where(withdrawals.c.case_id == ref)
                ).scalar()
            except sa.exc.DBAPIError:
                withdrawn = None
    folders = [_load(root, path) for path in _folders(root, config)]
    mine = [f for f in folders if case_of(f.form) == ref or (f.sid and f.sid in ledger_ids)]
    children = set().union(
        *(children_of(f.form) for f in mine), *(children_of(p["data"]) for p in prefill)
    )
    theirs = [
        f
        for f in folders
        if f not in mine and not case_of(f.form) and children & children_of(f.form)
    ]
    forms = []
    for matched_by, group in ((BY_CASE, mine), (BY_CHILD, theirs)):
        for folder in group:
            files = tuple(
                HeldFile(
                    _kind(path.relative_to(folder.path), folder.receipt),
                    str(path.relative_to(root)),
                )
                for path in _files(root, folder.path)
            )
            receipt = folder.receipt or {}
            when = receipt.get("received_at")
            forms.append(
                HeldForm(
                    folder.sid,
                    dt.datetime.fromisoformat(when)
                    if isinstance(when, str)
                    else received_at(folder.sid),
                    receipt.get("form_type") or (folder.form or {}).get("form_type"),
                    receipt.get("status"),
                    str(folder.path.relative_to(root)),
                    matched_by,
                    files,
                )
            )
    ids = {f.submission_id for f in forms if f.submission_id} | ledger_ids
    archived: list[HeldFile] = []
    archive = root / ".ehforms" / "archive"
    if _is_dir(archive) and ids:
        with os.scandir(archive) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.name.startswith(PURGING) or not entry.is_dir(follow_symlinks=False):
                    continue
                if submission_of(entry.name) in ids:
                    archived += [
                        HeldFile("original", str(p.relative_to(root)))
                        for p in _files(root, Path(entry.path))
                    ]
    if engine is not None:
        rows = audit_rows(engine, ref, ids)
    return CaseFile(
        ref,
        tuple(
            sorted(
                forms,
                key=lambda f: (f.received_at or dt.datetime.min.replace(tzinfo=dt.UTC), f.folder),
            )
        ),
        tuple(archived),
        tuple(prefill),
        withdrawn,
        tuple(rows),
        held(ref, config.retention),
    )


def audit_rows(engine: Engine, ref: str, ids: set[str]) -> list[AuditRow]:
    """The audit rows naming the case, or one of its submissions; oldest first."""
    where = audit.c.case_ref == ref
    if ids:
        where = sa.or_(where, audit.c.submission_id.in_(sorted(ids)))
    with transaction(engine) as connection:
        found = connection.execute(
            sa.select(
                audit.c.at,
                audit.c.who,
                audit.c.action,
                audit.c.submission_id,
                audit.c.case_ref,
                audit.c.detail,
            )
            .where(where)
            .order_by(audit.c.at, audit.c.id)
        ).all()
    return [
        AuditRow(dt.datetime.fromisoformat(at), who, action, sid, case, detail)
        for at, who, action, sid, case, detail in found
    ]


# -- the export ------------------------------------------------------------------------


def check_target(target: Path, root: Path) -> None:
    """The export folder: new, or an empty folder; never a link; never inside the root (the
    inbox would take it in, a mailbox would show it)."""
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISLNK(mode):
        raise ExportRefused(f"{target} is a link: name a new folder for the export")
    if mode is not None and not stat.S_ISDIR(mode):
        raise ExportRefused(f"{target} is not a folder: name a new folder for the export")
    if mode is not None and _not_empty(target):
        raise ExportRefused(
            f"{target} is not empty: name a new or empty folder, so the export holds this "
            "case alone"
        )
    whole = target.parent.resolve() / target.name
    if whole == root.resolve() or root.resolve() in whole.parents:
        raise ExportRefused(
            f"{target} is inside the working root: name a folder outside it for the export"
        )
    if not target.parent.is_dir():
        raise ExportRefused(f"{target.parent} does not exist: make it, or name another folder")


def _not_empty(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return any(True for _ in entries)


def _mkdir(path: Path) -> None:
    os.mkdir(path, EXPORT_DIR_MODE)
    os.chmod(path, EXPORT_DIR_MODE)


def _write(path: Path, data: bytes) -> None:
    fd = os.open(
        path,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
        EXPORT_FILE_MODE,
    )
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), EXPORT_FILE_MODE)
        handle.write(data)


def _copy(source: Path, target: Path) -> bool:
    try:
        fd = open_regular(source)
    except (OSError, NotARegularFile):
        return False
    with os.fdopen(fd, "rb") as handle:
        data = handle.read()
    target.parent.mkdir(parents=True, exist_ok=True, mode=EXPORT_DIR_MODE)
    _write(target, data)
    return True


def export(root: Path, found: CaseFile, target: Path, at: dt.datetime) -> list[str]:
    """Copy everything held about the case into ``target`` (checked by :func:`check_target`
    first), with index.txt, README.txt, audit.csv and prefill-data.json; the paths written,
    relative to ``target``."""
    check_target(target, root)
    if not target.exists():
        _mkdir(target)
    else:
        os.chmod(target, EXPORT_DIR_MODE)
    written: list[str] = []
    lines = [
        f"Case {found.ref}: everything this ehforms root held, exported {at.isoformat()}",
        "",
    ]
    if found.on_hold:
        lines += ["This case is on legal hold: nothing of it is deleted by the purge.", ""]
    lines.append(f"Forms ({len(found.forms)}), each in forms/<n>-<submission id>/:")
    for n, form in enumerate(found.forms, 1):
        name = f"{n:03d}-{form.submission_id or 'unknown'}"
        when = form.received_at.isoformat() if form.received_at else "time unknown"
        lines.append(
            f"  {name}: {form.form_type or 'not a form'}, {form.status or 'status unknown'}, "
            f"received {when}, held in {form.folder} (matched by {form.matched_by})"
        )
        base = Path(form.folder)
        for held_file in form.files:
            relative = Path(held_file.path).relative_to(base)
            destination = target / "forms" / name / relative
            (target / "forms").mkdir(exist_ok=True, mode=EXPORT_DIR_MODE)
            (target / "forms" / name).mkdir(exist_ok=True, mode=EXPORT_DIR_MODE)
            if _copy(root / held_file.path, destination):
                written.append(str(destination.relative_to(target)))
                lines.append(f"    {held_file.kind}: {destination.relative_to(target)}")
    lines += ["", f"Originals kept in the archive ({len(found.archived)}), in archive/:"]
    for held_file in found.archived:
        relative = Path(held_file.path).relative_to(Path(".ehforms") / "archive")
        destination = target / "archive" / relative
        (target / "archive").mkdir(exist_ok=True, mode=EXPORT_DIR_MODE)
        if _copy(root / held_file.path, destination):
            written.append(str(destination.relative_to(target)))
            lines.append(f"  original: {destination.relative_to(target)}")
    lines += ["", f"Prefill data in the ledger: {len(found.prefill)} forms (prefill-data.json)"]
    if found.withdrawn_on:
        lines.append(
            f"  The family withdrew consent on {found.withdrawn_on}: the prefill data from "
            "before then was erased."
        )
    _write(
        target / "prefill-data.json",
        (json.dumps(list(found.prefill), indent=2, ensure_ascii=False) + "\n").encode(),
    )
    written.append("prefill-data.json")
    buffer = io.StringIO()
    sheet = csv.writer(buffer)
    sheet.writerow(["at", "who", "action", "submission_id", "case", "detail"])
    for row in found.audit:
        sheet.writerow(
            [
                row.at.isoformat(),
                row.who,
                row.action,
                row.submission_id or "",
                row.case or "",
                row.detail or "",
            ]
        )
    _write(target / "audit.csv", buffer.getvalue().encode())
    written.append("audit.csv")
    lines += [
        "",
        f"Audit rows (who saw, downloaded, prefilled, exported or handled what): "
        f"{len(found.audit)} (audit.csv)",
        "",
    ]
    _write(target / "README.txt", README.format(ref=found.ref, at=at.isoformat()).encode())
    _write(target / "index.txt", ("\n".join(lines) + "\n").encode())
    return ["README.txt", "index.txt", *written]
