"""Request for Additional Services: the lead practitioner asks the hub's triage for services."""

from __future__ import annotations

from typing import Any

from marshmallow import validates_schema

from ehforms.forms.base import BaseSchema
from ehforms.forms.common import FormSchema, children_field, require_consent_given
from ehforms.forms.fields import Bool, Level, LongText, Many, Part, Text
from ehforms.forms.parts import Address, Consent, Practitioner


class ServiceRequest(BaseSchema):
    service = Text("service requested", required=True)
    reason = LongText("reason for the service", required=True)


class Rfas(FormSchema):
    title = "Request for Additional Services"

    case_id = Text("case reference", max_length=64, required=True)
    lead_practitioner = Part(
        "lead practitioner's details", Practitioner, owner="the lead practitioner", required=True
    )
    children = children_field()
    address = Part("address", Address, required=True)
    consent = Part("family's consent", Consent, required=True)
    level_of_need = Level((2, 3, 4), form="rfas", required=True)
    services_requested = Many(
        "services requested",
        Part("service", ServiceRequest),
        item="service requested",
        min_items=1,
        required=True,
    )
    early_help_assessment_opened = Bool("an Early Help Assessment has been opened")

    @validates_schema(skip_on_field_errors=False)
    def _consent(self, data: dict[str, Any], **_: Any) -> None:
        require_consent_given(data)
