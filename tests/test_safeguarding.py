"""The absolute rule: a safeguarding concern goes to MASH at once, urgent, however it is spelt
and however damaged the file that holds it. When in doubt, MASH.

Item 1: one decision (``ehforms.forms.safeguarding.is_concern``) on the readers the validator's
fields use, so what the validator reads as a risk or as level 5 always routes to MASH.
Item 2: files that cannot be read as a form (a PDF with an owner password, UTF-16 JSON, broken
JSON, a risk field past the first 64 KB, a truncated PDF) are salvaged for the signal.
Every form here is synthetic.
"""

from __future__ import annotations

import copy
import io
import json
import unicodedata

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader, PdfWriter

from conftest import RECEIVED, load_example
from ehforms import routing
from ehforms.config import load_config
from ehforms.forms import validate
from ehforms.forms.fields import Bool, Level
from ehforms.forms.readers import may_be_level_5, may_be_true, read_bool, read_level
from ehforms.forms.safeguarding import is_concern, signal_name
from ehforms.pipeline import Postroom
from ehforms.salvage import salvage
from ehforms.submission import check, looks_urgent, may_be_urgent
from helpers import drop, make_root, primary, sha

CONFIG = load_config(None, environ={})
NOTIFICATION = load_example("notification")
HUB = ("routed", ("eh-central",), "normal")
MASH = ("redirected", ("mash",), "urgent")
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(data: bytes, name: str = "form.json", config=CONFIG):
    """Through ``submission.check`` and ``routing.route``, both pure: (status, mailboxes,
    priority) and the validation."""
    validation = check(name, data, RECEIVED, config)
    decision = routing.route(validation, config, RECEIVED)
    return (decision.status, decision.mailboxes, decision.priority), validation


def notification(**changes) -> dict:
    form = copy.deepcopy(NOTIFICATION)
    form.update(changes)
    return form


def as_json(form) -> bytes:
    return json.dumps(form, ensure_ascii=False).encode()


# -- spellings --------------------------------------------------------------------------------


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


CASES = [str.lower, str.upper, str.title, str.swapcase]
PADDING = ["", " ", "  ", "\t", "\n", "\u00a0", "\u3000"]


@st.composite
def spelt(draw, words):
    """A word as a form builder, a spreadsheet or a person may write it."""
    word = draw(st.sampled_from(words))
    word = draw(st.sampled_from(CASES))(word)
    if draw(st.booleans()):
        word = full_width(word)
    return draw(st.sampled_from(PADDING)) + word + draw(st.sampled_from(PADDING))


# Decimal digit five in several scripts: ASCII, full-width, Arabic-Indic, Persian, Devanagari,
# Bengali, Thai.
FIVES = ["5", "５", "٥", "۵", "५", "৫", "๕"]

risk_spellings = st.one_of(
    spelt(["true", "t", "yes", "y", "on", "1"]),
    st.sampled_from([True, 1, 1.0]),
    st.integers().filter(lambda n: n != 0),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != 0),
    st.sampled_from(["١", "１", "1.0", "01", "2", "-1", "Yes.", "yes!", "YES - see reasons"]),
    # doubt: not a clear no, so MASH
    spelt(["maybe", "unknown", "not sure", "possibly", "tbc", "see notes", "x", "✓", "?"]),
    st.lists(spelt(["yes", "true"]), min_size=1, max_size=3),
)
no_spellings = st.one_of(spelt(["false", "f", "no", "n", "off", "0"]), st.sampled_from([False, 0]))


@st.composite
def level_5_spellings(draw):
    digit = draw(st.sampled_from(FIVES))
    text = "0" * draw(st.integers(0, 2)) + digit
    text = draw(st.sampled_from(["{}", "{}.0", "level {}", "Level {}", "L{}", "{} (MASH)"])).format(
        text
    )
    return draw(st.sampled_from(PADDING)) + text + draw(st.sampled_from(PADDING))


levels_5 = st.one_of(
    level_5_spellings(),
    st.sampled_from([5, 5.0, 4.5, "4-5", "4 or 5", "five", "Five", "V", "significant harm"]),
    st.lists(level_5_spellings(), min_size=1, max_size=2),
)


@st.composite
def level_2_to_4(draw):
    digit = draw(st.sampled_from(["2", "3", "4", "２", "٣", "४"]))
    return draw(st.sampled_from(PADDING)) + "0" * draw(st.integers(0, 2)) + digit


# -- item 1: one decision, fail safe ----------------------------------------------------------


