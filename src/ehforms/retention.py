"""Keeping and deleting, decided (forms.md "Keeping and deleting"): what is past its time, what
a legal hold keeps, when a family's withdrawal of consent erases prefill data and when a new
form lifts it, when the daily purge is due, which child a form names. Pure: no disk, no
database, no clock (every time is a parameter); ``ehforms.purging`` does the deleting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ehforms.config import Retention

# What a purge deletes, in the order it reports them.
HANDLED = "handled"
REJECTED = "rejected"
ARCHIVED = "archived"
KINDS = (HANDLED, REJECTED, ARCHIVED)
DAYS = {HANDLED: "done_days", REJECTED: "rejected_days", ARCHIVED: "archive_days"}
# A folder being deleted: renamed so first, so a purge killed half-way finishes it next time.
PURGING = ".purging-"
ID_LENGTH = 26  # a submission id (a ULID)


def cutoff(now: dt.datetime, days: int) -> dt.datetime:
    """The moment before which something kept ``days`` days is past its time."""
    if now.tzinfo is None:
        raise ValueError("a purge's time needs a time zone")
    return now - dt.timedelta(days=days)


def past(since: dt.datetime | None, days: int, now: dt.datetime) -> bool:
    """Whether something kept ``days`` days from ``since`` is past its time at ``now``; never
    when its start is not known (nothing is deleted on a guess)."""
    return since is not None and since <= cutoff(now, days)


def due(
    kind: str, since: dt.datetime | None, case: str | None, rules: Retention, now: dt.datetime
) -> bool:
    """Whether a handled folder, a rejected folder or an archived original is to be deleted:
    past its time and not of a case on legal hold."""
    return not held(case, rules) and past(since, getattr(rules, DAYS[kind]), now)


def held(case: str | None, rules: Retention) -> bool:
    """A case on legal hold keeps everything, whatever its age."""
    return bool(case) and case.strip() in rules.hold  # type: ignore[union-attr]


def blank_after(rules: Retention) -> int:
    """A submission none of whose files remain keeps its ledger details (file name, case,
    folder) at least this many days from receipt: the shortest time anything of it is kept."""
    return min(rules.done_days, rules.rejected_days, rules.archive_days)


def submission_of(name: str) -> str | None:
    """The submission id a folder's or an archive entry's name carries: a folder's name ends
    with it (``…_<id>``), an archive entry starts with it (``<id>`` or ``<id>-<ULID>``)."""
    if name.startswith(PURGING):
        name = name[len(PURGING) :]
    for candidate in (name.rsplit("_", 1)[-1], name[:ID_LENGTH]):
        if len(candidate) == ID_LENGTH and _is_ulid(candidate):
            return candidate
    return None


def _is_ulid(text: str) -> bool:
    return text[0] in "01234567" and all(c in "0123456789ABCDEFGHJKMNPQRSTVWXYZ" for c in text)


def received_at(submission_id: str | None) -> dt.datetime | None:
    """The time of receipt a submission id carries (None for a name that is not one)."""
    if submission_id is None:
        return None
    from ulid import ULID

    try:
        return ULID.from_str(submission_id).datetime.replace(microsecond=0)
    except ValueError:
        return None


def purge_due(last: dt.datetime | None, now: dt.datetime, zone: dt.tzinfo) -> bool:
    """``watch`` purges once a day: when no purge has run yet on today's local date."""
    return last is None or last.astimezone(zone).date() < now.astimezone(zone).date()


# -- consent withdrawn ------------------------------------------------------------------


def withdrawal(form_type: str | None, form: Mapping[str, Any] | None) -> str | None:
    """The date (YYYY-MM-DD) a family withdrew consent, when the form is a
    ``consent_withdrawn`` closure; else None."""
    if form_type != "closure" or not isinstance(form, Mapping):
        return None
    if form.get("closure_reason") != "consent_withdrawn":
        return None
    return _day(form.get("closure_date")) or "0000-00-00"


def renews_consent(form: Mapping[str, Any], withdrawn_on: str) -> bool:
    """Whether a form carries consent given after the family withdrew it."""
    consent = form.get("consent")
    if not isinstance(consent, Mapping) or consent.get("given") is not True:
        return False
    day = _day(consent.get("date"))
    return day is not None and day > withdrawn_on


def kept_after_withdrawal(forms: Sequence[tuple[str, Mapping[str, Any]]], withdrawn_on: str) -> int:
    """Of a case's prefill data, oldest first as (form_type, form): the index from which it is
    kept after a withdrawal of consent (the first form with consent dated after it, unless a
    later form withdrew consent again); ``len(forms)`` when nothing is kept."""
    start = len(forms)
    for n, (form_type, form) in enumerate(forms):
        again = withdrawal(form_type, form)
        if again is not None and again >= withdrawn_on:
            start = len(forms)  # withdrawn again: nothing up to here is kept
        elif start == len(forms) and renews_consent(form, withdrawn_on):
            start = n
    return start


def _day(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and len(value) >= 10:
        try:
            return dt.date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            return None
    return None


# -- the child a form names (a subject access request) -----------------------------------


def children_of(form: Mapping[str, Any] | None) -> set[tuple[str, str, str]]:
    """Each child a form names, as (given name, family name, date of birth), compared
    case-insensitively; children without a date of birth are left out (a name alone is not
    enough to say a form is about the same child)."""
    found = set()
    children = (form or {}).get("children")
    for child in children if isinstance(children, list) else []:
        if not isinstance(child, Mapping):
            continue
        given, family = child.get("given_name"), child.get("family_name")
        born = _day(child.get("date_of_birth"))
        if isinstance(given, str) and isinstance(family, str) and born:
            found.add((given.strip().casefold(), family.strip().casefold(), born))
    return found


def case_of(form: Mapping[str, Any] | None) -> str | None:
    value = (form or {}).get("case_id")
    return value.strip() or None if isinstance(value, str) else None


# -- what a purge did -----------------------------------------------------------------


@dataclass
class Purged:
    """What a purge deleted (or, ``dry_run``, would delete): submission ids by kind, counts,
    and what it could not do. Never a name, a case reference or a folder's name."""

    dry_run: bool = False
    deleted: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    cases: int = 0  # cases whose prefill data was erased
    audit_rows: int = 0
    blanked: int = 0  # submissions whose ledger details were blanked
    problems: list[str] = field(default_factory=list)

    def add(self, kind: str, submission_id: str | None) -> None:
        self.deleted[kind].append(submission_id or "(no submission id)")

    @property
    def nothing(self) -> bool:
        return not any(self.deleted.values()) and not (
            self.cases or self.audit_rows or self.blanked
        )

    def counts(self) -> dict[str, int]:
        return {
            **{k: len(v) for k, v in self.deleted.items()},
            "cases": self.cases,
            "audit_rows": self.audit_rows,
            "blanked": self.blanked,
        }

    def summary(self) -> str:
        """Counts only: the audit row's detail."""
        return ", ".join(f"{k} {v}" for k, v in self.counts().items())


def sorted_ids(ids: Iterable[str]) -> list[str]:
    return sorted(set(ids))
