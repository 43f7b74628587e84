"""The shared parts of the five forms: Person, Child, Address, Practitioner, Consent, Contact."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, validates_schema

from ehforms.forms.base import BaseSchema
from ehforms.forms.dates import Date, When
from ehforms.forms.fields import (
    Bool,
    Choice,
    Email,
    Lines,
    LongText,
    NHSNumber,
    Phone,
    Postcode,
    Text,
)

RELATIONSHIPS = ("mother", "father", "step_parent", "carer", "grandparent", "sibling", "other")
HOUSING = (
    "owner_occupier",
    "private_rented",
    "housing_association",
    "council",
    "temporary",
    "other",
)
CONSENT_METHODS = ("signed", "verbal_recorded", "online")
CONTACT_KINDS = ("joint_visit", "cin_meeting", "taf_meeting", "allocations_meeting", "home_visit")


class Person(BaseSchema):
    given_name = Text("first name", required=True)
    family_name = Text("last name", required=True)
    date_of_birth = Date("date of birth", when=When.PAST)
    relationship = Choice("relationship to the child", RELATIONSHIPS)
    lives_with_child = Bool("the family member lives with the child")
    contact_arrangements = LongText("contact arrangements")


class Child(BaseSchema):
    given_name = Text("first name", required=True)
    family_name = Text("last name", required=True)
    date_of_birth = Date("date of birth", when=When.CHILD_BIRTH)
    expected_date_of_delivery = Date("expected date of delivery", when=When.NEXT_10_MONTHS)
    person_id = Text("person ID", max_length=64)
    nhs_number = NHSNumber()
    gender = Text("gender", max_length=64)
    school = Text("school or setting")
    first_language = Text("first language", max_length=64)
    interpreter_needed = Bool("an interpreter is needed")

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _born_or_expected(self, data: dict[str, Any], original: Any, **_: Any) -> None:
        if not isinstance(original, dict):
            return
        given = {k for k in ("date_of_birth", "expected_date_of_delivery") if original.get(k)}
        who = self.who("the child")
        if not given:
            raise ValidationError(
                f"Enter {who}'s date of birth, or the expected date of delivery for an unborn "
                "child",
                field_name="date_of_birth",
            )
        if len(given) == 2:
            raise ValidationError(
                f"Enter {who}'s date of birth or the expected date of delivery, not both",
                field_name="expected_date_of_delivery",
            )


class Address(BaseSchema):
    line1 = Text("first line of the address", required=True)
    line2 = Text("second line of the address")
    town = Text("town or city", required=True, max_length=100)
    postcode = Postcode(required=True)
    housing = Choice("housing", HOUSING)


class Practitioner(BaseSchema):
    name = Text("name", required=True)
    role = Text("role", required=True)
    agency = Text("agency", required=True)
    email = Email("email address")
    phone = Phone("telephone number", max_length=30)
    team = Text("team")

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _reachable(self, data: dict[str, Any], original: Any, **_: Any) -> None:
        if isinstance(original, dict) and not (original.get("email") or original.get("phone")):
            who = self.who("the practitioner")
            raise ValidationError(f"Enter {who}'s email address or telephone number")


class Consent(BaseSchema):
    given = Bool("the family gave consent", required=True)
    given_by = Text("name of the person who gave consent")
    relationship = Text("relationship to the child of the person who gave consent", max_length=64)
    date = Date("date consent was given", when=When.NOT_FUTURE)
    method = Choice("way consent was recorded", CONSENT_METHODS)
    document = Text("file name of the signed consent")
    withheld = Lines("information the family does not agree to share", item="item")

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _given_by_whom(self, data: dict[str, Any], original: Any, **_: Any) -> None:
        if data.get("given") is not True or not isinstance(original, dict):
            return
        errors = {}
        if not original.get("given_by"):
            errors["given_by"] = ["Enter the name of the person who gave consent"]
        if not original.get("relationship"):
            errors["relationship"] = [
                "Enter the relationship to the child of the person who gave consent, like mother"
            ]
        if not original.get("date"):
            errors["date"] = ["Enter the date consent was given"]
        if errors:
            raise ValidationError(errors)


class Contact(BaseSchema):
    date = Date("date of the contact", required=True)
    kind = Choice("kind of contact", CONTACT_KINDS, required=True)
    note = LongText("note")
