"""When alerts and digests go (the schedule; the queue and the sending are ``ehforms.alerts``).

:class:`Dispatcher` looks at the queue as of a time it is given (tests pass their own clock):

- Urgent alerts, per mailbox: the first goes at once; what arrives in the minute after an email
  goes together in one email at the end of that minute (at most one alert email a minute per
  mailbox, so a burst of 200 urgent forms is two or three emails, not 200).
- A failed email is tried again after 5 s, doubling to at most 60 s; alerts queued meanwhile
  join it. Every attempt is recorded.
- Each day at ``digest_time`` (the configured time zone), a digest of what is overdue goes to
  each mailbox with addresses (none when nothing is); a dispatcher started later that day sends
  that day's digest at once, and only once (the ledger records each day's digests).

:class:`Sending` runs a dispatcher on a thread of its own beside ``watch``, so a slow or absent
mail server never delays routing.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ehforms.alerts import (
    Digest,
    Item,
    Mailer,
    Pending,
    Queue,
    SendFailed,
    alert_email,
    backoff,
    title_of,
)
from ehforms.alerts import digest_email as make_digest_email
from ehforms.config import Config
from ehforms.errors import LedgerError
from ehforms.locks import once

if TYPE_CHECKING:
    from email.message import EmailMessage

    from sqlalchemy.engine import Engine

log = logging.getLogger("ehforms")

WINDOW = dt.timedelta(seconds=60)  # alerts to one mailbox: at most one email a minute


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Dispatcher:
    """Sends what is due from the queue; ``tick(now)`` does one round and returns what it sent
    (mailbox, kind, forms listed) for the log and the tests."""

    def __init__(
        self,
        root: Path,
        config: Config,
        engine: Engine,
        *,
        mailer: Mailer | None = None,
        timeout: float = 30.0,
    ) -> None:
        if config.alerts is None:
            raise ValueError("alerts are not set up")
        self.root = root
        self.config = config
        self.settings = config.alerts
        self.queue = Queue(engine)
        self.mailer = mailer or Mailer(self.settings, timeout=timeout)
        self._last: dict[str, dt.datetime | None] = {}  # the last alert email sent, per mailbox

    # -- urgent alerts --

    def tick(self, now: dt.datetime) -> list[tuple[str, str, int]]:
        """One round; with watchers on several machines (a PostgreSQL ledger), one at a time
        sends and the others skip the round (ehforms.locks)."""
        with once(self.queue.engine, "alerts") as mine:
            if not mine:
                return []
            sent = self.send_alerts(now)
            sent += self.send_digests(now)
            return sent

    def _last_sent(self, mailbox: str) -> dt.datetime | None:
        if mailbox not in self._last:
            self._last[mailbox] = self.queue.last_sent(mailbox)
        return self._last[mailbox]

    def send_alerts(self, now: dt.datetime) -> list[tuple[str, str, int]]:
        by_mailbox: dict[str, list[Pending]] = {}
        for pending in self.queue.unsent():
            if pending.mailbox in self.settings.to:  # addresses taken out since: it waits
                by_mailbox.setdefault(pending.mailbox, []).append(pending)
        sent = []
        for mailbox, waiting in by_mailbox.items():
            # an email that may have reached the server before a restart goes again first, as
            # it was (the same forms, the same Message-ID), saying that it may be a repeat
            marked = sorted({p.message_id for p in waiting if p.message_id})
            if marked:
                group = [p for p in waiting if p.message_id == marked[0]]
                if self._send_alerts(mailbox, group, now, marked[0]):
                    sent.append((mailbox, "alert", len(group)))
                continue
            last = self._last_sent(mailbox)
            not_before = [p.next_at for p in waiting if p.next_at is not None]
            if last is not None:
                not_before.append(last + WINDOW)
            if not_before and now < max(not_before):
                continue
            if self._send_alerts(mailbox, waiting, now, None):
                sent.append((mailbox, "alert", len(waiting)))
        return sent

    def _message_id(self, kind: str, mailbox: str, first: str) -> str:
        domain = self.settings.sender.rpartition("@")[2]
        return f"<ehforms.{kind}.{mailbox}.{first}@{domain}>"

    def _send_alerts(
        self, mailbox: str, group: list[Pending], now: dt.datetime, message_id: str | None
    ) -> bool:
        ids = [p.item.submission_id for p in group]
        repeated = message_id is not None
        message_id = message_id or self._message_id("alert", mailbox, ids[0])
        email = alert_email(
            self.settings,
            mailbox,
            [p.item for p in group],
            self.config.timezone,
            message_id,
            now,
            repeated=repeated,
            shown=self.config.mailbox_name(mailbox),
        )
        self.queue.sending(mailbox, ids, message_id)
        try:
            reply = self.mailer.send(email)
        except SendFailed as failure:
            tries = max(p.tries for p in group) + 1
            self.queue.failed(mailbox, ids, message_id, now, failure.result, failure.reply, tries)
            log.error(
                "alert email to the %s mailbox (%d form%s) not sent (%s): tried again in %.0f s",
                mailbox,
                len(ids),
                "s" if len(ids) > 1 else "",
                failure.reply,
                backoff(tries),
            )
            return False
        self.queue.sent(mailbox, ids, message_id, now, reply)
        self._last[mailbox] = now
        log.info("alert email sent to the %s mailbox (%d form(s))", mailbox, len(ids))
        return True

    # -- digests --

    def digest_due(self, now: dt.datetime) -> str | None:
        """Today's date (local) once today's ``digest_time`` has passed, else None."""
        local = now.astimezone(self.config.timezone)
        hour, minute = self.settings.digest_time
        at = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        return local.date().isoformat() if local >= at else None

    def overdue(self, now: dt.datetime) -> dict[str, list[Item]]:
        """What is overdue now in each mailbox with addresses, as the mailbox pages list it
        (a due belongs to the primary mailbox; a folder moved into done/ no longer waits), and
        what has waited there longer than ``review_days``."""
        from ehforms.core import Root

        found: dict[str, list[Item]] = {}
        long_ago = now - dt.timedelta(days=self.config.review_days)
        with Root(self.root, self.config) as root:
            for mailbox in self.settings.to:
                found[mailbox] = [
                    Item(
                        w.submission_id,
                        title_of(w.form_type),
                        w.received_at,
                        w.due_at,
                        overdue=w.overdue(now),
                        waited_long=w.received_at < long_ago,
                    )
                    for w in root.mailbox(mailbox, now)
                    if w.submission_id
                    and w.received_at
                    and (w.overdue(now) or w.received_at < long_ago)
                ]
        return found

    def send_digests(self, now: dt.datetime, *, again: bool = False) -> list[tuple[str, str, int]]:
        """Make today's digests once ``digest_time`` has passed (``again``: now, whatever the
        time and whether today's went already: ``ehforms digest``), then send those waiting."""
        day = self.digest_due(now)
        if again:
            day = now.astimezone(self.config.timezone).date().isoformat()
        if day is not None and (again or not self.queue.digest_made(day)):
            self.queue.make_digests(day, self.overdue(now), now, again=again)
        sent = []
        for digest in self.queue.digests_unsent():
            if digest.mailbox not in self.settings.to:
                continue
            if digest.next_at is not None and now < digest.next_at and not digest.message_id:
                continue
            if self._send_digest(digest, now) is None:
                sent.append((digest.mailbox, "digest", len(digest.items)))
        return sent

    def digest_now(self, now: dt.datetime) -> list[tuple[str, int, str | None]]:
        """``ehforms digest``: the digest as of ``now`` for each mailbox with addresses, sent
        now whatever the time (and recorded as that day's, so ``watch`` sends no other that
        day). Per mailbox: (mailbox, forms overdue, why it was not sent, or None)."""
        day = now.astimezone(self.config.timezone).date().isoformat()
        found = self.overdue(now)
        self.queue.make_digests(day, found, now, again=True)
        done = []
        for digest in self.queue.digests_unsent():
            if digest.day == day and digest.mailbox in self.settings.to:
                failure = self._send_digest(digest, now, quiet=True)
                done.append((digest.mailbox, len(digest.items), failure))
        return done

    def _send_digest(self, digest: Digest, now: dt.datetime, quiet: bool = False) -> str | None:
        repeated = digest.message_id is not None
        message_id = digest.message_id or self._message_id(
            "digest", digest.mailbox, digest.day.replace("-", "")
        )
        email: EmailMessage = make_digest_email(
            self.settings,
            digest.mailbox,
            digest.items,
            self.config.timezone,
            message_id,
            now,
            repeated=repeated,
            review_days=self.config.review_days,
            shown=self.config.mailbox_name(digest.mailbox),
        )
        self.queue.digest_sending(digest, message_id)
        try:
            reply = self.mailer.send(email)
        except SendFailed as failure:
            self.queue.digest_done(digest, message_id, now, failure.result, failure.reply)
            if not quiet:
                log.error("digest for the %s mailbox not sent (%s)", digest.mailbox, failure.reply)
            return failure.reply
        self.queue.digest_done(digest, message_id, now, "sent", reply)
        log.info("digest sent to the %s mailbox (%d overdue)", digest.mailbox, len(digest.items))
        return None


class Sending:
    """A dispatcher on a thread of its own, ticking every ``every`` seconds until stopped."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        every: float = 0.5,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.dispatcher = dispatcher
        self.every = every
        self.clock = clock
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ehforms-alerts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait: float = 40.0) -> None:
        self._halt.set()
        if self._thread.is_alive():
            self._thread.join(timeout=wait)

    def _run(self) -> None:
        failing = False
        while True:
            try:
                self.dispatcher.tick(self.clock())
                failing = False
            except LedgerError as error:  # the ledger busy or full: the next tick tries again
                if not failing:
                    log.error("alerts cannot read or write the ledger (%s): trying again", error)
                failing = True
            except Exception as error:  # never let the thread die: log, and try again
                if not failing:
                    log.exception("alerts: a fault in ehforms itself (%s)", type(error).__name__)
                failing = True
            if self._halt.wait(self.every):
                return


def sending_for(root: Path, config: Config, engine: Engine) -> Sending | None:
    """The alerts' thread for ``watch``; None when alerts are not set up."""
    if config.alerts is None or not config.alerts.to:
        return None
    return Sending(Dispatcher(root, config, engine))
