"""The pages in a real headless Chromium (Debian's, driven by Playwright; no browser
download), as a person uses them: every element found by its role and accessible name, each
page checked by axe-core (no serious or critical finding) and saved as a screenshot under
build/screenshots/. One browser for the module, one live server on a thread.

Skipped only when /usr/bin/chromium is absent (``./dev test`` installs it)."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ehforms.core import Root
from web.web_support import (
    HUB,
    MANAGER,
    MASH,
    NEWCOMER,
    PASSWORD,
    PRACTITIONER,
    RECEIVED,
    app_for,
    clone,
)

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).parents[2]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
ASSETS = REPO / "build" / "assets"
SHOTS = REPO / "build" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no /usr/bin/chromium: ./dev test installs Debian's chromium for the browser tests",
)

PDF_CASE = "EH-00500"  # the MARF a practitioner sent as a filled PDF


def marf_pdf() -> bytes:
    """A MARF filled in as the practitioner's PDF form (ehforms template marf --format pdf)."""
    from pypdf import PdfReader, PdfWriter

    _, blank = Root.open(REPO).practitioner_form("marf", "pdf")
    answers = {
        "form_type": "marf",
        "submitted_at": "23/11/2026 16:10",
        "case_id": PDF_CASE,
        "level_of_need": "5",
        "child_protection_concern": "yes",
        "case_summary": "Rowan told a teacher that an adult at home hurt them last night.",
        "rationale": "A disclosure of physical harm needs a social work response today.",
        "consent_not_sought_reason": "Seeking consent could place Rowan at further risk.",
        "referrer/name": "Alex Test",
        "referrer/role": "Family worker",
        "referrer/agency": "Early Help",
        "referrer/phone": "0161 496 0457",
        "children[0]/given_name": "Rowan",
        "children[0]/family_name": "Example",
        "children[0]/date_of_birth": "02/03/2014",
        "family[0]/given_name": "Jo",
        "family[0]/family_name": "Example",
        "family[0]/relationship": "mother",
        "family[0]/lives_with_child": "yes",
        "address/line1": "7 Test Street",
        "address/town": "Manchester",
        "address/postcode": "M8 5AB",
    }
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(blank)))
    for page in writer.pages:
        writer.update_page_form_field_values(page, answers, auto_regenerate=False)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def site(web_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A live server on the copied root (with a MARF sent as a PDF), on a thread."""
    from werkzeug.serving import make_server

    assert (ASSETS / "ehforms.css").is_file(), "no web assets: run ./dev assets"
    assert AXE.is_file(), "no axe-core: run ./dev assets (npm ci)"
    folder = clone(web_template, tmp_path_factory.mktemp("browser") / "root")
    (folder / "inbox" / "referral.pdf").write_bytes(marf_pdf())
    root = Root.open(folder)
    root.process(received_at=RECEIVED.replace(hour=10))
    root.close()
    app = app_for(folder, insecure_http=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.port}", "folder": folder, "app": app}
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


@pytest.fixture
def page(browser, site):
    """A fresh browser context (no cookies) with the site as its base address. axe-core is
    put into the page by Playwright, so the context lets it past the page's CSP; the CSP
    itself is checked without that in its own test."""
    context = browser.new_context(base_url=site["url"], bypass_csp=True, accept_downloads=True)
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()


def check(page, name: str) -> None:
    """axe-core on the page as it is (no serious or critical finding), then a screenshot."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => {
            const results = await axe.run(document, {resultTypes: ['violations']});
            return results.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)
            }));
        }"""
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    serious = [v for v in found if v["impact"] in ("serious", "critical")]
    assert serious == [], serious


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def heading(page, name: str):
    return page.get_by_role("heading", level=1, name=name)


def test_the_sign_in_page_and_its_error_summary(page):
    page.goto("/sign-in")
    heading(page, "Sign in").wait_for()
    check(page, "sign-in")
    page.get_by_role("button", name="Sign in").click()
    summary = page.get_by_role("alert")
    summary.get_by_role("heading", name="There is a problem").wait_for()
    summary.get_by_role("link", name="Enter your email address").click()
    assert page.evaluate("document.activeElement.id") == "email"
    assert summary.get_by_role("link", name="Enter your password").is_visible()
    check(page, "sign-in-errors")
    page.get_by_label("Email address").fill(HUB)
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Enter a correct email address and password").wait_for()


def test_a_hub_user_works_a_mailbox_end_to_end(page, site):
    sign_in(page, MASH)
    heading(page, "Mailboxes").wait_for()
    check(page, "mailboxes-hub")
    page.get_by_role("link", name="MASH").click()
    heading(page, "MASH").wait_for()
    table = page.get_by_role("table", name="Waiting")
    for column in ("Received", "Form", "Case reference", "Child", "Due"):
        assert table.get_by_role("columnheader", name=column).is_visible()
    check(page, "mailbox")
    row = table.get_by_role("row").filter(has_text=PDF_CASE)
    assert "Urgent" in row.inner_text()
    row.get_by_role("link", name="Multi-Agency Referral Form").click()
    heading(page, "Multi-Agency Referral Form").wait_for()
    assert page.get_by_role("heading", name="The family does not agree to share").is_visible()
    assert page.get_by_text("Rowan told a teacher").is_visible()
    check(page, "form")
    with page.expect_download() as downloading:
        page.get_by_role("link", name="referral.pdf").click()
    download = downloading.value
    assert download.suggested_filename == "referral.pdf"
    assert Path(download.path()).read_bytes().startswith(b"%PDF")
    assert re.search(r"/mailboxes/mash/[0-9A-Z]{26}/files/1$", download.url)
    page.get_by_role("button", name="Mark as handled").click()
    banner = page.get_by_role("alert", name="Success")
    banner.get_by_role("heading", name="Marked as handled").wait_for()
    heading(page, "MASH").wait_for()
    assert page.get_by_role("table", name="Waiting").get_by_text(PDF_CASE).count() == 0
    check(page, "mailbox-handled")
    handled = list((site["folder"] / "outbox" / "mash" / "done").glob(f"*_{PDF_CASE}_*"))
    assert len(handled) == 1


def test_a_hub_user_gets_404_for_another_mailboxs_form(page, site):
    marf = next((site["folder"] / "outbox" / "mash").glob("*_marf_EH-00388_*")).name[-26:]
    sign_in(page, HUB)
    heading(page, "Mailboxes").wait_for()
    response = page.goto(f"/mailboxes/mash/{marf}")
    assert response.status == 404
    heading(page, "Page not found").wait_for()
    check(page, "not-found")
    response = page.goto(f"/mailboxes/sw-north/{marf}")  # their own copy of it
    assert response.status == 200
    heading(page, "Multi-Agency Referral Form").wait_for()


def test_a_manager_sees_counts_and_the_audit_trail_not_the_forms(page):
    sign_in(page, MANAGER)
    heading(page, "Mailboxes").wait_for()
    table = page.get_by_role("table")
    assert table.get_by_role("link").count() == 0
    assert table.get_by_role("rowheader", name="MASH").is_visible()
    check(page, "mailboxes-manager")
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Audit").click()
    heading(page, "Audit").wait_for()
    check(page, "audit")
    page.get_by_label("Case reference").fill("EH-00388")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("table", name="Recorded for case EH-00388").wait_for()
    assert "EH-00388" not in page.url
    response = page.goto("/mailboxes/mash")
    assert response.status == 403
    heading(page, "You do not have access to this page").wait_for()
    check(page, "forbidden")


def test_a_one_time_password_is_changed_then_signing_out(page):
    sign_in(page, NEWCOMER)
    heading(page, "Change your password").wait_for()
    check(page, "change-password")
    page.get_by_label("New password", exact=True).fill("Velvet-Harbour-Kite-9")
    page.get_by_label("Confirm new password").fill("Velvet-Harbour-Kite-9")
    page.get_by_role("button", name="Change password").click()
    heading(page, "Mailboxes").wait_for()
    page.get_by_role("button", name="Sign out").click()
    heading(page, "You have been signed out").wait_for()
    check(page, "signed-out")
    page.goto("/mailboxes")
    heading(page, "Sign in").wait_for()


def test_the_csp_lets_the_pages_own_scripts_run_and_nothing_else(browser, site):
    """Without bypassing the CSP: GOV.UK Frontend's inline script (allowed by its hash) and
    its module run, and the browser reports no refused script."""
    context = browser.new_context(base_url=site["url"])
    opened = context.new_page()
    refused = []
    opened.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else 0)
    opened.goto("/sign-in")
    classes = opened.evaluate("document.body.className")
    assert "js-enabled" in classes and "govuk-frontend-supported" in classes
    opened.wait_for_function(
        "document.querySelector('[data-module=govuk-password-input]')"
        ".getAttribute('data-govuk-password-input-init') !== null"
    )
    assert refused == []
    context.close()


def test_the_pages_work_with_javascript_off(browser, site):
    context = browser.new_context(base_url=site["url"], java_script_enabled=False)
    opened = context.new_page()
    sign_in(opened, MASH)
    heading(opened, "Mailboxes").wait_for()
    opened.get_by_role("link", name="MASH").click()
    heading(opened, "MASH").wait_for()
    context.close()


def test_a_practitioner_starts_at_get_a_form_and_has_no_mailboxes(page):
    sign_in(page, PRACTITIONER)
    heading(page, "Get a form").wait_for()
    assert page.get_by_role("link", name="Mailboxes").count() == 0
    assert page.get_by_role("button", name="Sign out").is_visible()
    assert page.goto("/mailboxes").status == 403
