"""What the ledger's rows are as values: a submission it knows, a delivery a listing shows,
a case's history; pure, with no database in sight."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Seen:
    """A submission the ledger knows."""

    submission_id: str
    source: str
    received_at: dt.datetime
    state: str
    status: str | None
    folder: str | None
    mailboxes: tuple[str, ...]
    form_type: str | None


@dataclass(frozen=True)
class Delivered:
    """A submission as a mailbox listing shows it, from the ledger alone."""

    submission_id: str
    folder: str
    form_type: str | None
    status: str | None
    priority: str
    received_at: dt.datetime
    due_at: dt.datetime | None
    case_id: str | None = None


def _seen(row: tuple[Any, ...]) -> Seen:
    submission_id, source, received_at, state, status, folder, mailboxes, form_type = row
    return Seen(
        submission_id,
        source,
        dt.datetime.fromisoformat(received_at),
        state,
        status,
        folder,
        tuple(json.loads(mailboxes)) if mailboxes else (),
        form_type,
    )


History = list[tuple[str, dict[str, Any]]]


def withheld_in(history: History) -> list[str] | None:
    """What the family last said it does not agree to share, or None if no form said."""
    for _form_type, data in reversed(history):
        consent = data.get("consent")
        if isinstance(consent, dict):
            return list(consent.get("withheld", []))
    return None
