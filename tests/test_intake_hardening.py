"""Hostile and odd files: every one gets a message a person can act on, in bounded time and
memory, never an internal fault.

Item 2 (intake): UTF-16 JSON with a BOM is a form; ``intake.salvage`` reads what it can.
Item 9: huge forms (tens of thousands of unknown fields, 100,000 children, a 5 MB string) give a
bounded list of problems and keep memory flat (measured in a child process).
Item 12: a number like ``1e999`` is refused with a message naming its field, never written as
``Infinity``.
Item 13: any JSON value, and any bytes, give errors or a valid form, never an exception.
Every form here is synthetic.
"""

from __future__ import annotations

import copy
import io
import json
import struct
import subprocess
import sys
import textwrap
import time
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FORM_TYPES, RECEIVED, council_file, load_example
from ehforms import routing
from ehforms.config import load_config
from ehforms.errors import IntakeError
from ehforms.forms import FieldError, Validation, validate
from ehforms.forms.base import UNKNOWN_FIELD
from ehforms.intake import MAX_PDF_FIELDS, FieldIntakeError, depth, read_form, read_json
from ehforms.outcomes import prepare
from ehforms.pdfforms import read_pdf
from ehforms.salvage import salvage
from ehforms.submission import check, errors_text, form_json

CONFIG = load_config(None, environ={})


def as_json(form) -> bytes:
    return json.dumps(form, ensure_ascii=False).encode()


def route(data: bytes, config=CONFIG):
    validation = check("form.json", data, RECEIVED, config)
    return routing.route(validation, config, RECEIVED), validation


# -- item 2: the intake reads UTF-16; salvage -----------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: t.encode("utf-16"),
        lambda t: b"\xff\xfe" + t.encode("utf-16-le"),
        lambda t: b"\xfe\xff" + t.encode("utf-16-be"),
        lambda t: t.encode("utf-8-sig"),
        lambda t: t.encode("utf-32"),
    ],
    ids=["utf-16", "utf-16-le", "utf-16-be", "utf-8-bom", "utf-32"],
)
def test_json_with_a_bom_is_read_in_its_encoding(encode):
    form = {"form_type": "rfas", "case_id": "EH-1", "town": "Sälford ５"}
    assert read_json(encode(json.dumps(form, ensure_ascii=False))) == form


def test_salvage_finds_the_signal_fields_in_every_encoding_and_spelling():
    text = '{"form_type": "Notification", "Risk of significant harm": "Yes", "levelOfNeed": 05,'
    for data in (
        text.encode(),
        text.encode("utf-16"),
        text.encode("utf-16-be"),
        b"\x00" + text.encode(),
    ):
        found = salvage(data)
        assert found["form_type"] == ["Notification"]
        assert found["risk_of_significant_harm"] == ["Yes"]
        assert found["level_of_need"] == ["05"]


def test_salvage_reads_up_to_its_limit_and_no_further():
    data = b'{"reasons": "' + b"x" * 5000 + b'", "risk_of_significant_harm": true'
    assert salvage(data)["risk_of_significant_harm"] == [True]
    assert salvage(data, max_bytes=4000) == {}


def streamed_bomb(megabytes: int) -> bytes:
    """test_prefill's ``object_stream_bomb`` (a PDF whose AcroForm sits in an object stream
    that inflates to ``megabytes`` MB), compressed a megabyte at a time: building it costs
    little memory, so the memory test measures the reading alone."""
    squeeze = zlib.compressobj(9)
    stream = squeeze.compress(b"5 0 << /Fields [] >>")
    for _ in range(megabytes):
        stream += squeeze.compress(b" " * 1024 * 1024)
    stream += squeeze.flush()
    out = io.BytesIO()
    out.write(b"%PDF-1.5\n")
    offsets = {}

    def obj(number, body):
        offsets[number] = out.tell()
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")

    obj(1, b"<< /Type /Catalog /Pages 2 0 R /AcroForm 5 0 R >>")
    obj(2, b"<< /Type /Pages /Kids [] /Count 0 >>")
    head = b"<< /Type /ObjStm /N 1 /First 4 /Length %d /Filter /FlateDecode >>" % len(stream)
    obj(4, head + b"\nstream\n" + stream + b"\nendstream")
    xref = out.tell()
    rows = [(0, 0, 65535), (1, offsets[1], 0), (1, offsets[2], 0), (0, 0, 0)]
    rows += [(1, offsets[4], 0), (2, 4, 0), (1, xref, 0)]
    table = b"".join(struct.pack(">BIH", *row) for row in rows)
    out.write(
        b"6 0 obj\n<< /Type /XRef /Size 7 /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n"
        % len(table)
        + table
        + b"\nendstream\nendobj\n"
    )
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def test_salvage_inflates_a_pdf_bomb_only_within_its_budget():
    data = streamed_bomb(200)
    with pytest.raises(IntakeError, match=r"could not be read .*\(LimitReachedError\)"):
        read_pdf(data)
    assert salvage(data) == {}  # within its budget: see the memory test for the figures


