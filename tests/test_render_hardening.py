"""What a form says can neither disguise itself in a document nor break one, and a template
reads nothing from outside the template folders.

Item 16: bidirectional controls (U+202E would show a child's name backwards), control
characters (not allowed in DOCX XML), lone surrogates and noncharacters are left out of every
document; a name in Arabic or Hebrew script prints in its own direction, isolated, without
reordering the English around it.
Item 17: a template (an ``{% include %}``, a DOCX, a stylesheet) that a symbolic link or ``..``
takes outside the template folders is refused, and the form is still routed with a note.

Every name and address here is made up.
"""

from __future__ import annotations

import copy
import io
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from docx import Document
from pypdf import PdfReader

from conftest import RECEIVED, load_example
from ehforms import render
from ehforms import text as text_module
from ehforms.config import load_config
from ehforms.content import builtin_templates
from ehforms.documents import plan
from ehforms.errors import RenderError
from ehforms.forms import validate
from ehforms.outcomes import render_documents
from ehforms.pdfforms import read_pdf
from ehforms.pipeline import Postroom
from ehforms.prefill import carried, sections, skeleton, unflatten
from ehforms.render import Renderer, _Fetcher, renderer_for
from ehforms.routing import route
from ehforms.text import LRI, PDI, RLI, isolate, plain_text
from helpers import drop, make_root

CONFIG = load_config(None, environ={})
HUBS = ["north", "central", "south"]

ARABIC_GIVEN, ARABIC_FAMILY = "ليلى", "حداد"  # a made-up name in Arabic letters
ARABIC = f"{ARABIC_GIVEN} {ARABIC_FAMILY}"
HEBREW = "נועה כהן"  # a made-up name in Hebrew letters

# Each character class that no document may hold.
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
CONTROLS = "\x00\x01\x07\x08\x0b\x0c\x1b\x7f\x85\x9b"
OTHERS = "\ud800\udfff\ufffe\uffff\ufdd0\U0010ffff"
UNWANTED = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u206f"
    "\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff\U0001fffe\U0010fffe\U0010ffff]"
)


