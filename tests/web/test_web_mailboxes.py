"""Hub staff's and managers' pages through Flask's test client: counts, a mailbox, a form, its
files, "Mark as handled", the audit trail; what is recorded, and what is never shown."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path

import pytest

from ehforms.core import Root
from web.web_support import (
    HUB,
    MANAGER,
    MASH,
    app_for,
    post,
    sign_in,
    text,
    waiting_ids,
)


def signed_in(folder: Path, email: str, **overrides):
    client = app_for(folder, **overrides).test_client()
    assert sign_in(client, email).status_code == 302
    return client


def marf_id(folder: Path) -> str:
    return next(i for i, r in waiting_ids(folder, "mash") if r["form_type"] == "marf")


def files_of(receipt: dict) -> list[str]:
    """The files a form page links to, in order: the original, then its documents."""
    return [receipt["source"], *receipt["documents"]]


TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "json": "application/json",
}
MAGIC = {"pdf": b"%PDF", "docx": b"PK\x03\x04", "json": b"{"}


def rows_of(html: str) -> list[str]:
    body = html.split('<tbody class="govuk-table__body">', 1)[1].split("</tbody>", 1)[0]
    return [re.sub(r"\s+", " ", row) for row in body.split("<tr")[1:]]


def test_a_hub_user_sees_the_counts_of_their_mailboxes_each_linking_to_its_page(web_root):
    html = text(signed_in(web_root, HUB).get("/mailboxes"))
    counts = Root.open(web_root).status(dt.datetime.now(dt.UTC))["mailboxes"]
    rows = rows_of(html)
    assert len(rows) == 2
    # in the configuration's order
    assert 'href="/mailboxes/sw-north">North Early Help Hub (social work)</a>' in rows[0]
    assert 'href="/mailboxes/eh-central">Central Early Help Hub</a>' in rows[1]
    for row, mailbox in zip(rows, ("sw-north", "eh-central"), strict=True):
        numbers = re.findall(r"numeric\">(\d+)</td>", row)
        expected = counts[mailbox]
        assert numbers == [str(expected[k]) for k in ("waiting", "urgent", "overdue")]
    for column in ("Mailbox", "Waiting", "Urgent", "Overdue"):
        assert '<th scope="col" class="govuk-table__header' in html and f">{column}</th>" in html


def test_a_mailbox_is_called_what_the_councils_configuration_calls_it(web_root):
    config = web_root / "ehforms.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + '\n[mailboxes.eh-central]\ndisplay_name = "Central Family Help"\nrole = "hub_eh"\n',
        encoding="utf-8",
    )
    html = text(signed_in(web_root, HUB).get("/mailboxes"))
    assert 'href="/mailboxes/eh-central">Central Family Help</a>' in html
    page = text(signed_in(web_root, HUB).get("/mailboxes/eh-central"))
    assert "Central Family Help" in page


def test_the_mailboxes_page_says_when_alerts_by_email_wait_to_be_sent(web_root):
    """An urgent form processed while no watcher sends alerts: its alert waits in the queue,
    and the page says so for the mailboxes the person works (and never says who it is for)."""
    config = web_root / "ehforms.toml"
    text_ = config.read_text(encoding="utf-8")
    text_ = text_.replace('host = ""', 'host = "smtp.council.example"', 1)
    text_ = text_.replace('from = ""', 'from = "ehforms@council.example"', 1)
    text_ = text_.replace("[alerts.to]\n", '[alerts.to]\nmash = ["mash-duty@council.example"]\n')
    config.write_text(text_, encoding="utf-8")
    marf = json.loads((Path(__file__).parents[2] / "tests" / "fixtures" / "marf.json").read_text())
    marf["case_id"] = "EH-77777"
    (web_root / "inbox" / "late.json").write_text(json.dumps(marf), encoding="utf-8")
    with Root.open(web_root) as root:
        root.process(workers=1, received_at=dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC))
        assert root.alerts_unsent_by_mailbox() == {"mash": 1}
    page = re.sub(r"\s+", " ", text(signed_in(web_root, MASH).get("/mailboxes")))
    assert "Alerts by email about urgent forms have not been sent yet: 1 for MASH." in page
    assert "EH-77777" not in page
    other = text(signed_in(web_root, HUB).get("/mailboxes"))  # a hub that is not MASH
    assert "have not been sent yet" not in other


def test_a_manager_sees_every_mailboxs_counts_and_no_forms(web_root):
    client = signed_in(web_root, MANAGER)
    html = text(client.get("/mailboxes"))
    config = Root.open(web_root).config
    assert len(rows_of(html)) == len(config.mailboxes)
    assert 'href="/mailboxes/' not in html
    assert re.search(r">\s*MASH\s*<", html)  # named, not linked
    assert 'href="/audit"' in html  # a manager's header links
    assert client.get("/mailboxes/mash").status_code == 403


def test_the_header_links_by_role_and_a_sign_out_button(web_root):
    hub = text(signed_in(web_root, HUB).get("/mailboxes"))
    assert 'href="/mailboxes"' in hub and 'href="/audit"' not in hub
    assert re.search(r"<button[^>]*>Sign out</button>", hub)
    assert 'action="/sign-out"' in hub


def test_the_mailbox_page_lists_urgent_then_overdue_then_oldest_paged(web_root):
    client = signed_in(web_root, HUB, page_size=2)
    first = text(client.get("/mailboxes/eh-central"))
    assert '<h1 class="govuk-heading-l">Central Early Help Hub</h1>' in first
    assert (
        '<caption class="govuk-table__caption govuk-table__caption--m">Waiting</caption>' in first
    )
    for column in ("Received", "Form", "Case reference", "Child", "Due"):
        assert f'class="govuk-table__header">{column}</th>' in first
    assert len(rows_of(first)) == 2
    assert 'href="/mailboxes/eh-central?page=2"' in first and ">Next<" in re.sub(r"\s+", "", first)
    assert "Previous" not in first
    second = text(client.get("/mailboxes/eh-central?page=2"))
    assert (
        'href="/mailboxes/eh-central?page=1"' in second
        and 'href="/mailboxes/eh-central?page=3"' in second
    )
    last = text(client.get("/mailboxes/eh-central?page=4"))
    assert len(rows_of(last)) == 2 and "page=5" not in last  # 8 forms: 5 samples, 3 extra
    assert client.get("/mailboxes/eh-central?page=5").status_code == 404
    assert client.get("/mailboxes/eh-central?page=x").status_code == 404
    # the transfer has an allocations meeting due on Thursday: overdue now, so it comes first
    assert "Transfer to Early Help" in rows_of(first)[0] and "Overdue" in rows_of(first)[0]
    # the rest oldest first: the 09:00 samples (a bundle among them), then the three 09:05
    # notifications
    received = []
    for page in range(1, 5):
        for row in rows_of(text(client.get(f"/mailboxes/eh-central?page={page}"))):
            received.append(
                re.search(r"<td class=\"govuk-table__cell\">([^<]+)</td>", row).group(1)
            )
    assert received[1:] == sorted(received[1:], key=lambda r: "9:05am" in r)
    urgent = text(signed_in(web_root, MASH).get("/mailboxes/mash"))
    row = rows_of(urgent)[0]
    assert "Urgent</strong>" in row and "EH-00388" in row and "Kai Morgan" in row


def test_viewing_a_mailbox_is_recorded(web_root):
    app = app_for(web_root)
    client = app.test_client()
    sign_in(client, HUB)
    client.get("/mailboxes/sw-north")
    row = app.extensions["ehforms.root"].audit.rows(limit=1)[0]
    assert (row.who, row.action, row.detail) == (HUB, "viewed mailbox", "sw-north")


def test_a_hub_user_gets_404_for_what_is_not_theirs(web_root):
    client = signed_in(web_root, HUB)
    marf = marf_id(web_root)
    central = waiting_ids(web_root, "eh-central")[0][0]
    assert client.get(f"/mailboxes/sw-north/{marf}").status_code == 200  # their copy
    for path in (
        "/mailboxes/mash",  # configured, not theirs
        f"/mailboxes/mash/{marf}",  # another mailbox's copy of the same form
        f"/mailboxes/mash/{marf}/files/1",
        "/mailboxes/no-such-mailbox",
        f"/mailboxes/eh-central/{marf}",  # theirs, but the form is not in it
        "/mailboxes/eh-central/not-an-id",
        "/mailboxes/eh-central/01M86CH3M0WT81BW9ATSRY1BZ0",  # an id nobody sent
        f"/mailboxes/eh-central/{central}/files/99",
        f"/mailboxes/eh-central/{central}/files/0",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Page not found" in text(response)


def test_the_form_page_shows_withheld_first_then_the_form_as_a_summary_list(web_root):
    client = signed_in(web_root, MASH)
    marf = marf_id(web_root)
    html = text(client.get(f"/mailboxes/mash/{marf}"))
    assert '<h1 class="govuk-heading-l">Multi-Agency Referral Form</h1>' in html or (
        "<h1" in html and "Referral" in html
    )
    inset = html.index("The family does not agree to share")
    assert inset < html.index("The form</h2>")
    assert "Not known: this form records no consent" in html or "Nothing" in html
    assert '<dt class="govuk-summary-list__key">First name</dt>' in html
    assert "Kai" in html and "EH-00388" in html
    assert "18 June 2012" in html  # a date as people write it
    assert "Stepped down by the north social work team" in html  # the receipt's notes
    assert "Due: " in html
    assert re.search(r"<button[^>]*>\s*Mark as handled\s*</button>", html)
    row = app_for(web_root).extensions["ehforms.root"].audit.rows(limit=1)[0]
    assert (row.who, row.action, row.submission_id, row.case) == (
        MASH,
        "viewed form",
        marf,
        "EH-00388",
    )


def test_a_notification_shows_what_the_family_withholds_and_its_documents(web_root):
    client = signed_in(web_root, HUB)
    ident, receipt = next(
        (i, r) for i, r in waiting_ids(web_root, "eh-central") if r["form_type"] == "notification"
    )
    html = text(client.get(f"/mailboxes/eh-central/{ident}"))
    assert "Early Help Notification" in html
    for n, name in enumerate(files_of(receipt), start=1):
        assert f'href="/mailboxes/eh-central/{ident}/files/{n}" download>{name}</a>' in html


def test_files_are_sent_as_attachments_with_their_own_type_and_recorded(web_root):
    app = app_for(web_root)
    client = app.test_client()
    sign_in(client, HUB)
    ident, receipt = next(
        (i, r) for i, r in waiting_ids(web_root, "eh-central") if r["form_type"] == "transfer"
    )
    names = files_of(receipt)
    assert {name.rsplit(".", 1)[1] for name in names} == {"json", "pdf", "docx"}
    for n, name in enumerate(names, start=1):
        with client.get(f"/mailboxes/eh-central/{ident}/files/{n}") as response:
            assert response.status_code == 200
            assert response.headers["Content-Disposition"] == f"attachment; filename={name}"
            kind = name.rsplit(".", 1)[1]
            assert response.headers["Content-Type"] == TYPES[kind]
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["Cache-Control"] == "no-store"
            assert response.data.startswith(MAGIC[kind])
    row = app.extensions["ehforms.root"].audit.rows(limit=1)[0]
    assert (row.action, row.submission_id, row.detail) == (
        "downloaded file",
        ident,
        f"file {len(names)}",
    )


def test_only_files_the_receipt_names_in_the_folder_are_served(web_root):
    """A receipt edited on the share to name the ledger, the receipt itself, or a link out of
    the folder serves nothing of them."""
    ident, receipt = next(
        (i, r) for i, r in waiting_ids(web_root, "eh-central") if r["form_type"] == "notification"
    )
    folder = next((web_root / "outbox" / "eh-central").glob(f"*_{ident}"))
    (folder / "elsewhere.pdf").symlink_to(web_root / "ehforms.toml")
    receipt["documents"] = ["../../../.ehforms/ledger.sqlite3", "receipt.json", "elsewhere.pdf"]
    (folder / "receipt.json").write_text(json.dumps(receipt), encoding="utf-8")
    client = signed_in(web_root, HUB)
    html = text(client.get(f"/mailboxes/eh-central/{ident}"))
    assert "/files/2" not in html
    for n in (2, 3, 4):
        assert client.get(f"/mailboxes/eh-central/{ident}/files/{n}").status_code == 404


def test_mark_as_handled_moves_the_folder_and_shows_the_banner(web_root):
    client = signed_in(web_root, MASH)
    marf = marf_id(web_root)
    page = f"/mailboxes/mash/{marf}"
    response = post(client, page)
    assert response.status_code == 302
    assert response.headers["Location"] == "/mailboxes/mash"
    html = text(client.get("/mailboxes/mash"))
    assert "govuk-notification-banner--success" in html
    assert "Success" in html and "Marked as handled" in html
    assert "No forms are waiting." in html
    assert list((web_root / "outbox" / "mash" / "done").glob(f"*_{marf}"))
    assert Root.open(web_root).status(dt.datetime.now(dt.UTC))["mailboxes"]["mash"]["waiting"] == 0
    # the banner is shown once
    assert "Marked as handled" not in text(client.get("/mailboxes/mash"))
    # the page's address keeps working, and says who handled it
    after = text(client.get(page))
    assert f"Marked as handled by {MASH}" in after
    assert not re.search(r"<button[^>]*>\s*Mark as handled", after)


def test_a_second_person_is_told_who_marked_it_handled(web_root):
    first = signed_in(web_root, MASH)
    second = signed_in(web_root, MASH)
    marf = marf_id(web_root)
    page = f"/mailboxes/mash/{marf}"
    token_page = text(second.get(page))
    assert post(first, page).status_code == 302
    token = re.search(r'name="csrf_token" value="([^"]+)"', token_page).group(1)
    late = second.post(page, data={"csrf_token": token})
    assert late.status_code == 409
    assert f"Already marked as handled by {MASH}" in text(late)
    assert "There is a problem" in text(late)


def test_a_folder_that_cannot_be_moved_stays_and_the_page_says_so(web_root, monkeypatch):
    import os

    client = signed_in(web_root, MASH)
    marf = marf_id(web_root)
    real_rename = os.rename

    def busy(source, target, *args, **kwargs):
        if "done" in str(target) or kwargs.get("dst_dir_fd") is not None:  # into done/
            raise PermissionError(13, "Permission denied")
        return real_rename(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "rename", busy)
    response = post(client, f"/mailboxes/mash/{marf}")
    assert response.status_code == 409
    assert "could not be moved" in text(response) or "open" in text(response)
    assert list((web_root / "outbox" / "mash").glob(f"*_{marf}"))


def test_everything_a_form_says_is_shown_as_text(web_root):
    folder = next((web_root / "outbox" / "mash").glob("*_marf_*"))
    form = json.loads((folder / "form.json").read_text(encoding="utf-8"))
    form["case_summary"] = '<script>alert("x")</script><b>bold</b>'
    form["children"][0]["given_name"] = "<img src=x onerror=alert(1)>"
    (folder / "form.json").write_text(json.dumps(form), encoding="utf-8")
    client = signed_in(web_root, MASH)
    html = text(client.get(f"/mailboxes/mash/{marf_id(web_root)}"))
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    listing = text(client.get("/mailboxes/mash"))
    assert "<img src=x" not in listing


def test_the_audit_page_lists_newest_first_and_filters_by_case_without_a_url(web_root):
    hub = signed_in(web_root, MASH)
    marf = marf_id(web_root)
    hub.get(f"/mailboxes/mash/{marf}")
    hub.get("/mailboxes/mash")
    client = signed_in(web_root, MANAGER, page_size=2)
    html = text(client.get("/audit"))
    assert '<h1 class="govuk-heading-l">Audit</h1>' in html
    assert "Case reference" in html and re.search(r"<button[^>]*>\s*Filter\s*</button>", html)
    rows = rows_of(html)
    assert "signed in" in rows[0] and MANAGER in rows[0]  # newest first
    assert 'href="/audit?page=2"' in html
    filtered = post(client, "/audit", {"case": "EH-00388"})
    assert filtered.headers["Location"] == "/audit"  # the case is never in the address
    html = text(client.get("/audit"))
    rows = rows_of(html)
    assert rows and all("EH-00388" in row for row in rows)
    assert "viewed form" in rows[0] and marf in rows[0]
    cleared = post(client, "/audit", {"case": ""})
    assert cleared.headers["Location"] == "/audit"
    assert "signed in" in text(client.get("/audit"))


PERSONAL = ("Kai", "Morgan", "EH-00388", "Sample Close", "M8 5AB", "2012-06-18", "consent-letter")


def test_no_personal_data_in_any_address_or_log_line(web_root, caplog):
    caplog.set_level(logging.DEBUG)
    client = signed_in(web_root, MASH)
    marf = marf_id(web_root)
    addresses = []
    for path in ("/mailboxes", "/mailboxes/mash", f"/mailboxes/mash/{marf}"):
        html = text(client.get(path))
        addresses += re.findall(r'(?:href|action|src)="([^"]*)"', html)
    response = post(client, f"/mailboxes/mash/{marf}")
    addresses.append(response.headers["Location"])
    hub = signed_in(web_root, HUB)
    ident = next(i for i, r in waiting_ids(web_root, "eh-central") if r["documents"])
    html = text(hub.get(f"/mailboxes/eh-central/{ident}"))
    addresses += re.findall(r'(?:href|action|src)="([^"]*)"', html)
    hub.get(f"/mailboxes/eh-central/{ident}/files/2").close()
    sign_in(app_for(web_root).test_client(), "someone.else@example.gov.uk", "a wrong password")
    assert addresses
    for address in addresses:
        for word in PERSONAL:
            assert word not in address, address
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for word in (*PERSONAL, MASH, HUB, "someone.else"):
        assert word not in logged, word


@pytest.mark.parametrize("name", ["forms.html", "mailboxes.html"])
def test_a_councils_own_templates_win(web_root, name):
    own = web_root / "templates" / "web"
    own.mkdir(parents=True, exist_ok=True)
    (own / name).write_text(
        '{% extends "base.html" %}{% set page_title = "Ours" %}'
        "{% block page %}<h1>Our own page</h1>{% endblock %}",
        encoding="utf-8",
    )
    client = signed_in(web_root, HUB)
    path = "/forms" if name == "forms.html" else "/mailboxes"
    if name == "forms.html":
        client = app_for(web_root).test_client()
        sign_in(client, "practitioner@example.gov.uk")
    assert "<h1>Our own page</h1>" in text(client.get(path))


def test_a_listing_is_kept_a_moment_for_the_next_person_but_never_after_marking(web_root):
    client = signed_in(web_root, HUB, listing_seconds=30)
    ids = [i for i, _ in waiting_ids(web_root, "eh-central")]
    assert len(rows_of(text(client.get("/mailboxes/eh-central")))) == len(ids)
    # a folder moved by hand on the share shows once the kept listing is old
    by_hand = next((web_root / "outbox" / "eh-central").glob(f"*_{ids[-1]}"))
    by_hand.rename(web_root / "outbox" / "eh-central" / "done" / by_hand.name)
    assert len(rows_of(text(client.get("/mailboxes/eh-central")))) == len(ids)
    fresh = signed_in(web_root, HUB, listing_seconds=0)
    assert len(rows_of(text(fresh.get("/mailboxes/eh-central")))) == len(ids) - 1
    # marking through the pages forgets the kept listing at once
    post(client, f"/mailboxes/eh-central/{ids[0]}")
    html = text(client.get("/mailboxes/eh-central"))
    assert "Marked as handled" in html
    assert len(rows_of(html)) == len(ids) - 2
    assert ids[0] not in html and ids[-1] not in html


def test_a_form_moved_into_done_on_the_share_says_so_and_offers_no_button(web_root):
    ident = waiting_ids(web_root, "eh-central")[0][0]
    folder = next((web_root / "outbox" / "eh-central").glob(f"*_{ident}"))
    folder.rename(folder.parent / "done" / folder.name)
    html = text(signed_in(web_root, HUB).get(f"/mailboxes/eh-central/{ident}"))
    assert "Marked as handled: its folder was moved into done/ on the share." in html
    assert not re.search(r"<button[^>]*>\s*Mark as handled", html)
