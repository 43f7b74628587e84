"""The ledger's half of a purge, once its files are gone: prefill data of cases past their
time, the details of submissions none of whose files remain blanked, audit rows past their time
(through the trail's permit), the purge recorded in the trail; then the SQLite checkpoint or the
PostgreSQL VACUUM, so deleted rows do not linger.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ehforms.audit import add, os_user, stamp
from ehforms.config import Retention
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
)
from ehforms.purging.consent import settle_withdrawals
from ehforms.retention import Purged, blank_after, held, past

log = logging.getLogger("ehforms")

PURGED = "purged"  # the audit trail's action for a purge
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


def blank_ledger(
    engine: Engine,
    rules: Retention,
    now: dt.datetime,
    report: Purged,
    kept: set[str],
    gone: list[tuple[str, str]],
    *,
    dry_run: bool,
    who: str | None,
) -> None:
    """After a purge's folders: ``kept``, the submissions with a file still on the disk (never
    blanked); ``gone``, the (place, folder) deleted from a ``done/`` (forgotten in
    ``done_seen``). ``dry_run``: counts into ``report``, changes nothing."""
    with transaction(engine) as connection:
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
    with transaction(engine, write=True) as connection:
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
        with transaction(engine, write=True) as connection:
            _blank(connection, list(ids))
    with transaction(engine, write=True) as connection:
        if report.audit_rows:
            connection.execute(audit_purge.insert().values(before=audit_cut))
            connection.execute(audit.delete().where(old_audit))
            connection.execute(audit_purge.delete())
        add(connection, now, who or os_user(), PURGED, detail=report.summary())
    checkpoint(engine)


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
