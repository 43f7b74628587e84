"""Practitioners' pages (hub staff have them too): "Get a form" (blank, or prefilled for a case
they work on), "Send a form" (streamed to disk, checked as the inbox checks it, claimed for the
watcher) and "Your forms"; and, for hub staff, "Allow prefill for <email>" on a form's page.

The pages parse, call the core and present: who works on which case, what a form's problems
are and what became of it are decided by ``Root``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import RadioField, StringField
from wtforms.validators import AnyOf, InputRequired

from ehforms.accounts import Role
from ehforms.bundles import Limits
from ehforms.errors import CaseRefused, NotFound, TooManyTries
from ehforms.practitioners import Upload, too_big
from ehforms.registry import FORM_TYPES
from ehforms.web.forms import problems
from ehforms.web.present import SUBMISSION_ID, form_name, mailbox_name, when
from ehforms.web.security import requires
from ehforms.web.uploads import FileTooLarge

log = logging.getLogger("ehforms.web")
pages = Blueprint("practitioners", __name__)

FORMATS = {"pdf": "PDF", "docx": "Word", "json": "JSON"}
REFUSED = "We could not find a case you work on with that reference and date of birth"
TOO_MANY = "You can look up at most 10 cases an hour: try again later"
ALLOWED = "Prefill allowed"
WAIT_SECONDS = 3.0  # how long "Send form" waits for the watcher to take a form
PEOPLE = (Role.PRACTITIONER, Role.HUB)
MIMETYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "json": "application/json",
}


def _root() -> Any:
    return current_app.extensions["ehforms.root"]


@pages.record_once
def _send_checks_its_own_csrf(state: Any) -> None:
    # /send reads its body only after the person's role is known (see send_form), so the
    # CSRF token, which is in that body, is checked there, not before every request
    state.app.extensions["csrf"].exempt(f"{__name__}.send_form")


# -- Get a form -------------------------------------------------------------------------


class Prefill(FlaskForm):
    form_type = RadioField(
        "Form",
        choices=list(FORM_TYPES),
        validate_choice=False,  # a forged value gets the field's own message, below
        validators=[
            InputRequired("Select the form"),
            AnyOf(list(FORM_TYPES), message="Select the form"),
        ],
    )
    case = StringField("Case reference", validators=[InputRequired("Enter the case reference")])
    day = StringField("Day")
    month = StringField("Month")
    year = StringField("Year")
    fmt = RadioField(
        "Format",
        choices=list(FORMATS),
        validate_choice=False,
        validators=[
            InputRequired("Select the format"),
            AnyOf(list(FORMATS), message="Select the format"),
        ],
    )

    def date_of_birth(self) -> tuple[dt.date | None, str | None]:
        """The date typed, or why it cannot be one."""
        parts = [(self.day.data or "").strip(), (self.month.data or "").strip()]
        parts.append((self.year.data or "").strip())
        if not any(parts):
            return None, "Enter the child's date of birth"
        if not all(parts):
            missing = [n for n, p in zip(("day", "month", "year"), parts, strict=True) if not p]
            return None, f"Child's date of birth must include a {' and '.join(missing)}"
        if not all(p.isdigit() for p in parts) or len(parts[2]) != 4:
            return None, "Child's date of birth must be a real date"
        try:
            born = dt.date(int(parts[2]), int(parts[1]), int(parts[0]))
        except ValueError:
            return None, "Child's date of birth must be a real date"
        if born > dt.date.today():
            return None, "Child's date of birth must be in the past"
        return born, None


def _forms_page(form: Prefill, errors: list[dict[str, str]], dob_error: str | None) -> Any:
    return render_template(
        "forms.html",
        kinds=[(key, str(kind.title)) for key, kind in FORM_TYPES.items()],
        formats=FORMATS,
        form=form,
        errors=errors,
        dob_error=dob_error,
        case_system=_root().config.case_system_name,
    )


@pages.get("/forms")
@requires(*PEOPLE)
def forms() -> ResponseReturnValue:
    return _forms_page(Prefill(), [], None)


@pages.get("/forms/<form_type>/<fmt>")
@requires(*PEOPLE)
def blank(form_type: str, fmt: str) -> ResponseReturnValue:
    if form_type not in FORM_TYPES or fmt not in FORMATS:
        abort(404)
    root = _root()
    _, data = root.practitioner_form(form_type, fmt)
    return _download(data, root.form_file_name(form_type, fmt, None), fmt)


@pages.post("/forms")
@requires(*PEOPLE)
def prefill() -> ResponseReturnValue:
    form = Prefill()
    valid = form.validate()
    born, dob_error = form.date_of_birth()
    errors = problems(form)
    if dob_error:
        # in the page's order: after the case reference
        errors.append({"text": dob_error, "href": "#date_of_birth-day"})
        order = {"#form_type": 0, "#case": 1, "#date_of_birth-day": 2, "#fmt": 3}
        errors.sort(key=lambda e: order.get(e["href"], 9))
    if not valid or born is None:
        return _forms_page(form, errors, dob_error), 400
    root = _root()
    try:
        _, data = root.prefill(g.account, form.form_type.data, form.fmt.data, form.case.data, born)
    except CaseRefused:
        form.case.errors = [REFUSED]
        return _forms_page(form, [{"text": REFUSED, "href": "#case"}], None), 404
    except TooManyTries:
        form.case.errors = [TOO_MANY]
        return _forms_page(form, [{"text": TOO_MANY, "href": "#case"}], None), 429
    log.info("a prefilled %s was downloaded", form.form_type.data)
    name = root.form_file_name(form.form_type.data, form.fmt.data, form.case.data.strip())
    return _download(data, name, form.fmt.data)


def _download(data: bytes, name: str, fmt: str) -> ResponseReturnValue:
    import io

    return send_file(
        io.BytesIO(data),
        mimetype=MIMETYPES[fmt],
        as_attachment=True,
        download_name=name,
        etag=False,
        max_age=0,
    )


# -- Send a form ------------------------------------------------------------------------


def _send_page(errors: list[dict[str, str]], status: int = 200) -> ResponseReturnValue:
    by_field: dict[str, list[str]] = {}
    for error in errors:
        by_field.setdefault(error["href"].lstrip("#"), []).append(error["text"])
    root = _root()
    return (
        render_template(
            "send.html",
            errors=errors,
            by_field=by_field,
            front_door=root.front_door,
            max_attachments=Limits.of(root.config).attachments,
        ),
        status,
    )


@pages.get("/send")
@requires(*PEOPLE)
def send() -> ResponseReturnValue:
    return _send_page([])


@pages.post("/send")
@requires(*PEOPLE)
def send_form() -> ResponseReturnValue:
    root = _root()
    limits = Limits.of(root.config)
    whole = limits.bundle_bytes + limits.form_bytes + 64 * 1024  # the files and the fields
    if request.content_length is not None and request.content_length > whole:
        return _too_large(whole)
    submission_id, home = root.incoming()
    try:
        request.max_content_length = whole
        request.max_form_memory_size = 1024 * 1024  # the parser's buffer, and each field
        request.max_form_parts = limits.attachments + 4  # the token, the form, the button
        request.upload_to = home  # type: ignore[attr-defined]
        request.file_limit = limits.entry_bytes  # type: ignore[attr-defined]
        try:
            files = request.files
        except FileTooLarge:
            return _too_large(limits.entry_bytes)
        except RequestEntityTooLarge:
            if request.content_length is not None and request.content_length > whole:
                return _too_large(whole)
            problem = f"Select at most {limits.attachments} attachments"
            return _send_page([{"text": problem, "href": "#attachments"}], 413)
        current_app.extensions["csrf"].protect()  # a CSRFError page when the token is wrong
        chosen = [f for f in files.getlist("form") if f.filename]
        attached = [f for f in files.getlist("attachments") if f.filename]
        request.close_uploads()  # type: ignore[attr-defined]
        if len(chosen) > 1:
            return _send_page([{"text": "Select one form to send", "href": "#form"}], 400)
        upload = Upload(
            submission_id,
            home,
            (chosen[0].filename or "form", _path(chosen[0])) if chosen else None,
            [(f.filename or "attachment", _path(f)) for f in attached],
        )
        sending = root.send_upload(upload, sent_by=g.account.email)
    finally:
        request.close_uploads()  # type: ignore[attr-defined]
        root.discard_upload(home)  # whatever was not claimed (once claimed, it is not there)
    if not sending.sent:
        errors = [{"text": p.text, "href": f"#{p.field}"} for p in sending.problems]
        return _send_page(errors, 400)
    log.info("%s sent from the pages (%s)", submission_id, sending.form_type or "unknown type")
    if sending.safeguarding:
        flash(f"safeguarding:{submission_id}")
    for problem in sending.problems:
        flash(f"problem:{submission_id}:{problem.text}")
    return redirect(url_for("practitioners.sent_one", submission_id=submission_id))


def _path(storage: Any) -> Any:
    """Where an uploaded file was streamed to (web/uploads.py)."""
    return storage.stream.path


def _too_large(limit: int) -> ResponseReturnValue:
    text = f"The selected file must be smaller than {too_big(limit)}"
    return _send_page([{"text": text, "href": "#form"}], 413)


@pages.get("/send/<submission_id>")
@requires(*PEOPLE)
def sent_one(submission_id: str) -> ResponseReturnValue:
    if not SUBMISSION_ID.match(submission_id):
        abort(404)
    root = _root()
    try:
        mine = root.sent_form(g.account.email, submission_id)
    except NotFound:
        abort(404)
    alive = root.watcher_alive()
    taken = root.taken(submission_id)
    waited = time.monotonic() + WAIT_SECONDS
    while alive and not taken and time.monotonic() < waited:
        time.sleep(0.02)
        taken = root.taken(submission_id)
    flashed = [str(m) for m in get_flashed_messages()]
    safeguarding = f"safeguarding:{submission_id}" in flashed
    prefix = f"problem:{submission_id}:"
    noted = [m[len(prefix) :] for m in flashed if m.startswith(prefix)]
    return render_template(
        "sent_one.html",
        submission_id=submission_id,
        form=form_name(mine.form_type),
        taken=taken,
        alive=alive,
        safeguarding=safeguarding,
        noted=noted,
        front_door=root.front_door,
    )


# -- Your forms -------------------------------------------------------------------------


def status_of(row: Any) -> str:
    """A sent form's status in the contract's words."""
    if row.status is None:
        return "Being processed"
    if row.status == "rejected":
        return "Not sent: problems found"
    if row.status == "duplicate":
        return "Already received"
    if row.handled:
        return "Handled"
    if row.mailboxes:
        return f"Sent to {mailbox_name(_root().config, row.mailboxes[0])}"
    return "Being processed"


@pages.get("/sent")
@requires(*PEOPLE)
def sent() -> ResponseReturnValue:
    root = _root()
    zone = root.config.timezone
    rows = [
        {
            "received": when(row.sent_at, zone),
            "form": form_name(row.form_type),
            "case": row.case_id or "",
            "status": status_of(row),
        }
        for row in root.sent_forms(g.account.email)
    ]
    return render_template("sent.html", rows=rows)


# -- Allow prefill (hub staff, on a form's page) ----------------------------------------


@pages.post("/mailboxes/<mailbox>/<submission_id>/allow-prefill")
@requires(Role.HUB)
def allow_prefill(mailbox: str, submission_id: str) -> ResponseReturnValue:
    if (
        mailbox not in _root().config.mailboxes
        or mailbox not in g.account.mailboxes
        or not SUBMISSION_ID.match(submission_id)
    ):
        abort(404)
    email = request.form.get("email", "")
    try:
        _root().allow_prefill(mailbox, submission_id, email, by=g.account.email)
    except NotFound:
        abort(404)
    log.info("prefill allowed from %s in %s", submission_id, mailbox)
    flash(ALLOWED)
    return redirect(url_for("mailboxes.form", mailbox=mailbox, submission_id=submission_id))
