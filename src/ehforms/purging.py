"""Keeping and deleting, done (forms.md "Keeping and deleting"): the purge of handled folders,
rejected folders, archived originals, prefill data and audit rows past their time, and the
erasure of a case's prefill data when its family withdraws consent. ``ehforms.retention``
decides what is past its time; this module finds it on the disk and in the ledger and deletes it.

Safe against a crash: a folder is renamed ``.purging-<name>`` before it is deleted, and a
purge first finishes any such folder a killed one left; the ledger is blanked only after the
files are gone, for submissions none of whose files remain. Never follows a link: a folder
that is a link (or a mailbox, ``done/`` or ``rejected/`` that is one) is reported and left.
A file that cannot be removed is reported, and the rest goes on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import stat
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ehforms.audit import add, os_user, stamp
from ehforms.config import Config
from ehforms.database import (
    audit,
    audit_purge,
    case_data,
    deliveries,
    done_seen,
    events,
    handled,
    submissions,
    transaction,
    withdrawals,
)
from ehforms.files import NotARegularFile, open_regular
from ehforms.locks import PURGE, once
from ehforms.retention import (
    ARCHIVED,
    HANDLED,
    PURGING,
    REJECTED,
    Purged,
    blank_after,
    case_of,
    due,
    held,
    kept_after_withdrawal,
    past,
    purge_due,
    received_at,
    submission_of,
    withdrawal,
)

log = logging.getLogger("ehforms")

PURGED = "purged"  # the audit trail's action for a purge
WATCH = "ehforms watch"  # who the daily purge is, in the audit trail
DONE = "done"
CHUNK = 500


def _time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
        self._ledger(now, report, kept, gone, dry_run=dry_run, who=who)
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

    # -- the ledger ---------------------------------------------------------------------

    def _ledger(
        self,
        now: dt.datetime,
        report: Purged,
        kept: set[str],
        gone: list[tuple[str, str]],
        *,
        dry_run: bool,
        who: str | None,
    ) -> None:
        rules = self.rules
        with transaction(self.engine) as connection:
            last_forms = connection.execute(
                sa.select(case_data.c.case_id, sa.func.max(case_data.c.received_at)).group_by(
                    case_data.c.case_id
                )
            ).all()
            old = cutoff_text(now, blank_after(rules))
            candidates = connection.execute(
                sa.select(submissions.c.submission_id, submissions.c.case_id).where(
                    submissions.c.state == "done",
                    submissions.c.folder.is_not(None),
                    submissions.c.received_at < old,
                )
            ).all()
            audit_cut = cutoff_text(now, rules.audit_days)
            old_audit = audit.c.at < audit_cut
            if rules.hold:
                old_audit = sa.and_(
                    old_audit,
                    sa.or_(audit.c.case_ref.is_(None), audit.c.case_ref.not_in(sorted(rules.hold))),
                )
            report.audit_rows = int(
                connection.execute(sa.select(sa.func.count()).where(old_audit)).scalar() or 0
            )
        expired = [
            case
            for case, last in last_forms
            if not held(case, rules) and past(_time(last), rules.case_days, now)
        ]
        report.cases = len(expired)
        blank = [sid for sid, case in candidates if sid not in kept and not held(case, rules)]
        report.blanked = len(blank)
        if dry_run:
            return
        with transaction(self.engine, write=True) as connection:
            for cases in _chunks(expired):
                connection.execute(case_data.delete().where(case_data.c.case_id.in_(cases)))
            settle_withdrawals(connection, None)
            if gone:  # one executemany
                connection.execute(
                    done_seen.delete().where(
                        done_seen.c.place == sa.bindparam("b_place"),
                        done_seen.c.folder == sa.bindparam("b_folder"),
                    ),
                    [{"b_place": place, "b_folder": folder} for place, folder in gone],
                )
        for ids in _chunks(blank):
            with transaction(self.engine, write=True) as connection:
                _blank(connection, list(ids))
        with transaction(self.engine, write=True) as connection:
            if report.audit_rows:
                connection.execute(audit_purge.insert().values(before=audit_cut))
                connection.execute(audit.delete().where(old_audit))
                connection.execute(audit_purge.delete())
            add(connection, now, who or os_user(), PURGED, detail=report.summary())
        checkpoint(self.engine)


def cutoff_text(now: dt.datetime, days: int) -> str:
    return stamp(now - dt.timedelta(days=days))


def _blank(connection: Connection, ids: list[str]) -> None:
    """What the ledger keeps of a submission whose files are all gone: its id, hashes, form
    type, outcome and dates (duplicates are still recognised); the file's name, the case
    reference, the folder's name and the events' details are blanked. One statement a table
    for the chunk (``events`` has no index by submission: one pass, not one a submission)."""
    connection.execute(
        submissions.update()
        .where(submissions.c.submission_id.in_(ids))
        .values(source="", case_id=None, folder=None)
    )
    connection.execute(
        deliveries.update().where(deliveries.c.submission_id.in_(ids)).values(folder="")
    )
    connection.execute(events.update().where(events.c.submission_id.in_(ids)).values(detail=""))
    connection.execute(handled.update().where(handled.c.submission_id.in_(ids)).values(folder=""))


# the tables a purge deletes from or blanks: VACUUMed after it on PostgreSQL
_VACUUMED = ("submissions", "deliveries", "events", "handled", "case_data", "audit", "done_seen")


def checkpoint(engine: Engine) -> None:
    """Deleted rows do not linger in SQLite's write-ahead log: a truncating checkpoint. On
    PostgreSQL, a plain VACUUM of the tables a purge changed removes their dead rows now rather
    than when autovacuum comes round (see docs/data-protection.md)."""
    if engine.dialect.name == "postgresql":
        vacuum(engine)
        return
    if engine.dialect.name != "sqlite":
        return
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    except sa.exc.DBAPIError as error:  # busy: the next purge tries again
        log.warning("the ledger's write-ahead log was not checkpointed (%s)", error.orig)


def vacuum(engine: Engine) -> None:
    """A plain (not FULL) VACUUM: no exclusive lock, so forms go on being recorded; outside a
    transaction, as PostgreSQL requires. A role that does not own the tables gets a warning
    from the server and autovacuum does it later."""
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.exec_driver_sql("VACUUM " + ", ".join(_VACUUMED))
    except sa.exc.DBAPIError as error:  # the next purge (or autovacuum) does it
        log.warning("the ledger was not vacuumed after the purge (%s)", type(error.orig).__name__)


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


# -- consent withdrawn: erased at once, kept erased ----------------------------------------


def withdrawals_in(
    outcomes: Iterable[tuple[str | None, str | None, Any]],
) -> dict[str, str]:
    """From (form_type, case_id, form) of outcomes being recorded: the cases whose family
    withdrew consent, with the date."""
    found: dict[str, str] = {}
    for form_type, case_id, form in outcomes:
        day = withdrawal(form_type, form) if case_id else None
        if case_id and day is not None:
            found[case_id] = max(day, found.get(case_id, day))
    return found


def settle_withdrawals(
    connection: Connection,
    cases: Iterable[str] | None,
    withdrawn: dict[str, str] | None = None,
) -> int:
    """Record new withdrawals of consent (``withdrawn``: case → date) as content-free
    tombstones, and erase the prefill data of every case with a tombstone (``cases``: these
    only; None: all) but what came with consent dated after the withdrawal. Inside the
    caller's write transaction; returns the rows erased."""
    withdrawn = withdrawn or {}
    if withdrawn:
        tombstones = dict(
            connection.execute(
                sa.select(withdrawals.c.case_id, withdrawals.c.withdrawn_on).where(
                    withdrawals.c.case_id.in_(sorted(withdrawn))
                )
            ).all()
        )
        for case, day in withdrawn.items():
            if case not in tombstones:
                connection.execute(withdrawals.insert().values(case_id=case, withdrawn_on=day))
            elif day > tombstones[case]:
                connection.execute(
                    withdrawals.update()
                    .where(withdrawals.c.case_id == case)
                    .values(withdrawn_on=day)
                )
    query = sa.select(withdrawals.c.case_id, withdrawals.c.withdrawn_on)
    if cases is not None:
        wanted = sorted(set(cases) | set(withdrawn))
        if not wanted:
            return 0
        query = query.where(withdrawals.c.case_id.in_(wanted))
    erased = 0
    for case, day in connection.execute(query).all():
        rows = connection.execute(
            sa.select(case_data.c.submission_id, case_data.c.form_type, case_data.c.data)
            .where(case_data.c.case_id == case)
            .order_by(case_data.c.received_at, case_data.c.submission_id)
        ).all()
        forms = [(form_type, _loads(data)) for _, form_type, data in rows]
        start = kept_after_withdrawal(forms, day)
        doomed = [sid for sid, _, _ in rows[:start]]
        if doomed:
            connection.execute(case_data.delete().where(case_data.c.submission_id.in_(doomed)))
            erased += len(doomed)
    return erased


