"""Documents come out of routing, say what the form says, and treat every value as text."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from docx import Document
from pypdf import PdfReader

from conftest import FORM_TYPES, RECEIVED, load_example
from ehforms.config import load_config
from ehforms.documents import plan
from ehforms.forms import validate
from ehforms.outcomes import prepare, render_documents
from ehforms.pipeline import Postroom
from ehforms.render import Renderer, _Fetcher, renderer_for, template_folders
from ehforms.routing import route
from helpers import drop, make_root

CONFIG = load_config(None, environ={})
HUBS = ["north", "central", "south"]


def pdf_text(data: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def docx_text(data: bytes) -> str:
    document = Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts += [cell.text for cell in row.cells]
    return "\n".join(parts)


def squash(text: str) -> str:
    return " ".join(text.split())


def made(form, withheld=None, renderer=None):
    return prepare(
        name="form.json",
        data=json.dumps(form).encode(),
        submission_id="01TEST",
        received_at=RECEIVED,
        config=CONFIG,
        renderer=renderer or renderer_for(None),
        withheld_for=lambda case_id: withheld,
    )


@pytest.mark.parametrize(
    ("form_type", "expected"),
    [
        ("notification", ["consent-letter.pdf", "consent-letter.docx"]),
        (
            "transfer",
            [
                "consent-letter.pdf",
                "consent-letter.docx",
                "allocations-pro-forma.pdf",
                "allocations-pro-forma.docx",
            ],
        ),
        ("closure", ["case-closure-note.pdf", "case-closure-note.docx"]),
        ("rfas", []),
        ("marf", []),
    ],
)
def test_routing_the_examples_makes_their_documents(form_type, expected):
    outcome = made(load_example(form_type))
    assert outcome.receipt.as_dict()["documents"] == expected
    assert sorted(outcome.documents) == sorted(expected)
    for name, data in outcome.documents.items():
        assert data.startswith(b"%PDF-" if name.endswith(".pdf") else b"PK")


def test_a_redirected_notification_gets_no_consent_letter(example):
    form = example("notification")
    form["risk_of_significant_harm"] = True
    outcome = made(form)
    assert outcome.receipt.status == "redirected"
    assert outcome.receipt.as_dict()["documents"] == [] and not outcome.documents


def test_a_transfer_without_consent_given_gets_no_letter():
    data = validate(load_example("transfer"), RECEIVED, hubs=HUBS).data
    data["consent"]["given"] = False  # cannot pass validation, but plan() must not assume
    decision = route(validate(load_example("transfer"), RECEIVED, hubs=HUBS), CONFIG, RECEIVED)
    assert [p.name for p in plan("transfer", data, decision, CONFIG, RECEIVED)] == [
        "allocations-pro-forma"
    ]


@pytest.fixture(scope="module")
def letter():
    outcome = made(load_example("notification"))
    return (
        squash(pdf_text(outcome.documents["consent-letter.pdf"])),
        squash(docx_text(outcome.documents["consent-letter.docx"])),
    )


class TestConsentLetter:
    @pytest.mark.parametrize("fmt", [0, 1], ids=["pdf", "docx"])
    def test_says_what_the_family_agreed_and_how_to_withdraw(self, letter, fmt):
        text = letter[fmt]
        for expected in [
            "Dear Joanne Hughes",
            "14 Example Street",
            "M13 9PL",
            "30 June 2026",
            "Amelia Hughes, Leo Hughes",
            "Schools and early years settings",
            "Greater Manchester Police",
            "You asked us not to share",
            "Mother's mental health history",
            "Priya Shah",  # the referrer, the family's contact
            "0161 496 0123",
            "You can take back your consent at any time",
            "Central Early Help Hub on 0161 496 0200",
            "we may share information without your consent",
            "call 999",
            "0161 496 0999",
        ]:
            assert expected in text, expected

    def test_the_address_shows_through_a_window_envelope(self):
        """GOV.UK Notify's layout: the address block 24.6 mm from the left, 39.5 mm down."""
        outcome = made(load_example("notification"))
        page = PdfReader(io.BytesIO(outcome.documents["consent-letter.pdf"])).pages[0]
        found = []

        def visit(text, cm, tm, font, size):
            if text.strip() == "Joanne Hughes" and not found:  # the first line of the block
                found.append(
                    (tm[4] * cm[0] + tm[5] * cm[2] + cm[4], tm[4] * cm[1] + tm[5] * cm[3] + cm[5])
                )

        page.extract_text(visitor_text=visit)
        x, y = found[0]
        height = float(page.mediabox.height)
        mm = 72 / 25.4
        assert abs(x / mm - 24.6) < 1.0
        assert 39.5 <= (height - y) / mm <= 45  # the first line's baseline, just below the top


