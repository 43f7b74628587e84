"""The weekly report's figures (``/reports``, ``ehforms report``): counts only, from the ledger.

For the last ``weeks`` complete weeks and the current one, each starting Monday 00:00 in the
council's time zone: forms received by form type, by mailbox and by outcome; how long copies
waited from receipt to being marked handled, per mailbox; and, from the caller, what waits and
is overdue now. The ledger does the counting (SQLAlchemy Core, ``GROUP BY`` over a ``CASE`` that
names each form's week: plain SQL that SQLite and PostgreSQL read alike); only the handled
copies of the weeks shown are fetched one by one, for their median and 90th percentile.

Times in the ledger are UTC ISO 8601 text (a submission's ``received_at`` to the second, as its
id carries it; ``handled_at`` to the microsecond), so a week's bounds are compared as text of
the same form. Pure but for the queries: no file is read, nothing is written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ehforms.database import deliveries, handled, submissions

OUTCOMES = ("routed", "redirected", "rejected", "duplicate")
REJECTED = "rejected"  # the place rejected and duplicate forms go: a row of its own
UNKNOWN = "unknown"  # a file whose form type could not be read
CSV_COLUMNS = (
    "week_start",
    "mailbox",
    "form_type",
    "received",
    "routed",
    "redirected",
    "rejected",
    "duplicate",
    "handled",
    "median_hours_to_handle",
)


@dataclass(frozen=True)
class Line:
    """One row of the CSV: a week, a mailbox (or ``rejected``) and a form type. A mailbox with
    nothing in a week still has one row, with an empty form type and zeros."""

    week_start: dt.date
    mailbox: str
    form_type: str
    received: int
    routed: int
    redirected: int
    rejected: int
    duplicate: int
    handled: int
    median_hours: float | None


@dataclass(frozen=True)
class Handling:
    """A mailbox's copies received in the weeks shown and marked handled by now: how many, and
    the median and 90th percentile of the hours from receipt to handled."""

    mailbox: str
    handled: int
    median_hours: float | None
    p90_hours: float | None


@dataclass(frozen=True)
class Waiting:
    """What waits in a mailbox now, and how much of it is overdue (as ``ehforms status``)."""

    mailbox: str
    waiting: int
    overdue: int


@dataclass(frozen=True)
class Report:
    """The weekly report. Every series has one count per week, oldest week first; the last
    week is the current one, up to ``at``."""

    at: dt.datetime
    zone: str
    weeks: tuple[dt.date, ...]  # each week's Monday, in the council's time zone
    received: tuple[int, ...]  # forms with an outcome, each counted once
    by_type: dict[str, tuple[int, ...]]  # form type → forms (each once)
    by_mailbox: dict[str, tuple[int, ...]]  # mailbox (or rejected) → copies delivered there
    outcomes: dict[str, tuple[int, ...]]  # routed, redirected, rejected, duplicate (each once)
    handling: tuple[Handling, ...]
    waiting: tuple[Waiting, ...]
    lines: tuple[Line, ...]

    @property
    def current(self) -> dt.date:
        return self.weeks[-1]


def week_starts(at: dt.datetime, zone: ZoneInfo, weeks: int) -> list[dt.date]:
    """The Mondays of the last ``weeks`` complete weeks and of the current one, oldest first,
    in ``zone`` (a week is Monday 00:00 to the next Monday 00:00 there)."""
    today = at.astimezone(zone).date()
    monday = today - dt.timedelta(days=today.weekday())
    return [monday - dt.timedelta(weeks=n) for n in range(weeks, -1, -1)]


def starts_at(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """Monday 00:00 in ``zone`` as a UTC time (a week across a clock change is 167 or 169
    hours long)."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def _text(at: dt.datetime, timespec: str = "seconds") -> str:
    """A time as the ledger writes it: UTC ISO 8601."""
    return at.astimezone(dt.UTC).isoformat(timespec=timespec)


def _percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (PostgreSQL's ``percentile_cont``,
    ``statistics.quantiles(method="inclusive")``)."""
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[round(fraction * 100) - 1]


def _ranks(names: Iterable[str]) -> dict[str, int]:
    """Each name's place in the order it first appears."""
    ranks: dict[str, int] = {}
    for name in names:
        ranks.setdefault(name, len(ranks))
    return ranks


def _mailbox(place: str) -> str:
    return place.removeprefix("outbox/")


