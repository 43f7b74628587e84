"""What every form has: ``form_type``, ``submitted_at`` and ``case_id``; and shared rules."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import ValidationError

from ehforms.forms.base import BaseSchema
from ehforms.forms.dates import Timestamp
from ehforms.forms.fields import Choice, Many, Part, Text
from ehforms.forms.parts import Child, Person
from ehforms.forms.readers import FORM_TYPES


class FormSchema(BaseSchema):
    """A whole form. Subclasses set ``form_type`` and ``title``."""

    title: ClassVar[str] = ""
    form_type = Choice("form type", FORM_TYPES, required=True)
    submitted_at = Timestamp("submission date and time", required=True)
    case_id = Text("case reference", max_length=64)


def children_field() -> Many:
    return Many(
        "children",
        Part("child's details", Child, owner="the child"),
        item="child",
        min_items=1,
        required=True,
    )


def family_field(*, required: bool = False) -> Many:
    return Many(
        "family members",
        Part("family member's details", Person, owner="the family member"),
        item="family member",
        min_items=1 if required else 0,
        required=required,
    )


def require_consent_given(data: dict[str, Any]) -> None:
    """Early Help is an offer: notification, rfas and transfer need the family's consent."""
    consent = data.get("consent")
    if isinstance(consent, dict) and consent.get("given") is False:
        raise ValidationError(
            "The family must give consent for Early Help. Ask for and record their consent. "
            "If a child is at risk of significant harm, make a referral to MASH instead",
            field_name="consent.given",
        )