@pytest.mark.parametrize(
    "data",
    [b"", b"%PDF-", b"%PDF-1.7\n1 0 obj << /T (risk", b"\xff\xfe", b"\x00" * 100, b"{" * 10000],
)
def test_salvage_never_raises(data):
    assert isinstance(salvage(data), dict)


# -- item 12: numbers that are not finite ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"form_type": "rfas", "level_of_need": 1e999}', "level_of_need"),
        ('{"form_type": "rfas", "level_of_need": -1E400}', "level_of_need"),
        ('{"children": [{"nhs_number": 1e999}]}', "children[0].nhs_number"),
        ('{"consent": {"withheld": [1, [2, 1e999]]}}', "consent.withheld[1][1]"),
        ('{"level_of_need": 1' + "0" * 5000 + "}", "level_of_need"),
        ('{"level_of_need": -' + "9" * 101 + "}", "level_of_need"),
    ],
)
def test_a_number_too_large_is_refused_naming_its_field(text, field):
    with pytest.raises(FieldIntakeError) as raised:
        read_json(text.encode())
    assert raised.value.field == field
    assert str(raised.value).startswith("This number is too large for a form (")
    assert str(raised.value).endswith("): check it and enter it again")
    validation = check("form.json", text.encode(), RECEIVED, CONFIG)
    assert validation.errors == (FieldError(field, str(raised.value)),)


def test_infinity_never_reaches_form_json(example):
    form = example("notification")
    form["risk_of_significant_harm"] = True  # redirected: its form.json would be written
    data = as_json(form).replace(b'"level_of_need": 3', b'"level_of_need": 1e999')
    outcome = prepare(
        name="f.json", data=data, submission_id="01KAB0000000000000000000", received_at=RECEIVED,
        config=CONFIG,
    )  # fmt: skip
    assert outcome.receipt.status == "redirected"
    assert outcome.receipt.as_dict()["errors"] == [
        {
            "field": "level_of_need",
            "message": "This number is too large for a form (1e999): check it and enter it again",
        }
    ]
    if outcome.form_json is not None:
        json.loads(outcome.form_json, parse_constant=pytest.fail)


def test_a_broken_unicode_escape_is_refused_naming_its_field():
    data = b'{"form_type": "rfas", "case_id": "EH-\\ud800", "x": "\\ud83d\\ude00"}'
    with pytest.raises(FieldIntakeError) as raised:
        read_json(data)
    assert raised.value.field == "case_id"
    assert "broken character" in str(raised.value)
    assert read_json(b'{"note": "\\ud83d\\ude00"}') == {"note": "\U0001f600"}


# -- item 13: never an internal fault --------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"[1, 2]",
        b'"text"',
        b"5",
        b"null",
        b"[" * 5000 + b"]" * 5000,
        b'{"a": ' + b"[" * 19 + b"]" * 19 + b"}",
        b'{"form_type": "notification", "address": 5, "children": [5, "x", null, []]}',
        b'{"form_type": "transfer", "planned_contacts": [5], "most_recent_assessment": []}',
        b'{"form_type": "notification", "level_of_need": "\xc2\xb2"}',  # superscript two
        b'{"form_type": "notification", "level_of_need": "' + b"5" * 5000 + b'"}',
        b'{"form_type": "rfas", "children": [{"nhs_number": 100000000000000000000000000000}]}',
        b'{"form_type": "marf", "previous_social_work": 1}',
        b'{"form_type": "closure", "outcomes": [[{}]], "multi_agency_meeting": [1]}',
    ],
)
def test_odd_json_gets_a_clean_result(data):
    assert_clean(check("form.json", data, RECEIVED, CONFIG))


def test_the_superscript_two_that_used_to_crash_the_level_reads_as_a_level():
    form = load_example("notification")
    form["level_of_need"] = "²"
    assert_clean(validate(form, RECEIVED))


