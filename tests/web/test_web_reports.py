"""The weekly report's page and downloads through Flask's test client: managers only, its
charts and tables, the PDF and the CSV, the page's Content-Security-Policy."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html as html_module
import io
import re

import pytest
from pypdf import PdfReader

from ehforms.core import Root
from ehforms.report import CSV_COLUMNS
from web.web_support import HUB, MANAGER, PRACTITIONER, app_for, sign_in, text


def signed_in(folder, email, **overrides):
    client = app_for(folder, **overrides).test_client()
    assert sign_in(client, email).status_code == 302
    return client


def test_a_manager_sees_the_weekly_report_with_charts_tables_and_downloads(web_root):
    response = signed_in(web_root, MANAGER).get("/reports")
    assert response.status_code == 200
    page = text(response)
    assert re.search(r"<h1 class=\"govuk-heading-l\">Weekly report</h1>", page)
    assert "<title>Weekly report - Early Help forms - " in page
    assert page.count("<svg") == 5
    assert len(re.findall(r'<svg[^>]*role="img"[^>]*><title>[^<]+</title>', page)) == 5
    assert page.count('<table class="govuk-table') == 5
    assert re.search(
        r'<a class="govuk-link" href="/reports/weekly-report.pdf"[^>]*>Download PDF</a>', page
    )
    assert re.search(
        r'<a class="govuk-link" href="/reports/weekly-report.csv"[^>]*>Download CSV</a>', page
    )
    # the demo's forms (received on 24 November 2026) are in the figures when that week shows
    with Root.open(web_root) as root:
        made = root.report(8, dt.datetime.now(dt.UTC))
    assert f"({sum(made.received):,} in all)" in page
    assert response.headers["Cache-Control"] == "no-store"


def test_the_page_allows_exactly_its_charts_styles_and_no_script(web_root):
    response = signed_in(web_root, MANAGER).get("/reports")
    policy = response.headers["Content-Security-Policy"]
    styles = re.findall(r"<style[^>]*>(.*?)</style>", text(response), flags=re.S)
    assert len(styles) == 5
    hashes = {
        "'sha256-"
        + base64.b64encode(hashlib.sha256(html_module.unescape(s).encode()).digest()).decode()
        + "'"
        for s in styles
    }
    directive = re.search(r"style-src ([^;]+)", policy).group(1).split()
    assert directive[0] == "'self'" and set(directive[1:]) == hashes
    assert "unsafe-inline" not in policy
    assert "<script" not in text(response).split("<svg", 1)[1].rsplit("</svg>", 1)[0]
    # other pages keep the plain policy
    other = signed_in(web_root, MANAGER).get("/audit").headers["Content-Security-Policy"]
    assert "style-src" not in other


def test_the_pdf_download_is_the_same_report(web_root):
    response = signed_in(web_root, MANAGER).get("/reports/weekly-report.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert re.fullmatch(
        r'attachment; filename="weekly-report-\d{4}-\d{2}-\d{2}.pdf"',
        response.headers["Content-Disposition"],
    )
    reader = PdfReader(io.BytesIO(response.data))
    words = "\n".join(p.extract_text() for p in reader.pages)
    for heading in ("Weekly report", "Forms received by form type", "Overdue now"):
        assert heading in words
    assert "Download PDF" not in words  # the links are the page's, not the document's
    assert response.headers["Cache-Control"] == "no-store"


def test_the_csv_download_has_the_contracts_columns_and_a_row_per_week_and_mailbox(web_root):
    response = signed_in(web_root, MANAGER).get("/reports/weekly-report.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).split("\r\n")
    assert lines[0] == ",".join(CSV_COLUMNS)
    with Root.open(web_root) as root:
        places = [*root.config.mailboxes, "rejected"]
    weeks = {line.split(",")[0] for line in lines[1:] if line}
    assert len(weeks) == 9
    for week in weeks:
        assert {line.split(",")[1] for line in lines[1:] if line.startswith(week)} == set(places)


@pytest.mark.parametrize("email", [PRACTITIONER, HUB])
@pytest.mark.parametrize(
    "path", ["/reports", "/reports/weekly-report.pdf", "/reports/weekly-report.csv"]
)
def test_only_managers_see_the_report_decided_before_any_look_up(web_root, email, path):
    root = Root.open(web_root)

    def no_look_up(*_args, **_kwargs):
        raise AssertionError("looked up before the role was checked")

    root.report = no_look_up
    root.counts = no_look_up
    root.status = no_look_up
    client = app_for(web_root, root=root).test_client()
    sign_in(client, email)
    response = client.get(path)
    assert response.status_code == 403
    assert "You do not have access to this page" in text(response)


def test_the_header_links_to_reports_for_managers_only(web_root):
    manager = text(signed_in(web_root, MANAGER).get("/mailboxes"))
    links = re.findall(r'class="govuk-service-navigation__link" href="([^"]+)"', manager)
    assert links == ["/mailboxes", "/reports", "/audit"]
    hub = text(signed_in(web_root, HUB).get("/mailboxes"))
    assert 'href="/reports"' not in hub


def test_not_signed_in_goes_to_sign_in_and_viewing_is_not_audited(web_root):
    anonymous = app_for(web_root).test_client().get("/reports/weekly-report.csv")
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith("/sign-in?next=/reports/weekly-report.csv")
    client = signed_in(web_root, MANAGER)
    with Root.open(web_root) as root:
        before = len(root.audit.rows(limit=500))
    for path in ("/reports", "/reports/weekly-report.pdf", "/reports/weekly-report.csv"):
        assert client.get(path).status_code == 200
    with Root.open(web_root) as root:
        assert len(root.audit.rows(limit=500)) == before  # counts only: no family's data shown
