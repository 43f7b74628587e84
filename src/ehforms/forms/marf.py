"""Multi-Agency Referral Form: an Early Help practitioner steps a family up to MASH."""

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
)
from ehforms.forms.context import current
from ehforms.forms.dates import Date, When
from ehforms.forms.fields import Bool, Level, LongText, Many, Part, Text, join_choices
from ehforms.forms.parts import Address, Consent, Contact, Practitioner


class PreviousSocialWork(BaseSchema):
    team = Text("team that stepped the family down", max_length=64, required=True)
    stepped_down_on = Date("date the family was stepped down", when=When.NOT_FUTURE, required=True)

    @validates_schema(skip_on_field_errors=False)
    def _known_team(self, data: dict[str, Any], **_: Any) -> None:
        hubs = current().hubs
        team = data.get("team")
        if hubs and team is not None and team not in hubs:
            raise ValidationError(
                "The team that stepped the family down must be a hub: "
                + join_choices(sorted(hubs)),
                field_name="team",
            )


class Marf(FormSchema):
    title = "Multi-Agency Referral Form"

    referrer = Part("referrer's details", Practitioner, owner="the referrer", required=True)
    children = children_field()
    family = family_field()
    address = Part("address", Address, required=True)
    level_of_need = Level((4, 5), form="marf", required=True)
    child_protection_concern = Bool("there is a child protection concern", required=True)
    case_summary = LongText("case summary", required=True)
    rationale = LongText("reason for stepping up now", required=True)
    consent = Part("family's consent", Consent)
    consent_not_sought_reason = LongText("reason consent was not sought")
    previous_social_work = Part("previous social work", PreviousSocialWork)
    # the contacts planned after the step-up, e.g. a joint visit with the social worker
    planned_contacts = Many(
        "planned contacts", Part("planned contact", Contact), item="planned contact"
    )

    @validates_schema(skip_on_field_errors=False)
    def _handover(self, data: dict[str, Any], **_: Any) -> None:
        problem = handover_problem(data.get("planned_contacts"), handover_kinds("marf", ()))
        if problem:
            raise ValidationError(
                problem + ": the family is handed over jointly", field_name="planned_contacts"
            )

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _consent_or_reason(self, data: dict[str, Any], original: Any, **_: Any) -> None:
        if isinstance(original, dict) and not (
            original.get("consent") or original.get("consent_not_sought_reason")
        ):
            raise ValidationError(
                "Enter the family's consent, or the reason consent was not sought: consent is "
                "sought unless seeking it would put a child at risk",
                field_name="consent",
            )
