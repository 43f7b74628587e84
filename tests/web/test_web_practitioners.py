"""The practitioners' pages through Flask's test client: "Get a form" (blank and prefilled, and
who may prefill which case), "Send a form" (checked as the inbox checks, streamed under the
root, limits while streaming), "Your forms", and "Allow prefill for <email>" on a form's page."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import zipfile
from pathlib import Path

import pytest

from ehforms.accounts import Role
from ehforms.core import Root
from web.conftest import SAMPLES
from web.web_support import (
    HUB,
    MANAGER,
    MASH,
    PASSWORD,
    PRACTITIONER,
    app_for,
    csrf_token,
    post,
    sign_in,
    text,
)

REFUSED = "We could not find a case you work on with that reference and date of birth"
OTHER = "other.practitioner@example.gov.uk"
LEAD = "grace.okafor@example.gov.uk"  # the RFAS sample's lead practitioner


def sample(form_type: str, **changes) -> dict:
    data = json.loads((SAMPLES / f"{form_type}.json").read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data.update(changes)
    return data


def as_bytes(data: dict) -> bytes:
    return json.dumps(data).encode()


def pdf_page(text_: str = "assessment") -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_metadata({"/Title": text_})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture
def client(web_root: Path):
    root = Root.open(web_root)
    root.accounts.add(OTHER, Role.PRACTITIONER, password=PASSWORD)
    root.accounts.set_password(OTHER, PASSWORD, one_time=False)
    root.accounts.add(LEAD, Role.PRACTITIONER, password=PASSWORD)
    root.accounts.set_password(LEAD, PASSWORD, one_time=False)
    root.close()
    app = app_for(web_root, insecure_http=True)
    with app.test_client() as test_client:
        test_client.root_path = web_root
        yield test_client
    app.extensions["ehforms.root"].close()


def signed_in(client, email: str = PRACTITIONER):
    sign_in(client, email)
    return client


def send(client, form: tuple[str, bytes] | None, attachments=(), **extra):
    page = client.get("/send")
    data: dict = {"csrf_token": csrf_token(text(page)), **extra}
    data["form"] = (io.BytesIO(form[1]), form[0]) if form else (io.BytesIO(b""), "")
    # as a browser sends it: an empty part for a file field with nothing chosen
    data["attachments"] = [(io.BytesIO(body), name) for name, body in attachments] or [
        (io.BytesIO(b""), "")
    ]
    return post_multipart(client, data)


def post_multipart(client, data: dict):
    """POST a multipart body made in memory (Werkzeug's test client would spool a large one
    into a temporary file that nothing closes when the page stops reading it half-way)."""
    from werkzeug.datastructures import FileStorage, MultiDict
    from werkzeug.test import encode_multipart

    values = MultiDict()
    for key, value in data.items():
        for each in value if isinstance(value, list) else [value]:
            if isinstance(each, tuple):
                each = FileStorage(each[0], filename=each[1], name=key)
            values.add(key, each)
    boundary, body = encode_multipart(values)
    return client.post("/send", data=body, content_type=f"multipart/form-data; boundary={boundary}")


def prefill(client, case: str, born: dt.date | str, form_type="transfer", fmt="json"):
    if isinstance(born, dt.date):
        day, month, year = str(born.day), str(born.month), str(born.year)
    else:
        day, month, year = born.split(" ")
    return post(
        client,
        "/forms",
        {
            "form_type": form_type,
            "case": case,
            "day": day,
            "month": month,
            "year": year,
            "fmt": fmt,
        },
    )


def process(folder: Path) -> None:
    root = Root.open(folder)
    root.process()
    root.close()


def claims(folder: Path) -> list[str]:
    processing = folder / ".ehforms" / "processing"
    return sorted(p.name for p in processing.iterdir()) if processing.is_dir() else []


def incoming_left(folder: Path) -> list[str]:
    incoming = folder / ".ehforms" / "incoming"
    return sorted(p.name for p in incoming.iterdir()) if incoming.is_dir() else []


# -- Get a form ---------------------------------------------------------------------------


def test_get_a_form_lists_every_blank_form_in_three_formats(client):
    page = text(signed_in(client).get("/forms"))
    assert '<h1 class="govuk-heading-l">Get a form</h1>' in page
    for name in ("Early Help Notification", "Multi-Agency Referral Form", "Case closure"):
        for fmt in ("PDF", "Word", "JSON"):
            assert f'{fmt}<span class="govuk-visually-hidden"> ({name})</span>' in page
    assert "Prefilled for a case" in page and "Micare ID" in page
    assert "For example, 27 3 2015" in page
    pdf = client.get("/forms/notification/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert "attachment" in pdf.headers["Content-Disposition"]
    word = client.get("/forms/marf/docx")
    assert word.data.startswith(b"PK")
    blank = json.loads(client.get("/forms/closure/json").data)
    assert blank["form_type"] == "closure"
    assert client.get("/forms/letter/pdf").status_code == 404
    assert client.get("/forms/closure/exe").status_code == 404


def test_a_manager_has_no_practitioner_pages(client):
    signed_in(client, MANAGER)
    for path in ("/forms", "/send", "/sent", "/forms/marf/pdf"):
        assert client.get(path).status_code == 403


def test_every_refusal_gets_the_one_message_and_is_audited(client):
    signed_in(client)
    known_case = "EH-00417"  # an RFAS in the ledger, which this practitioner never sent
    for case, born in [
        ("EH-99999", dt.date(2016, 4, 12)),  # unknown case
        (known_case, dt.date(2016, 4, 12)),  # not theirs (the right date of birth)
        (known_case, dt.date(2001, 1, 1)),  # not theirs, wrong date
    ]:
        response = prefill(client, case, born)
        assert response.status_code == 404
        page = text(response)
        assert page.count(REFUSED) == 2  # the summary and the field
        assert '<a href="#case">' in page
        assert "Amelia" not in page
    root = Root.open(client.root_path)
    refused = root.audit.rows(user=PRACTITIONER)
    root.close()
    assert [r.action for r in refused[:3]] == ["refused prefill"] * 3
    assert {r.case for r in refused[:3]} == {"EH-99999", known_case}


def test_prefill_asks_for_each_field_in_the_contracts_words(client):
    signed_in(client)
    page = text(post(client, "/forms", {"case": ""}))
    for message, anchor in [
        ("Select the form", "#form_type"),
        ("Enter the case reference", "#case"),
        ("Enter the child&#39;s date of birth", "#date_of_birth-day"),
        ("Select the format", "#fmt"),
    ]:
        assert f'<a href="{anchor}">{message}</a>' in page
    page = text(prefill(client, "EH-1", "31 2 2015"))
    assert "Child&#39;s date of birth must be a real date" in page
    page = text(prefill(client, "EH-1", "1  2015"))
    assert "Child&#39;s date of birth must include a month" in page


def test_forged_prefill_fields_are_refused_not_obeyed(client):
    signed_in(client)
    forged = post(
        client,
        "/forms",
        {
            "form_type": "../../etc/passwd",
            "case": "<b>EH</b>",
            "day": "1",
            "month": "1",
            "year": "2015",
            "fmt": "exe",
        },
    )
    assert forged.status_code == 400
    page = text(forged)
    assert "Not a valid choice" not in page
    assert '<a href="#form_type">Select the form</a>' in page
    assert '<a href="#fmt">Select the format</a>' in page
    assert "<b>EH</b>" not in page and "&lt;b&gt;EH&lt;/b&gt;" in page


def test_a_practitioner_who_sent_a_case_prefills_it_and_the_pdf_reads_back(client):
    folder = client.root_path
    signed_in(client)
    transfer = sample("transfer", case_id="EH-70001")
    sent = send(client, ("transfer.json", as_bytes(transfer)))
    assert sent.status_code == 302
    assert prefill(client, "EH-70001", dt.date(2019, 9, 30)).status_code == 404  # not routed yet
    process(folder)
    got = prefill(client, "EH-70001", dt.date(2019, 9, 30), form_type="closure", fmt="pdf")
    assert got.status_code == 200 and got.data.startswith(b"%PDF")
    assert "closure-EH-70001.pdf" in got.headers["Content-Disposition"]
    # the filled PDF reads back as the form, with no retyping
    root = Root.open(folder)
    validation = root.check("closure.pdf", got.data, dt.datetime.now(dt.UTC))
    assert validation.form_type == "closure"
    assert validation.raw["case_id"] == "EH-70001"
    assert validation.raw["children"][0]["given_name"] == "Amelia"
    rows = root.audit.rows(user=PRACTITIONER, limit=3)
    root.close()
    assert rows[0].action == "prefilled form" and rows[0].case == "EH-70001"
    # another practitioner still gets nothing
    client.post("/sign-out", data={"csrf_token": csrf_token(text(client.get("/forms")))})
    signed_in(client, OTHER)
    assert prefill(client, "EH-70001", dt.date(2019, 9, 30)).status_code == 404


def test_consent_withdrawn_is_refused_with_the_same_message(client):
    folder = client.root_path
    signed_in(client)
    send(client, ("transfer.json", as_bytes(sample("transfer", case_id="EH-70002"))))
    process(folder)
    assert prefill(client, "EH-70002", dt.date(2016, 4, 12)).status_code == 200
    closure = sample("closure", case_id="EH-70002", closure_reason="consent_withdrawn")
    (folder / "inbox" / "closure.json").write_text(json.dumps(closure), encoding="utf-8")
    process(folder)
    refused = prefill(client, "EH-70002", dt.date(2016, 4, 12))
    assert refused.status_code == 404 and REFUSED in text(refused)


def test_ten_look_ups_an_hour(client):
    signed_in(client)
    for _ in range(10):
        assert prefill(client, "EH-99999", dt.date(2016, 4, 12)).status_code == 404
    stopped = prefill(client, "EH-99999", dt.date(2016, 4, 12))
    assert stopped.status_code == 429
    assert "at most 10 cases an hour" in text(stopped)


def test_a_hub_user_allows_prefill_for_the_lead_practitioner(client):
    folder = client.root_path
    signed_in(client, LEAD)
    assert prefill(client, "EH-00417", dt.date(2016, 4, 12)).status_code == 404
    client.post("/sign-out", data={"csrf_token": csrf_token(text(client.get("/forms")))})
    signed_in(client, HUB)
    rfas = next((folder / "outbox" / "eh-central").glob("*_rfas_EH-00417_*")).name[-26:]
    page = text(client.get(f"/mailboxes/eh-central/{rfas}"))
    assert f"Allow prefill for {LEAD}" in page
    allowed = post(
        client,
        f"/mailboxes/eh-central/{rfas}/allow-prefill",
        {"email": LEAD},
        page=f"/mailboxes/eh-central/{rfas}",
    )
    assert allowed.status_code == 302
    page = text(client.get(f"/mailboxes/eh-central/{rfas}"))
    assert "Prefill allowed" in page and f"Allow prefill for {LEAD}" not in page
    # only an email the form names, with an account
    forged = post(
        client,
        f"/mailboxes/eh-central/{rfas}/allow-prefill",
        {"email": OTHER},
        page=f"/mailboxes/eh-central/{rfas}",
    )
    assert forged.status_code == 404
    # a hub user may prefill a case waiting in their mailbox
    assert prefill(client, "EH-00417", dt.date(2016, 4, 12)).status_code == 200
    client.post("/sign-out", data={"csrf_token": csrf_token(text(client.get("/forms")))})
    signed_in(client, LEAD)
    assert prefill(client, "EH-00417", dt.date(2016, 4, 12)).status_code == 200
    root = Root.open(folder)
    actions = [r.action for r in root.audit.rows(case="EH-00417")]
    root.close()
    assert "allowed prefill" in actions


# -- Send a form --------------------------------------------------------------------------


def test_a_form_with_problems_is_not_sent_and_says_what_to_fix(client):
    folder = client.root_path
    signed_in(client)
    before = claims(folder)
    broken = sample("transfer", case_id="EH-70003")
    del broken["referrer"]
    response = send(client, ("transfer.json", as_bytes(broken)))
    assert response.status_code == 400
    page = text(response)
    assert "There is a problem" in page
    assert '<a href="#form">' in page
    assert 'id="form-error"' in page
    assert claims(folder) == before and incoming_left(folder) == []
    assert "EH-70003" not in text(client.get("/sent"))


def test_nothing_chosen_and_a_form_that_is_not_one(client):
    signed_in(client)
    page = text(send(client, None))
    assert '<a href="#form">Select the form to send</a>' in page
    damaged = send(client, ("form.pdf", b"%PDF-1.7\n garbage"))
    assert damaged.status_code == 400
    assert "There is a problem" in text(damaged)
    assert incoming_left(client.root_path) == []


def test_a_password_protected_pdf_is_not_sent(client):
    from pypdf import PdfReader, PdfWriter

    _, blank = Root.open(client.root_path).practitioner_form("notification", "pdf")
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(blank)))
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    signed_in(client)
    response = send(client, ("locked.pdf", out.getvalue()))
    assert response.status_code == 400
    assert "password" in text(response).lower()
    assert incoming_left(client.root_path) == []


def test_a_risk_notification_with_missing_fields_still_goes_to_mash(client):
    folder = client.root_path
    signed_in(client)
    risky = sample("notification", case_id="EH-70004", risk_of_significant_harm=True)
    del risky["reasons"]
    response = send(client, ("risk.json", as_bytes(risky)))
    assert response.status_code == 302
    page = text(client.get(response.headers["Location"]))
    assert "went to MASH" in page
    assert "Your form is waiting" in page  # no watcher runs in this test
    process(folder)
    page = text(client.get(response.headers["Location"]))
    assert "Form sent" in page
    assert "Sent to MASH" in text(client.get("/sent"))


def test_a_form_and_attachments_are_sent_and_listed_with_their_status(client):
    folder = client.root_path
    signed_in(client)
    transfer = sample("transfer", case_id="EH-70005")
    response = send(
        client,
        ("transfer.json", as_bytes(transfer)),
        [("assessment.pdf", pdf_page()), ("hughes-consent-signed.pdf", pdf_page("consent"))],
    )
    assert response.status_code == 302
    sid = response.headers["Location"].rsplit("/", 1)[1]
    assert sid in claims(folder), (
        sid,
        claims(folder),
        text(client.get(response.headers["Location"]))[-3000:],
    )
    claim = sid
    assert (folder / ".ehforms" / "processing" / claim / ".sent-by").read_text() == PRACTITIONER
    bundle = folder / ".ehforms" / "processing" / claim / "transfer.json"
    assert sorted(p.name for p in bundle.iterdir()) == [
        "assessment.pdf",
        "hughes-consent-signed.pdf",
        "transfer.json",
    ]
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in bundle.iterdir())
    row = text(client.get("/sent"))
    assert "EH-70005" in row and "Being processed" in row
    process(folder)
    listing = text(client.get("/sent"))
    assert "Sent to" in listing and "Being processed" not in listing
    delivered = [p for p in (folder / "outbox").rglob(f"*{sid}") if p.is_dir()]
    assert delivered and (delivered[0] / "attachments" / "assessment.pdf").is_file()


def test_two_clicks_make_two_submissions_and_the_second_is_already_received(client):
    signed_in(client)
    body = as_bytes(sample("transfer", case_id="EH-70006"))
    first = send(client, ("transfer.json", body))
    second = send(client, ("transfer.json", body))
    assert first.headers["Location"] != second.headers["Location"]
    process(client.root_path)
    listing = text(client.get("/sent"))
    assert listing.count("EH-70006") == 2
    assert "Already received" in listing


def test_another_persons_submission_is_not_theirs(client):
    signed_in(client)
    response = send(client, ("transfer.json", as_bytes(sample("transfer", case_id="EH-70007"))))
    mine = response.headers["Location"]
    client.post("/sign-out", data={"csrf_token": csrf_token(text(client.get("/forms")))})
    signed_in(client, OTHER)
    assert client.get(mine).status_code == 404
    assert "EH-70007" not in text(client.get("/sent"))
    assert client.get("/send/not-an-id").status_code == 404


def test_an_oversize_upload_is_refused_while_streaming(client, monkeypatch):
    folder = client.root_path
    signed_in(client)
    (folder / "ehforms.toml").write_text(
        (folder / "ehforms.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    root = client.application.extensions["ehforms.root"]
    limits = root.config
    big = b"%PDF-1.7\n" + b"0" * (limits.attachment_bytes + 10)
    response = send(client, ("transfer.json", as_bytes(sample("transfer"))), [("huge.pdf", big)])
    assert response.status_code == 413
    assert "The selected file must be smaller than" in text(response)
    assert incoming_left(folder) == []


def test_too_many_attachments(client):
    signed_in(client)
    many = [(f"a{n}.pdf", b"%PDF-1.4 x") for n in range(25)]
    response = send(client, ("transfer.json", as_bytes(sample("transfer"))), many)
    assert response.status_code == 413
    assert "Select at most 20 attachments" in text(response)
    assert incoming_left(client.root_path) == []


def test_a_zip_bomb_and_a_hostile_name_as_attachments(client):
    folder = client.root_path
    signed_in(client)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.bin", b"\0" * (20 * 1024 * 1024))
    before = claims(folder)
    response = send(
        client,
        ("transfer.json", as_bytes(sample("transfer", case_id="EH-70008"))),
        [("bomb.zip", bomb.getvalue()), ("../../etc/<script>x.pdf", pdf_page())],
    )
    assert response.status_code == 400
    page = text(response)
    assert "bomb.zip cannot be sent: it is an archive" in page
    assert "&lt;script&gt;x.pdf" in page or "x.pdf" not in page
    assert claims(folder) == before and incoming_left(folder) == []
    # the hostile name alone is sent under a safe name, inside the claim
    response = send(
        client,
        ("transfer.json", as_bytes(sample("transfer", case_id="EH-70008"))),
        [("../../etc/<script>x.pdf", pdf_page())],
    )
    assert response.status_code == 302
    sid = response.headers["Location"].rsplit("/", 1)[1]
    names = [p.name for p in (folder / ".ehforms" / "processing" / sid / "transfer.json").iterdir()]
    assert all("/" not in n and ".." not in n and "<" not in n for n in names)
    assert not (folder.parent / "etc").exists()


def test_send_needs_its_csrf_token(client):
    signed_in(client)
    response = post_multipart(
        client, {"form": (io.BytesIO(as_bytes(sample("transfer"))), "t.json")}
    )
    assert response.status_code == 400
    assert incoming_left(client.root_path) == []


def test_uploads_never_touch_the_system_temporary_folder(client, tmp_path, monkeypatch):
    import tempfile

    spare = tmp_path / "system-tmp"
    spare.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spare))
    signed_in(client)
    response = send(
        client,
        ("transfer.json", as_bytes(sample("transfer", case_id="EH-70009"))),
        [("assessment.pdf", pdf_page() + b"\n%" + b"x" * 600_000)],
    )
    assert response.status_code in (302, 400)
    assert list(spare.iterdir()) == []


def test_a_safeguarding_marf_with_problems_says_where_it_went(client):
    signed_in(client, MASH)
    marf = sample("marf", case_id="EH-70010")
    del marf["rationale"]
    response = send(client, ("marf.json", as_bytes(marf)))
    assert response.status_code == 302
    page = text(client.get(response.headers["Location"]))
    assert "went to MASH, even with the problems below" in page
    assert "Enter the reason for stepping up now" in page