def pdf_text(data: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def docx_text(data: bytes) -> str:
    document = Document(io.BytesIO(data))  # the DOCX opens
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts += [cell.text for cell in row.cells]
    return "\n".join(parts)


def docx_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as docx:
        return "".join(
            docx.read(name).decode("utf-8")
            for name in docx.namelist()
            if name.startswith("word/") and name.endswith(".xml")
        )


def squash(text: str) -> str:
    return " ".join(text.split())


def without_isolates(text: str) -> str:
    return text.replace(LRI, "").replace(RLI, "").replace(PDI, "")


ISOLATED = re.compile(f"[{LRI}{RLI}]([^{LRI}{RLI}{PDI}]*){PDI}")


def assert_isolates_are_paired(text: str) -> None:
    """The only direction controls left are ehforms's own isolates (LRI or RLI ... PDI), in
    pairs, each around right-to-left writing."""
    for match in ISOLATED.finditer(text):
        assert text_module._right_to_left(match.group(1)), repr(match.group(0))
    assert UNWANTED.search(ISOLATED.sub(r"\1", text)) is None


# -- item 16: what a value may hold ------------------------------------------------------------


def test_plain_text_removes_what_no_document_may_hold():
    for char in BIDI_CONTROLS + CONTROLS.replace("\x85", "") + OTHERS + "\u206a\u206f":
        assert plain_text(f"Le{char}o") == "Leo", repr(char)
    # line breaks of any kind become a newline; tabs and newlines stay
    assert plain_text("a\r\nb\rc\u2028d\u2029e\x85f") == "a\nb\nc\nd\ne\nf"
    assert plain_text("Worry\tone\nWorry two") == "Worry\tone\nWorry two"
    # what a name legitimately holds stays: other scripts, joiners, accents, emoji
    kept = f"{ARABIC} {HEBREW} Zoë Nguyễn O\u2019Brien \u0915\u094d\u200d\u0937 👩\u200d👧 \u00a0"
    assert plain_text(kept) == kept


def test_only_right_to_left_writing_is_isolated_line_by_line():
    assert isolate("Leo Hughes, 14 Example Street") == "Leo Hughes, 14 Example Street"
    assert isolate(ARABIC) == f"{RLI}{ARABIC}{PDI}"
    assert isolate(f"({HEBREW}) 14") == f"{RLI}({HEBREW}) 14{PDI}"
    assert isolate("٣٤") == f"{RLI}٣٤{PDI}"  # Arabic-Indic digits
    # a line that mixes it with English reads as written: left to right, the name in it RTL
    assert isolate(f"Sleep\n{ARABIC} said\nSchool") == f"Sleep\n{LRI}{ARABIC} said{PDI}\nSchool"
    assert isolate("") == ""


@pytest.fixture
def probe(tmp_path):
    """A renderer for one small template, in HTML and DOCX."""
    folder = tmp_path / "probe-templates"
    folder.mkdir()

    def make(html: str, docx_line: str | None = None) -> Renderer:
        (folder / "probe.html").write_text(html, encoding="utf-8")
        if docx_line is not None:
            document = Document()
            document.add_paragraph(docx_line)
            document.save(folder / "probe.docx")
        return Renderer([folder])

    return make


def visual_runs(pdf: bytes) -> list[str]:
    """The text runs in the order they are drawn: left to right along a line."""
    runs: list[str] = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        page.extract_text(
            visitor_text=lambda text, *args: runs.append(text) if text.strip() else None
        )
    return runs


def drawn_in_order(pdf: bytes, pieces: list[str]) -> bool:
    """Whether the pieces are drawn one after another, left to right (from the first's first
    appearance)."""
    runs = "|".join(visual_runs(pdf))
    at = runs.find(pieces[0])
    for piece in pieces[1:]:
        if at < 0:
            return False
        at = runs.find(piece, at)
    return at >= 0


def test_a_right_to_left_name_keeps_its_place_in_the_english(probe):
    """Without isolation, "Dear <Arabic name>, 14 Example Street" draws "14" before the name:
    the number joins the right-to-left run. Isolated, the line reads as written."""
    renderer = probe(
        "<p>Dear {{ name }}, 14 Example Street</p>", "Dear {{ name }}, 14 Example Street"
    )
    context = {"name": ARABIC}
    pdf = renderer.pdf("probe", context)
    assert drawn_in_order(pdf, ["Dear", ARABIC, "14 Example Street"]), visual_runs(pdf)
    xml = docx_xml(renderer.docx("probe", context))
    assert f"Dear {RLI}{ARABIC}{PDI}, 14 Example Street" in xml


def test_a_list_of_names_isolates_each_name(probe):
    renderer = probe(
        '<p>{{ names | join(", ") }}</p><p>{{ people | join(" and ", attribute="name") }}</p>',
        '{{ names | join(", ") }}',
    )
    names = [f"\u202e{ARABIC}", "Leo Hughes", HEBREW]
    context = {"names": names, "people": [{"name": n} for n in names]}
    html = renderer.html("probe", context)
    assert f"{RLI}{ARABIC}{PDI}, Leo Hughes, {RLI}{HEBREW}{PDI}" in html
    assert f"{RLI}{ARABIC}{PDI} and Leo Hughes and {RLI}{HEBREW}{PDI}" in html
    assert "\u202e" not in html
    xml = docx_xml(renderer.docx("probe", context))
    assert f"{RLI}{ARABIC}{PDI}, Leo Hughes, {RLI}{HEBREW}{PDI}" in xml


def test_markup_a_template_makes_is_cleaned_but_stays_markup(probe):
    renderer = probe('{{ "<b>Leo\u202e</b>" | safe }} {{ name }}')
    assert renderer.html("probe", {"name": "<i>x</i>\x0b"}) == "<b>Leo</b> &lt;i&gt;x&lt;/i&gt;"


def hostile(data: dict, form_type: str) -> dict:
    """A validated form whose names and address hold every kind of unwanted character, and
    right-to-left names. (Set after validation: the documents must hold whatever intake lets
    through.)"""
    data = copy.deepcopy(data)
    child = data["children"][0]
    child["given_name"] = "\u202eAmelia\u202c\x0b"  # U+202E would show "ailemA"
    child["family_name"] = "Hu\u200fghes\x00"
    data["children"][1]["given_name"] = f"{ARABIC_GIVEN}\u2067"
    data["children"][1]["family_name"] = f"\u2069{ARABIC_FAMILY}\ud800"
    address = data["address"]
    address["line1"] = "14 Example\u2066 Street\x07"  # U+0007: a new paragraph in docxtpl
    address["line2"] = "\ufffe\u202e\x1b"  # nothing but unwanted characters: no line at all
    address["town"] = "Manchester\x0c"  # U+000C: a page break in docxtpl
    if "consent" in data:
        data["consent"]["given_by"] = "Jo\x00anne \u202eHughes\u202c"
    for key in ("referrer", "lead_practitioner", "closed_by"):
        if data.get(key):
            data[key]["name"] = f"{HEBREW}\uffff"
    if form_type == "transfer":
        data["worries"] = [f"{ARABIC} worries about sleep\x1b[31m", "School\x85attendance"]
        data["family"][0]["given_name"] = "\u2066Joanne\u2069"
    if form_type == "closure":
        data["child_feedback"] = f"I like my new bedtime\u202e, {ARABIC} said\uffff"
    return data


@pytest.mark.parametrize(
    ("form_type", "documents"),
    [
        ("notification", ["consent-letter"]),
        ("transfer", ["consent-letter", "allocations-pro-forma"]),
        ("closure", ["case-closure-note"]),
    ],
)
def test_every_document_leaves_out_unwanted_characters_and_keeps_names_in_order(
    form_type, documents
):
    result = validate(load_example(form_type), RECEIVED, hubs=HUBS)
    data = hostile(result.data, form_type)
    planned = plan(form_type, data, route(result, CONFIG, RECEIVED), CONFIG, RECEIVED, [])
    files, notes = render_documents(planned, renderer_for(None))
    assert notes == []
    assert sorted(files) == sorted(f"{d}.{ext}" for d in documents for ext in ("pdf", "docx"))
    for name, content in files.items():
        pdf = name.endswith(".pdf")
        if pdf:  # pypdf moves the spaces next to right-to-left runs: pieces, in drawn order
            text = pdf_text(content)
            assert all(c not in text for c in (LRI, RLI, PDI)), name
        else:
            xml = docx_xml(content)  # every part of the DOCX, as Word reads it
            assert_isolates_are_paired(xml)
            assert 'w:type="page"' not in xml, name  # U+000C made no page break
            text = docx_text(content)
            assert_isolates_are_paired(text)
        assert UNWANTED.search(without_isolates(text)) is None, (name, UNWANTED.findall(text))
        flat = squash(without_isolates(text))
        assert "Amelia Hughes" in flat, name  # in logical order, whole
        assert "ailemA" not in flat and "sehguH" not in flat, name
        assert ARABIC in flat, name  # in logical order
        assert "14 Example Street" in flat and "Manchester" in flat, name
        if name.startswith("consent-letter"):
            assert "Dear Joanne Hughes," in flat, name
        if name.startswith("allocations-pro-forma"):
            assert "14 Example Street, Manchester, M13 9PL" in flat, name  # no empty line2
            expected = [ARABIC, "worries about sleep[31m"]
            if not pdf:
                assert f"{LRI}{ARABIC} worries about sleep[31m{PDI}" in text, name
        if name.startswith("case-closure-note"):
            expected = ["I like my new bedtime,", ARABIC, "said"]
            if not pdf:
                assert f"{LRI}I like my new bedtime, {ARABIC} said{PDI}" in text, name
        if pdf and not name.startswith("consent-letter"):
            assert drawn_in_order(content, expected), (expected, visual_runs(content))


def test_the_letter_reads_in_order_with_an_arabic_name_and_an_override():
    """The family's own letter: the Arabic name is isolated in the DOCX, and the name that
    held U+202E reads as written, in the address block and after "Dear"."""
    result = validate(load_example("notification"), RECEIVED, hubs=HUBS)
    data = copy.deepcopy(result.data)
    data["consent"]["given_by"] = f"{ARABIC}\u202e"
    data["children"][0]["given_name"] = "\u202eLeo"
    (letter,) = plan("notification", data, route(result, CONFIG, RECEIVED), CONFIG, RECEIVED)
    made = renderer_for(None).document(letter.name, letter.context)
    pdf = squash(pdf_text(made.pdf))
    assert ARABIC in pdf and "Leo Hughes" in pdf and "\u202e" not in pdf
    assert drawn_in_order(made.pdf, ["Dear", ARABIC, ","]), visual_runs(made.pdf)
    xml = docx_xml(made.docx)
    assert f"Dear {RLI}{ARABIC}{PDI}," in xml and "\u202e" not in xml


# -- item 16: the practitioner's forms ----------------------------------------------------------


@pytest.fixture(scope="module")
def prefilled():
    """What a new RfAS starts with for a case whose earlier forms held unwanted characters."""
    transfer = hostile(validate(load_example("transfer"), RECEIVED).data, "transfer")
    transfer["children"][0]["given_name"] = f"\u202e{ARABIC_GIVEN}\x0b"
    transfer["children"][0]["family_name"] = ARABIC_FAMILY
    lead = validate(load_example("rfas"), RECEIVED).data["lead_practitioner"]
    transfer["lead_practitioner"] = dict(lead, name=f"\u202b{HEBREW}\uffff")
    return carried("rfas", [("transfer", transfer)], "MC204811")


def test_a_prefilled_form_holds_what_was_written_without_controls(prefilled):
    values = {f.name: f.value for s in sections("rfas", prefilled) for f in s.fields}
    assert values["children[0]/given_name"] == ARABIC_GIVEN
    assert values["children[1]/family_name"] == ARABIC_FAMILY
    assert values["address/line1"] == "14 Example Street"
    assert values["address/town"] == "Manchester"
    assert values["lead_practitioner/name"] == HEBREW
    for value in values.values():
        assert UNWANTED.search(value) is None, repr(value)
    blank_json = skeleton("rfas", prefilled)
    assert blank_json["children"][0]["given_name"] == ARABIC_GIVEN


def test_the_prefilled_pdf_and_docx_forms_hold_the_names_and_read_back_the_same(prefilled):
    renderer = renderer_for(None)
    context = {
        "title": "Request for a service",
        "intro": "Fill in",
        "sections": sections("rfas", prefilled),
    }
    pdf = renderer.pdf("form", context, forms=True)
    fields = PdfReader(io.BytesIO(pdf)).get_fields() or {}
    assert fields["children[0]/given_name"]["/V"] == ARABIC_GIVEN  # no isolates in a field
    assert fields["lead_practitioner/name"]["/V"] == HEBREW
    for field in fields.values():
        value = field.get("/V")
        assert not isinstance(value, str) or UNWANTED.search(value) is None, field
    answers = read_pdf(pdf)
    assert answers["children"][0]["given_name"] == ARABIC_GIVEN
    assert answers["children"][0]["family_name"] == ARABIC_FAMILY
    assert answers["address"]["line1"] == "14 Example Street"
    docx = renderer.docx("form", context)
    text = docx_text(docx)
    assert_isolates_are_paired(text)
    assert f"{RLI}{ARABIC_GIVEN}{PDI}" in text and "14 Example Street" in text
    assert UNWANTED.search(without_isolates(text)) is None


def test_answers_read_back_from_a_pdf_lose_isolates_and_controls():
    assert unflatten(
        {
            "children[0]/given_name": f"{RLI}{ARABIC_GIVEN}{PDI}",
            "children[0]/family_name": "\u202eHughes\x00",
            "worries[0]": "Sleep\rSchool",  # a PDF viewer's line break
            "address/line2": "\u200f",
        }
    ) == {
        "children": [{"given_name": ARABIC_GIVEN, "family_name": "Hughes"}],
        "worries": ["Sleep\nSchool"],
    }


# -- item 17: templates only from inside the template folders -----------------------------------


SECRET = "SECRET-6f1d: not for templates"


@pytest.fixture
def outside(tmp_path):
    """Files outside every template folder, as a council server might have them."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "secret.html").write_text(f"<p>{SECRET}</p>")
    (folder / "secret.css").write_text(f'body::before {{ content: "{SECRET}" }}')
    document = Document()
    document.add_paragraph(SECRET)
    document.save(folder / "secret.docx")
    return folder


def test_an_include_linked_outside_the_folder_is_refused(tmp_path, outside):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "part.html").symlink_to(outside / "secret.html")
    (folder / "deep").symlink_to(outside, target_is_directory=True)
    (folder / "probe.html").write_text('<p>{% include "part.html" %}</p>')
    (folder / "probe2.html").write_text('<p>{% include "deep/secret.html" %}</p>')
    (folder / "probe3.html").write_text('<p>{% include "../elsewhere/secret.html" %}</p>')
    (folder / "probe4.html").write_text(f'<p>{{% include "{outside / "secret.html"}" %}}</p>')
    renderer = Renderer([folder])
    for name in ("probe", "probe2", "probe3", "probe4"):
        with pytest.raises(RenderError, match="template") as caught:
            renderer.html(name, {})
        assert SECRET not in str(caught.value)
    # a template named with ".." or a link is refused outright, not looked for elsewhere
    with pytest.raises(RenderError, match="leads out of the template folder"):
        renderer.jinja.get_template("../elsewhere/secret.html")


def test_a_docx_linked_outside_the_folder_is_refused(tmp_path, outside):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "probe.html").write_text("<p>{{ text }}</p>")
    (folder / "probe.docx").symlink_to(outside / "secret.docx")
    renderer = Renderer([folder])
    with pytest.raises(RenderError, match="links to a file outside the template folders"):
        renderer.docx("probe", {"text": "hello"})
    with pytest.raises(RenderError, match="links to a file outside"):
        renderer.document("probe", {"text": "hello"})
    for name in ("../elsewhere/secret.docx", "/" + str(outside / "secret.docx")):
        with pytest.raises(RenderError, match="leads out of the template folder"):
            renderer.find(name)


def test_a_stylesheet_linked_outside_the_folder_is_refused(tmp_path, outside):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "style.css").symlink_to(outside / "secret.css")
    (folder / "probe.html").write_text('<link rel="stylesheet" href="style.css"><p>{{ text }}</p>')
    shutil.copy(builtin_templates() / "form.docx", folder / "probe.docx")
    fetcher = _Fetcher([folder])
    with pytest.raises(ValueError, match="template folder"):
        fetcher.fetch((folder / "style.css").as_uri())
    with pytest.raises(ValueError, match="template folder"):
        fetcher.fetch(folder.as_uri() + "/../elsewhere/secret.css")
    assert len(fetcher.refused) == 2
    renderer = Renderer([folder])
    # a document for a routed form is not made from such a template: the receipt says why
    with pytest.raises(RenderError, match=r"asks for style\.css, which ehforms does not fetch"):
        renderer.document("probe", {"text": "hello"})
    # anywhere else the stylesheet is left out, and its content never shows
    pdf = renderer.pdf("probe", {"text": "hello"})
    assert "hello" in pdf_text(pdf) and SECRET not in pdf_text(pdf)


def test_links_that_stay_inside_the_template_folders_are_allowed(tmp_path):
    """A root's templates/ may itself be a link (it is one of the folders), and a file may
    link to another inside the folders."""
    make_root(tmp_path / "root")
    real = tmp_path / "shared-templates"
    shutil.move(tmp_path / "root" / "templates", real)
    (tmp_path / "root" / "templates").symlink_to(real, target_is_directory=True)
    (real / "letterhead.css").symlink_to(real / "style.css")
    (real / "consent-letter.html").write_text(
        (real / "consent-letter.html")
        .read_text()
        .replace('href="style.css"', 'href="letterhead.css"')
        .replace("<body>", '<body>{% include "bits/note.html" %}')
    )
    (real / "parts").mkdir()
    (real / "parts" / "note.html").write_text("<p>Our own note</p>")
    (real / "bits").symlink_to(real / "parts", target_is_directory=True)
    result = validate(load_example("notification"), RECEIVED, hubs=HUBS)
    planned = plan("notification", result.data, route(result, CONFIG, RECEIVED), CONFIG, RECEIVED)
    files, notes = render_documents(planned, Renderer(render.template_folders(tmp_path / "root")))
    assert notes == []
    assert "Our own note" in pdf_text(files["consent-letter.pdf"])


def escape_by(kind: str, templates: Path, outside: Path) -> None:
    """Make the root's consent letter reach outside the template folder, one way."""
    html = templates / "consent-letter.html"
    if kind == "include-link":
        (templates / "letterhead.html").symlink_to(outside / "secret.html")
        html.write_text(html.read_text().replace("<body>", '<body>{% include "letterhead.html" %}'))
    elif kind == "include-dotdot":
        html.write_text(
            html.read_text().replace("<body>", '<body>{% include "../elsewhere/secret.html" %}')
        )
    elif kind == "docx-link":
        (templates / "consent-letter.docx").unlink()
        (templates / "consent-letter.docx").symlink_to(outside / "secret.docx")
    elif kind == "css-link":
        (templates / "style.css").unlink()
        (templates / "style.css").symlink_to(outside / "secret.css")


@pytest.mark.parametrize("kind", ["include-link", "include-dotdot", "docx-link", "css-link"])
def test_a_template_reaching_outside_never_holds_a_form_back(tmp_path, kind):
    root = tmp_path / "root"
    config = make_root(root)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.html").write_text(f"<p>{SECRET}</p>")
    (outside / "secret.css").write_text(f'body::before {{ content: "{SECRET}" }}')
    document = Document()
    document.add_paragraph(SECRET)
    document.save(outside / "secret.docx")
    escape_by(kind, root / "templates", outside)
    drop(root, "n.json", load_example("notification"))
    with Postroom(root, config, clock=lambda: RECEIVED) as room:
        (result,) = room.run()
    receipt = result.outcome.receipt.as_dict()
    assert receipt["status"] == "routed"
    assert receipt["documents"] == []
    assert receipt["notes"][0].startswith("The consent letter could not be made (RenderError: ")
    assert SECRET not in str(receipt) and str(outside) not in str(receipt)
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and "templates" not in path.parts:
            assert SECRET.encode() not in path.read_bytes(), path
