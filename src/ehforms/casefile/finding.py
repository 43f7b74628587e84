"""Everything a root holds about one case, found for a subject access request (forms.md
"Keeping and deleting"): its forms in the mailboxes, ``done/`` and ``rejected/`` with their
documents, attachments and receipts; forms without a case reference that name the same child
(name and date of birth); the originals in the archive; the prefill data in the ledger; the
audit rows. Reads only, and never follows a link.
"""

from __future__ import annotations

import datetime as dt
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
from ehforms.files import NotARegularFile, open_regular
from ehforms.retention import PURGING, case_of, children_of, held, received_at, submission_of

BY_CASE = "case reference"
BY_CHILD = "child's name and date of birth"
MAX_READ = 64 * 1024 * 1024


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
