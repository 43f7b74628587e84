"""What the core hands back to a face: typed values (a bundle checked, a rendering, a batch, a
form waiting in a mailbox) and the time now, as the core reads it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ehforms.forms import FieldError, Validation
from ehforms.receipts import Receipt


@dataclass(frozen=True)
class BundleCheck:
    """What ``validate`` says of a bundle (a ZIP file or a folder): its form's validation, and
    what the bundle itself brings, lacks or leaves out."""

    validation: Validation | None  # None: no one readable form
    problem: str | None  # why the bundle would be turned away as a whole
    attachments: tuple[str, ...]
    left_out: tuple[tuple[str, str], ...]  # (entry, what is wrong)
    missing: tuple[str, ...]
    safeguarding: bool

    @property
    def form_type(self) -> str | None:
        return self.validation.form_type if self.validation is not None else None

    @property
    def errors(self) -> tuple[FieldError, ...]:
        found = (FieldError(None, self.problem),) if self.problem else ()
        return found + (self.validation.errors if self.validation is not None else ())

    @property
    def valid(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Rendering:
    """``ehforms render``: the documents made, or why there are none."""

    validation: Validation
    files: dict[str, bytes]
    notes: tuple[str, ...]
    none_because: str | None = None


@dataclass(frozen=True)
class Batch:
    """One run through the inbox: each file's result, and what waits to be tried again."""

    results: list[Any]
    waiting: list[str]


@dataclass(frozen=True)
class Waiting:
    """A form waiting in a mailbox, as a listing shows it (from the ledger, where it knows
    the form; else from the folder's receipt; None fields when neither can be read)."""

    folder: str
    submission_id: str | None
    form_type: str | None
    priority: str
    received_at: dt.datetime | None
    due_at: dt.datetime | None
    case: str | None = None  # the case reference, when the form has one
    child: str | None = None  # the first child's name: filled in by ``Root.listing`` only

    @property
    def urgent(self) -> bool:
        return self.priority == "urgent"

    def overdue(self, at: dt.datetime) -> bool:
        return self.due_at is not None and self.due_at < at

    @classmethod
    def from_receipt(cls, folder: str, receipt: Receipt | None, mailbox: str = "") -> Waiting:
        """From the folder's receipt; a due belongs to the primary mailbox only (a copy
        elsewhere is never overdue), as ``status`` counts."""
        if receipt is None:
            return cls(folder, None, None, "normal", None, None)
        primary = not mailbox or receipt.mailboxes[:1] == (mailbox,)
        due = min((d.by for d in receipt.due), default=None) if primary else None
        return cls(
            folder,
            receipt.submission_id,
            receipt.form_type,
            receipt.priority.value,
            receipt.received_at,
            due,
        )


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)
