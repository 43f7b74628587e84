"""Alerts by email, in the storage layer: the queue in the ledger, the emails, and sending them.

An urgent outcome queues one alert per mailbox that has addresses, in the transaction that
records the outcome (:func:`queue_statement`, used by ``Ledger.done_many``), so a crash never
loses one nor queues one twice. :class:`Queue` reads and marks the queue and records every
attempt; :class:`Mailer` sends one email over SMTP with STARTTLS or implicit TLS, the server's
certificate and host name checked. When to send is decided by ``ehforms.alerting``.

No email carries personal data: the form type's title, the mailbox, the time of receipt, the
submission id and a link, never a name, case reference, date of birth or file name.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import smtplib
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehforms.database import alert_attempts, alerts, digests, transaction

if TYPE_CHECKING:
    from ehforms.config import AlertSettings
    from ehforms.receipts import Receipt

FIRST_RETRY = 5.0  # seconds after the first failure; doubling,
LONGEST_RETRY = 60.0  # to at most this


def backoff(tries: int) -> float:
    """Seconds to wait after the ``tries``-th failed attempt: 5, 10, 20, 40, 60, 60..."""
    return min(FIRST_RETRY * 2 ** max(tries - 1, 0), LONGEST_RETRY)


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat()


# -- queueing, in the ledger's transaction --------------------------------------------------


def queue_statement(dialect: str) -> Any:
    """An alert queued unless that submission and mailbox has one already (ever)."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(alerts)
        .values(
            submission_id=sa.bindparam("a_submission_id"),
            mailbox=sa.bindparam("a_mailbox"),
            title=sa.bindparam("a_title"),
            received_at=sa.bindparam("a_received_at"),
            queued_at=sa.bindparam("a_queued_at"),
        )
        .on_conflict_do_nothing(index_elements=[alerts.c.submission_id, alerts.c.mailbox])
    )


def title_of(form_type: str | None) -> str:
    """What a person calls a form type (an alert names nothing else of the form)."""
    from ehforms.registry import FORM_TYPES

    known = FORM_TYPES.get(form_type or "")
    return known.title if known is not None else "A form ehforms could not read"


def queue_rows(receipt: Receipt, to: Iterable[str], now: str) -> list[dict[str, str]]:
    """The alerts an outcome calls for: an urgent form delivered to mailboxes that have
    addresses (a duplicate or a rejection alerts no one)."""
    wanted = set(to)
    if receipt.priority.value != "urgent" or receipt.status.value == "duplicate":
        return []
    return [
        {
            "a_submission_id": receipt.submission_id,
            "a_mailbox": mailbox,
            "a_title": title_of(receipt.form_type),
            "a_received_at": _iso(receipt.received_at),
            "a_queued_at": now,
        }
        for mailbox in receipt.mailboxes
        if mailbox in wanted
    ]


# -- the queue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One form an email lists: what it is and when it came, never what it says."""

    submission_id: str
    title: str
    received_at: dt.datetime
    due_at: dt.datetime | None = None
    overdue: bool = True  # (a digest) its due has passed
    waited_long: bool = False  # (a digest) it has waited longer than review_days


@dataclass(frozen=True)
class Pending:
    """An alert not yet sent."""

    item: Item
    mailbox: str
    tries: int
    next_at: dt.datetime | None
    message_id: str | None  # set: its email may have reached the server before a restart


@dataclass(frozen=True)
class Digest:
    day: str
    mailbox: str
    items: tuple[Item, ...]
    tries: int
    next_at: dt.datetime | None
    message_id: str | None