class TestTheValidatorAndTheSafeguardingCheckAgree:
    """The faults found: ``"t"``, ``1.0``, ``"05"`` and ``"５"`` were accepted by the schema as
    a risk or level 5 but routed to a hub, with a consent letter to the family."""

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("risk_of_significant_harm", "t"),
            ("risk_of_significant_harm", 1.0),
            ("risk_of_significant_harm", "ＹＥＳ"),
            ("level_of_need", "05"),
            ("level_of_need", "５"),
            ("level_of_need", "٥"),
        ],
    )
    def test_the_reported_spellings_go_to_mash(self, field, value):
        changes = {field: value}
        if field == "level_of_need":
            changes["risk_of_significant_harm"] = False
        route, validation = outcome(as_json(notification(**changes)))
        assert route == MASH
        assert validation.valid  # the schema accepts each of them
        assert validation.safeguarding

    def test_a_plain_notification_still_goes_to_its_hub(self):
        assert outcome(as_json(NOTIFICATION))[0] == HUB

    @PROPERTY
    @given(risk_spellings)
    def test_any_risk_spelling_goes_to_mash(self, value):
        assert outcome(as_json(notification(risk_of_significant_harm=value)))[0] == MASH

    @PROPERTY
    @given(levels_5)
    def test_any_level_5_spelling_goes_to_mash(self, value):
        form = notification(level_of_need=value, risk_of_significant_harm=False)
        assert outcome(as_json(form))[0] == MASH

    @PROPERTY
    @given(no_spellings, level_2_to_4())
    def test_a_clear_no_and_a_level_below_5_go_to_the_hub(self, risk, level):
        form = notification(risk_of_significant_harm=risk, level_of_need=level)
        assert outcome(as_json(form))[0] == HUB

    @PROPERTY
    @given(st.one_of(risk_spellings, levels_5.map(lambda v: ("level", v))))
    def test_the_signal_counts_in_an_invalid_form_and_in_one_without_a_type(self, drawn):
        field, value = (
            ("level_of_need", drawn[1])
            if isinstance(drawn, tuple)
            else ("risk_of_significant_harm", drawn)
        )
        broken = notification(**{field: value})
        if field == "level_of_need":
            broken["risk_of_significant_harm"] = False
        broken.pop("consent")
        broken["address"]["postcode"] = "not a postcode"
        assert outcome(as_json(broken))[0] == MASH
        untyped = {field: value, "children": []}
        route, validation = outcome(as_json(untyped))
        assert route == MASH
        assert validation.form_type is None and not validation.valid
        mistyped = dict(broken, form_type="notifcation")
        assert outcome(as_json(mistyped))[0] == MASH

    @PROPERTY
    @given(st.one_of(st.text(max_size=12), st.integers(), st.floats(), st.booleans()))
    def test_what_the_schema_reads_as_true_or_5_is_always_a_concern(self, value):
        """Compare the validator's own field types with the safeguarding decision."""
        from marshmallow import ValidationError

        try:
            risk = Bool("a child is at risk of significant harm").deserialize(value)
        except ValidationError:
            risk = None
        try:
            level = Level((2, 3, 4, 5)).deserialize(value)
        except ValidationError:
            level = None
        if risk is True:
            assert may_be_true(value)
            assert is_concern({"risk_of_significant_harm": value}, "notification")
            assert is_concern({"child_protection_concern": value}, None)
        if level == 5:
            assert may_be_level_5(value)
            assert is_concern({"level_of_need": value}, "notification")
            assert is_concern({"level_of_need": value}, None)

    @PROPERTY
    @given(st.text(max_size=20))
    def test_only_a_clear_no_or_nothing_keeps_a_risk_answer_from_mash(self, text):
        """Any text in the risk field goes to MASH unless it plainly says no."""
        word = unicodedata.normalize("NFKC", text).casefold().strip(" .,;:!?'\"`()[]{}<>*_-\t\n")
        word = " ".join(word.split())
        plainly_no = word in {
            "false", "f", "no", "n", "off", "0", "none", "nil", "nope", "na", "n/a", "n.a",
            "not applicable", "no risk", "not at risk",
        }  # fmt: skip
        assume(not plainly_no and not _zero(word))
        visible = "".join(c for c in text if unicodedata.category(c) != "Cf")
        assume(unicodedata.normalize("NFKC", visible).strip())  # not blank
        route, _ = outcome(as_json(notification(risk_of_significant_harm=text)))
        assert route == MASH

    def test_readers_agree_with_the_fields_on_the_reported_cases(self):
        assert read_bool("t") is True and read_bool(1.0) is True
        assert read_level("05") == 5 and read_level("５") == 5
        assert read_level(5.0) is None and read_level(True) is None
        assert read_bool("maybe") is None and may_be_true("maybe")
        assert not may_be_true("No.") and not may_be_true(None) and not may_be_true([])

    def test_a_transfer_at_level_5_is_still_an_early_help_case(self, example):
        form = example("transfer")
        form.update(level_of_need="05", transfer_type="joint_worked", intervention_timescale="6w")
        route, validation = outcome(as_json(form))
        assert route == HUB and validation.valid

    @pytest.mark.parametrize(
        "form",
        [
            {"form": {"form_type": "notification", "risk_of_significant_harm": True}},
            {"Risk of significant harm": "Yes"},
            {"riskOfSignificantHarm": "true"},
            {"LEVEL-OF-NEED": "5"},
            {"form_type": "MARF"},
            {"form_type": "ｍａｒｆ"},
            {"form_type": "Multi-agency referral form"},
            {"form_type": "rfas", "child_protection_concern": "yes"},
            {"form_type": "rfas", "level_of_need": 5},
        ],
    )
    def test_a_signal_under_another_spelling_or_wrapped_is_still_seen(self, form):
        assert outcome(as_json(form))[0] == MASH

    def test_signal_names_in_any_spelling(self):
        assert signal_name("Risk of significant harm?") == "risk_of_significant_harm"
        assert signal_name("form/level_of_need") == "level_of_need"
        assert signal_name("levelOfNeed") == "level_of_need"
        assert signal_name("transfer_type") is None