def assert_clean(result: Validation, limit: int = 100) -> None:
    assert isinstance(result, Validation)
    assert result.valid == (result.data is not None)
    assert result.valid or result.errors
    assert len(result.errors) <= limit
    for error in result.errors:
        assert isinstance(error, FieldError) and error.message
        assert "\n" not in error.message and "\n" not in (error.field or "")
        assert len(error.field or "") < 1000
    errors_text(result.errors).encode("utf-8")
    decision = routing.route(result, CONFIG, RECEIVED)
    form = result.data if result.valid else result.raw
    if decision.delivered and form is not None:
        json.loads(form_json(form), parse_constant=pytest.fail)


BIG = "\x00big\x00"  # stands for 10**5000, which json.dumps cannot write
text = st.text(max_size=12) | st.sampled_from(["\ud800", "²", "５", "05", " yes ", "1e999", BIG])
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**30, -(10**40), 2**64])
    | st.floats()
    | text
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=25,
)


def dumps(value) -> bytes:
    """JSON as a file may hold it: NaN and Infinity as written by some tools, lone surrogate
    escapes, a number of 5,000 digits."""
    return json.dumps(value).replace(json.dumps(BIG), "1" + "0" * 5000).encode()


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(json_values)
def test_any_json_value_through_check_gives_a_clean_result(value):
    assert_clean(check("form.json", dumps(value), RECEIVED, CONFIG))


@FUZZ
@given(st.sampled_from(FORM_TYPES), st.data())
def test_any_value_anywhere_in_a_real_form_gives_a_clean_result(form_type, data):
    form = load_example(form_type)
    node = form
    key = data.draw(st.sampled_from(sorted(form)))
    while isinstance(node[key], dict | list) and node[key] and data.draw(st.booleans()):
        node = node[key]
        key = data.draw(
            st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node)))
        )
    node[key] = data.draw(json_values)
    assert_clean(check("form.json", dumps(form), RECEIVED, CONFIG))


