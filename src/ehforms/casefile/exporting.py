"""The export of everything held about a case (found by ``casefile.find``) into a folder a
data protection officer reviews before disclosure: the files copied, with index.txt, README.txt,
audit.csv and prefill-data.json. Writes only into the folder named, which must be new or empty
(and is neither a link nor inside the working root), folders 0700 and files 0600.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import stat
from pathlib import Path

from ehforms.casefile.finding import CaseFile
from ehforms.errors import ExportRefused
from ehforms.files import NotARegularFile, open_regular

EXPORT_DIR_MODE = 0o700
EXPORT_FILE_MODE = 0o600

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
