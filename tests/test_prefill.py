"""Prefilled forms for practitioners, and filled-in PDFs read back through the inbox."""

from __future__ import annotations

import io
import json
import zlib

import pytest
from click.testing import CliRunner
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject

from conftest import RECEIVED, load_example
from ehforms.cli import cli
from ehforms.errors import IntakeError
from ehforms.forms import validate
from ehforms.intake import uk_timestamp
from ehforms.pdfforms import read_pdf
from ehforms.pipeline import Postroom
from ehforms.prefill import PrefillRefused, carried, sections, skeleton, unflatten
from helpers import drop, make_root

AT = "2026-11-24T09:00:00Z"


def test_unflatten_builds_lists_and_parts_and_drops_blanks():
    assert unflatten(
        {
            "case_id": "EH-1",
            "children[0]/given_name": "Leo",
            "children[0]/family_name": "Hughes",
            "children[1]/given_name": " ",
            "children[2]/given_name": "Amelia",
            "worries[0]": "Sleep",
            "worries[1]": "",
            "address/postcode": "M8 5AB",
        }
    ) == {
        "case_id": "EH-1",
        "children": [{"given_name": "Leo", "family_name": "Hughes"}, {"given_name": "Amelia"}],
        "worries": ["Sleep"],
        "address": {"postcode": "M8 5AB"},
    }


@pytest.mark.parametrize("form_type", ["notification", "rfas", "transfer", "marf", "closure"])
def test_a_form_laid_out_as_fields_reads_back_as_the_same_form(form_type):
    form = load_example(form_type)
    flat = {f.name: f.value for section in sections(form_type, form) for f in section.fields}
    assert validate(unflatten(flat), RECEIVED, hubs=["north", "central", "south"]).data == (
        validate(form, RECEIVED, hubs=["north", "central", "south"]).data
    )


def test_a_blank_json_form_has_every_field_and_validates_to_what_is_missing():
    blank = skeleton("rfas")
    assert blank["form_type"] == "rfas"
    assert set(blank["lead_practitioner"]) == {"name", "role", "agency", "email", "phone", "team"}
    result = validate(blank, RECEIVED)
    assert ("case_id", "Enter the case reference") in [(e.field, e.message) for e in result.errors]


def test_a_uk_date_and_time_becomes_an_iso_timestamp():
    from zoneinfo import ZoneInfo

    london = ZoneInfo("Europe/London")
    assert uk_timestamp("24/11/2026 09:05", london) == "2026-11-24T09:05:00+00:00"
    assert uk_timestamp("2/7/2026 9.30", london) == "2026-07-02T09:30:00+01:00"
    assert uk_timestamp("24/11/2026", london) == "2026-11-24T00:00:00+00:00"
    assert uk_timestamp("soon", london) == "soon"


HISTORY = [
    ("notification", validate(load_example("notification"), RECEIVED).data),
    ("transfer", validate(load_example("transfer"), RECEIVED).data),
    ("closure", validate(load_example("closure"), RECEIVED).data),
]


def test_carried_takes_the_latest_of_each_part():
    values = carried("rfas", HISTORY, "MC204811")
    assert values["case_id"] == "MC204811"
    assert values["lead_practitioner"]["name"] == "Grace Okafor"  # from the closure
    assert values["consent"]["date"] == HISTORY[1][1]["consent"]["date"]  # the transfer's
    assert [c["given_name"] for c in values["children"]] == ["Amelia", "Leo"]
    assert "family" not in values  # an RfAS has no family


def test_nothing_is_offered_after_consent_is_withdrawn():
    closure = dict(HISTORY[2][1], closure_reason="consent_withdrawn")
    with pytest.raises(PrefillRefused, match="withdrew their consent"):
        carried("notification", [*HISTORY[:2], ("closure", closure)], "MC204811")
    with pytest.raises(PrefillRefused, match="knows nothing of case X1"):
        carried("notification", [], "X1")


@pytest.fixture
def root_with_case(tmp_path):
    config = make_root(tmp_path)
    drop(tmp_path, "transfer.json", load_example("transfer"))
    with Postroom(tmp_path, config, clock=lambda: RECEIVED) as room:
        room.run()
    return tmp_path, config


def template(root, form_type, fmt, out, case=None):
    case_args = ["--case", case] if case else []
    return CliRunner().invoke(
        cli,
        ["template", form_type, "--root", str(root), *case_args, "--format", fmt, "-o", str(out)],
    )


