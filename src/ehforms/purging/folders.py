"""The purge over the folders: handled folders, rejected folders and archived originals past
their time (``ehforms.retention`` decides), found on the disk and deleted; then the ledger's
half (``blanking``).

Safe against a crash: a folder is renamed ``.purging-<name>`` before it is deleted, and a
purge first finishes any such folder a killed one left; the ledger is blanked only after the
files are gone, for submissions none of whose files remain. Never follows a link: a folder
that is a link (or a mailbox, ``done/`` or ``rejected/`` that is one) is reported and left.
A file that cannot be removed is reported, and the rest goes on.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ehforms.audit import stamp
from ehforms.config import Config
from ehforms.database import done_seen, handled, submissions, transaction
from ehforms.files import NotARegularFile, open_regular
from ehforms.purging.blanking import _chunks, _time, blank_ledger
from ehforms.retention import (
    ARCHIVED,
    HANDLED,
    PURGING,
    REJECTED,
    Purged,
    case_of,
    due,
    received_at,
    submission_of,
)

DONE = "done"


@dataclass
class _Known:
    """What the ledger says of the folders a purge meets."""

    case: dict[str, str | None]  # submission id → case reference
    handled_at: dict[tuple[str, str], str]  # (mailbox, submission id) → when marked handled
    seen_at: dict[tuple[str, str], str]  # (place, folder) → when a purge first saw it in done/


def _known(connection: Connection) -> _Known:
    cases = dict(
        connection.execute(sa.select(submissions.c.submission_id, submissions.c.case_id)).all()
    )
    marked = {
        (mailbox, sid): at
        for mailbox, sid, at in connection.execute(
            sa.select(handled.c.mailbox, handled.c.submission_id, handled.c.handled_at)
        )
    }
    seen = {
        (place, folder): at
        for place, folder, at in connection.execute(
            sa.select(done_seen.c.place, done_seen.c.folder, done_seen.c.seen_at)
        )
    }
    return _Known(cases, marked, seen)


def _folder_case(folder: Path) -> str | None:
    """The case reference in a folder's form, or a rejected folder's original (never through
    a link); None when unreadable."""
    names = ["form.json"] + sorted(
        p.name for p in folder.glob("*.json") if p.name not in ("form.json", "receipt.json")
    )
    for name in names:
        try:
            fd = open_regular(folder / name)
        except (OSError, NotARegularFile):
            continue
        with os.fdopen(fd, "rb") as handle:
            try:
                data = json.loads(handle.read(5 * 1024 * 1024))
            except ValueError:
                continue
        if isinstance(data, dict) and case_of(data):
            return case_of(data)
    return None


def _real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _remove_tree(path: Path) -> list[str]:
    """Delete a folder (renamed ``.purging-`` already), never following a link; the reasons
    anything in it could not be removed."""
    failures: list[str] = []

    def failed(_function: Any, _path: str, info: Any) -> None:
        error = info[1]
        failures.append(getattr(error, "strerror", None) or type(error).__name__)

    if not _real_dir(path):
        return ["it is not a folder"]
    shutil.rmtree(path, onerror=failed)
    return failures


class Purge:
    """One purge of one root, as of ``now``. ``dry_run``: says what would go, changes nothing
    (not even the handled time of a folder seen in ``done/`` for the first time)."""

    def __init__(self, root: Path, config: Config, engine: Engine) -> None:
        self.root = root
        self.config = config
        self.rules = config.retention
        self.engine = engine
        self.outbox = root / "outbox"
        self.rejected = root / "rejected"
        self.archive = root / ".ehforms" / "archive"

    def run(
        self,
        now: dt.datetime,
        *,
        dry_run: bool = False,
        who: str | None = None,
        halt: threading.Event | None = None,
    ) -> Purged:
        """``halt``: set when ``watch`` stops; the purge stops between two folders, leaving
        the rest (and the ledger) to the next purge."""
        if now.tzinfo is None:
            raise ValueError("a purge's time needs a time zone")
        report = Purged(dry_run=dry_run)
        with transaction(self.engine) as connection:
            known = _known(connection)
        kept: set[str] = set()  # submission ids with a file still on the disk
        waiting: set[str] = set()  # with a folder still waiting in a mailbox
        first_seen: list[dict[str, str]] = []
        gone: list[tuple[str, str]] = []  # (place, folder) deleted from done/
        handled_folders: list[tuple[str, Path, str | None]] = []
        for mailbox in self.config.mailboxes:
            base = self.outbox / mailbox
            for entry in self._entries(base, report):
                sid = submission_of(entry.name)
                if entry.name == DONE or entry.name.startswith("."):
                    continue
                if sid:
                    kept.add(sid)
                    waiting.add(sid)
            done = base / DONE
            for entry in self._entries(done, report):
                sid = submission_of(entry.name)
                if entry.name.startswith(PURGING):
                    handled_folders.append((mailbox, Path(entry.path), sid))
                    continue
                if entry.name.startswith("."):
                    continue
                handled_folders.append((mailbox, Path(entry.path), sid))
        # handled folders: when handled (marked through ehforms, or first seen here)
        plan: list[tuple[str, Path, str | None, str | None]] = []  # (kind, path, id, place)
        for mailbox, path, sid in handled_folders:
            place = f"outbox/{mailbox}"
            if path.name.startswith(PURGING):
                plan.append((HANDLED, path, sid, place))
                continue
            if path.is_symlink():
                report.problems.append(_left_alone(sid, "a handled folder"))
                if sid:
                    kept.add(sid)
                continue
            if not _real_dir(path):  # a stray file (Thumbs.db): not a form, not ours
                continue
            at = known.handled_at.get((mailbox, sid or "")) or known.seen_at.get((place, path.name))
            if at is None:
                at = stamp(now)
                first_seen.append({"place": place, "folder": path.name, "seen_at": at})
            case = self._case(known, sid, path)
            if due(HANDLED, _time(at), case, self.rules, now):
                plan.append((HANDLED, path, sid, place))
            elif sid:
                kept.add(sid)
        for entry in self._entries(self.rejected, report):
            sid = submission_of(entry.name)
            path = Path(entry.path)
            if entry.name.startswith(PURGING):
                plan.append((REJECTED, path, sid, None))
            elif entry.name.startswith("."):
                continue
            elif entry.is_symlink():
                report.problems.append(_left_alone(sid, "a rejected folder"))
                if sid:
                    kept.add(sid)
            elif _real_dir(path):
                case = self._case(known, sid, path)
                if due(REJECTED, received_at(sid), case, self.rules, now):
                    plan.append((REJECTED, path, sid, None))
                elif sid:
                    kept.add(sid)
        for entry in self._entries(self.archive, report):
            sid = submission_of(entry.name)
            path = Path(entry.path)
            if entry.name.startswith(PURGING):
                plan.append((ARCHIVED, path, sid, None))
            elif entry.name.startswith("."):
                continue
            elif entry.is_symlink():
                report.problems.append(_left_alone(sid, "an archived original"))
                if sid:
                    kept.add(sid)
            elif not _real_dir(path):
                continue
            elif sid not in waiting and due(
                ARCHIVED, received_at(sid), self._case(known, sid, path), self.rules, now
            ):
                plan.append((ARCHIVED, path, sid, None))
            elif sid:
                kept.add(sid)
        if not dry_run and first_seen:
            with transaction(self.engine, write=True) as connection:
                for rows in _chunks(first_seen):
                    connection.execute(
                        done_seen.insert().values(
                            place=sa.bindparam("place"),
                            folder=sa.bindparam("folder"),
                            seen_at=sa.bindparam("seen_at"),
                        ),
                        list(rows),
                    )
        for kind, path, sid, home in plan:
            if halt is not None and halt.is_set():
                return report
            if dry_run:
                report.add(kind, sid)
                continue
            if self._delete(path, kind, sid, report):
                report.add(kind, sid)
                if home is not None:
                    gone.append((home, path.name.removeprefix(PURGING)))
            elif sid:
                kept.add(sid)
        blank_ledger(self.engine, self.rules, now, report, kept, gone, dry_run=dry_run, who=who)
        for kind in report.deleted:
            report.deleted[kind].sort()
        return report

    def _case(self, known: _Known, sid: str | None, folder: Path) -> str | None:
        """The case a folder is of, when a legal hold may keep it: from the ledger, or else
        from its form (or original), read only when some case is on hold."""
        if not self.rules.hold:
            return None
        return known.case.get(sid or "") or _folder_case(folder)

    def _entries(self, base: Path, report: Purged) -> list[os.DirEntry[str]]:
        """A folder's entries; none (and a problem reported) when it is a link, none when it
        is not there."""
        try:
            mode = os.lstat(base).st_mode
        except FileNotFoundError:
            return []
        if not stat.S_ISDIR(mode):
            where = base.relative_to(self.root)
            report.problems.append(f"{where} is not a folder (a link?): left alone")
            return []
        with os.scandir(base) as found:
            return sorted(found, key=lambda e: e.name)

    def _delete(self, path: Path, kind: str, sid: str | None, report: Purged) -> bool:
        """Rename to ``.purging-<name>``, then delete; False (and a problem) if anything stays."""
        target = path
        if not path.name.startswith(PURGING):
            target = path.with_name(PURGING + path.name)
            try:
                os.rename(path, target)
            except OSError as error:
                report.problems.append(_not_deleted(kind, sid, error.strerror or "error"))
                return False
        failures = _remove_tree(target)
        if failures:
            report.problems.append(_not_deleted(kind, sid, failures[0]))
            return False
        return True


def _left_alone(sid: str | None, what: str) -> str:
    which = f"submission {sid}" if sid else "an entry with no submission id"
    return f"{what.capitalize()} of {which} is not a folder (a link?): left alone"


def _not_deleted(kind: str, sid: str | None, why: str) -> str:
    what = {HANDLED: "handled folder", REJECTED: "rejected folder", ARCHIVED: "archived original"}
    which = f"submission {sid}" if sid else "an entry with no submission id"
    return (
        f"The {what[kind]} of {which} could not be deleted ({why}): close what holds it; the "
        "next purge tries again"
    )
