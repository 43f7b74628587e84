"""What every form has: ``form_type``, ``submitted_at`` and ``case_id``; and shared rules."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import Schema, ValidationError, fields, validates_schema

from ehforms.forms.base import BaseSchema
from ehforms.forms.context import current
from ehforms.forms.dates import Timestamp
from ehforms.forms.fields import Choice, Labelled, Many, Part, Text, join_choices
from ehforms.forms.parts import Child, Person
from ehforms.forms.readers import FORM_TYPES


class FormSchema(BaseSchema):
    """A whole form. Subclasses set ``form_type`` and ``title``."""

    title: ClassVar[str] = ""
    form_type = Choice("form type", FORM_TYPES, required=True)
    submitted_at = Timestamp("submission date and time", required=True)
    case_id = Text("case reference", max_length=64)

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _council_rules(self, data: dict[str, Any], original: Any, **_: Any) -> None:
        """What the council's profile adds: further required fields (``[forms.<type>]
        required``) and the ways consent may be recorded (``consent_methods``)."""
        council = current().council
        form_type = data.get("form_type")
        if council is None or form_type is None or not isinstance(original, dict):
            return
        rules = council.rules(form_type)
        errors: dict[str, list[str]] = {}
        for path in rules.required:
            if not _given(original, path):
                errors[path] = [f"Enter {label_of(self, path)}"]
        consent = original.get("consent")
        given = isinstance(consent, dict) and (data.get("consent") or {}).get("given") is True
        if rules.consent_methods and given:
            method = data["consent"].get("method")
            if method is None:
                errors["consent.method"] = [
                    "Enter the way consent was recorded: " + join_choices(rules.consent_methods)
                ]
            elif method not in rules.consent_methods:
                errors["consent.method"] = [
                    "The way consent was recorded must be " + join_choices(rules.consent_methods)
                ]
        if errors:
            raise ValidationError(errors)


def front_door_name() -> str:
    """What the council calls its front door for safeguarding ("MASH" unless it says)."""
    council = current().council
    return council.front_door_name if council is not None else "MASH"


KIND_NAMES = {
    "joint_visit": "a joint visit",
    "cin_meeting": "a Child in Need meeting",
    "taf_meeting": "a Team Around the Family meeting",
    "allocations_meeting": "an allocations meeting",
    "home_visit": "a home visit",
}


def handover_kinds(form_type: str, contract: tuple[str, ...]) -> tuple[str, ...]:
    """The kinds of contact that hand a case over: the profile's, or the contract's."""
    council = current().council
    listed = council.rules(form_type).handover_kinds if council is not None else ()
    return listed or contract


def handover_problem(contacts: Any, kinds: tuple[str, ...]) -> str | None:
    """What to enter when planned contacts hold none of the handover kinds."""
    if not contacts or not kinds:
        return None
    if any(contact.get("kind") in kinds for contact in contacts):
        return None
    return f"Enter {join_choices([KIND_NAMES[k] for k in kinds])} in the planned contacts"


def _given(form: dict[str, Any], path: str) -> bool:
    value: Any = form
    for part in path.split("."):
        if not isinstance(value, dict):
            return False
        value = value.get(part)
    if isinstance(value, str):
        return bool(value.strip())
    return value not in (None, [], {})


def label_of(schema: Schema, path: str) -> str:
    """A field's name as a person says it ("the case discussion"), from a dotted path."""
    field: fields.Field | None = None
    node: Schema | None = schema
    for part in path.split("."):
        field = node.fields.get(part) if node is not None else None
        if field is None:
            return path.replace("_", " ").replace(".", " ")
        node = field.schema if isinstance(field, fields.Nested) else None
        if isinstance(field, fields.List) and isinstance(field.inner, fields.Nested):
            node = field.inner.schema
    if isinstance(field, Labelled):
        return field.labels()[0]
    return path


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
            "If a child is at risk of significant harm, make a referral to "
            f"{front_door_name()} instead",
            field_name="consent.given",
        )