def _zero(word: str) -> bool:
    try:
        return float(word.replace(",", ".")) == 0
    except ValueError:
        return False


# -- item 2: files that cannot be read ---------------------------------------------------------


RISK_FORM = notification(risk_of_significant_harm=True)


@pytest.mark.parametrize(
    "encoding",
    ["utf-16", "utf-16-le-bom", "utf-16-be-bom", "utf-8-sig", "utf-32"],
)
def test_utf16_and_bom_json_is_read_as_a_form(encoding):
    text = json.dumps(RISK_FORM, ensure_ascii=False)
    if encoding == "utf-16-le-bom":
        data = b"\xff\xfe" + text.encode("utf-16-le")
    elif encoding == "utf-16-be-bom":
        data = b"\xfe\xff" + text.encode("utf-16-be")
    else:
        data = text.encode(encoding)
    route, validation = outcome(data)
    assert route == MASH
    assert validation.valid and validation.form_type == "notification"
    assert looks_urgent(data[:65536]) and may_be_urgent(data)
    plain = json.dumps(NOTIFICATION).encode("utf-16")
    assert outcome(plain)[0] == HUB  # read properly, not salvaged


@pytest.mark.parametrize(
    ("data", "form_type"),
    [
        (b'{"form_type": "notification", "risk_of_significant_harm": "yes",,}', "notification"),
        (b'{"form_type": "notification", "risk_of_significant_harm": 1 "reasons": "x"}', None),
        (b'{"risk_of_significant_harm": true, "children": [}', None),
        (b'{"form_type": "notification", "level_of_need": "5" oops', "notification"),
        (b"{'form_type': 'notification', 'risk_of_significant_harm': 'Yes'}", "notification"),
        (b"form_type: notification\nrisk_of_significant_harm: yes\n", "notification"),
        (b'{"form_type": "marf", "children": [', "marf"),
        (b'{"FORM_TYPE": "Marf" "x"', "marf"),
    ],
)
def test_broken_json_that_says_risk_goes_to_mash(data, form_type):
    route, validation = outcome(data)
    assert route == MASH
    assert validation.safeguarding and not validation.valid
    assert validation.errors[0].message.startswith("The file is not a JSON form")
    if form_type == "notification":
        assert validation.form_type == "notification"
    if form_type == "marf":  # routed as a MARF: its written follow-up is due
        assert validation.form_type == "marf"
        decision = routing.route(validation, CONFIG, RECEIVED)
        assert [d.what for d in decision.due] == ["written_followup"]
    for encoding in ("utf-16", "utf-8-sig"):  # broken and in another encoding
        encoded = data.decode().encode(encoding)
        assert outcome(encoded)[0] == MASH


@pytest.mark.parametrize(
    "data",
    [
        b'{"form_type": "rfas", "level_of_need": 3,,}',
        b'{"form_type": "notification", "risk_of_significant_harm": "no", "level_of_need": 3,}',
        b'{"form_type": "transfer", "level_of_need": 5,}',
        b"\x00\x01\x02 not a form",
    ],
)
def test_broken_json_that_does_not_say_risk_is_rejected(data):
    route, validation = outcome(data)
    assert route == ("rejected", (), "normal")
    assert not validation.safeguarding


