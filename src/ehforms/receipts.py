"""``receipt.json``: the typed receipt of one submission, written and read in one place.

The contract fixes its fields (``../docs/contract.md``). A receipt is built by the pipeline,
written by the mailroom, recorded by the ledger and read back by ``status`` and the pages; each
of them uses :class:`Receipt`, never a dict, so a misspelt status or field fails at once.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ehforms.forms import FieldError
from ehforms.routing import Due, Priority, Status


@dataclass(frozen=True)
class Attachment:
    """An attachment delivered with a bundled form: its entry's base name, hash and size."""

    name: str
    sha256: str
    bytes: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "bytes": self.bytes}


@dataclass(frozen=True)
class LeftOut:
    """An entry of a bundle that was left out, and what is wrong with it."""

    entry: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"entry": self.entry, "message": self.message}


@dataclass(frozen=True)
class Receipt:
    submission_id: str
    source: str
    sha256: str | None  # None: an entry that was never read (a link, a pipe)
    received_at: dt.datetime
    status: Status
    form_type: str | None
    mailboxes: tuple[str, ...] = ()
    priority: Priority = Priority.NORMAL
    duplicate_of: str | None = None
    errors: tuple[FieldError, ...] = ()
    notes: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    due: tuple[Due, ...] = field(default=())
    attachments: tuple[Attachment, ...] = ()
    missing_attachments: tuple[str, ...] = ()
    left_out: tuple[LeftOut, ...] = ()
    sent_by: str | None = None  # the web account that sent it

    def with_notes(self, *notes: str) -> Receipt:
        return replace(self, notes=self.notes + notes)

    def as_dict(self) -> dict[str, Any]:
        """The contract's JSON shape, field for field and in its order."""
        return {
            "submission_id": self.submission_id,
            "source": self.source,
            "sha256": self.sha256,
            "received_at": self.received_at.astimezone(dt.UTC).isoformat(),
            "status": self.status.value,
            "duplicate_of": self.duplicate_of,
            "form_type": self.form_type,
            "mailboxes": list(self.mailboxes),
            "priority": self.priority.value,
            "errors": [e.as_dict() for e in self.errors],
            "notes": list(self.notes),
            "documents": list(self.documents),
            "due": [d.as_dict() for d in self.due],
            "attachments": [a.as_dict() for a in self.attachments],
            "missing_attachments": list(self.missing_attachments),
            "left_out": [x.as_dict() for x in self.left_out],
            "sent_by": self.sent_by,
        }

    def to_json(self) -> bytes:
        return (json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Receipt:
        """A receipt read back; raises ``ValueError`` (or ``KeyError``, ``TypeError``) when
        it is not one."""
        return cls(
            submission_id=str(data["submission_id"]),
            source=str(data["source"]),
            sha256=data.get("sha256"),
            received_at=dt.datetime.fromisoformat(data["received_at"]),
            status=Status(data["status"]),
            form_type=data.get("form_type"),
            mailboxes=tuple(data.get("mailboxes") or ()),
            priority=Priority(data.get("priority") or Priority.NORMAL),
            duplicate_of=data.get("duplicate_of"),
            errors=tuple(FieldError(e.get("field"), e["message"]) for e in data.get("errors", [])),
            notes=tuple(data.get("notes") or ()),
            documents=tuple(data.get("documents") or ()),
            due=tuple(
                Due(d["what"], dt.datetime.fromisoformat(d["by"])) for d in data.get("due", [])
            ),
            attachments=tuple(
                Attachment(str(a["name"]), str(a["sha256"]), int(a["bytes"]))
                for a in data.get("attachments") or ()
            ),
            missing_attachments=tuple(str(m) for m in data.get("missing_attachments") or ()),
            left_out=tuple(
                LeftOut(str(x["entry"]), str(x["message"])) for x in data.get("left_out") or ()
            ),
            sent_by=data.get("sent_by"),
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> Receipt:
        return cls.from_dict(json.loads(data))

    def past_due(self, now: dt.datetime) -> tuple[Due, ...]:
        """The dues whose time has passed."""
        return tuple(d for d in self.due if d.by < now)
