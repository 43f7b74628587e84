"""The weekly report, for managers: the page, and the same report as a PDF and as a CSV.

Counts only, never a family's data, so viewing or downloading it is not audited (web.md audits
what shows a family's personal data); it is still a signed-in page, and no-store like every
page. The role is checked before anything is looked up. The charts keep their own ``<style>``
(pygal's, scoped to each chart): this page's Content-Security-Policy allows exactly those
styles by their hashes, and no script.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, render_template, url_for
from flask.typing import ResponseReturnValue

from ehforms.accounts import Role
from ehforms.core import now
from ehforms.report_render import style_hashes
from ehforms.web.present import mailbox_name
from ehforms.web.security import requires

pages = Blueprint("reports", __name__)
WEEKS = 8  # the last 8 complete weeks and the current one (web.md)


def _root() -> Any:
    return current_app.extensions["ehforms.root"]


def _names() -> dict[str, str]:
    config = _root().config
    return {mailbox: mailbox_name(config, mailbox) for mailbox in config.mailboxes}


def _file_name(report: Any, suffix: str) -> str:
    return f"weekly-report-{report.current.isoformat()}.{suffix}"


@pages.get("/reports")
@requires(Role.MANAGER)
def index() -> ResponseReturnValue:
    root = _root()
    report = root.report(WEEKS, now())
    downloads = [
        ("Download PDF", url_for("reports.pdf")),
        ("Download CSV", url_for("reports.csv")),
    ]
    body = root.report_as(report, "html", _names(), downloads)
    g.style_hashes = style_hashes(str(body))
    return render_template("reports.html", body=body)


@pages.get("/reports/weekly-report.pdf")
@requires(Role.MANAGER)
def pdf() -> ResponseReturnValue:
    root = _root()
    report = root.report(WEEKS, now())
    return _download(
        root.report_as(report, "pdf", _names()), "application/pdf", _file_name(report, "pdf")
    )


@pages.get("/reports/weekly-report.csv")
@requires(Role.MANAGER)
def csv() -> ResponseReturnValue:
    root = _root()
    report = root.report(WEEKS, now())
    return _download(
        root.report_as(report, "csv"), "text/csv; charset=utf-8", _file_name(report, "csv")
    )


def _download(content: str | bytes, mimetype: str, name: str) -> Response:
    response = Response(content, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