def padded_risk_form(padding: int, *, broken: bool) -> bytes:
    form = {"form_type": "notification", "reasons": "x" * padding, "risk_of_significant_harm": True}
    data = json.dumps(form).encode()
    return data[:-1] + b",}" if broken else data


def test_a_risk_field_after_the_first_64_kb_is_seen():
    data = padded_risk_form(100_000, broken=True)
    assert data.index(b"risk_of_significant_harm") > 65536
    assert outcome(data)[0] == MASH
    assert may_be_urgent(data)  # the fault route reads the whole file too
    assert may_be_urgent(data.decode().encode("utf-16"))
    assert outcome(padded_risk_form(100_000, broken=False))[0] == MASH


def test_a_file_over_the_size_limit_is_scanned_up_to_the_limit():
    config = load_config(None, environ={"EHFORMS_MAX_FILE_BYTES": "200000"})
    data = padded_risk_form(150_000, broken=False) + b" " * 100_000
    route, validation = outcome(data, config=config)
    assert route == MASH
    assert validation.errors[0].message.startswith("The file is larger than 195 KB")
    beyond = b'{"form_type": "notification", "reasons": "' + b"x" * 250_000 + b'", '
    beyond += b'"risk_of_significant_harm": true}'
    assert outcome(beyond, config=config)[0] == ("rejected", (), "normal")  # never read


@pytest.mark.parametrize(
    ("head", "urgent"),
    [
        ('{"form_type": "marf"'.encode("utf-16"), True),
        ('{"risk_of_significant_harm": "Yes"'.encode("utf-16-be"), True),
        ('{"level_of_need": "05"'.encode("utf-32"), True),
        ('{"form_type": "rfas", "level_of_need": 3}'.encode("utf-16"), False),
        (b'{"form_type": "transfer", "level_of_need": 5}', False),
    ],
)
def test_urgent_looking_heads_are_seen_in_utf16(head, urgent):
    assert looks_urgent(head) is urgent


# -- PDFs --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blank_pdf() -> bytes:
    from ehforms.prefill import sections
    from ehforms.render import renderer_for

    context = {"title": "t", "intro": "", "sections": sections("notification", None)}
    return renderer_for(None).pdf("form", context, forms=True)