@FUZZ
@given(
    st.sampled_from([b"", b"%PDF-1.7\n", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf", b"{"]),
    st.binary(max_size=500),
)
def test_any_bytes_give_a_clean_result(prefix, data):
    assert_clean(check("form", prefix + data, RECEIVED, CONFIG))


# -- PDFs no ehforms form is -------------------------------------------------------------------


def raw_pdf(fields: list[tuple[bytes, bytes]]) -> bytes:
    """A minimal PDF whose form has these (name, value) text fields, written by hand."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = {}

    def obj(number, body):
        offsets[number] = out.tell()
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")

    obj(1, b"<< /Type /Catalog /Pages 2 0 R /AcroForm 3 0 R >>")
    obj(2, b"<< /Type /Pages /Kids [] /Count 0 >>")
    refs = b" ".join(b"%d 0 R" % (i + 4) for i in range(len(fields)))
    obj(3, b"<< /Fields [" + refs + b"] >>")
    for i, (name, value) in enumerate(fields):
        obj(i + 4, b"<< /FT /Tx /T (" + name + b") /V (" + value + b") >>")
    xref = out.tell()
    size = len(fields) + 4
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % size)
    for number in range(1, size):
        out.write(b"%010d 00000 n \n" % offsets[number])
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref))
    return out.getvalue()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            [(b"form_type", b"rfas"), (b"address", b"x"), (b"address/line1", b"y")],
            "This PDF's fields are not laid out as an ehforms form's",
        ),
        (
            [(b"form_type", b"rfas"), (b"children[1" + b"0" * 5000 + b"]/given_name", b"y")],
            "This PDF's fields are not laid out as an ehforms form's",
        ),
        (
            [(b"form_type", b"rfas"), (b"/".join([b"a"] * 40), b"y")],
            "This PDF's fields nest more than 20 levels deep",
        ),
    ],
)
def test_a_pdf_laid_out_unlike_a_form_gets_a_message(fields, message):
    with pytest.raises(IntakeError) as raised:
        read_pdf(raw_pdf(fields))
    assert str(raised.value).startswith(message)
    assert_clean(check("form.pdf", raw_pdf(fields), RECEIVED, CONFIG))


def test_a_pdf_with_too_many_fields_is_refused_before_they_are_read():
    fields = [(b"form_type", b"notification")] + [
        (b"f%d" % i, b"x") for i in range(MAX_PDF_FIELDS + 1)
    ]
    with pytest.raises(IntakeError, match="more than 2,000 fields"):
        read_form(raw_pdf(fields))
    fields.append((b"risk_of_significant_harm", b"yes"))  # read from the raw objects instead
    decision, validation = route(raw_pdf(fields))
    assert decision.mailboxes == ("mash",) and validation.safeguarding


@pytest.mark.parametrize(
    ("value", "read", "mash"),
    [
        (b"/V /Yes", "Yes", True),  # a check box from another PDF tool
        (b"/V /Off", "Off", False),
        (b"/V (\xfe\xff\xd8\x00\x00a)", "þÿØa", True),  # not UTF-16: read as Latin-1
        (b"/V <FEFF00790065>", "ye", True),
    ],
)
def test_every_kind_of_pdf_answer_is_read_so_a_risk_answer_is_never_dropped(value, read, mash):
    data = raw_pdf([(b"form_type", b"notification"), (b"risk_of_significant_harm", b"x")])
    data = data.replace(b"/V (x)", value)
    assert read_pdf(data)["risk_of_significant_harm"] == read
    assert check("form.pdf", data, RECEIVED, CONFIG).safeguarding is mash


N = 5 * 1024 * 1024


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n" + b"/T (" * (N // 4),  # was 137 s: each bracket re-read to the end
        b"%PDF-1.7\n" + b"/FlateDecode stream\n" * (N // 20),  # was 542 s: no endstream
        b"%PDF-1.7\n" + b"<< /T (level_of_need) /V 12 0 R >>\n" * (N // 36),  # was 7 s
        b"%PDF-1.7\n" + b"<< /T (risk_of_significant_harm) /V (no) >>\n" * (N // 46),
        b'{"form_type": "' * (N // 14),
        ('"risk_of_significant_harm": "x",' * (N // 64)).encode("utf-16"),
        b"%PDF-1.7\n" + b"x\n" * (N // 2),  # was 9 s: pypdf reads it backwards, line by line
    ],
    ids=["parens", "streams", "references", "repeated", "open-quotes", "utf16", "lines"],
)
def test_reading_a_hostile_file_takes_linear_time(data):
    start = time.perf_counter()
    validation = check("form", data[:N], RECEIVED, CONFIG)
    assert time.perf_counter() - start < 20  # each takes a second at most
    assert not validation.valid


def test_a_pdf_value_in_hex_or_escaped_is_salvaged():
    data = raw_pdf([(b"risk\\137of\\137significant\\137harm", b"\\171es")])
    data = data.replace(b"/V (\\171es)", b"/V <FEFF0079006500730020>")
    assert salvage(data[:-60])["risk_of_significant_harm"] == ["yes "]


# -- item 9: huge forms -----------------------------------------------------------------------


def many_unknown(count: int, *, nested: bool = False) -> dict:
    form = load_example("notification")
    form["risk_of_significant_harm"] = True
    target = form["children"][0] if nested else form
    for i in range(count):
        target[f"made_up_field_{i:06d}"] = "x"
    return form


def test_many_unknown_fields_make_one_line_naming_the_first_20():
    validation = validate(many_unknown(12_345), RECEIVED)
    (summary,) = validation.errors
    assert summary.field is None
    assert summary.message == (
        "This form has 12,345 fields it should not have; the first 20: "
        + ", ".join(f"made_up_field_{i:06d}" for i in range(20))
        + ". Check the spelling of each field's name, or remove the field"
    )
    assert validation.safeguarding


def test_unknown_fields_are_summarised_at_any_level_with_the_other_problems():
    form = many_unknown(500, nested=True)
    form["children"][1]["extra"] = 1
    form["address"]["postcode"] = "nowhere"
    errors = validate(form, RECEIVED).errors
    assert [e.field for e in errors].count(None) == 1
    summary = next(e for e in errors if e.field is None)
    assert summary.message.startswith(
        "This form has 501 fields it should not have; the first 20: children[0].made_up_field_000000, "
    )
    assert ("address.postcode", "Postcode must be a UK postcode, like M8 5AB") in [
        (e.field, e.message) for e in errors
    ]


def test_a_few_unknown_fields_are_still_named_one_by_one():
    errors = validate(many_unknown(3), RECEIVED).errors
    assert [(e.field, e.message) for e in errors] == [
        (f"made_up_field_{i:06d}", UNKNOWN_FIELD) for i in range(3)
    ]


def test_problems_are_capped_at_the_configured_number_of_messages(tmp_path):
    (tmp_path / "ehforms.toml").write_text(council_file("[limits]\nmessages = 10\n"))
    config = load_config(tmp_path, environ={})
    form = load_example("transfer")
    form["worries"] = [{"a": i} for i in range(60)]  # 60 problems, one a line
    validation = check("form.json", as_json(form), RECEIVED, config)
    assert len(validation.errors) == 10
    assert validation.errors[-1] == FieldError(
        None,
        "There are 51 more problems not listed here: correct the ones above, then send the "
        "form again to see the rest",
    )
    assert len(check("form.json", as_json(form), RECEIVED, CONFIG).errors) == 60


def test_a_made_up_field_name_of_a_megabyte_is_cut_short():
    form = load_example("rfas")
    form["x" * 1_000_000] = 1
    (error,) = validate(form, RECEIVED).errors
    assert error.field == "x" * 59 + "…"
    assert check("f.json", b'{"' + b"y" * 100000 + b'": 1, "' + b"y" * 100000 + b'": 2}',
                 RECEIVED, CONFIG).errors[0].message == (
        "The field '" + "y" * 59 + "…' appears twice in one part of the form: keep only one"
    )  # fmt: skip


def test_receipt_and_errors_txt_stay_small_for_a_huge_form():
    form = many_unknown(100)
    form["children"] = [
        dict(load_example("notification")["children"][0], **{f"k{j}": j for j in range(3000)})
        for _ in range(100)
    ]
    data = as_json(form)
    outcome = prepare(
        name="f.json", data=data, submission_id="01KAB0000000000000000000", received_at=RECEIVED,
        config=CONFIG,
    )  # fmt: skip
    assert outcome.receipt.status == "redirected"
    assert len(outcome.receipt.errors) <= 100
    assert len(outcome.receipt.to_json()) < 50_000
    assert len(outcome.errors_txt or "") < 50_000
    assert "300,100 fields it should not have" in outcome.errors_txt


def test_depth_stops_one_level_past_its_limit():
    deep: list = []
    for _ in range(1000):
        deep = [deep]
    assert depth(deep, 20) == 21
    assert depth({"a": [{"b": 1}]}) == 3


# Each shape is a 5 MB file (the default limit) built by the child process itself.
SHAPES = {
    "unknown_keys": """
        form = dict(example, risk_of_significant_harm=True)
        for i in range(100_000):
            form[f"unknown_field_number_{i:06d}"] = "x" * 10
        """,
    "children": """
        form = dict(example, children=[
            {"given_name": "Kai", "x": i} for i in range(100_000)
        ])
        """,
    "empty_children": """
        form = dict(example, children=[{}] * 1_600_000)
        """,
    "long_string": """
        form = dict(example, reasons="x" * 5_000_000)
        """,
    "unknown_nested": """
        form = dict(example, children=[
            dict(example["children"][0], **{f"k{j}": j for j in range(3000)}) for _ in range(100)
        ])
        """,
    "broken_unknown_keys": """
        form = dict(example, risk_of_significant_harm=True)
        for i in range(100_000):
            form[f"unknown_field_number_{i:06d}"] = "x" * 10
        data = json.dumps(form).encode()[:-1] + b",}"
        """,
    "pdf_bomb": """
        from test_intake_hardening import streamed_bomb
        data = streamed_bomb(200)
        """,
}

CHILD = """
import json, resource, sys, time, datetime as dt
sys.path.insert(0, {tests!r})
from conftest import load_example
from ehforms.config import load_config
from ehforms.submission import check
example = load_example("notification")
data = form = None
{shape}
if data is None:
    data = json.dumps(form, separators=(",", ":")).encode()
del form
config = load_config(None, environ={{}})
assert len(data) <= config.max_file_bytes + 1, len(data)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
validation = check("form.json", data, dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC), config)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:  # ru_maxrss keeps the parent's high-water mark across fork and exec; VmHWM does not
    with open("/proc/self/status") as status:
        hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    peak = min(peak, hwm)
except (OSError, StopIteration):
    pass
print(json.dumps({{"bytes": len(data), "before_mb": before // 1024, "peak_mb": peak // 1024,
                  "seconds": round(seconds, 2), "errors": len(validation.errors),
                  "safeguarding": validation.safeguarding}}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_memory_stays_flat_for_any_form_within_the_size_limit(shape, tmp_path):
    """Peak RSS of a child process that checks one such file (the figures are printed)."""
    from conftest import REPO

    script = CHILD.format(
        tests=str(REPO / "tests"), shape=textwrap.indent(textwrap.dedent(SHAPES[shape]), "")
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(shape, figures)
    assert figures["peak_mb"] < 300, figures
    assert figures["errors"] <= 100
    if shape in ("unknown_keys", "broken_unknown_keys"):
        assert figures["safeguarding"]


@pytest.mark.parametrize("form_type", FORM_TYPES)
def test_the_examples_are_untouched_by_the_limits(form_type):
    validation = check("f.json", as_json(load_example(form_type)), RECEIVED, CONFIG)
    assert validation.valid, validation.errors
    assert copy.deepcopy(validation.data) == validation.data
