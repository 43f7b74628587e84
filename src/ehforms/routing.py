"""Where a form goes: pure decisions from (validation, configuration, time of receipt).

Nothing here touches a file or reads the clock: the time of receipt is passed in, so tests fix
it and the same form routes the same way every time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any

import holidays
from dateutil.relativedelta import relativedelta

from ehforms.config import Config
from ehforms.council import SAFEGUARDING_LEVEL
from ehforms.forms import Validation
from ehforms.forms.fields import postcode_district
from ehforms.text import long_date, long_time


class Status(StrEnum):
    """A submission's outcome, as the receipt's ``status`` says it."""

    ROUTED = "routed"
    REDIRECTED = "redirected"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"


class Priority(StrEnum):
    URGENT = "urgent"
    NORMAL = "normal"


ROUTED = Status.ROUTED
REDIRECTED = Status.REDIRECTED
REJECTED = Status.REJECTED
DUPLICATE = Status.DUPLICATE
URGENT = Priority.URGENT
NORMAL = Priority.NORMAL


@dataclass(frozen=True)
class Due:
    what: str
    by: dt.datetime

    def as_dict(self) -> dict[str, str]:
        return {"what": self.what, "by": self.by.astimezone(dt.UTC).isoformat()}


@dataclass(frozen=True)
class Decision:
    status: Status
    mailboxes: tuple[str, ...] = ()
    priority: Priority = NORMAL
    due: tuple[Due, ...] = ()
    notes: tuple[str, ...] = field(default=())
    hub: str | None = None  # the hub whose area the address is in (None: triage, MASH)
    # An outcome that is one problem (a duplicate, an entry set aside, a fault) says it here;
    # a form's own problems are its validation's errors.
    problem: str | None = None
    duplicate_of: str | None = None

    @property
    def delivered(self) -> bool:
        return bool(self.mailboxes)


@dataclass(frozen=True)
class Earlier:
    """The first submission of the same bytes: when it came, and where it is now (in words,
    from whoever looked)."""

    submission_id: str
    received_at: dt.datetime
    form_type: str | None
    where: str


@dataclass(frozen=True)
class Submission:
    """The facts about one submission that decide its outcome; gathered by the pipeline (the
    file read, the ledger asked), decided here without a disk."""

    submission_id: str
    received_at: dt.datetime
    validation: Validation | None = None  # None: not read as a form
    kind: str | None = None  # not a regular file (a link, a pipe): what it is
    earlier: Earlier | None = None  # the same bytes came before
    fault: str | None = None  # ehforms itself failed on it: why
    may_be_urgent: bool = False  # for a fault: whether anything in it may mean risk
    # a bundle: why it is refused as a whole (its form, if any, is ``validation``), what the
    # form names that the bundle lacks, and the first earlier submission of the same form
    refused: str | None = None
    missing_attachments: tuple[str, ...] = ()
    same_form_as: str | None = None

    @property
    def form_type(self) -> str | None:
        if self.earlier is not None:
            return self.earlier.form_type
        return self.validation.form_type if self.validation is not None else None


def decide(submission: Submission, config: Config) -> Decision:
    """The one decision for a submission, whatever it turned out to be."""
    sid = submission.submission_id
    if submission.kind is not None:
        return Decision(
            REJECTED,
            problem=(
                f"This entry in the inbox was {submission.kind}. ehforms never opens links, "
                f"pipes or devices, so it has been set aside (kept in .ehforms/archive/{sid}). "
                "Put the form itself in the inbox as a file"
            ),
        )
    if submission.fault is not None:
        problem = (
            "ehforms failed twice on this file (a fault in ehforms, or in a library it uses) and "
            "has stopped trying"
            if submission.fault == FAILED_TWICE
            else "ehforms could not process this file because of a fault in ehforms itself "
            f"({submission.fault})"
        )
        problem += (
            f". The file is kept here: tell the system administrator, quoting submission {sid}"
        )
        if submission.may_be_urgent:  # when in doubt, MASH
            return Decision(REDIRECTED, (config.mash_mailbox,), URGENT, problem=problem)
        return Decision(REJECTED, problem=problem)
    if submission.earlier is not None:
        earlier = submission.earlier
        when = long_time(earlier.received_at, config.timezone)
        return Decision(
            DUPLICATE,
            duplicate_of=earlier.submission_id,
            problem=(
                f"This file was already received on {when} as submission "
                f"{earlier.submission_id}, which {earlier.where}. It has not been sent on again. "
                "If it is a new form, change it and send it again"
            ),
        )
    if submission.refused is not None:
        return _refused(submission, config)
    if submission.validation is None:
        raise ValueError("a submission to route needs its validation")
    decision = route(submission.validation, config, submission.received_at)
    return _with_bundle_notes(decision, submission)


def _refused(submission: Submission, config: Config) -> Decision:
    """A bundle refused as a whole (no form, two forms, a damaged or oversized archive): a
    form in it with a safeguarding signal still goes to MASH, urgent; the rest is rejected with
    the bundle's problem (the outcome adds it to the errors)."""
    validation = submission.validation
    signal = submission.may_be_urgent or (
        validation is not None and (validation.safeguarding or validation.form_type == "marf")
    )
    if not signal:
        return Decision(REJECTED)
    followup: tuple[Due, ...] = ()
    if validation is None or validation.form_type in (None, "marf"):
        followup = (_written_followup(config, submission.received_at),)
    return Decision(
        REDIRECTED,
        (config.mash_mailbox,),
        URGENT,
        followup,
        (
            "This bundle could not be taken as it is, but a form in it may be a safeguarding "
            f"concern: sent to {config.council.front_door_name} at once, marked urgent, with "
            "what could be read of it",
        ),
    )


