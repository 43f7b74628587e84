"""Reading a bundle (a ZIP of one form and its attachments): every hostile entry left out with
its reason, built here in the test rather than committed as binaries."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pypdf import PdfWriter

from conftest import load_example
from ehforms.bundles import Limits, attachment_kind, read_folder, read_zip


def pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def image(kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(out, format=kind)
    return out.getvalue()


def docx(macros: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        kind = "macroEnabled" if macros else "document"
        package.writestr("[Content_Types].xml", f"<Types><Override ContentType='{kind}'/></Types>")
        package.writestr("word/document.xml", "<w:document/>")
        if macros:
            package.writestr("word/vbaProject.bin", b"\0" * 10)
    return out.getvalue()


FORM = json.dumps(load_example("transfer")).encode()


def bundle(*entries: tuple[str | zipfile.ZipInfo, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return out.getvalue()


def info(name: str, **attributes) -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo(name)
    entry.compress_type = zipfile.ZIP_DEFLATED
    for key, value in attributes.items():
        setattr(entry, key, value)
    return entry


def test_a_form_with_its_attachments():
    read = read_zip(
        bundle(
            ("transfer.json", FORM),
            ("assessment.pdf", pdf()),
            ("consent.docx", docx()),
            ("photo.jpg", image("JPEG")),
            ("plan.png", image("PNG")),
        )
    )
    assert read.problem is None and read.left_out == ()
    assert read.form.name == "transfer.json" and read.form.kind == "form"
    assert sorted((a.name, a.kind) for a in read.attachments) == [
        ("assessment.pdf", "pdf"),
        ("consent.docx", "docx"),
        ("photo.jpg", "jpeg"),
        ("plan.png", "png"),
    ]
    for attachment in read.attachments:
        assert attachment.sha256 == hashlib.sha256(attachment.data).hexdigest()


def test_one_wrapping_folder_is_unwrapped_and_system_files_are_ignored():
    read = read_zip(
        bundle(
            ("Referral/transfer.json", FORM),
            ("Referral/assessment.pdf", pdf()),
            ("__MACOSX/Referral/._assessment.pdf", b"\0\5\26\7"),
            ("Referral/.DS_Store", b"\0"),
            ("Referral/Thumbs.db", b"\0"),
            ("Referral/~$consent.docx", b"\0"),
        )
    )
    assert read.problem is None and read.left_out == ()
    assert [a.name for a in read.attachments] == ["assessment.pdf"]


@pytest.mark.parametrize(
    ("entry", "data", "words"),
    [
        ("../evil.pdf", pdf(), "climbs out"),
        ("/etc/evil.pdf", pdf(), "absolute path"),
        ("C:/evil.pdf", pdf(), "absolute path"),
        ("dir\\evil.pdf", pdf(), "uses \\"),
        ("sub/deeper.pdf", pdf(), "in a folder"),
        ("nested.zip", bundle(("x.pdf", pdf())), "archive inside"),
        ("program.exe", b"MZ\x90\x00" + b"\0" * 100, "not a PDF, Word document, JPEG or PNG"),
        ("macros.docx", docx(macros=True), "macros"),
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "does not open"),
        ("bomb.pdf", b"%PDF-" + b"\0" * (3 * 1024 * 1024), "inflate more than 100 times"),
    ],
)
def test_a_bad_entry_is_left_out_with_its_reason(entry, data, words):
    read = read_zip(bundle(("transfer.json", FORM), ("good.pdf", pdf()), (entry, data)))
    assert read.problem is None and read.form is not None
    assert [a.name for a in read.attachments] == ["good.pdf"]
    (left,) = read.left_out
    assert words in left.reason


def flagged_encrypted(data: bytes, name: bytes) -> bytes:
    """The archive with ``name``'s entry marked encrypted, in its local and central headers
    (zipfile cannot write an encrypted entry; the flag is what a reader must respect)."""
    out = bytearray(data)
    for header, before, flags_at in ((b"PK\x03\x04", 30, 6), (b"PK\x01\x02", 46, 8)):
        at = out.find(header + b"", 0)
        while at != -1:
            name_at = at + before
            if out[name_at : name_at + len(name)] == name:
                out[at + flags_at] |= 0x01
            at = out.find(header, at + 4)
    return bytes(out)


def test_links_and_encrypted_entries_are_left_out():
    link = info("link.pdf", external_attr=(stat.S_IFLNK | 0o777) << 16)
    data = bundle(("transfer.json", FORM), (link, b"/etc/passwd"), ("locked.pdf", pdf()))
    read = read_zip(flagged_encrypted(data, b"locked.pdf"))
    assert {(x.name, x.reason) for x in read.left_out} == {
        ("link.pdf", "it is a link, not a file"),
        ("locked.pdf", "it is encrypted: zip it again without a password"),
    }


def test_names_that_differ_only_in_case_are_both_left_out():
    read = read_zip(bundle(("transfer.json", FORM), ("Scan.pdf", pdf()), ("scan.PDF", pdf())))
    assert sorted(x.name for x in read.left_out) == ["Scan.pdf", "scan.PDF"]
    assert read.attachments == ()


def test_cp437_and_utf8_names_read_correctly():
    # zipfile writes a non-ASCII name as UTF-8 with the UTF-8 flag
    utf8 = bundle(("transfer.json", FORM), ("Ärztebrief.pdf", pdf()))
    # an old Windows zipper writes CP437 bytes and no flag: written here as an ASCII name of
    # the same length, then given the CP437 byte for Ä (0x8E)
    placeholder = bundle(("transfer.json", FORM), ("_rztebrief.pdf", pdf()))
    cp437 = placeholder.replace(b"_rztebrief.pdf", "Ärztebrief.pdf".encode("cp437"))
    assert "Ärztebrief.pdf".encode("cp437") == b"\x8erztebrief.pdf"
    for data in (utf8, cp437):
        read = read_zip(data)
        assert [a.name for a in read.attachments] == ["Ärztebrief.pdf"], read


@pytest.mark.parametrize(
    ("entries", "words"),
    [
        ([("assessment.pdf", pdf())], "holds no form"),
        (
            [("a.json", FORM), ("b.json", json.dumps(load_example("rfas")).encode())],
            "more than one",
        ),
        ([(f"f{n}.pdf", pdf()) for n in range(22)] + [("t.json", FORM)], "holds 23 files"),
    ],
)
def test_the_whole_bundle_is_refused_only_where_the_contract_says(entries, words):
    read = read_zip(bundle(*entries))
    assert read.form is None and words in read.problem


def test_a_damaged_archive_is_refused_with_a_message():
    data = bundle(("transfer.json", FORM), ("a.pdf", pdf()))
    read = read_zip(data[: len(data) // 2])
    assert read.form is None and read.problem.startswith("The ZIP file could not be opened")
    assert read_zip(b"not a zip at all").problem.startswith("The ZIP file could not be opened")


def test_the_limits_apply():
    small = Limits(attachment_bytes=1000, attachments=1)
    read = read_zip(bundle(("t.json", FORM), ("big.png", image("PNG") + b"\0" * 2000)), small)
    assert [x.name for x in read.left_out] == ["big.png"]
    assert read_zip(bundle(("t.json", FORM), ("a.pdf", pdf()), ("b.pdf", pdf())), small).problem


def test_the_identity_ignores_names_and_order_and_counts_attachments():
    one = read_zip(bundle(("transfer.json", FORM), ("a.pdf", pdf()), ("p.png", image("PNG"))))
    other = read_zip(bundle(("p2.png", image("PNG")), ("form.json", FORM), ("b.pdf", pdf())))
    fewer = read_zip(bundle(("transfer.json", FORM), ("a.pdf", pdf())))
    assert one.identity == other.identity != fewer.identity
    digests = sorted([one.form.sha256] + [a.sha256 for a in one.attachments])
    expected = hashlib.sha256("".join(d + "\n" for d in digests).encode()).hexdigest()
    assert one.identity == expected


def test_attachment_kinds_by_content_not_name():
    assert attachment_kind(pdf()) == "pdf"
    assert attachment_kind(image("PNG")) == "png"
    assert attachment_kind(image("JPEG")) == "jpeg"
    assert attachment_kind(docx()) == "docx"
    assert attachment_kind(bundle(("x.txt", b"x"))) is None
    assert attachment_kind(b"GIF89a") is None


@settings(max_examples=60, deadline=None)
@given(
    entries=st.lists(
        st.tuples(st.text(min_size=1, max_size=30), st.binary(max_size=400)),
        max_size=6,
        unique_by=lambda entry: entry[0],
    ),
    cut=st.integers(min_value=0, max_value=5000),
)
def test_any_zip_or_piece_of_one_gives_a_result_never_an_error(entries, cut):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries:
            if name.split("\x00")[0].strip("/"):  # zipfile cuts a name at a NUL
                archive.writestr(name, data)
    data = out.getvalue()
    for candidate in (data, data[:cut]):
        read = read_zip(candidate)
        assert (read.form is None) == (read.problem is not None)
        assert all(x.reason for x in read.left_out)


def test_a_zip_of_thousands_of_entries_is_refused_opening_at_most_a_hundred(monkeypatch):
    # 5,000 stray files and a MARF named like a form: refused as a whole, the MARF still found
    # for the safeguarding look, and only a bounded number of entries ever unpacked
    import ehforms.bundles.zips as bundles

    marf = json.dumps({"form_type": "marf"}).encode()
    entries = [(f"scan-{n}.txt", b"x") for n in range(5000)] + [("zz-marf.json", marf)]
    opened = []
    real = bundles._unpack

    def counted(archive, info, limits, reading):
        opened.append(info.filename)
        return real(archive, info, limits, reading)

    monkeypatch.setattr(bundles, "_unpack", counted)
    found = read_zip(bundle(*entries))
    assert found.form is None and "holds 5001 files" in (found.problem or "")
    assert [f.name for f in found.forms] == ["zz-marf.json"]
    assert len(opened) <= bundles.LOOKED_AT and "zz-marf.json" in opened


def test_a_folder_of_thousands_of_files_is_refused_reading_at_most_a_hundred(tmp_path):
    folder = tmp_path / "bundle"
    folder.mkdir()
    for n in range(3000):
        (folder / f"scan-{n}.txt").write_bytes(b"x")
    (folder / "referral.json").write_bytes(json.dumps({"form_type": "marf"}).encode())
    found = read_folder(folder)
    assert found.form is None and "holds 3001 files" in (found.problem or "")
    assert [f.name for f in found.forms] == ["referral.json"]
