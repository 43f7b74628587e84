import json

import jsonschema
import pytest

from conftest import FORM_TYPES, REPO, load_example
from ehforms.schemas import export, schema_text


@pytest.mark.parametrize("form_type", FORM_TYPES)
def test_the_committed_json_schema_is_up_to_date(form_type):
    committed = (REPO / "schemas" / f"{form_type}.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(form_type), (
        "schemas/ is out of date: run `ehforms schema export` and commit the result"
    )


@pytest.mark.parametrize("form_type", FORM_TYPES)
def test_every_example_satisfies_its_json_schema(form_type):
    schema = json.loads(schema_text(form_type))
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(load_example(form_type))


def test_the_json_schema_refuses_unknown_fields_and_other_form_types():
    schema = json.loads(schema_text("rfas"))
    form = load_example("rfas")
    validator = jsonschema.Draft7Validator(schema)
    assert validator.is_valid(form)
    assert not validator.is_valid({**form, "refferer": {}})
    assert not validator.is_valid({**form, "form_type": "marf"})
    assert not validator.is_valid({**form, "level_of_need": 5})


def test_export_writes_one_file_per_form(tmp_path):
    written = export(tmp_path / "out")
    assert sorted(p.name for p in written) == sorted(f"{t}.schema.json" for t in FORM_TYPES)