def _with_bundle_notes(decision: Decision, submission: Submission) -> Decision:
    notes = list(decision.notes)
    for name in submission.missing_attachments:
        notes.append(f"The form names {name}, which is not in the bundle: ask the sender for it")
    if submission.same_form_as is not None:
        notes.append(f"Same form as submission {submission.same_form_as}")
    if len(notes) == len(decision.notes):
        return decision
    return dataclasses.replace(decision, notes=tuple(notes))


# A file that ehforms fails on this many times gets a plain outcome instead of another try.
FAILURES_ALLOWED = 2
FAILED_TWICE = "failed twice"


@cache
def _holidays(region: str, year: int) -> holidays.HolidayBase:
    country, _, subdivision = region.partition("-")
    return holidays.country_holidays(country, subdiv=subdivision or None, years=[year])


def is_holiday(day: dt.date, region: str) -> bool:
    return day in _holidays(region, day.year)


def next_meeting(received_at: dt.datetime, config: Config) -> dt.datetime:
    """The first meeting day after the day of receipt (local), skipping bank holidays."""
    if config.allocations_meeting_weekday is None:
        raise ValueError("this council holds no allocations meeting")
    local = received_at.astimezone(config.timezone)
    day = local.date() + dt.timedelta(days=1)
    while day.weekday() != config.allocations_meeting_weekday or is_holiday(
        day, config.holiday_region
    ):
        day += dt.timedelta(days=1)
    hour, minute = config.allocations_meeting_time
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=config.timezone)


def working_days_after(received_at: dt.datetime, days: int, config: Config) -> dt.datetime:
    """The same local time of day, ``days`` working days (Monday to Friday, not a bank holiday
    of the council's region) after the day of receipt."""
    local = received_at.astimezone(config.timezone)
    day = local.date()
    left = days
    while left:
        day += dt.timedelta(days=1)
        if day.weekday() < 5 and not is_holiday(day, config.holiday_region):
            left -= 1
    return dt.datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=config.timezone)


def named_dues(
    form_type: str | None, data: dict[str, Any], config: Config, received_at: dt.datetime
) -> list[Due]:
    """The dues a council's profile adds (``[timescales.due.<what>]``) for this form."""
    dues = []
    for due in config.council.dues:
        if due.form != form_type:
            continue
        if due.level is not None and data.get("level_of_need") != due.level:
            continue
        if due.hours is not None:
            by = received_at + dt.timedelta(hours=due.hours)
        else:
            by = working_days_after(received_at, due.working_days or 0, config)
        dues.append(Due(due.what, by))
    return dues