def figures(
    connection: Connection | None,
    *,
    at: dt.datetime,
    zone: ZoneInfo,
    weeks: int,
    mailboxes: Sequence[str],
    form_types: Sequence[str],
    waiting: Mapping[str, Mapping[str, int]],
) -> Report:
    """The report as of ``at`` from the ledger on ``connection`` (None: no ledger yet, every
    count 0). ``mailboxes`` and ``form_types`` give the order (a mailbox or type the ledger
    has and they lack comes after them); ``waiting`` is ``Root.counts``: per mailbox, what
    waits and what is overdue now."""
    if weeks < 1:
        raise ValueError("a report covers at least one complete week")
    mondays = week_starts(at, zone, weeks)
    bounds = [starts_at(day, zone) for day in mondays]
    start, end = _text(bounds[0]), _text(at)
    received_at = submissions.c.received_at
    week = sa.case(
        *[(received_at >= _text(bound), n) for n, bound in reversed(list(enumerate(bounds)))],
        else_=-1,
    ).label("week")
    in_window = sa.and_(submissions.c.state == "done", received_at >= start, received_at <= end)
    per_form: list[tuple[Any, ...]] = []
    per_copy: list[tuple[Any, ...]] = []
    handled_rows: list[tuple[Any, ...]] = []
    if connection is not None:
        per_form = list(
            connection.execute(
                sa.select(week, submissions.c.form_type, submissions.c.status, sa.func.count())
                .where(in_window)
                .group_by(week, submissions.c.form_type, submissions.c.status)
            )
        )
        per_copy = list(
            connection.execute(
                sa.select(
                    week,
                    deliveries.c.place,
                    submissions.c.form_type,
                    submissions.c.status,
                    sa.func.count(),
                )
                .join(deliveries, deliveries.c.submission_id == submissions.c.submission_id)
                .where(in_window)
                .group_by(week, deliveries.c.place, submissions.c.form_type, submissions.c.status)
            )
        )
        handled_rows = list(
            connection.execute(
                sa.select(
                    week,
                    handled.c.mailbox,
                    submissions.c.form_type,
                    received_at,
                    handled.c.handled_at,
                )
                .join(handled, handled.c.submission_id == submissions.c.submission_id)
                .join(
                    deliveries,
                    sa.and_(
                        deliveries.c.submission_id == handled.c.submission_id,
                        deliveries.c.place == sa.literal("outbox/") + handled.c.mailbox,
                    ),
                )
                .where(
                    in_window,
                    # handled after it was received, so not before the first week: said
                    # here, it spares the look-ups of every copy handled before it
                    handled.c.handled_at >= start,
                    handled.c.handled_at <= _text(at, "microseconds"),
                )
            )
        )
    n = len(mondays)

    def series() -> list[int]:
        return [0] * n

    types = list(form_types)
    by_type: dict[str, list[int]] = {t: series() for t in types}
    outcomes: dict[str, list[int]] = {o: series() for o in OUTCOMES}
    received = series()
    for w, form_type, status, count in per_form:
        if not 0 <= w < n:
            continue
        by_type.setdefault(form_type or UNKNOWN, series())[w] += count
        outcomes.setdefault(status, series())[w] += count
        received[w] += count
    places = [*mailboxes, REJECTED]
    by_mailbox: dict[str, list[int]] = {m: series() for m in places}
    # (week, mailbox, form type) → counts by outcome, then handled hours
    cells: dict[tuple[int, str, str], dict[str, int]] = {}
    for w, place, form_type, status, count in per_copy:
        if not 0 <= w < n:
            continue
        mailbox = _mailbox(place)
        by_mailbox.setdefault(mailbox, series())[w] += count
        cell = cells.setdefault((w, mailbox, form_type or UNKNOWN), dict.fromkeys(OUTCOMES, 0))
        cell[status] = cell.get(status, 0) + count
    hours: dict[tuple[int, str, str], list[float]] = {}
    per_mailbox: dict[str, list[float]] = {}
    for w, mailbox, form_type, received_text, handled_text in handled_rows:
        if not 0 <= w < n:
            continue
        took = dt.datetime.fromisoformat(handled_text) - dt.datetime.fromisoformat(received_text)
        value = max(took.total_seconds(), 0.0) / 3600
        hours.setdefault((w, mailbox, form_type or UNKNOWN), []).append(value)
        per_mailbox.setdefault(mailbox, []).append(value)
    order = _ranks([*places, *sorted(by_mailbox)])
    kinds = _ranks([*types, UNKNOWN, *sorted(by_type)])
    lines = []
    for w, monday in enumerate(mondays):
        for mailbox in sorted(by_mailbox, key=order.__getitem__):
            found = sorted(
                (key for key in cells if key[0] == w and key[1] == mailbox),
                key=lambda key: kinds.get(key[2], len(kinds)),
            )
            if not found:
                lines.append(Line(monday, mailbox, "", 0, 0, 0, 0, 0, 0, None))
            for key in found:
                counts = cells[key]
                took_hours = hours.get(key, [])
                lines.append(
                    Line(
                        monday,
                        mailbox,
                        key[2],
                        sum(counts.values()),
                        counts["routed"],
                        counts["redirected"],
                        counts["rejected"],
                        counts["duplicate"],
                        len(took_hours),
                        statistics.median(took_hours) if took_hours else None,
                    )
                )
    handling = tuple(
        Handling(
            mailbox,
            len(per_mailbox.get(mailbox, [])),
            statistics.median(per_mailbox[mailbox]) if per_mailbox.get(mailbox) else None,
            _percentile(per_mailbox[mailbox], 0.9) if per_mailbox.get(mailbox) else None,
        )
        for mailbox in [*mailboxes, *sorted(set(per_mailbox) - set(mailboxes))]
    )
    return Report(
        at=at,
        zone=zone.key,
        weeks=tuple(mondays),
        received=tuple(received),
        by_type={t: tuple(c) for t, c in sorted(by_type.items(), key=lambda i: kinds[i[0]])},
        by_mailbox={m: tuple(c) for m, c in sorted(by_mailbox.items(), key=lambda i: order[i[0]])},
        outcomes={o: tuple(c) for o, c in outcomes.items()},
        handling=handling,
        waiting=tuple(
            Waiting(m, int(waiting[m].get("waiting", 0)), int(waiting[m].get("overdue", 0)))
            for m in mailboxes
            if m in waiting
        ),
        lines=tuple(lines),
    )


def hours_text(hours: float | None) -> str:
    """Hours to one decimal place ("" when there are none), as the CSV and tables write them."""
    return "" if hours is None else f"{hours:.1f}"


def csv_text(report: Report) -> str:
    """The CSV: the contract's columns, one row per week, mailbox and form type."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_csv_rows(report.lines))
    return out.getvalue()


def _csv_rows(lines: Iterable[Line]) -> Iterable[list[str | int]]:
    for line in lines:
        yield [
            line.week_start.isoformat(),
            line.mailbox,
            line.form_type,
            line.received,
            line.routed,
            line.redirected,
            line.rejected,
            line.duplicate,
            line.handled,
            hours_text(line.median_hours),
        ]
