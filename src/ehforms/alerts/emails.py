"""The alerts' emails: one for the urgent forms that reached a mailbox, and the morning's
digest of what is overdue or has waited long. No email carries personal data: the form type's
title, the mailbox, the time of receipt, the submission id and a link, never a name, case
reference, date of birth or file name."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ehforms.alerts.queue import Item

if TYPE_CHECKING:
    from ehforms.config import AlertSettings

NO_PERSONAL_DATA = (
    "This email holds no personal details. Open the form in ehforms, or in the mailbox's "
    "folder on the share, to see who it is about."
)
REPEATED = "ehforms stopped while this email was being sent, so it may repeat one you already have."


def _local(at: dt.datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%d/%m/%Y %H:%M")


def _lines(
    item: Item, mailbox: str, settings: AlertSettings, zone: ZoneInfo, *, due: bool = False
) -> list[str]:
    lines = [item.title, f"  Received: {_local(item.received_at, zone)}"]
    if due and item.due_at is not None:
        lines.append(f"  Due: {_local(item.due_at, zone)}")
    lines.append(f"  Submission: {item.submission_id}")
    if settings.base_url:
        lines.append(f"  Open it: {settings.base_url}/mailboxes/{mailbox}/{item.submission_id}")
    return lines


def _message(
    settings: AlertSettings,
    mailbox: str,
    subject: str,
    body: list[str],
    message_id: str,
    at: dt.datetime,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.to.get(mailbox, ()))
    message["Subject"] = subject
    message["Date"] = format_datetime(at.astimezone(dt.UTC))
    message["Message-ID"] = message_id
    message.set_content("\n".join(body) + "\n")
    return message


def alert_email(
    settings: AlertSettings,
    mailbox: str,
    items: Sequence[Item],
    zone: ZoneInfo,
    message_id: str,
    at: dt.datetime,
    *,
    repeated: bool = False,
    shown: str | None = None,
) -> EmailMessage:
    """One email for the urgent forms that reached a mailbox (one, or a minute's worth);
    ``shown``: the mailbox's name as the council's staff know it (default: its folder)."""
    many = len(items) > 1
    name = shown or mailbox
    subject = (
        f"Urgent: {len(items)} forms in the {name} mailbox"
        if many
        else f"Urgent: {items[0].title} in the {name} mailbox"
    )
    body = [
        f"{len(items)} urgent forms have arrived in the {name} mailbox."
        if many
        else f"An urgent form has arrived in the {name} mailbox.",
        "",
    ]
    if repeated:
        body += [REPEATED, ""]
    for item in items:
        body += _lines(item, mailbox, settings, zone) + [""]
    body.append(NO_PERSONAL_DATA)
    return _message(settings, mailbox, subject, body, message_id, at)


def digest_email(
    settings: AlertSettings,
    mailbox: str,
    items: Sequence[Item],
    zone: ZoneInfo,
    message_id: str,
    at: dt.datetime,
    *,
    repeated: bool = False,
    review_days: float = 90,
    shown: str | None = None,
) -> EmailMessage:
    """The morning's list of what is overdue in a mailbox, and of what has waited longer than
    ``review_days`` (nothing deletes those: someone decides); ``shown`` as for alerts."""
    name = shown or mailbox
    day = at.astimezone(zone).strftime("%A %d %B %Y").replace(" 0", " ")
    overdue = [i for i in items if i.overdue]
    long = [i for i in items if i.waited_long]

    def forms(n: int) -> str:
        return f"{n} form{'s' if n != 1 else ''}"

    if overdue:
        subject = f"Overdue in the {name} mailbox: {forms(len(overdue))} ({day})"
    else:
        subject = f"Waiting long in the {name} mailbox: {forms(len(long))} ({day})"
    body: list[str] = []
    if repeated:
        body += [REPEATED, ""]
    if overdue:
        verb = "are" if len(overdue) != 1 else "is"
        body += [f"{forms(len(overdue))} in the {name} mailbox {verb} overdue.", ""]
        for item in overdue:
            body += _lines(item, mailbox, settings, zone, due=True) + [""]
    if long:
        verb = "have" if len(long) != 1 else "has"
        body += [
            f"{forms(len(long))} in the {name} mailbox {verb} waited more than {review_days:g} "
            "days. Nothing deletes them: review whether each is still needed.",
            "",
        ]
        for item in long:
            body += _lines(item, mailbox, settings, zone, due=True) + [""]
    body.append(NO_PERSONAL_DATA)
    return _message(settings, mailbox, subject, body, message_id, at)