def received_day(received_at: dt.datetime, config: Config) -> dt.date:
    return received_at.astimezone(config.timezone).date()


def _hub_mailbox(data: dict[str, Any], config: Config) -> tuple[str | None, str, list[str]]:
    """(hub key, mailbox, notes) for a form's address."""
    district = postcode_district(data["address"]["postcode"])
    hub = config.hub_for_district(district)
    if hub is None:
        return (
            None,
            config.triage_mailbox,
            [f"No hub covers postcode district {district}: sent to triage to be allocated by hand"],
        )
    return hub.key, hub.eh_mailbox, []


def _written_followup(config: Config, received_at: dt.datetime) -> Due:
    return Due("written_followup", received_at + dt.timedelta(hours=config.written_followup_hours))


def _marf(validation: Validation, config: Config, received_at: dt.datetime) -> Decision:
    followup = _written_followup(config, received_at)
    if not validation.valid or validation.data is None:
        return Decision(
            REDIRECTED,
            (config.mash_mailbox,),
            URGENT,
            (followup,),
            (
                f"A MARF with problems still goes to {config.council.front_door_name}, marked "
                "urgent: follow up the listed problems with the referrer",
            ),
        )
    data = validation.data
    mailboxes = [config.mash_mailbox]
    notes: list[str] = []
    previous = data.get("previous_social_work")
    if previous:
        stepped_down: dt.date = previous["stepped_down_on"]
        cutoff = stepped_down + relativedelta(months=config.step_down_return_months)
        hub = config.hub(previous["team"])
        if hub is not None and received_day(received_at, config) < cutoff:
            mailboxes.append(hub.sw_mailbox)
            notes.append(
                f"Stepped down by the {hub.key} social work team on {long_date(stepped_down)}, "
                f"less than {config.step_down_return_months} months ago: copied to "
                f"{hub.sw_mailbox}"
            )
    # safeguarding, fixed in code: a child protection concern or the highest level is urgent
    highest = data.get("level_of_need") == SAFEGUARDING_LEVEL
    priority = URGENT if data["child_protection_concern"] or highest else NORMAL
    due = (followup, *named_dues("marf", data, config, received_at))
    return Decision(ROUTED, tuple(mailboxes), priority, due, tuple(notes))


def _transfer_extras(data: dict[str, Any], config: Config, received_at: dt.datetime):
    due: list[Due] = []
    notes: list[str] = []
    if data.get("level_of_need") == 4 and config.allocations_meeting_weekday is not None:
        due.append(Due("allocations_meeting", next_meeting(received_at, config)))
    assessment = data["most_recent_assessment"]
    completed: dt.date = assessment["completed_on"]
    months = config.assessment_max_age_months
    if completed < data["referred_on"] - relativedelta(months=months):
        notes.append(
            f"The most recent assessment was completed on {long_date(completed)}, more than "
            f"{months} months before the referral: agree an Early Help Assessment with the family"
        )
    return due, notes


def route(validation: Validation, config: Config, received_at: dt.datetime) -> Decision:
    """Decide status, mailboxes, priority, due dates and notes for one validated form."""
    if validation.form_type == "marf":
        return _marf(validation, config, received_at)
    if validation.safeguarding:
        # a form whose type could not be read may be a MARF: MASH follows it up in writing
        followup = (_written_followup(config, received_at),) if validation.form_type is None else ()
        return Decision(
            REDIRECTED,
            (config.mash_mailbox,),
            URGENT,
            followup,
            (
                "A safeguarding concern (a risk of significant harm, a child protection concern "
                "or the highest level of need) is not an Early Help request: redirected to "
                f"{config.council.front_door_name} at once. No consent letter is written",
            ),
        )
    if not validation.valid or validation.data is None:
        return Decision(REJECTED)
    data = validation.data
    hub, mailbox, notes = _hub_mailbox(data, config)
    due: list[Due] = []
    if validation.form_type == "transfer":
        extra_due, extra_notes = _transfer_extras(data, config, received_at)
        due += extra_due
        notes += extra_notes
    due += named_dues(validation.form_type, data, config, received_at)
    return Decision(ROUTED, (mailbox,), NORMAL, tuple(due), tuple(notes), hub)