def _loads(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def withdrawn_on(engine: Engine, case: str) -> str | None:
    """The date a case's family withdrew consent, if it has a tombstone."""
    try:
        with transaction(engine) as connection:
            return connection.execute(
                sa.select(withdrawals.c.withdrawn_on).where(withdrawals.c.case_id == case)
            ).scalar()
    except Exception:  # a ledger not yet upgraded has none
        return None


# -- once a day, beside watch --------------------------------------------------------------


def last_purge(engine: Engine) -> dt.datetime | None:
    with transaction(engine) as connection:
        found = connection.execute(
            sa.select(sa.func.max(audit.c.at)).where(audit.c.action == PURGED)
        ).scalar()
    return _time(found)


class DailyPurge:
    """``watch`` purges once a day (the first time a minute after it starts, when none has
    run today), on a thread of its own so a long purge never delays a form; a failure is
    logged and tried again a minute later."""

    def __init__(
        self,
        root: Path,
        config: Config,
        engine: Engine,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        every: float = 60.0,
        delay: float = 60.0,
    ) -> None:
        self.purge = Purge(root, config, engine)
        self.zone = config.timezone
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.every = every
        self.delay = delay  # after watch starts: the backlog first
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ehforms-purge", daemon=True)

    def tick(self, now: dt.datetime | None = None) -> Purged | None:
        """Purge if none has run today (local date); the report, or None."""
        now = now or self.clock()
        engine = self.purge.engine
        if not purge_due(last_purge(engine), now, self.zone):
            return None
        # with several watchers on a PostgreSQL ledger, the one that takes the job's lock
        # purges (and ``ehforms purge`` takes it too); the others look again next time
        with once(engine, PURGE) as mine:
            if not mine or not purge_due(last_purge(engine), now, self.zone):
                return None
            report = self.purge.run(now, who=WATCH, halt=self._halt)
        log.info("purged what was past its retention time (%s)", report.summary())
        for problem in report.problems:
            log.warning("purge: %s", problem)
        return report

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait: float = 3.0) -> None:
        """Stop between two folders; a purge cut short (or a process ended in the middle of
        one) is finished by the next, so ``watch`` never waits long for it."""
        self._halt.set()
        if self._thread.is_alive():
            self._thread.join(timeout=wait)

    def _run(self) -> None:
        self._halt.wait(self.delay)
        while not self._halt.is_set():
            try:
                self.tick()
            except Exception as error:  # the ledger busy, a share gone: tried again later
                log.error("the daily purge failed (%s): trying again later", type(error).__name__)
            self._halt.wait(self.every)