def test_the_prefilled_pdf_round_trip(root_with_case, tmp_path_factory):
    """Prefill a PDF from the case, fill in the rest with pypdf, drop it in the inbox."""
    root, config = root_with_case
    out = tmp_path_factory.mktemp("out") / "rfas.pdf"
    result = template(root, "rfas", "pdf", str(out), case="MC204811")
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"Wrote {out}: Request for Additional Services, prefilled from case MC204811\n"
    )
    reader = PdfReader(out)
    fields = reader.get_fields()
    assert fields["children[0]/given_name"]["/V"] == "Amelia"
    assert fields["address/postcode"]["/V"] == "M13 9PL"
    assert fields["consent/withheld[0]"]["/V"] == "Mother's mental health history"
    writer = PdfWriter(clone_from=reader)
    answers = {
        "submitted_at": "24/11/2026 08:30",
        "level_of_need": "3",
        "lead_practitioner/name": "Grace Okafor",
        "lead_practitioner/role": "Family support worker",
        "lead_practitioner/agency": "Early Help",
        "lead_practitioner/email": "grace.okafor@example.gov.uk",
        "services_requested[0]/service": "Parenting programme",
        "services_requested[0]/reason": "Mum wants help with routines.",
    }
    for page in writer.pages:
        writer.update_page_form_field_values(page, answers, auto_regenerate=False)
    filled = io.BytesIO()
    writer.write(filled)
    drop(root, "rfas-filled.pdf", filled.getvalue())
    with Postroom(root, config, clock=lambda: RECEIVED) as room:
        (routed,) = room.run()
    receipt = routed.outcome.receipt.as_dict()
    assert (receipt["status"], receipt["form_type"], receipt["mailboxes"]) == (
        "routed",
        "rfas",
        ["eh-central"],
    ), receipt["errors"]
    form = json.loads(
        (root / "outbox" / "eh-central" / routed.outcome.folder / "form.json").read_text()
    )
    assert form["submitted_at"] == "2026-11-24T08:30:00+00:00"
    assert form["level_of_need"] == 3
    assert form["children"][1]["date_of_birth"] == "2019-09-30"
    assert form["services_requested"] == [
        {"service": "Parenting programme", "reason": "Mum wants help with routines."}
    ]
    assert form["consent"]["withheld"] == ["Mother's mental health history"]
    assert (root / "outbox" / "eh-central" / routed.outcome.folder / "rfas-filled.pdf").exists()


def test_a_blank_pdf_dropped_unfilled_is_rejected_with_what_to_enter(tmp_path):
    config = make_root(tmp_path)
    pdf = tmp_path / "blank.pdf"
    CliRunner().invoke(
        cli,
        ["template", "notification", "--root", str(tmp_path), "--format", "pdf", "-o", str(pdf)],
    )
    drop(tmp_path, "blank.pdf", pdf.read_bytes())
    with Postroom(tmp_path, config, clock=lambda: RECEIVED) as room:
        (result,) = room.run()
    receipt = result.outcome.receipt.as_dict()
    assert receipt["status"] == "rejected"
    assert {"field": "children", "message": "Enter at least one child"} in receipt["errors"]


@pytest.mark.parametrize("fmt", ["docx", "json"])
def test_template_other_formats(tmp_path, fmt):
    make_root(tmp_path)
    out = tmp_path / f"form.{fmt}"
    result = CliRunner().invoke(
        cli, ["template", "closure", "--root", str(tmp_path), "--format", fmt, "-o", str(out)]
    )
    assert result.exit_code == 0
    data = out.read_bytes()
    if fmt == "json":
        assert json.loads(data)["form_type"] == "closure"
    else:
        from docx import Document

        text = "\n".join(
            cell.text
            for table in Document(io.BytesIO(data)).tables
            for row in table.rows
            for cell in row.cells
        )
        assert "Reason for closure" in text and "Lead practitioner" not in text.split("Name")[0]


