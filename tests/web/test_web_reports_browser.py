"""The weekly report in a real headless Chromium (as test_web_browser.py): a manager opens
it from the header, finds each chart by its name and its table beside it, downloads the PDF
and the CSV; axe-core finds nothing serious; and with the page's own Content-Security-Policy
in force (not bypassed) the charts' styles apply and nothing is refused."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ehforms.core import Root
from web.test_web_browser import ARGS, ASSETS, AXE, CHROMIUM, check, heading, sign_in
from web.web_support import MANAGER, MASH, app_for, clone, waiting_ids

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no /usr/bin/chromium: ./dev test installs Debian's chromium for the browser tests",
)

CHARTS = (
    "Forms received each week, by form type",
    "Forms received each week, by mailbox",
    "Outcomes each week",
    "Hours from receipt to handled, by mailbox",
    "Forms waiting and overdue now, by mailbox",
)


@pytest.fixture(scope="module")
def site(web_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A live server on a copy of the web tests' root, with one form marked handled."""
    from werkzeug.serving import make_server

    assert (ASSETS / "ehforms.css").is_file(), "no web assets: run ./dev assets"
    assert AXE.is_file(), "no axe-core: run ./dev assets (npm ci)"
    folder = clone(web_template, tmp_path_factory.mktemp("reports") / "root")
    with Root.open(folder) as root:
        marf = waiting_ids(folder, "mash")[0][0]
        root.mark_handled("mash", marf, by=MASH)
    app = app_for(folder, insecure_http=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.port}", "folder": folder}
    finally:
        server.shutdown()
        thread.join(10)
        app.extensions["ehforms.root"].close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def test_a_manager_reads_the_weekly_report_and_downloads_it(browser, site):
    context = browser.new_context(base_url=site["url"], bypass_csp=True, accept_downloads=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in(page, MANAGER)
    heading(page, "Mailboxes").wait_for()
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Reports").click()
    heading(page, "Weekly report").wait_for()
    for name in CHARTS:
        assert page.get_by_role("img", name=name).is_visible(), name
    for name in ("Forms received by form type", "Overdue now", "Time from receipt to handled"):
        assert page.get_by_role("heading", level=2, name=name).is_visible()
    handling = page.get_by_role("table", name="Hours from receipt to handled")
    for column in ("Mailbox", "Handled", "Median hours", "90th percentile hours"):
        assert handling.get_by_role("columnheader", name=column).is_visible()
    mash = handling.get_by_role("row").filter(has=page.get_by_role("rowheader", name="MASH"))
    assert mash.get_by_role("cell").first.inner_text() == "1"  # the MARF marked handled
    check(page, "reports")
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download PDF").click()
    pdf = downloading.value
    assert pdf.suggested_filename.startswith("weekly-report-")
    assert Path(pdf.path()).read_bytes().startswith(b"%PDF")
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download CSV").click()
    csv = Path(downloading.value.path()).read_text(encoding="utf-8")
    assert csv.startswith("week_start,mailbox,form_type,received,")
    context.close()


def test_the_charts_styles_apply_under_the_pages_own_csp(browser, site):
    context = browser.new_context(base_url=site["url"])
    page = context.new_page()
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else 0)
    sign_in(page, MANAGER)
    heading(page, "Mailboxes").wait_for()
    page.goto("/reports")
    heading(page, "Weekly report").wait_for()
    # pygal's style colours the first series' bars GOV.UK blue: it ran, it was not refused
    fill = page.evaluate(
        "getComputedStyle(document.querySelector('svg.pygal-chart .color-0 rect')"
        " || document.querySelector('svg.pygal-chart rect.color-0')).fill"
    )
    assert fill == "rgb(29, 112, 184)"
    assert refused == []
    context.close()
