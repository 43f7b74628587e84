"""The practitioners' side of :class:`~ehforms.core.Root`: blank and prefilled forms
(``ehforms template``), a form put into the inbox or sent from the pages, and the pages'
prefill, uploads and sent forms (``ehforms.practitioners`` holds their rules)."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path
from typing import Any

from ehforms.core.base import RootBase
from ehforms.core.values import now
from ehforms.errors import RootError
from ehforms.forms import SCHEMAS
from ehforms.names import safe_part

PRACTITIONER_INTRO = (
    "Fill in what you know; * marks what the form needs. Dates are DD/MM/YYYY. Save the file and "
    "send it to business support for the Early Help inbox."
)


class Practitioners(RootBase):
    """``Root``'s forms for practitioners, and the forms they send."""

    def practitioner_form(
        self, form_type: str, fmt: str, case_id: str | None = None, *, by: str | None = None
    ) -> tuple[str, bytes]:
        """(title, file) of a blank form, or one prefilled from what the ledger knows of a
        case. ``fmt``: pdf, docx or json. A prefilled form is recorded in the audit trail,
        as made by ``by`` (default: the operating-system user, for the command line)."""
        from ehforms.ledger import case_history_at
        from ehforms.prefill import carried, sections, skeleton
        from ehforms.render import renderer_for

        values: dict[str, Any] = {"form_type": form_type}
        if case_id:
            history = case_history_at(self.ledger_at, case_id) if self.has_ledger else []
            values = carried(form_type, history, case_id)
            if self.has_ledger:  # no ledger: nothing of the family was shown
                from ehforms.audit import Action, os_user

                self.audit.record(
                    by or os_user(),
                    Action.PREFILLED_FORM,
                    case=case_id,
                    detail=f"{form_type} ({fmt})" + ("" if by else ", command line"),
                )
        title = self.config.council.rules(form_type).title or SCHEMAS[form_type].title
        if fmt == "json":
            text = json.dumps(skeleton(form_type, values), indent=2, ensure_ascii=False)
            return title, (text + "\n").encode()
        context = {
            "title": title,
            "intro": PRACTITIONER_INTRO,
            "sections": sections(form_type, values),
        }
        renderer = renderer_for(self.path)
        if fmt == "pdf":
            return title, renderer.pdf("form", context, forms=True)
        return title, renderer.docx("form", context)

    @staticmethod
    def form_file_name(form_type: str, fmt: str, case_id: str | None) -> str:
        return f"{form_type}{'-' + safe_part(case_id) if case_id else ''}.{fmt}"

    # -- accepting a form ---------------------------------------------------------------

    def send(
        self,
        form: tuple[str, bytes],
        attachments: list[tuple[str, bytes]] | None = None,
        *,
        sent_by: str | None = None,
        received_at: dt.datetime | None = None,
    ) -> str:
        """A form sent with its attachments (the web's ``/send``): given its submission id and
        time of receipt now, and claimed at once for the watcher to finish (a bundle's folder
        when it has attachments: the same path as one dropped in the inbox). Returns the
        submission id."""
        self.mailroom.check()
        claim = self.mailroom.accept(form, attachments or [], received_at or now(), sent_by)
        return claim.submission_id

    def submit(self, name: str, data: bytes) -> Path:
        """Put a form into the inbox whole: written under a temporary name the watcher
        ignores, then renamed in (so it is never read half-written)."""
        from ehforms.files import display_name

        safe = safe_part(display_name(name), 80) or "form"
        inbox = self.mailroom.inbox
        temporary = inbox / f".incoming-{safe}-{os.getpid()}-{threading.get_ident()}.part"
        self.mailroom.write_file(temporary, data)
        for n in range(1000):
            target = inbox / (safe if n == 0 else f"{n}-{safe}")
            try:
                os.link(temporary, target)  # never replaces a file already waiting
            except FileExistsError:
                continue
            except OSError:  # a share without hard links: a rename, if the name is free
                if target.exists():
                    continue
                os.rename(temporary, target)
                return target
            os.unlink(temporary)
            return target
        os.unlink(temporary)
        raise RootError("The inbox has too many files of that name: try again later")

    # -- the practitioners' pages (see ehforms.practitioners) ---------------------------

    def private_temporary(self) -> Path:
        """A folder under the root (0700) for a face's own temporary files."""
        return self.mailroom.private_temporary()

    def prefill(
        self,
        account: Any,
        form_type: str,
        fmt: str,
        case_id: str,
        date_of_birth: dt.date,
        at: dt.datetime | None = None,
    ) -> tuple[str, bytes]:
        """A form prefilled for a case ``account`` works on: CaseRefused (one for every
        reason), TooManyTries after ten look-ups in an hour."""
        from ehforms.practitioners import prefill

        return prefill(self._root, account, form_type, fmt, case_id, date_of_birth, at or now())

    def allow_prefill(self, mailbox: str, submission_id: str, email: str, *, by: str) -> None:
        from ehforms.practitioners import allow_prefill

        allow_prefill(self._root, mailbox, submission_id, email, by=by)

    def prefill_allowed(self, mailbox: str, submission_id: str) -> set[str]:
        from ehforms.practitioners import practice

        return practice(self._root).allowed(submission_id, mailbox)

    def incoming(self, at: dt.datetime | None = None) -> tuple[str, Path]:
        """A new submission id and the private folder to stream a sent form into."""
        from ehforms.practitioners import incoming

        return incoming(self._root, at or now())

    def send_upload(self, upload: Any, *, sent_by: str) -> Any:
        """A streamed form checked and, unless it has problems (or whatever they are, when it
        is a safeguarding concern), claimed for the watcher (``practitioners.Sending``)."""
        from ehforms.practitioners import send

        return send(self._root, upload, sent_by)

    def discard_upload(self, home: Path) -> None:
        self.mailroom.discard_incoming(home)

    def sent_forms(self, email: str) -> list[Any]:
        from ehforms.practitioners import sent_forms

        return sent_forms(self._root, email)

    def sent_form(self, email: str, submission_id: str) -> Any:
        from ehforms.practitioners import sent_form

        return sent_form(self._root, email, submission_id)

    def taken(self, submission_id: str) -> bool:
        """Whether the watcher has taken a sent form."""
        from ehforms.practitioners import taken

        return taken(self._root, submission_id)

    def watcher_alive(self, at: dt.datetime | None = None) -> bool:
        from ehforms.practitioners import watcher_alive

        return watcher_alive(self._root, at or now())
