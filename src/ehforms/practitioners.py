"""What practitioners do through the web pages: get a form prefilled for a case they work on,
send a form (streamed in by the web, checked as the inbox checks it, then claimed for the
watcher), and see what became of what they sent.

Called through :class:`ehforms.core.Root`; the web face only parses, calls and presents.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ehforms.errors import CaseRefused, NotFound, TooManyTries
from ehforms.names import received_at_of

if TYPE_CHECKING:
    from ehforms.accounts import Account
    from ehforms.core import Root
    from ehforms.practice import Practice, SentForm

TRIES_PER_HOUR = 10  # prefill look-ups a person may make in an hour (web.md)
MB = 1024 * 1024


@dataclass(frozen=True)
class Problem:
    """Something that stops a form being sent: ``field`` is the page's field it belongs to
    ("form" or "attachments"), ``text`` what the person reads."""

    field: str
    text: str


@dataclass(frozen=True)
class Upload:
    """A form and its attachments as the web streamed them into ``home``
    (``.ehforms/incoming/<submission id>/``): (the name the browser gave, the file)."""

    submission_id: str
    home: Path
    form: tuple[str, Path] | None
    attachments: list[tuple[str, Path]] = field(default_factory=list)


@dataclass(frozen=True)
class Sending:
    """What became of a send: sent (claimed for the watcher) or not, and why."""

    submission_id: str
    sent: bool
    problems: tuple[Problem, ...]
    safeguarding: bool
    form_type: str | None


def practice(root: Root) -> Practice:
    from ehforms.practice import Practice

    return Practice(root.store())


# -- prefill -------------------------------------------------------------------------------


def prefill(
    root: Root,
    account: Account,
    form_type: str,
    fmt: str,
    case_id: str,
    date_of_birth: dt.date,
    at: dt.datetime,
) -> tuple[str, bytes]:
    """(title, file) of ``form_type`` prefilled for ``case_id``, when ``account`` works on the
    case and ``date_of_birth`` is a child's on it. Every refusal is the same CaseRefused after
    the same look-ups (recorded as a refused look-up); more than TRIES_PER_HOUR look-ups an
    hour: TooManyTries."""
    from ehforms.audit import Action

    book = practice(root)
    if book.prefill_tries(account.email, at - dt.timedelta(hours=1)) >= TRIES_PER_HOUR:
        raise TooManyTries("Too many tries")
    case_id = case_id.strip()
    # access lasts [retention] case_days after the form or the permission that gave it
    since = at - dt.timedelta(days=root.config.case_days)
    # every look-up is made whatever an earlier one found: a refusal costs the same work
    works = book.works_on(account.email, case_id, since)
    waiting = _waiting_in_mailboxes(root, account, case_id)
    history = root.case_history(case_id)
    born = _born_on(history, date_of_birth)
    withdrawn = _consent_withdrawn(history)
    if not ((works or waiting) and born and not withdrawn):
        root.audit.record(account.email, Action.REFUSED_PREFILL, case=case_id, detail=form_type)
        raise CaseRefused("We could not find a case you work on with that reference and date")
    return root.practitioner_form(form_type, fmt, case_id, by=account.email)


def _waiting_in_mailboxes(root: Root, account: Account, case_id: str) -> bool:
    """A hub user's mailboxes hold a form of the case (waiting, not handled)."""
    from ehforms.accounts import Role

    if account.role != Role.HUB:
        return False
    found = False
    for mailbox in account.mailboxes:
        if mailbox in root.config.mailboxes:
            found = any(row.case == case_id for row in root.mailbox(mailbox)) or found
    return found


def _born_on(history: Iterable[tuple[str, Any]], date_of_birth: dt.date) -> bool:
    wanted = date_of_birth.isoformat()
    found = False
    for _kind, data in history:
        for child in data.get("children") or [] if isinstance(data, dict) else []:
            if isinstance(child, dict) and str(child.get("date_of_birth") or "")[:10] == wanted:
                found = True
    return found


def _consent_withdrawn(history: list[tuple[str, Any]]) -> bool:
    """The case's latest closure was for withdrawn consent."""
    for kind, data in reversed(history):
        if kind == "closure":
            return isinstance(data, dict) and data.get("closure_reason") == "consent_withdrawn"
    return False


