"""Alerts by email, in the storage layer: the queue in the ledger, the emails, and sending them.

An urgent outcome queues one alert per mailbox that has addresses, in the transaction that
records the outcome (:func:`queue_statement`, used by ``Ledger.done_many``; :mod:`.urgent`), so
a crash never loses one nor queues one twice. :class:`Queue` reads and marks the queue and
records every attempt (:mod:`.queue`); :mod:`.emails` writes the emails; :class:`Mailer` sends
one email over SMTP with STARTTLS or implicit TLS, the server's certificate and host name
checked (:mod:`.smtp`). When to send is decided by ``ehforms.alerting``.

No email carries personal data: the form type's title, the mailbox, the time of receipt, the
submission id and a link, never a name, case reference, date of birth or file name.
"""

from __future__ import annotations

from ehforms.alerts.emails import NO_PERSONAL_DATA, REPEATED, alert_email, digest_email
from ehforms.alerts.queue import (
    FIRST_RETRY,
    LONGEST_RETRY,
    Digest,
    Item,
    Pending,
    Queue,
    backoff,
    clean_reply,
)
from ehforms.alerts.smtp import Mailer, SendFailed
from ehforms.alerts.urgent import queue_rows, queue_statement, title_of

__all__ = [
    "FIRST_RETRY",
    "LONGEST_RETRY",
    "NO_PERSONAL_DATA",
    "REPEATED",
    "Digest",
    "Item",
    "Mailer",
    "Pending",
    "Queue",
    "SendFailed",
    "alert_email",
    "backoff",
    "clean_reply",
    "digest_email",
    "queue_rows",
    "queue_statement",
    "title_of",
]
