"""Hub staff's mailboxes: the counts, a mailbox's waiting forms, a form, its files, and
"Mark as handled". Managers see the counts only.

Every check of who may see what comes before any look-up: the role (403), then whether the
mailbox is one the person works and the id looks like an id (404), then the core.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
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

from ehforms.accounts import Role
from ehforms.audit import Action
from ehforms.core import now
from ehforms.errors import AlreadyHandled, EhformsError, FolderBusy, NotFound
from ehforms.web.present import SUBMISSION_ID, due_name, form_name, sections, when
from ehforms.web.security import requires

log = logging.getLogger("ehforms.web")
pages = Blueprint("mailboxes", __name__)

HANDLED = "Marked as handled"


def _root() -> Any:
    return current_app.extensions["ehforms.root"]


class Listings:
    """Each mailbox's listing (``root.mailbox``), kept for ``seconds``: twenty people paging
    through one mailbox of 2,000 forms read the ledger and the folder once in that time, not
    once each. Marking a form handled here forgets its mailbox's listing at once; a folder
    moved by hand on the share shows within ``seconds``. 0 keeps nothing."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.kept: dict[str, tuple[float, dt.datetime, list[Any]]] = {}

    def get(self, mailbox: str) -> tuple[dt.datetime, list[Any]]:
        started = time.monotonic()
        with self.lock:
            kept = self.kept.get(mailbox)
        if kept is not None and started - kept[0] < self.seconds:
            return kept[1], kept[2]
        at = now()
        rows = _root().mailbox(mailbox, at)
        if self.seconds > 0:
            with self.lock:
                self.kept[mailbox] = (started, at, rows)
        return at, rows

    def forget(self, mailbox: str) -> None:
        with self.lock:
            self.kept.pop(mailbox, None)


def listings() -> Listings:
    return current_app.extensions.setdefault(
        "ehforms.listings", Listings(current_app.config["LISTING_SECONDS"])
    )


def _mine(mailbox: str) -> str:
    """A mailbox this person works, or 404: another mailbox does not exist for them."""
    if mailbox not in _root().config.mailboxes or mailbox not in g.account.mailboxes:
        abort(404)
    return mailbox


def _submission(submission_id: str) -> str:
    if not SUBMISSION_ID.match(submission_id):
        abort(404)
    return submission_id


def _page() -> int:
    raw = request.args.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        abort(404)
    return int(raw)


@pages.get("/mailboxes")
@requires(Role.HUB, Role.MANAGER)
def index() -> ResponseReturnValue:
    root = _root()
    counts = root.counts(now())
    manager = g.account.role == Role.MANAGER
    names = [m for m in root.config.mailboxes if manager or m in g.account.mailboxes]
    rows = [
        {"mailbox": m, **counts.get(m, {"waiting": 0, "urgent": 0, "overdue": 0})} for m in names
    ]
    unsent = root.alerts_unsent_by_mailbox()
    waiting_alerts = {m: unsent[m] for m in names if unsent.get(m)}
    return render_template("mailboxes.html", rows=rows, links=not manager, unsent=waiting_alerts)


@pages.get("/mailboxes/<mailbox>")
@requires(Role.HUB)
def mailbox(mailbox: str) -> ResponseReturnValue:
    mailbox = _mine(mailbox)
    page = _page()
    size = current_app.config["PAGE_SIZE"]
    at, everything = listings().get(mailbox)
    pages_total = max(1, -(-len(everything) // size))
    if page > pages_total:
        abort(404)
    shown = everything[(page - 1) * size : page * size]
    rows = _root().listing(mailbox, shown)  # with each form's case and first child
    _root().audit.record(g.account.email, Action.VIEWED_MAILBOX, detail=mailbox)
    zone = _root().config.timezone
    return render_template(
        "mailbox.html",
        mailbox=mailbox,
        rows=rows,
        at=at,
        zone=zone,
        when=when,
        form_name=form_name,
        page=page,
        pages_total=pages_total,
        total=len(everything),
        handled=HANDLED in get_flashed_messages(),
    )


def _form_page(mailbox: str, submission_id: str, problem: str | None = None) -> Any:
    root = _root()
    try:
        view = root.form_view(mailbox, submission_id)
    except NotFound:
        abort(404)
    form = view.form
    case = view.case
    root.audit.record(g.account.email, Action.VIEWED_FORM, submission_id=submission_id, case=case)
    zone = root.config.timezone
    receipt = view.receipt
    return render_template(
        "form.html",
        mailbox=mailbox,
        view=view,
        title=form_name(receipt.form_type if receipt else None),
        sections=sections(form, zone) if form else [],
        case=case,
        received=when(receipt.received_at, zone) if receipt else "",
        dues=[
            (due_name(d.what), when(d.by, zone), d.by < now())
            for d in (receipt.due if receipt else ())
        ],
        notes=list(receipt.notes) if receipt else [],
        problem=problem,
        allowed=root.prefill_allowed(mailbox, submission_id) if view.allow_prefill else set(),
    )


@pages.get("/mailboxes/<mailbox>/<submission_id>")
@requires(Role.HUB)
def form(mailbox: str, submission_id: str) -> ResponseReturnValue:
    return _form_page(_mine(mailbox), _submission(submission_id))


@pages.post("/mailboxes/<mailbox>/<submission_id>")
@requires(Role.HUB)
def mark_handled(mailbox: str, submission_id: str) -> ResponseReturnValue:
    mailbox, submission_id = _mine(mailbox), _submission(submission_id)
    # CSRFProtect has already refused a request without a valid token
    try:
        _root().mark_handled(mailbox, submission_id, by=g.account.email)
    except NotFound:
        abort(404)
    except AlreadyHandled as already:
        problem = (
            f"Already marked as handled by {already.by}"
            if already.by
            else "Already marked as handled"
        )
        return _form_page(mailbox, submission_id, problem), 409
    except FolderBusy:
        problem = (
            "The form's folder could not be moved: a file in it may be open on the share. "
            "Close it and try again"
        )
        return _form_page(mailbox, submission_id, problem), 409
    except EhformsError as error:  # not finished by the watcher, and what else the core says
        return _form_page(mailbox, submission_id, str(error)), 409
    listings().forget(mailbox)
    log.info("%s marked as handled in %s", submission_id, mailbox)
    flash(HANDLED)
    return redirect(url_for("mailboxes.mailbox", mailbox=mailbox))


@pages.get("/mailboxes/<mailbox>/<submission_id>/files/<int:n>")
@requires(Role.HUB)
def file(mailbox: str, submission_id: str, n: int) -> ResponseReturnValue:
    mailbox, submission_id = _mine(mailbox), _submission(submission_id)
    root = _root()
    try:
        case = root.form_view(mailbox, submission_id).case
        # opened through the folder, never through a link swapped in on the share since
        ref, handle = root.open_form_file(mailbox, submission_id, n)
    except NotFound:
        abort(404)
    try:
        root.audit.record(
            g.account.email,
            Action.DOWNLOADED_FILE,
            submission_id=submission_id,
            case=case,
            detail=f"file {n}",
        )
    except BaseException:
        handle.close()
        raise
    return send_file(
        handle,
        mimetype=ref.content_type,
        as_attachment=True,
        download_name=ref.name,
        etag=False,
        max_age=0,
    )