def allow_prefill(root: Root, mailbox: str, submission_id: str, email: str, *, by: str) -> None:
    """A hub user allows ``email`` (a referrer or lead practitioner on the form, with an
    active account) to prefill the form's case; NotFound for anyone else or a form without a
    case."""
    view = root.form_view(mailbox, submission_id)
    wanted = email.strip().lower()
    if view.case is None or wanted not in {e.lower() for e in view.allow_prefill}:
        raise NotFound("There is no such person to allow")
    book = practice(root)
    if wanted in book.allowed(submission_id, mailbox):
        return
    book.allow(wanted, view.case, by=by, submission_id=submission_id, mailbox=mailbox)


# -- sending -------------------------------------------------------------------------------


def too_big(limit: int) -> str:
    return f"{limit / MB:g} MB" if limit >= MB else f"{limit // 1024} KB"


def send(root: Root, upload: Upload, sent_by: str) -> Sending:
    """Check a streamed form (and attachments) as the inbox would, at its own time of receipt;
    send it unless it has problems, and always when it is a safeguarding concern (a risk or
    level-5 notification, any MARF). A form not sent leaves nothing behind."""
    from ehforms.bundles import Limits, read_folder

    mailroom = root.mailroom
    limits = Limits.of(root.config)
    received_at = received_at_of(upload.submission_id)
    try:
        if upload.form is None:
            return _refused(upload, Problem("form", "Select the form to send"))
        name, path = upload.form
        if path.stat().st_size > limits.form_bytes:
            return _refused(
                upload,
                Problem(
                    "form",
                    f"The selected form must be smaller than {too_big(limits.form_bytes)}",
                ),
            )
        if len(upload.attachments) > limits.attachments:
            return _refused(
                upload, Problem("attachments", f"Select at most {limits.attachments} attachments")
            )
        for _, each in upload.attachments:
            if each.stat().st_size > limits.attachment_bytes:
                return _refused(
                    upload,
                    Problem(
                        "attachments",
                        "Each selected attachment must be smaller than "
                        f"{too_big(limits.attachment_bytes)}",
                    ),
                )
        with path.open("rb") as handle:
            validation = root.check(name, handle.read(limits.form_bytes + 1), received_at)
        problems = [Problem("form", error.message) for error in validation.errors]
        entry = mailroom.arrange_incoming(upload.home, upload.form, upload.attachments)
        if upload.attachments:
            bundle = read_folder(entry, limits)
            if bundle.problem and validation.valid:
                problems.append(Problem("attachments", bundle.problem))
            form_entry = safe_name(name).lower()  # the form's own problems are said above
            for left in bundle.left_out:
                if left.name.lower() != form_entry:
                    problems.append(
                        Problem("attachments", f"{left.name} cannot be sent: {left.reason}")
                    )
        safeguarding = validation.safeguarding or validation.form_type == "marf"
        if problems and not safeguarding:
            mailroom.discard_incoming(upload.home)
            return Sending(
                upload.submission_id, False, tuple(problems), False, validation.form_type
            )
        case = validation.data.get("case_id") if validation.data else None
        practice(root).record_sent(
            upload.submission_id,
            sent_by,
            received_at,
            validation.form_type,
            case if isinstance(case, str) else None,
        )
        mailroom.claim_incoming(upload.home, entry, sent_by)
        return Sending(
            upload.submission_id, True, tuple(problems), safeguarding, validation.form_type
        )
    except BaseException:
        mailroom.discard_incoming(upload.home)
        raise


def safe_name(name: str) -> str:
    from ehforms.names import safe_file_name

    return safe_file_name(name)


def _refused(upload: Upload, problem: Problem) -> Sending:
    from ehforms.mailroom import INCOMING

    if upload.home.parent.name == INCOMING:
        import shutil

        shutil.rmtree(upload.home, ignore_errors=True)
    return Sending(upload.submission_id, False, (problem,), False, None)


def sent_forms(root: Root, email: str) -> list[SentForm]:
    return practice(root).sent_by(email)


def sent_form(root: Root, email: str, submission_id: str) -> SentForm:
    """One form ``email`` sent; NotFound for anyone else's."""
    for each in practice(root).sent_by(email, limit=10_000):
        if each.submission_id == submission_id:
            return each
    raise NotFound("There is no such form")


def taken(root: Root, submission_id: str) -> bool:
    return practice(root).taken(submission_id)


def watcher_alive(root: Root, at: dt.datetime) -> bool:
    from ehforms.watch import heartbeat_age

    age = heartbeat_age(root.mailroom.heartbeat(), at)
    return age is not None and age <= 3 * root.config.heartbeat_seconds


def incoming(root: Root, at: dt.datetime) -> tuple[str, Path]:
    root.mailroom.check()
    return root.mailroom.incoming_home(at)
