"""Early Help Notification: a practitioner asks the hub for support, with the family's consent."""

from __future__ import annotations

from typing import Any

from marshmallow import validates_schema

from ehforms.forms.common import FormSchema, children_field, family_field, require_consent_given
from ehforms.forms.fields import Bool, Level, LongText, Part
from ehforms.forms.parts import Address, Consent, Practitioner


class Notification(FormSchema):
    title = "Early Help Notification"

    referrer = Part("referrer's details", Practitioner, owner="the referrer", required=True)
    children = children_field()
    family = family_field()
    address = Part("address", Address, required=True)
    consent = Part("family's consent", Consent, required=True)
    # Level 5 is accepted here: routing redirects it to MASH (a safeguarding concern).
    level_of_need = Level((2, 3, 4, 5), form="notification", required=True)
    reasons = LongText("reasons support is requested", required=True)
    risk_of_significant_harm = Bool("a child is at risk of significant harm", required=True)
    existing_support = LongText("existing support")
    social_care_history = LongText("social care history")

    @validates_schema(skip_on_field_errors=False)
    def _consent(self, data: dict[str, Any], **_: Any) -> None:
        require_consent_given(data)
