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
from ehforms.bundles import Bundle, Entry, missing_from
from ehforms.config import Config
from ehforms.documents import PRO_FORMA, TITLES, Planned
from ehforms.documents import plan as plan_documents
from ehforms.forms import FieldError, Validation
from ehforms.mailroom import Outcome
from ehforms.names import folder_name
from ehforms.receipts import Attachment, LeftOut, Receipt
from ehforms.render import PRO_FORMA_MAX_PAGES, Renderer
from ehforms.submission import (
    check,
    errors_text,
    form_json,
    may_be_urgent,
)

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
    bundle: Bundle | None = None,
    missing_attachments: Iterable[str] = (),
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
        attachments=tuple(
            Attachment(a.name, a.sha256, len(a.data))
            for a in (bundle.attachments if bundle else ())
        ),
        missing_attachments=tuple(missing_attachments),
        left_out=tuple(LeftOut(x.name, x.reason) for x in (bundle.left_out if bundle else ())),
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
    """Everything about one form but the writing: read and validate it, decide, render, and
    build its receipt.

    With no ``renderer`` no documents are made (``ehforms validate`` and tests of routing).
    ``sha256`` is the whole file's, where ``data`` was cut short at the size limit.
    """
    validation = check(name, data, received_at, config)
    facts = routing.Submission(submission_id, received_at, validation)
    decision = routing.decide(facts, config)
    made = None
    if renderer is not None:
        made = documents_for(validation, decision, config, received_at, renderer, withheld_for)
    return build(
        facts,
        decision,
        source=name,
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        documents=made,
    )


def prepare_bundle(
    *,
    bundle: Bundle,
    source: str,
    identity: str,
    submission_id: str,
    received_at: dt.datetime,
    config: Config,
    renderer: Renderer | None = None,
    withheld_for: Callable[[str], list[str] | None] = lambda case_id: None,
    raw: bytes = b"",
    same_form_as: str | None = None,
) -> Outcome:
    """:func:`prepare` for a bundle: its one form checked and routed like a form on its own,
    with its attachments, what it names and lacks, and what was left out. A bundle refused as a
    whole is rejected, but a form in it with a safeguarding signal (or, with no readable form,
    anything in it that may be one) goes to MASH."""
    chosen: Entry | None = bundle.form
    validation = None
    if chosen is not None:
        validation = check(chosen.name, chosen.data, received_at, config)
    else:
        for form in bundle.forms:
            found = check(form.name, form.data, received_at, config)
            if found.safeguarding or found.form_type == "marf":
                chosen, validation = form, found
                break
    signal = False
    if bundle.problem is not None and validation is None:
        # nothing readable says risk: look at what could not be read, failing safe
        signal = any(may_be_urgent(data) for data in bundle.unread) or (
            bool(raw) and not bundle.forms and may_be_urgent(raw)
        )
    missing: tuple[str, ...] = ()
    if bundle.problem is None and validation is not None:
        missing = missing_from(
            bundle, validation.data if validation.data is not None else validation.raw
        )
    facts = routing.Submission(
        submission_id,
        received_at,
        validation,
        may_be_urgent=signal,
        refused=bundle.problem,
        missing_attachments=missing,
        same_form_as=same_form_as,
    )
    decision = routing.decide(facts, config)
    made = None
    if renderer is not None and validation is not None and decision.delivered:
        made = documents_for(validation, decision, config, received_at, renderer, withheld_for)
    forms = bundle.forms or ((chosen,) if chosen else ())
    if chosen is not None:  # the form that was read first, then any other
        forms = (chosen,) + tuple(f for f in forms if f is not chosen)
    outcome = build(
        facts,
        decision,
        source=source,
        sha256=identity,
        documents=made,
        bundle=bundle,
        originals=tuple((f.name, f.data) for f in forms),
    )
    if raw and not decision.delivered:
        # a ZIP file that is rejected is put in rejected/ as it came, to be put right and sent
        # again; a folder's files (it has no one file) are written out
        outcome = dataclasses.replace(outcome, originals=None, attachments=None)
    return outcome


def build(
    facts: routing.Submission,
    decision: routing.Decision,
    *,
    source: str,
    sha256: str | None,
    documents: Documents | None = None,
    bundle: Bundle | None = None,
    originals: tuple[tuple[str, bytes], ...] | None = None,
) -> Outcome:
    """The outcome of a decided submission: its receipt, folder and files to write.

    For a bundle: ``originals`` (its forms' files) are written in place of the claimed ZIP or
    folder, its attachments go into ``attachments/``, and ``errors.txt`` names what was left
    out."""
    validation = facts.validation if decision.problem is None else None
    if decision.problem is not None:
        errors: tuple[FieldError, ...] = (FieldError(None, decision.problem),)
    else:
        errors = validation.errors if validation is not None else ()
        if facts.refused is not None:
            errors = (FieldError(None, facts.refused),) + errors
    form = None
    if validation is not None:
        form = validation.data if validation.valid else validation.raw
    case_id = _case_id(validation) if validation is not None else None
    files = documents.files if documents is not None else {}
    if documents is not None and documents.notes:
        decision = dataclasses.replace(decision, notes=decision.notes + documents.notes)
    built = receipt(
        submission_id=facts.submission_id,
        source=source,
        sha256=sha256,
        received_at=facts.received_at,
        form_type=facts.form_type,
        decision=decision,
        errors=errors,
        duplicate_of=decision.duplicate_of,
        documents=files,
        bundle=bundle,
        missing_attachments=facts.missing_attachments,
    )
    errors_txt = errors_text(errors)
    if bundle is not None and bundle.left_out and decision.problem is None:
        errors_txt += "".join(
            f"{x.name}: left out of the bundle because {x.reason}\n" for x in bundle.left_out
        )
    delivered_bundle = bundle is not None and decision.problem is None
    return Outcome(
        receipt=built,
        folder=folder_name(facts.received_at, facts.form_type, case_id, facts.submission_id),
        form_json=form_json(form) if decision.delivered and form is not None else None,
        errors_txt=errors_txt or None,
        documents=files,
        case_id=case_id,
        case_data=validation.data
        if validation is not None and decision.status == routing.ROUTED
        else None,
        originals=originals if delivered_bundle else None,
        attachments=tuple((a.name, a.data) for a in bundle.attachments)
        if bundle is not None and delivered_bundle
        else None,
    )


def _case_id(validation: Validation) -> str | None:
    source = validation.data if validation.data is not None else validation.raw
    value = source.get("case_id") if isinstance(source, dict) else None
    return value.strip() or None if isinstance(value, str) else None
