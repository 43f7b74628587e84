"""The alerts' queue in the ledger: the alerts and digests waiting, every attempt to send
them, and when a failed one is tried again (:func:`backoff`). Each :class:`Queue` call is one
short transaction of its own; what an outcome queues is :mod:`ehforms.alerts.urgent`."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehforms.database import alert_attempts, alerts, digests, transaction

FIRST_RETRY = 5.0  # seconds after the first failure; doubling,
LONGEST_RETRY = 60.0  # to at most this


def backoff(tries: int) -> float:
    """Seconds to wait after the ``tries``-th failed attempt: 5, 10, 20, 40, 60, 60..."""
    return min(FIRST_RETRY * 2 ** max(tries - 1, 0), LONGEST_RETRY)


def iso(at: dt.datetime) -> str:
    """A time as the queue keeps it: ISO 8601 in UTC."""
    return at.astimezone(dt.UTC).isoformat()


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
                .values(sent_at=iso(at), tries=alerts.c.tries + 1)
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
                    next_at=iso(at + dt.timedelta(seconds=backoff(tries))),
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
                    "made_at": iso(at),
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
            values["sent_at"] = iso(at)
        else:
            values.update(next_at=iso(at + dt.timedelta(seconds=backoff(tries))), message_id=None)
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
                at=iso(at),
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
        "received_at": iso(item.received_at),
        "due_at": iso(item.due_at) if item.due_at else None,
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
