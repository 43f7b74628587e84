"""One submission's outcome, built without writing anything: validate, route, render, receipt.

:func:`prepare` is pure but for reading templates: bytes, name, id and time of receipt in; an
:class:`Outcome` (receipt, folder name, normalised form, errors, documents) out. The other
outcomes are a duplicate, a fault of ehforms itself, and an entry set aside unopened.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ehforms import routing
from ehforms.config import Config
from ehforms.documents import PRO_FORMA, TITLES, Planned
from ehforms.documents import plan as plan_documents
from ehforms.forms import FieldError, Validation
from ehforms.ledger import Seen
from ehforms.mailroom import Outcome
from ehforms.names import folder_name
from ehforms.receipts import Receipt
from ehforms.render import PRO_FORMA_MAX_PAGES, Renderer
from ehforms.submission import (
    check,
    errors_text,
    form_json,
    may_be_urgent,
)
from ehforms.text import long_time

log = logging.getLogger("ehforms")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def receipt(
    *,
    submission_id: str,
    source: str,
    sha256: str | None,
    received_at: dt.datetime,
    form_type: str | None,
    decision: routing.Decision,
    errors: Iterable[FieldError] = (),
    duplicate_of: str | None = None,
    documents: Iterable[str] = (),
) -> Receipt:
    return Receipt(
        submission_id=submission_id,
        source=source,
        sha256=sha256,
        received_at=received_at.astimezone(dt.UTC),
        status=decision.status,
        duplicate_of=duplicate_of,
        form_type=form_type,
        mailboxes=tuple(decision.mailboxes),
        priority=decision.priority,
        errors=tuple(errors),
        notes=tuple(decision.notes),
        documents=tuple(documents),
        due=tuple(decision.due),
    )


def render_documents(
    planned: Iterable[Planned], renderer: Renderer
) -> tuple[dict[str, bytes], list[str]]:
    """PDF and DOCX of each planned document, and notes on anything that did not fit or fail.

    A broken template never holds a form back: the form is delivered without that document,
    and the receipt says so.
    """
    files: dict[str, bytes] = {}
    notes: list[str] = []
    for plan in planned:
        title = TITLES[plan.name]
        limit = PRO_FORMA_MAX_PAGES if plan.name == PRO_FORMA else None
        try:
            made = renderer.document(plan.name, plan.context, max_pages=limit)
        except Exception as error:  # a council's template edit must not lose the form
            log.error("could not render %s (%s)", plan.name, type(error).__name__)
            notes.append(
                f"The {title.lower()} could not be made ({type(error).__name__}: {error}). "
                "Fix the template, then make it with `ehforms render`"
            )
            continue
        files[f"{plan.name}.pdf"] = made.pdf
        files[f"{plan.name}.docx"] = made.docx
        if limit is not None and made.pages > limit:
            notes.append(
                f"The {title.lower()} runs to {made.pages} pages, more than {limit}, even in "
                "smaller type: read it all before the allocations meeting"
            )
        elif made.shrunk:
            notes.append(f"The {title.lower()} is set in smaller type to fit on {limit} pages")
    return files, notes


@dataclass(frozen=True)
class Documents:
    """The documents a form gets: their names (planned), the files made, and notes."""

    planned: tuple[str, ...]
    files: dict[str, bytes]
    notes: tuple[str, ...]


def documents_for(
    validation: Validation,
    decision: routing.Decision,
    config: Config,
    received_at: dt.datetime,
    renderer: Renderer,
    withheld_for: Callable[[str], list[str] | None],
) -> Documents:
    """The one path to a form's documents, for routing and for ``ehforms render`` alike.

    A closure note shows what the family withheld on the case's earlier forms (from the
    ledger); every other document shows what the form itself says."""
    case_id = _case_id(validation)
    planned = plan_documents(
        validation.form_type,
        validation.data,
        decision,
        config,
        received_at,
        withheld=withheld_for(case_id) if case_id and validation.form_type == "closure" else None,
    )
    files, notes = render_documents(planned, renderer)
    return Documents(tuple(p.name for p in planned), files, tuple(notes))


def prepare(
    *,
    name: str,
    data: bytes,
    submission_id: str,
    received_at: dt.datetime,
    config: Config,
    renderer: Renderer | None = None,
    withheld_for: Callable[[str], list[str] | None] = lambda case_id: None,
    sha256: str | None = None,
) -> Outcome:
    """Everything about one submission but the writing: validate, route, render, receipt.

    With no ``renderer`` no documents are made (``ehforms validate`` and tests of routing).
    ``sha256`` is the whole file's, where ``data`` was cut short at the size limit.
    """
    sha256 = sha256 or hashlib.sha256(data).hexdigest()
    validation = check(name, data, received_at, config)
    decision = routing.route(validation, config, received_at)
    form = validation.data if validation.valid else validation.raw
    case_id = _case_id(validation)
    files: dict[str, bytes] = {}
    if renderer is not None:
        made = documents_for(validation, decision, config, received_at, renderer, withheld_for)
        files = made.files
        decision = dataclasses.replace(decision, notes=decision.notes + tuple(made.notes))
    built = receipt(
        submission_id=submission_id,
        source=name,
        sha256=sha256,
        received_at=received_at,
        form_type=validation.form_type,
        decision=decision,
        errors=validation.errors,
        documents=files,
    )
    return Outcome(
        receipt=built,
        folder=folder_name(received_at, validation.form_type, case_id, submission_id),
        form_json=form_json(form) if decision.delivered and form is not None else None,
        errors_txt=errors_text(validation.errors) or None,
        documents=files,
        case_id=case_id,
        case_data=validation.data if decision.status == routing.ROUTED else None,
    )


def _case_id(validation: Validation) -> str | None:
    source = validation.data if validation.data is not None else validation.raw
    value = source.get("case_id") if isinstance(source, dict) else None
    return value.strip() or None if isinstance(value, str) else None


def _problem(
    *,
    name: str,
    sha256: str | None,
    submission_id: str,
    received_at: dt.datetime,
    form_type: str | None,
    decision: routing.Decision,
    message: str,
    duplicate_of: str | None = None,
) -> Outcome:
    """An outcome that is one problem: a duplicate, or a fault in ehforms itself."""
    errors = (FieldError(None, message),)
    return Outcome(
        receipt=receipt(
            submission_id=submission_id,
            source=name,
            sha256=sha256,
            received_at=received_at,
            form_type=form_type,
            decision=decision,
            errors=errors,
            duplicate_of=duplicate_of,
        ),
        folder=folder_name(received_at, form_type, None, submission_id),
        errors_txt=errors_text(errors),
    )


def duplicate(
    *,
    name: str,
    sha256: str | None,
    submission_id: str,
    received_at: dt.datetime,
    first: Seen,
    where: str,
    config: Config,
) -> Outcome:
    """The outcome of bytes seen before: ``rejected/``, saying when they came and where the
    first copy is now (``where``, from :meth:`Mailroom.whereabouts`)."""
    return _problem(
        name=name,
        sha256=sha256,
        submission_id=submission_id,
        received_at=received_at,
        form_type=first.form_type,
        decision=routing.Decision(routing.DUPLICATE),
        duplicate_of=first.submission_id,
        message=(
            f"This file was already received on {long_time(first.received_at, config.timezone)} as "
            f"submission {first.submission_id}, which {where}. It has not been sent on "
            "again. If it is a new form, change it and send it again"
        ),
    )


def fault(
    *,
    name: str,
    data: bytes,
    sha256: str | None,
    submission_id: str,
    received_at: dt.datetime,
    config: Config,
    error: BaseException | None = None,
    message: str | None = None,
) -> Outcome:
    """When ehforms itself fails on a file: MASH if it may be urgent, else ``rejected/``.

    ``message`` replaces the one naming ``error``'s type (a file that failed twice)."""
    decision = (
        routing.Decision(routing.REDIRECTED, (config.mash_mailbox,), routing.URGENT)
        if may_be_urgent(data)
        else routing.Decision(routing.REJECTED)
    )
    return _problem(
        name=name,
        sha256=sha256,
        submission_id=submission_id,
        received_at=received_at,
        form_type=None,
        decision=decision,
        message=message
        or (
            f"ehforms could not process this file because of a fault in ehforms itself "
            f"({type(error).__name__}). The file is kept here: tell the system administrator, "
            f"quoting submission {submission_id}"
        ),
    )


def set_aside(*, name: str, kind: str, submission_id: str, received_at: dt.datetime) -> Outcome:
    """An inbox entry that is not a file (a link, a pipe, a socket, a device): never opened,
    moved to the archive, and a receipt in ``rejected/`` saying what it was."""
    return _problem(
        name=name,
        sha256=None,
        submission_id=submission_id,
        received_at=received_at,
        form_type=None,
        decision=routing.Decision(routing.REJECTED),
        message=(
            f"This entry in the inbox was {kind}. ehforms never opens links, pipes or devices, "
            f"so it has been set aside (kept in .ehforms/archive/{submission_id}). Put the "
            "form itself in the inbox as a file"
        ),
    )
