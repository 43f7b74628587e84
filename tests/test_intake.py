import json

import pytest

from ehforms.errors import IntakeError
from ehforms.intake import depth, read_json


def test_reads_a_json_form_with_or_without_a_bom():
    data = json.dumps({"form_type": "rfas", "case_id": "EH-1"}).encode()
    assert read_json(data) == {"form_type": "rfas", "case_id": "EH-1"}
    assert read_json(b"\xef\xbb\xbf" + data) == {"form_type": "rfas", "case_id": "EH-1"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty: save the form again and send it again"),
        (b"  \n ", "The file is empty: save the form again and send it again"),
        (
            b'{"form_type": "rfas",',
            "The file is not a JSON form: it could not be read at line 1, column 22 "
            "(Expecting property name enclosed in double quotes). Save the form again from the "
            "online form or template and send it again",
        ),
        (
            b"[1, 2]",
            "The file must hold one form (a JSON object with fields such as form_type), "
            "not a list or a single value",
        ),
        (
            b'"text"',
            "The file must hold one form (a JSON object with fields such as form_type), "
            "not a list or a single value",
        ),
        (
            b'{"town": "Salford \xe9"}',  # Latin-1, not UTF-8
            "The file is not UTF-8 text: save the form as JSON in UTF-8 and send it again",
        ),
        (
            b"\xff\xfe{\x00\x00\xd8}\x00",  # UTF-16 with half of a surrogate pair
            "The file is not UTF-16 text: save the form as JSON in UTF-8 and send it again",
        ),
        (
            b'{"a": 1, "a": 2}',
            "The field 'a' appears twice in one part of the form: keep only one",
        ),
        (
            b'{"level_of_need": NaN}',
            "The file holds NaN, which is not a JSON value: use a number or text",
        ),
    ],
)
def test_a_file_that_is_not_a_form_gets_one_clear_message(data, message):
    with pytest.raises(IntakeError) as raised:
        read_json(data)
    assert str(raised.value) == message


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed():
    with pytest.raises(IntakeError, match=r"^The file is larger than 1 KB: a form is much smaller"):
        read_json(b"{}" + b" " * 2000, max_bytes=1024)


@pytest.mark.parametrize("levels", [21, 5000, 200_000])
def test_deep_nesting_is_refused_without_a_traceback(levels):
    data = b'{"a": ' * levels + b"1" + b"}" * levels
    with pytest.raises(IntakeError, match="nests more than 20 levels deep"):
        read_json(data, max_bytes=10**7)


def test_depth_counts_lists_and_objects():
    assert depth({}) == 1
    assert depth({"a": [{"b": 1}]}) == 3
    assert depth(1) == 0
