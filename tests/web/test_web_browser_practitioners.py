"""The practitioners' pages in a real headless Chromium, as a practitioner uses them, with a
real watcher on a thread: every element found by its role and accessible name, axe-core on
each page (no serious or critical finding), a screenshot of each under build/screenshots/."""

from __future__ import annotations

import copy
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ehforms.core import Root
from web.conftest import SAMPLES
from web.test_web_browser import ARGS, ASSETS, AXE, CHROMIUM, check, heading, sign_in
from web.web_support import PRACTITIONER, app_for, clone

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no /usr/bin/chromium: ./dev test installs Debian's chromium for the browser tests",
)

OUTSIDER = "outsider@example.gov.uk"
CASE = "EH-81001"
REFUSED = "We could not find a case you work on with that reference and date of birth"


def sample(form_type: str, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(json.loads((SAMPLES / f"{form_type}.json").read_text(encoding="utf-8")))
    data.update(changes)
    return data


def flat(value: Any, prefix: str = "") -> dict[str, str]:
    """A form's values as the practitioner's PDF names its fields (``children[0]/given_name``),
    written as a person types them (dates DD/MM/YYYY, yes or no)."""
    found: dict[str, str] = {}
    if isinstance(value, dict):
        for key, inner in value.items():
            found.update(flat(inner, f"{prefix}/{key}" if prefix else key))
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            found.update(flat(inner, f"{prefix}[{n}]"))
    elif isinstance(value, bool):
        found[prefix] = "yes" if value else "no"
    elif isinstance(value, str) and len(value) >= 10 and value[4] == "-" and value[7] == "-":
        day = f"{value[8:10]}/{value[5:7]}/{value[0:4]}"
        found[prefix] = day + (f" {value[11:16]}" if len(value) > 10 else "")
    elif value is not None:
        found[prefix] = str(value)
    return found


def filled(pdf: bytes, answers: dict[str, str]) -> bytes:
    """The prefilled PDF with its empty fields filled in, as a practitioner would."""
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(io.BytesIO(pdf))
    fields = reader.get_fields() or {}
    empty = {k: v for k, v in answers.items() if k in fields and not fields[k].get("/V")}
    writer = PdfWriter(clone_from=reader)
    for page in writer.pages:
        writer.update_page_form_field_values(page, empty, auto_regenerate=False)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def assessment() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(300, 300)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def live(web_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The pages and a watcher (one worker) on a copy of the root, each on a thread."""
    from werkzeug.serving import make_server

    from ehforms.accounts import Role
    from ehforms.pipeline import Postroom
    from ehforms.watch import Watcher
    from web.web_support import PASSWORD

    assert (ASSETS / "ehforms.css").is_file(), "no web assets: run ./dev assets"
    assert AXE.is_file(), "no axe-core: run ./dev assets (npm ci)"
    folder = clone(web_template, tmp_path_factory.mktemp("browser-practitioners") / "root")
    root = Root.open(folder)
    root.accounts.add(OUTSIDER, Role.PRACTITIONER, password=PASSWORD)
    root.accounts.set_password(OUTSIDER, PASSWORD, one_time=False)
    root.close()
    config = Root.open(folder).config
    postroom = Postroom(folder, config, workers=1)
    stop = threading.Event()
    watcher = Watcher(postroom, stop=stop)
    watching = threading.Thread(target=watcher.run, daemon=True)
    watching.start()
    app = app_for(folder, insecure_http=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.port}", "folder": folder}
    finally:
        server.shutdown()
        serving.join(10)
        stop.set()
        watching.join(30)
        postroom.close()
        app.extensions["ehforms.root"].close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def tab(chromium, live):
    context = chromium.new_context(base_url=live["url"], bypass_csp=True, accept_downloads=True)
    context.set_default_timeout(20_000)
    opened = context.new_page()
    yield opened
    context.close()


def send_file(tab, tmp_path: Path, name: str, body: bytes, attachments=()) -> None:
    form = tmp_path / name
    form.write_bytes(body)
    tab.goto("/send")
    heading(tab, "Send a form").wait_for()
    tab.get_by_label("Form", exact=True).set_input_files(str(form))
    if attachments:
        paths = []
        for each, data in attachments:
            (tmp_path / each).write_bytes(data)
            paths.append(str(tmp_path / each))
        tab.get_by_label("Attachments").set_input_files(paths)
    tab.get_by_role("button", name="Send form").click()


def wait_for_status(tab, case: str, wanted: str, tries: int = 40) -> str:
    import time

    for _ in range(tries):
        tab.goto("/sent")
        row = tab.get_by_role("row").filter(has_text=case).first
        status = row.get_by_role("cell").nth(3).inner_text()
        if status.startswith(wanted):
            return status
        time.sleep(0.5)
    raise AssertionError(f"{case} never reached {wanted!r}: {status!r}")


def test_a_practitioner_refers_prefills_a_transfer_fills_it_and_sends_it(tab, tmp_path):
    sign_in(tab, PRACTITIONER)
    heading(tab, "Get a form").wait_for()
    nav = tab.get_by_role("navigation", name="Menu")
    for link in ("Get a form", "Send a form", "Your forms"):
        assert nav.get_by_role("link", name=link).is_visible()
    assert nav.get_by_role("link", name="Mailboxes").count() == 0
    check(tab, "forms")
    with tab.expect_download() as downloading:
        tab.get_by_role("link", name="PDF (Early Help Notification)").click()
    assert Path(downloading.value.path()).read_bytes().startswith(b"%PDF")

    # the practitioner refers the family first: a notification of the case
    notification = sample("notification", case_id=CASE)
    send_file(tab, tmp_path, "notification.json", json.dumps(notification).encode())
    tab.get_by_role("heading", name="Form sent").wait_for()
    check(tab, "form-sent")
    wait_for_status(tab, CASE, "Sent to")
    heading(tab, "Your forms").wait_for()
    check(tab, "sent")

    # then prefills a transfer for the case
    tab.get_by_role("navigation", name="Menu").get_by_role("link", name="Get a form").click()
    tab.get_by_role("group", name="Form").get_by_label("Transfer to Early Help").check()
    tab.get_by_label("Case reference").fill(CASE)
    tab.get_by_label("Day").fill("12")
    tab.get_by_label("Month").fill("4")
    tab.get_by_label("Year").fill("2016")
    tab.get_by_role("group", name="Format").get_by_label("PDF").check()
    with tab.expect_download() as downloading:
        tab.get_by_role("button", name="Get prefilled form").click()
    download = downloading.value
    assert download.suggested_filename == f"transfer-{CASE}.pdf"
    prefilled = Path(download.path()).read_bytes()

    # fills in the rest, and sends it with the assessment attached
    answers = flat(sample("transfer", case_id=CASE))
    body = filled(prefilled, answers)
    send_file(
        tab,
        tmp_path,
        f"transfer-{CASE}.pdf",
        body,
        [("assessment.pdf", assessment()), ("hughes-consent-signed.pdf", assessment())],
    )
    tab.get_by_role("heading", name="Form sent").wait_for()
    status = wait_for_status(tab, "Transfer to Early Help", "Sent to")
    assert status.startswith("Sent to")
    check(tab, "sent-routed")


def test_a_practitioner_who_does_not_work_on_a_case_learns_nothing(tab):
    sign_in(tab, OUTSIDER)
    heading(tab, "Get a form").wait_for()
    tab.get_by_role("group", name="Form").get_by_label("Case closure").check()
    tab.get_by_label("Case reference").fill("EH-00417")  # a case in the ledger, not theirs
    tab.get_by_label("Day").fill("12")
    tab.get_by_label("Month").fill("4")
    tab.get_by_label("Year").fill("2016")
    tab.get_by_role("group", name="Format").get_by_label("JSON").check()
    tab.get_by_role("button", name="Get prefilled form").click()
    summary = tab.get_by_role("alert")
    summary.get_by_role("heading", name="There is a problem").wait_for()
    summary.get_by_role("link", name=REFUSED).click()
    assert tab.evaluate("document.activeElement.id") == "case"
    check(tab, "forms-refused")


def test_an_invalid_form_shows_the_error_summary_and_sends_nothing(tab, tmp_path, live):
    sign_in(tab, OUTSIDER)
    heading(tab, "Get a form").wait_for()
    broken = sample("transfer", case_id="EH-81002")
    del broken["referrer"]
    processing = live["folder"] / ".ehforms" / "processing"
    before = sorted(processing.iterdir()) if processing.is_dir() else []
    send_file(tab, tmp_path, "transfer.json", json.dumps(broken).encode())
    summary = tab.get_by_role("alert")
    summary.get_by_role("heading", name="There is a problem").wait_for()
    heading(tab, "Send a form").wait_for()
    first = summary.get_by_role("link").first
    first.click()
    assert tab.evaluate("document.activeElement.id") == "form"
    check(tab, "send-errors")
    tab.get_by_role("navigation", name="Menu").get_by_role("link", name="Your forms").click()
    heading(tab, "Your forms").wait_for()
    assert tab.get_by_text("EH-81002").count() == 0
    after = sorted(processing.iterdir()) if processing.is_dir() else []
    assert len(after) <= len(before)


def test_a_risk_notification_with_missing_fields_still_goes_to_mash(tab, tmp_path):
    sign_in(tab, OUTSIDER)
    heading(tab, "Get a form").wait_for()
    tab.get_by_role("navigation", name="Menu").get_by_role("link", name="Send a form").click()
    heading(tab, "Send a form").wait_for()
    check(tab, "send")
    risky = sample("notification", case_id="EH-81003", risk_of_significant_harm=True)
    del risky["reasons"]
    send_file(tab, tmp_path, "risk.json", json.dumps(risky).encode())
    tab.get_by_role("heading", name="Form sent").wait_for()
    assert tab.get_by_text("went to MASH").is_visible()
    check(tab, "form-sent-mash")
    assert wait_for_status(tab, "EH-81003", "Sent to") == "Sent to MASH"
