"""The audit trail, for managers: who saw, downloaded or handled what, newest first, paged,
filtered by case reference.

The filter is posted, never put in the address (nothing but submission ids goes into a URL),
and kept in the browser's signed session cookie while the manager pages through it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, session
from flask import url_for as url
from flask.typing import ResponseReturnValue

from ehforms.accounts import Role
from ehforms.web.forms import CaseFilter
from ehforms.web.present import short, who
from ehforms.web.security import requires

pages = Blueprint("audit", __name__)
FILTER = "audit_case"


def _root() -> Any:
    return current_app.extensions["ehforms.root"]


@pages.get("/audit")
@requires(Role.MANAGER)
def index() -> ResponseReturnValue:
    raw = request.args.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        abort(404)
    page = int(raw)
    size = current_app.config["PAGE_SIZE"]
    case = session.get(FILTER) or None
    # one more than a page: whether there is a next page, without counting the whole trail
    rows = _root().audit.rows(case=case, limit=size + 1, offset=(page - 1) * size)
    form = CaseFilter(formdata=None, case=case or "")
    return render_template(
        "audit.html",
        rows=rows[:size],
        more=len(rows) > size,
        page=page,
        case=case,
        form=form,
        short=short,
        who=who,
        zone=_root().config.timezone,
    )


@pages.post("/audit")
@requires(Role.MANAGER)
def filter_rows() -> ResponseReturnValue:
    form = CaseFilter()
    case = (form.case.data or "").strip()[:64]
    if case:
        session[FILTER] = case
    else:
        session.pop(FILTER, None)
    return redirect(url("audit.index"))