class TestProForma:
    def test_the_example_fits_on_two_pages_and_holds_the_fields(self):
        outcome = made(load_example("transfer"))
        pdf = outcome.documents["allocations-pro-forma.pdf"]
        assert len(PdfReader(io.BytesIO(pdf)).pages) <= 2
        for text in (
            squash(pdf_text(pdf)),
            squash(docx_text(outcome.documents["allocations-pro-forma.docx"])),
        ):
            for expected in [
                "Amelia Hughes",
                "MC204811",
                "12 April 2016",
                "Joanne Hughes",
                "5 January 1990",
                "Housing association",
                "19 November 2026",
                "Leo's behaviour at home",
                "Mum engaged fully",
                "A parenting programme",
                "Tom Baker",
                "tom.baker@example.gov.uk",
                "2 October 2026",
                "Step down",
                "Joint visit",
                "26 November 2026",
                "Mother's mental health history",
                "4: Intensive coordinated support",
            ]:
                assert expected in text, expected
        assert outcome.receipt.as_dict()["notes"] == []

    def test_a_long_transfer_is_shrunk_or_noted_and_never_rejected(self, example):
        form = example("transfer")
        form["worries"] = [f"Worry {n}: " + "school attendance and sleep. " * 12 for n in range(12)]
        form["working_well"] = [f"Strength {n}: " + "grandmother visits. " * 10 for n in range(8)]
        outcome = made(form)
        assert outcome.receipt.status == "routed"
        pages = len(PdfReader(io.BytesIO(outcome.documents["allocations-pro-forma.pdf"])).pages)
        notes = outcome.receipt.notes
        assert any("allocations pro forma" in note for note in notes)
        if pages > 2:
            assert f"runs to {pages} pages, more than 2" in notes[0]
        else:
            assert notes == [
                "The early help allocations pro forma is set in smaller type to fit on 2 pages"
            ]


class TestClosureNote:
    def test_a_step_down_says_plainly_it_steps_across_to_early_help(self):
        outcome = made(load_example("closure"), withheld=["Mother's mental health history"])
        for text in (
            squash(pdf_text(outcome.documents["case-closure-note.pdf"])),
            squash(docx_text(outcome.documents["case-closure-note.docx"])),
        ):
            assert "This case is stepping across to Early Help" in text
            assert "Grace Okafor" in text
            assert "Child in Need meeting, held 21 November 2026" in text
            assert "Mother's mental health history" in text

    def test_outcomes_met_lists_outcomes_support_and_feedback(self, example):
        form = example("closure")
        form.update(
            closure_reason="outcomes_met",
            outcomes=[
                {"outcome": "Attendance above 95%", "achieved": True},
                {"outcome": "Bedtime routine", "achieved": False},
            ],
            follow_on_support="School pastoral lead, weekly",
            child_feedback="I like my new bedtime",
            parent_feedback="Things are calmer at home",
        )
        outcome = made(form)
        text = squash(pdf_text(outcome.documents["case-closure-note.pdf"]))
        for expected in [
            "Attendance above 95%",
            "Achieved",
            "Not achieved",
            "School pastoral lead, weekly",
            "I like my new bedtime",
            "Things are calmer at home",
            "ehforms holds no consent record",
        ]:
            assert expected in text
        assert "stepping across" not in text


HOSTILE = [
    "<script>alert(1)</script>",
    "Smith & Sons",
    "<w:p>x</w:p>",
    "{{ 7*7 }}",
    "{% for x in y %}",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_value_is_text_in_docx_and_pdf(example, value):
    form = example("transfer")
    form["worries"] = [value, "second worry"]
    form["referrer"]["name"] = value
    outcome = made(form)
    for name, data in outcome.documents.items():
        text = pdf_text(data) if name.endswith(".pdf") else docx_text(data)
        # as text, whole (a PDF may wrap it across lines)
        assert value.replace(" ", "") in "".join(text.split()), name


@pytest.fixture
def spy_server():
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"body { color: red }")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], hits
    server.shutdown()
    thread.join()
    server.server_close()


def test_weasyprint_fetches_only_template_files_and_data_urls(tmp_path, spy_server):
    port, hits = spy_server
    secret = tmp_path / "secret.txt"
    secret.write_text("not for templates")
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "ok.css").write_text("p { color: blue }")
    (folder / "probe.html").write_text(
        f'<link rel="stylesheet" href="ok.css">'
        f'<link rel="stylesheet" href="http://127.0.0.1:{port}/net.css">'
        f'<link rel="stylesheet" href="{secret.as_uri()}">'
        f'<img src="http://127.0.0.1:{port}/pixel.png">'
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
        "<p>{{ text }}</p>"
    )
    renderer = Renderer([folder])
    pdf = renderer.pdf("probe", {"text": "hello"})
    assert pdf.startswith(b"%PDF-")
    assert hits == []
    fetcher = _Fetcher([folder])
    assert fetcher.fetch((folder / "ok.css").as_uri()).url
    for url in (
        secret.as_uri(),
        f"http://127.0.0.1:{port}/x",
        "ftp://example.invalid/x",
        (folder / ".." / "secret.txt").as_uri(),
    ):
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    assert hits == []


