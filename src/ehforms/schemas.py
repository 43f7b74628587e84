"""JSON Schema (draft 7) for each form, generated from the marshmallow schemas.

For online form builders: the files in the top-level ``schemas/`` folder come from here
(``ehforms schema export``), and a test fails when they are out of date. Rules across fields
(consent given, a lead practitioner before a step-down closure...) are in the descriptions;
``ehforms validate`` checks them all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from marshmallow_jsonschema import JSONSchema

from ehforms.forms import SCHEMAS

RULES = {
    "notification": "The family's consent must be given. Level 1 is not an Early Help request. "
    "A risk of significant harm or level 5 goes to MASH at once.",
    "rfas": "The family's consent must be given.",
    "transfer": "The family's consent must be given. Level 5 only when joint_worked; "
    "intervention_timescale is required when joint_worked; planned_contacts must include a "
    "joint_visit or cin_meeting.",
    "marf": "Either consent or consent_not_sought_reason is required. "
    "previous_social_work.team names a configured hub.",
    "closure": "step_down_to_early_help needs lead_practitioner, early_help_assessment_opened "
    "true and a multi_agency_meeting already held; outcomes_met needs at least one outcome and "
    "follow_on_support.",
}


def form_json_schema(form_type: str) -> dict[str, Any]:
    schema_class = SCHEMAS[form_type]
    dumped: dict[str, Any] = JSONSchema().dump(schema_class())
    definition = dumped["definitions"][schema_class.__name__]
    definition["properties"]["form_type"] = {"title": "Form type", "const": form_type}
    return {
        "$schema": dumped["$schema"],
        "$id": f"https://ehforms.example/schemas/{form_type}.schema.json",
        "title": schema_class.title,
        "description": RULES[form_type] + " Dates are ISO 8601 (UK DD/MM/YYYY is also read).",
        **{k: v for k, v in dumped.items() if k not in ("$schema", "$ref")},
        "$ref": dumped["$ref"],
    }


def schema_text(form_type: str) -> str:
    return json.dumps(form_json_schema(form_type), indent=2, ensure_ascii=False) + "\n"


def export(folder: Path) -> list[Path]:
    """Write ``<form_type>.schema.json`` for every form into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for form_type in SCHEMAS:
        path = folder / f"{form_type}.schema.json"
        path.write_text(schema_text(form_type), encoding="utf-8")
        written.append(path)
    return written