def test_template_refuses_a_case_after_consent_was_withdrawn(root_with_case):
    root, config = root_with_case
    closure = load_example("closure")
    closure["closure_reason"] = "consent_withdrawn"
    drop(root, "closure.json", closure)
    with Postroom(root, config, clock=lambda: RECEIVED) as room:
        room.run()
    result = template(root, "rfas", "json", str(root / "x.json"), case="MC204811")
    # forms.md "Keeping and deleting": the prefill data is erased at once, and prefill answers
    # as for a case ehforms never knew
    unknown = template(root, "rfas", "json", str(root / "y.json"), case="NEVER-SEEN")
    assert result.exit_code == unknown.exit_code == 2
    assert result.stderr == (
        "Error: ehforms knows nothing of case MC204811: start from a blank form\n"
    )
    assert result.stderr == unknown.stderr.replace("NEVER-SEEN", "MC204811")
    assert not (root / "x.json").exists()


def form_pdf(values=None, form_type="rfas"):
    from ehforms.render import renderer_for

    context = {"title": "t", "intro": "", "sections": sections(form_type, values)}
    return renderer_for(None).pdf("form", context, forms=True)


def object_stream_bomb(inflated: int) -> bytes:
    """A PDF whose AcroForm sits in an object stream that inflates to ``inflated`` bytes."""
    import struct

    out = io.BytesIO()
    out.write(b"%PDF-1.5\n")
    offsets = {}

    def obj(num, body):
        offsets[num] = out.tell()
        out.write(f"{num} 0 obj\n".encode() + body + b"\nendobj\n")

    obj(1, b"<< /Type /Catalog /Pages 2 0 R /AcroForm 5 0 R >>")
    obj(2, b"<< /Type /Pages /Kids [] /Count 0 >>")
    header = b"5 0 "
    compressor = zlib.compressobj(9)
    data = compressor.compress(header + b"<< /Fields [] >>" + b" " * inflated)
    data += compressor.flush()
    obj(
        4,
        f"<< /Type /ObjStm /N 1 /First {len(header)} /Length {len(data)} "
        "/Filter /FlateDecode >>\nstream\n".encode()
        + data
        + b"\nendstream",
    )
    xref = out.tell()
    rows = [
        (0, 0, 65535),
        (1, offsets[1], 0),
        (1, offsets[2], 0),
        (0, 0, 0),
        (1, offsets[4], 0),
        (2, 4, 0),
        (1, xref, 0),
    ]
    table = b"".join(struct.pack(">BIH", *row) for row in rows)
    out.write(
        f"6 0 obj\n<< /Type /XRef /Size 7 /W [1 4 2] /Root 1 0 R /Length {len(table)} "
        ">>\nstream\n".encode()
        + table
        + b"\nendstream\nendobj\n"
    )
    out.write(f"startxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


class TestHostilePdfs:
    def test_an_encrypted_pdf(self):
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(form_pdf())))
        writer.encrypt("secret")
        data = io.BytesIO()
        writer.write(data)
        with pytest.raises(IntakeError, match="protected with a password"):
            read_pdf(data.getvalue())

    def test_a_damaged_pdf(self):
        with pytest.raises(IntakeError, match="The PDF could not be read"):
            read_pdf(b"%PDF-1.7\n" + b"\x00garbage" * 100)

    def test_a_pdf_that_is_not_an_ehforms_form(self):
        writer = PdfWriter()
        writer.add_blank_page(595, 842)
        data = io.BytesIO()
        writer.write(data)
        with pytest.raises(IntakeError, match="not an ehforms form"):
            read_pdf(data.getvalue())

    def test_an_oversized_pdf(self):
        with pytest.raises(IntakeError, match="larger than 1 KB"):
            read_pdf(form_pdf(), max_bytes=1024)

    def test_a_bomb_in_the_object_streams_is_refused(self):
        """The form's own objects inflate to 200 MB: pypdf's limit stops it, with a message."""
        data = object_stream_bomb(200 * 1024 * 1024)
        assert len(data) < 1024 * 1024
        with pytest.raises(IntakeError, match=r"could not be read .*\(LimitReachedError\)"):
            read_pdf(data)

    def test_a_decompression_bomb_is_never_expanded(self):
        """A page whose content inflates to 256 MB: only the form's fields are read."""
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(form_pdf({"form_type": "rfas"}))))
        bomb = DecodedStreamObject()
        bomb.set_data(b"")
        bomb._data = zlib.compress(b"\x00" * (1 << 28), 9)
        bomb[NameObject("/Filter")] = NameObject("/FlateDecode")
        writer.pages[0][NameObject("/Contents")] = writer._add_object(bomb)
        data = io.BytesIO()
        writer.write(data)
        assert len(data.getvalue()) < 5 * 1024 * 1024
        assert read_pdf(data.getvalue())["form_type"] == "rfas"