def test_templates_run_in_a_sandbox_and_a_broken_one_never_holds_a_form_back(tmp_path):
    config = make_root(tmp_path)
    (tmp_path / "templates" / "consent-letter.html").write_text(
        "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    )
    drop(tmp_path, "n.json", load_example("notification"))
    with Postroom(tmp_path, config, clock=lambda: RECEIVED) as room:
        (result,) = room.run()
    receipt = result.outcome.receipt.as_dict()
    assert receipt["status"] == "routed"
    assert receipt["documents"] == []
    assert receipt["notes"][0].startswith("The consent letter could not be made (SecurityError")


def test_a_root_template_overrides_the_builtin_one(tmp_path):
    make_root(tmp_path)
    folders = template_folders(tmp_path)
    assert folders[0] == tmp_path / "templates"
    (tmp_path / "templates" / "case-closure-note.html").write_text(
        "<p>Our own closure note for {{ case_id }}</p>"
    )
    renderer = Renderer(folders)
    planned = plan(
        "closure",
        validate(load_example("closure"), RECEIVED, hubs=HUBS).data,
        route(validate(load_example("closure"), RECEIVED, hubs=HUBS), CONFIG, RECEIVED),
        CONFIG,
        RECEIVED,
    )
    files, notes = render_documents(planned, renderer)
    assert "Our own closure note for MC204811" in pdf_text(files["case-closure-note.pdf"])
    assert notes == []


@pytest.mark.parametrize("form_type", FORM_TYPES)
def test_every_document_shows_the_withheld_list_to_hub_staff(form_type):
    outcome = made(load_example(form_type), withheld=["Mother's mental health history"])
    for name, data in outcome.documents.items():
        if name.startswith("consent-letter"):
            continue  # the family's own letter says it in their words
        text = pdf_text(data) if name.endswith(".pdf") else docx_text(data)
        assert "Mother's mental health history" in text, name
        assert "does not agree to share" in text, name


def test_a_docx_template_is_compiled_once_and_a_councils_edit_is_seen(tmp_path):
    # docxtpl compiles the template's XML on every render: the renderer keeps what it
    # compiled, so a burst compiles each template once, and an edited template anew
    import shutil

    from ehforms.render import template_folders

    folder = tmp_path / "templates"
    shutil.copytree(template_folders(None)[-1], folder)
    renderer = Renderer([folder])
    context = {"sections": [], "title": "Early Help Notification", "intro": ["First words"]}
    first = Document(io.BytesIO(renderer.docx("form", context)))
    compiled = dict(renderer.jinja._compiled)
    second = Document(io.BytesIO(renderer.docx("form", {**context, "intro": ["Other words"]})))
    assert renderer.jinja._compiled == compiled and compiled  # nothing compiled again
    texts = ["\n".join(p.text for p in d.paragraphs) for d in (first, second)]
    assert "First words" in texts[0] and "Other words" in texts[1]
    assert "First words" not in texts[1]  # the kept template holds no earlier form's data
    # a council edits the template: the new text is used at once
    from docx import Document as Word

    edited = Word(str(folder / "form.docx"))
    edited.add_paragraph("Edited by the council")
    edited.save(str(folder / "form.docx"))
    third = Document(io.BytesIO(renderer.docx("form", context)))
    assert "Edited by the council" in "\n".join(p.text for p in third.paragraphs)


def test_a_pro_forma_for_a_child_with_no_person_id(tmp_path):
    # the contract makes a child's person_id optional: a child new to the case system has
    # none, and the allocations pro forma is still made (without the id)
    form = load_example("transfer")
    for child in form["children"]:
        child.pop("person_id", None)
    checked = validate(form, RECEIVED)
    assert checked.valid, checked.errors
    config = load_config(None, environ={})
    (planned,) = [
        d
        for d in plan("transfer", checked.data, route(checked, config, RECEIVED), config, RECEIVED)
        if d.name == "allocations-pro-forma"
    ]
    made = renderer_for(None).document(planned.name, planned.context, max_pages=2)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(made.pdf)).pages)
    child = form["children"][0]
    assert f"{child['given_name']} {child['family_name']}" in text
    assert docx_text(made.docx).count(child["given_name"]) >= 1
