"""Whatever arrives, validation gives a clean result: never an exception."""

import datetime as dt
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FORM_TYPES, RECEIVED, load_example
from ehforms.errors import IntakeError
from ehforms.forms import FieldError, Validation, validate
from ehforms.intake import read_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
times = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)


def assert_clean(result):
    assert isinstance(result, Validation)
    assert all(isinstance(e, FieldError) and e.message for e in result.errors)
    assert result.valid == (result.data is not None)


@given(json_values, times)
def test_any_json_value_gives_a_clean_result(value, received_at):
    assert_clean(validate(value, received_at))


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(st.sampled_from(FORM_TYPES), st.data())
def test_any_change_to_a_field_of_a_real_form_gives_a_clean_result(form_type, data):
    form = load_example(form_type)
    key = data.draw(st.sampled_from(sorted(form)))
    form[key] = data.draw(json_values)
    # and a change one level down, where there is one
    nested = [k for k, v in form.items() if isinstance(v, dict)]
    if nested:
        inner = form[data.draw(st.sampled_from(nested))]
        if inner:
            inner[data.draw(st.sampled_from(sorted(inner)))] = data.draw(json_values)
    assert_clean(validate(form, RECEIVED))


@given(st.binary(max_size=300))
def test_any_bytes_either_read_as_an_object_or_get_an_intake_error(data):
    try:
        value = read_json(data)
    except IntakeError as error:
        assert str(error)
    else:
        assert isinstance(value, dict)


@given(json_values)
def test_any_json_text_reads_cleanly(value):
    try:
        read_json(json.dumps(value).encode())
    except IntakeError as error:
        assert str(error)