def _when(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


_ADDRESS = re.compile(r"[^\s<>@,;]+@[^\s<>@,;]+")


def clean_reply(text: str) -> str:
    """A server's reply as the ledger keeps it: one line, no addresses, at most 300 characters."""
    return " ".join(_ADDRESS.sub("<address>", text).split())[:300]


class Queue:
    """The alerts and digests waiting in a ledger, and every attempt to send them. Each call is
    one short transaction of its own (safe from the sending thread)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def unsent(self) -> list[Pending]:
        with transaction(self.engine) as connection:
            rows = connection.execute(
                sa.select(
                    alerts.c.submission_id,
                    alerts.c.title,
                    alerts.c.received_at,
                    alerts.c.mailbox,
                    alerts.c.tries,
                    alerts.c.next_at,
                    alerts.c.message_id,
                )
                .where(alerts.c.sent_at.is_(None))
                .order_by(alerts.c.received_at, alerts.c.submission_id)
            ).all()
        return [
            Pending(
                Item(sid, title, dt.datetime.fromisoformat(received)),
                mailbox,
                tries,
                _when(next_at),
                message_id,
            )
            for sid, title, received, mailbox, tries, next_at, message_id in rows
        ]

    def count_unsent(self) -> int:
        """Alerts and digests (of something) that wait to be sent."""
        with transaction(self.engine) as connection:
            waiting = connection.execute(
                sa.select(sa.func.count()).where(alerts.c.sent_at.is_(None))
            ).scalar()
            digest = connection.execute(
                sa.select(sa.func.count()).where(
                    digests.c.sent_at.is_(None), digests.c["items"] != "[]"
                )
            ).scalar()
        return int(waiting or 0) + int(digest or 0)

    def unsent_by_mailbox(self) -> dict[str, int]:
        """Urgent alerts not yet sent, per mailbox (for the mailbox pages)."""
        with transaction(self.engine) as connection:
            rows = connection.execute(
                sa.select(alerts.c.mailbox, sa.func.count())
                .where(alerts.c.sent_at.is_(None))
                .group_by(alerts.c.mailbox)
            ).all()
        return {mailbox: int(count) for mailbox, count in rows}

    def last_sent(self, mailbox: str, kind: str = "alert") -> dt.datetime | None:
        with transaction(self.engine) as connection:
            found = connection.execute(
                sa.select(sa.func.max(alert_attempts.c.at)).where(
                    alert_attempts.c.mailbox == mailbox,
                    alert_attempts.c.kind == kind,
                    alert_attempts.c.result == "sent",
                )
            ).scalar()
        return _when(found)

    def attempts(self) -> list[dict[str, Any]]:
        """Every attempt, oldest first (for tests and for a council's IT)."""
        with transaction(self.engine) as connection:
            rows = connection.execute(sa.select(alert_attempts).order_by(alert_attempts.c.id))
            return [dict(row._mapping) for row in rows]

    # -- alerts --

    def sending(self, mailbox: str, ids: Sequence[str], message_id: str) -> None:
        """Just before the server is asked: a restart after this finds the mark."""
        with transaction(self.engine, write=True) as connection:
            connection.execute(
                alerts.update()
                .where(alerts.c.mailbox == mailbox, alerts.c.submission_id.in_(ids))
                .values(message_id=message_id)
            )

    def sent(
        self, mailbox: str, ids: Sequence[str], message_id: str, at: dt.datetime, reply: str
    ) -> None:
        with transaction(self.engine, write=True) as connection:
            connection.execute(
                alerts.update()
                .where(alerts.c.mailbox == mailbox, alerts.c.submission_id.in_(ids))
                .values(sent_at=_iso(at), tries=alerts.c.tries + 1)
            )
            self._attempt(connection, "alert", mailbox, message_id, len(ids), at, "sent", reply)

    def failed(
        self,
        mailbox: str,
        ids: Sequence[str],
        message_id: str,
        at: dt.datetime,
        result: str,
        reply: str,
        tries: int,
    ) -> None:
        """A failed attempt: the alerts wait :func:`backoff` (``tries`` failures so far) and
        lose their mark (the server did not take the email)."""
        with transaction(self.engine, write=True) as connection:
            connection.execute(
                alerts.update()
                .where(alerts.c.mailbox == mailbox, alerts.c.submission_id.in_(ids))
                .values(
                    tries=tries,
                    next_at=_iso(at + dt.timedelta(seconds=backoff(tries))),
                    message_id=None,
                )
            )
            self._attempt(connection, "alert", mailbox, message_id, len(ids), at, result, reply)

    # -- digests --

    def digest_made(self, day: str) -> bool:
        with transaction(self.engine) as connection:
            return (
                connection.execute(sa.select(sa.func.count()).where(digests.c.day == day)).scalar()
                or 0
            ) > 0

    def make_digests(
        self, day: str, found: dict[str, list[Item]], at: dt.datetime, *, again: bool = False
    ) -> None:
        """Record the day's digest for each mailbox (one a day: a second is ignored unless
        ``again``, which ``ehforms digest`` asks for)."""
        with transaction(self.engine, write=True) as connection:
            for mailbox, items in found.items():
                values = {
                    "made_at": _iso(at),
                    "items": json.dumps([_item_json(i) for i in items]),
                    "tries": 0,
                    "next_at": None,
                    "message_id": None,
                    "sent_at": None,
                }
                exists = connection.execute(
                    sa.select(digests.c.sent_at).where(
                        digests.c.day == day, digests.c.mailbox == mailbox
                    )
                ).first()
                if exists is None:
                    connection.execute(digests.insert().values(day=day, mailbox=mailbox, **values))
                elif again:
                    connection.execute(
                        digests.update()
                        .where(digests.c.day == day, digests.c.mailbox == mailbox)
                        .values(**values)
                    )

    def digests_unsent(self) -> list[Digest]:
        with transaction(self.engine) as connection:
            rows = connection.execute(
                sa.select(
                    digests.c.day,
                    digests.c.mailbox,
                    digests.c["items"],
                    digests.c.tries,
                    digests.c.next_at,
                    digests.c.message_id,
                )
                .where(digests.c.sent_at.is_(None), digests.c["items"] != "[]")
                .order_by(digests.c.day, digests.c.mailbox)
            ).all()
        return [
            Digest(
                day,
                mailbox,
                tuple(_item_from(i) for i in json.loads(items)),
                tries,
                _when(next_at),
                message_id,
            )
            for day, mailbox, items, tries, next_at, message_id in rows
        ]

    def digest_sending(self, digest: Digest, message_id: str) -> None:
        with transaction(self.engine, write=True) as connection:
            connection.execute(
                digests.update()
                .where(digests.c.day == digest.day, digests.c.mailbox == digest.mailbox)
                .values(message_id=message_id)
            )

    def digest_done(
        self,
        digest: Digest,
        message_id: str,
        at: dt.datetime,
        result: str,
        reply: str,
    ) -> None:
        tries = digest.tries + 1
        values: dict[str, Any] = {"tries": tries}
        if result == "sent":
            values["sent_at"] = _iso(at)
        else:
            values.update(next_at=_iso(at + dt.timedelta(seconds=backoff(tries))), message_id=None)
        with transaction(self.engine, write=True) as connection:
            connection.execute(
                digests.update()
                .where(digests.c.day == digest.day, digests.c.mailbox == digest.mailbox)
                .values(**values)
            )
            self._attempt(
                connection,
                "digest",
                digest.mailbox,
                message_id,
                len(digest.items),
                at,
                result,
                reply,
            )

    @staticmethod
    def _attempt(
        connection: Any,
        kind: str,
        mailbox: str,
        message_id: str,
        items: int,
        at: dt.datetime,
        result: str,
        reply: str,
    ) -> None:
        connection.execute(
            alert_attempts.insert().values(
                at=_iso(at),
                kind=kind,
                mailbox=mailbox,
                message_id=message_id,
                items=items,
                result=result,
                reply=clean_reply(reply),
            )
        )


def _item_json(item: Item) -> dict[str, str | bool | None]:
    return {
        "submission_id": item.submission_id,
        "title": item.title,
        "received_at": _iso(item.received_at),
        "due_at": _iso(item.due_at) if item.due_at else None,
        "overdue": item.overdue,
        "waited_long": item.waited_long,
    }


def _item_from(data: dict[str, Any]) -> Item:
    return Item(
        data["submission_id"],
        data["title"],
        dt.datetime.fromisoformat(data["received_at"]),
        _when(data.get("due_at")),
        bool(data.get("overdue", True)),
        bool(data.get("waited_long", False)),
    )


# -- the emails ------------------------------------------------------------------------------

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


# -- sending -------------------------------------------------------------------------------


class SendFailed(Exception):
    """The server did not take an email: ``result`` is ``failed`` (try again: no connection,
    a certificate that is not trusted, a busy server) or ``refused`` (the server said no)."""

    def __init__(self, result: str, reply: str) -> None:
        super().__init__(reply)
        self.result = result
        self.reply = reply


@dataclass
class Mailer:
    """Sends one email through the configured server, never in the clear."""

    settings: AlertSettings
    timeout: float = 30.0

    def context(self) -> ssl.SSLContext:
        # the server's certificate and host name are checked (against the council's CA if set)
        return ssl.create_default_context(cafile=self.settings.ca_file or None)

    def send(self, message: EmailMessage) -> str:
        """Hand the email to the server; the server's reply when it accepted it."""
        settings = self.settings
        try:
            smtp: smtplib.SMTP
            if settings.tls == "implicit":
                smtp = smtplib.SMTP_SSL(
                    settings.host, settings.port, timeout=self.timeout, context=self.context()
                )
            else:
                smtp = smtplib.SMTP(settings.host, settings.port, timeout=self.timeout)
            try:
                if settings.tls != "implicit":
                    smtp.ehlo()
                    smtp.starttls(context=self.context())  # raises if not offered: never clear
                    smtp.ehlo()
                if settings.username:
                    smtp.login(settings.username, settings.password)
                refused = smtp.send_message(message)
            finally:
                # the server has the email (or has said no): a fault saying goodbye changes
                # nothing, and must not make an accepted email look failed
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    smtp.quit()
                smtp.close()
            if refused:
                return f"accepted, but not for {len(refused)} address(es): " + "; ".join(
                    f"{c} {_text(r)}" for c, r in refused.values()
                )
            return "accepted"
        except smtplib.SMTPRecipientsRefused as error:
            raise SendFailed("refused", _replies(error.recipients.values())) from None
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as error:
            permanent = 500 <= error.smtp_code < 600
            raise SendFailed(
                "refused" if permanent else "failed",
                f"{error.smtp_code} {_text(error.smtp_error)}",
            ) from None
        except smtplib.SMTPAuthenticationError as error:
            raise SendFailed(
                "refused",
                f"{error.smtp_code} sign-in refused: check alerts.username and "
                "EHFORMS_SMTP_PASSWORD",
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise SendFailed("failed", "the server does not offer STARTTLS: nothing sent") from None
        except ssl.SSLCertVerificationError as error:
            raise SendFailed(
                "failed", f"the server's certificate is not trusted ({error.verify_message})"
            ) from None
        except (ssl.SSLError, smtplib.SMTPException, OSError) as error:
            raise SendFailed("failed", f"{type(error).__name__}: {error}") from None


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def _replies(replies: Iterable[tuple[int, bytes]]) -> str:
    return "; ".join(f"{code} {_text(text)}" for code, text in replies)
