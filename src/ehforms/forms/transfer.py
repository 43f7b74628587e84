"""Transfer to Early Help: a step down or joint working; the source of the allocations pro forma."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, validates_schema

from ehforms.forms.base import BaseSchema
from ehforms.forms.common import (
    FormSchema,
    children_field,
    family_field,
    handover_kinds,
    handover_problem,
    require_consent_given,
)
from ehforms.forms.dates import Date, When
from ehforms.forms.fields import Choice, Level, Lines, LongText, Many, Part, Text
from ehforms.forms.parts import Address, Consent, Contact, Practitioner

TRANSFER_TYPES = ("step_down", "joint_worked")
ASSESSMENT_KINDS = (
    "child_and_family_assessment",
    "single_assessment",
    "early_help_assessment",
    "cin_plan",
)
HANDOVER_KINDS = ("joint_visit", "cin_meeting")  # the contract's; a profile may name others
ORIGINS = ("step_down", "mash_referral")


class Assessment(BaseSchema):
    kind = Choice("kind of assessment", ASSESSMENT_KINDS, required=True)
    completed_on = Date("date the assessment was completed", when=When.NOT_FUTURE, required=True)
    document = Text("file name of the assessment", required=True)


class CaseDiscussion(BaseSchema):
    date = Date("date of the case discussion")
    rationale = LongText("rationale from the case discussion")


class Transfer(FormSchema):
    title = "Transfer to Early Help"

    case_id = Text("case reference", max_length=64, required=True)
    transfer_type = Choice("transfer type", TRANSFER_TYPES, required=True)
    # a MASH referral allocated to Early Help is not a step-down
    origin = Choice("origin of the transfer", ORIGINS)
    referrer = Part(
        "social worker's details", Practitioner, owner="the social worker", required=True
    )
    children = children_field()
    family = family_field(required=True)
    address = Part("address", Address, required=True)
    consent = Part("family's consent", Consent, required=True)
    level_of_need = Level((3, 4, 5), form="transfer", required=True)
    referred_on = Date("date of referral", required=True)
    most_recent_assessment = Part("most recent assessment", Assessment, required=True)
    worries = Lines("what we are worried about", item="worry", min_items=1, required=True)
    working_well = Lines(
        "what is working well", item="thing that is working well", min_items=1, required=True
    )
    needs_to_happen = Lines(
        "what needs to happen", item="thing that needs to happen", min_items=1, required=True
    )
    planned_contacts = Many(
        "planned contacts",
        Part("planned contact", Contact),
        item="planned contact",
        min_items=1,
        required=True,
    )
    case_discussion = Part("case discussion", CaseDiscussion)
    intervention_timescale = LongText("intervention timescale")

    @validates_schema(skip_on_field_errors=False)
    def _rules(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        try:
            require_consent_given(data)
        except ValidationError as error:
            errors.update(error.normalized_messages())
        joint = data.get("transfer_type") == "joint_worked"
        if data.get("level_of_need") == 5 and data.get("transfer_type") == "step_down":
            errors["level_of_need"] = [
                "Level of need 5 can only be a joint-worked transfer: a step down needs "
                "level 3 or 4"
            ]
        if joint and "intervention_timescale" not in data:
            errors["intervention_timescale"] = [
                "Enter the intervention timescale: a joint-worked transfer needs one"
            ]
        contacts = data.get("planned_contacts")
        if data.get("origin") != "mash_referral":  # a step-down is handed over jointly
            problem = handover_problem(contacts, handover_kinds("transfer", HANDOVER_KINDS))
            if problem:
                errors["planned_contacts"] = [problem + ": the case is handed over jointly"]
        if errors:
            raise ValidationError(errors)
