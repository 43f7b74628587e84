"""One registry of form types, and everything that hangs on it: a form type missing from any
place fails here, naming the place."""

from __future__ import annotations

import json

import pytest

from conftest import RECEIVED, REPO
from ehforms.cli import cli
from ehforms.config import load_config
from ehforms.content import builtin_templates, samples
from ehforms.documents import plan
from ehforms.forms import SCHEMAS, validate
from ehforms.prefill import skeleton
from ehforms.registry import FORM_TYPES, NAMES
from ehforms.routing import route
from ehforms.schemas import form_json_schema


def test_the_schemas_are_the_registry_s():
    assert tuple(SCHEMAS) == NAMES
    for name, form in FORM_TYPES.items():
        assert form.schema() is SCHEMAS[name]
        assert SCHEMAS[name].title == form.title


def test_every_form_type_has_a_sample_that_routes_with_its_documents():
    config = load_config(None, environ={})
    shipped = dict(samples())
    for name, form in FORM_TYPES.items():
        assert form.sample in shipped, f"no sample for {name}"
        raw = json.loads(shipped[form.sample])
        checked = validate(raw, RECEIVED, hubs=[h.key for h in config.hubs])
        assert checked.valid and checked.form_type == name, checked.errors
        decision = route(checked, config, RECEIVED)
        made = [p.name for p in plan(name, checked.data, decision, config, RECEIVED)]
        assert set(made) <= set(form.documents)
        if decision.status == "routed":
            assert made == list(form.documents), name


def test_every_document_has_its_templates():
    folder = builtin_templates()
    for form in FORM_TYPES.values():
        for document in form.documents:
            for suffix in (".html", ".docx"):
                assert (folder / f"{document}{suffix}").is_file(), f"{document}{suffix}"


def test_every_form_type_has_a_json_schema_and_a_practitioner_form():
    for name in NAMES:
        assert (REPO / "schemas" / f"{name}.schema.json").is_file(), name
        assert form_json_schema(name)["title"]
        assert skeleton(name, {"form_type": name})["form_type"] == name


@pytest.mark.parametrize("command", ["template"])
def test_the_cli_offers_every_form_type(command):
    (argument,) = [p for p in cli.commands[command].params if p.name == "form_type"]
    assert tuple(argument.type.choices) == NAMES