def fill(pdf: bytes, answers: dict[str, str]) -> bytes:
    """Fill a form PDF's fields with pypdf's writer, as tests/test_prefill.py does."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    for page in writer.pages:
        writer.update_page_form_field_values(page, answers, auto_regenerate=False)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypt(pdf: bytes, *, user: str, owner: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user, owner_password=owner)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


RISK_ANSWERS = {
    "form_type": "notification",
    "submitted_at": "24/11/2026 08:30",
    "risk_of_significant_harm": "yes",
    "level_of_need": "3",
}


@pytest.fixture(scope="module")
def risk_pdf(blank_pdf) -> bytes:
    return fill(blank_pdf, RISK_ANSWERS)


def test_a_filled_risk_pdf_goes_to_mash(risk_pdf):
    route, validation = outcome(risk_pdf, "form.pdf")
    assert route == MASH and validation.form_type == "notification"


def test_a_pdf_with_only_an_owner_password_is_refused_but_its_signal_counts(risk_pdf):
    locked = encrypt(risk_pdf, user="", owner="owner-secret-1")
    route, validation = outcome(locked, "form.pdf")
    assert route == MASH
    assert validation.errors[0].message == (
        "The PDF is protected with a password: save it without one and send it again"
    )
    assert may_be_urgent(locked)


def test_a_pdf_with_a_user_password_cannot_be_read_and_is_rejected(risk_pdf):
    locked = encrypt(risk_pdf, user="user-secret", owner="owner-secret")
    route, validation = outcome(locked, "form.pdf")
    assert route == ("rejected", (), "normal")
    assert "protected with a password" in validation.errors[0].message


@pytest.mark.parametrize("keep", [0.999, 0.99, 0.97])
def test_a_truncated_risk_pdf_goes_to_mash(risk_pdf, keep):
    cut = risk_pdf[: int(len(risk_pdf) * keep)]
    assert cut.rfind(b"%%EOF") < 0 or keep < 1
    route, validation = outcome(cut, "form.pdf")
    assert route == MASH, validation.errors
    assert may_be_urgent(cut)


def test_a_truncated_pdf_whose_fields_are_in_a_compressed_object_stream(blank_pdf):
    """ehforms' own PDFs keep their fields in compressed object streams: a damaged one is
    inflated (within a budget) and read field by field."""
    from ehforms.prefill import sections
    from ehforms.render import renderer_for

    values = {"form_type": "notification", "risk_of_significant_harm": True, "level_of_need": 3}
    context = {"title": "t", "intro": "", "sections": sections("notification", values)}
    pdf = renderer_for(None).pdf("form", context, forms=True)
    assert b"/ObjStm" in pdf
    cut = pdf[: int(len(pdf) * 0.99)]
    assert outcome(cut, "form.pdf")[0] == MASH
    found = salvage(cut)
    assert found["risk_of_significant_harm"] == ["yes"]


def test_a_truncated_pdf_without_risk_is_rejected(blank_pdf):
    plain = fill(blank_pdf, dict(RISK_ANSWERS, risk_of_significant_harm="no"))
    cut = plain[: int(len(plain) * 0.99)]
    route, validation = outcome(cut, "form.pdf")
    assert route == ("rejected", (), "normal")
    assert validation.errors[0].message.startswith("The PDF could not be read")


def test_a_pdf_without_a_form_type_that_says_risk_goes_to_mash(blank_pdf):
    pdf = fill(blank_pdf, {"form_type": "", "risk_of_significant_harm": "yes"})
    route, validation = outcome(pdf, "form.pdf")
    assert route == MASH
    assert "no form_type field" in validation.errors[0].message


def test_a_marf_pdf_that_cannot_be_read_is_routed_as_a_marf(blank_pdf):
    pdf = fill(blank_pdf, {"form_type": "marf"})
    cut = pdf[: int(len(pdf) * 0.99)]
    route, validation = outcome(cut, "form.pdf")
    assert route == MASH and validation.form_type == "marf"


# -- end to end through a Postroom ---------------------------------------------------------


@pytest.fixture
def root(tmp_path):
    return tmp_path, make_root(tmp_path)


def run(root):
    path, config = root
    with Postroom(path, config, workers=1, clock=lambda: RECEIVED) as room:
        return room.run()


def test_every_unreadable_risk_file_reaches_mash_through_the_postroom(root, risk_pdf):
    path, _ = root
    files = {
        "utf16.json": json.dumps(RISK_FORM).encode("utf-16"),
        "broken.json": b'{"form_type": "notification", "risk_of_significant_harm": "yes",,}',
        "marf.json": b'{"form_type": "marf", "children": [',
        "late-risk.json": padded_risk_form(100_000, broken=True),
        "owner-password.pdf": encrypt(risk_pdf, user="", owner="owner-secret-2"),
        "truncated.pdf": risk_pdf[: int(len(risk_pdf) * 0.99)],
        "plain-broken.json": b'{"form_type": "rfas",,}',
    }
    for name, data in files.items():
        drop(path, name, data)
    results = run(root)
    assert all(r.error is None for r in results)
    receipts = primary(path)
    for name, data in files.items():
        (receipt,) = receipts[sha(data)]
        expected = "rejected" if name == "plain-broken.json" else "redirected"
        assert receipt["status"] == expected, (name, receipt)
        if expected == "redirected":
            assert (receipt["mailboxes"], receipt["priority"]) == (["mash"], "urgent")
            assert receipt["documents"] == []  # no letter to the family
            folder = receipt["_folder"]
            assert (folder / name).read_bytes() == data
            if name != "utf16.json":  # read whole and valid: nothing to follow up
                assert (folder / "errors.txt").read_text().strip()
    marf = receipts[sha(files["marf.json"])][0]
    assert marf["form_type"] == "marf" and marf["due"][0]["what"] == "written_followup"


def test_a_file_ehforms_fails_on_reaches_mash_when_its_risk_is_late_or_in_utf16(root, monkeypatch):
    """The fault route (a bug in ehforms) reads the whole file, in every encoding."""
    import ehforms.outcomes

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(ehforms.outcomes, "check", broken)
    path, _ = root
    late = padded_risk_form(100_000, broken=False).decode().encode("utf-16")
    plain = json.dumps(NOTIFICATION).encode("utf-16")
    drop(path, "late.json", late)
    drop(path, "plain.json", plain)
    run(root)
    receipts = primary(path)
    assert receipts[sha(late)][0]["mailboxes"] == ["mash"]
    assert receipts[sha(plain)][0]["status"] == "rejected"


def test_a_valid_form_is_validated_whole_and_not_salvaged(example):
    """A readable form's route comes from the validator alone (the salvage is for files that
    cannot be read), so a risk mentioned in free text is not a signal."""
    form = example("notification")
    form["reasons"] = '"risk_of_significant_harm": true was ticked by mistake last time'
    assert outcome(as_json(form))[0] == HUB
    assert not validate(form, RECEIVED).safeguarding
