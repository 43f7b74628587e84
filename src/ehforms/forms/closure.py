"""Closing a case; a step down needs a meeting, an open EHA and a lead practitioner."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, validates_schema

from ehforms.forms.base import BaseSchema
from ehforms.forms.common import FormSchema, children_field
from ehforms.forms.context import today
from ehforms.forms.dates import Date
from ehforms.forms.fields import Bool, Choice, LongText, Many, Part, Text
from ehforms.forms.parts import Address, Practitioner

CLOSURE_REASONS = (
    "step_down_to_early_help",
    "outcomes_met",
    "consent_withdrawn",
    "moved_out_of_area",
)


class Meeting(BaseSchema):
    kind = Choice("kind of multi-agency meeting", ("cin", "taf"), required=True)
    date = Date("date of the multi-agency meeting", required=True)


class Outcome(BaseSchema):
    outcome = LongText("outcome", required=True)
    achieved = Bool("the outcome was achieved", required=True)


class Closure(FormSchema):
    title = "Case closure"

    case_id = Text("case reference", max_length=64, required=True)
    closure_reason = Choice("reason for closure", CLOSURE_REASONS, required=True)
    closed_by = Part(
        "details of who closed the case",
        Practitioner,
        owner="the person closing the case",
        required=True,
    )
    closure_date = Date("closure date", required=True)
    children = children_field()
    address = Part("address", Address, required=True)
    lead_practitioner = Part(
        "lead practitioner's details", Practitioner, owner="the lead practitioner"
    )
    early_help_assessment_opened = Bool("an Early Help Assessment is open")
    multi_agency_meeting = Part("multi-agency meeting", Meeting)
    outcomes = Many("outcomes", Part("outcome", Outcome), item="outcome")
    follow_on_support = LongText("follow-on support")
    child_feedback = LongText("child's feedback")
    parent_feedback = LongText("parent's feedback")
    family_group_conference_offered = Bool("a Family Group Conference was offered")

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _rules(self, data: dict[str, Any], original: Any, **_: Any) -> None:
        if not isinstance(original, dict):
            return
        reason = data.get("closure_reason")
        errors: dict[str, list[str]] = {}
        if reason == "step_down_to_early_help":
            if not original.get("lead_practitioner"):
                errors["lead_practitioner"] = [
                    "Enter the lead practitioner: a case steps down to Early Help only once a "
                    "lead practitioner is named"
                ]
            if (
                original.get("early_help_assessment_opened") in (None, "")
                or data.get("early_help_assessment_opened") is False
            ):
                errors["early_help_assessment_opened"] = [
                    "Open an Early Help Assessment before the case steps down to Early Help, "
                    "then say so here (true)"
                ]
            meeting = data.get("multi_agency_meeting")
            if not original.get("multi_agency_meeting"):
                errors["multi_agency_meeting"] = [
                    "Enter the multi-agency meeting (CIN or TAF) held before the step down"
                ]
            elif meeting and meeting.get("date") and meeting["date"] > today():
                errors["multi_agency_meeting"] = [
                    "The multi-agency meeting must be held before the case steps down: its date "
                    "must be today or in the past"
                ]
        if reason == "outcomes_met":
            if not original.get("outcomes"):
                errors["outcomes"] = ["Enter at least one outcome"]
            if not original.get("follow_on_support"):
                errors["follow_on_support"] = [
                    "Enter the follow-on support: a case closed with outcomes met needs it"
                ]
        if errors:
            raise ValidationError(errors)
