"""Field types of the contract, each with its user-facing wording in one keyed dict.

Messages follow the GOV.UK error style: they name the field as a person would and say what
to do. ``{label}`` is the field in object form ("the child's date of birth", "the postcode")
and ``{Label}`` in subject form ("The child's date of birth", "Postcode"). The owner part
("the child's") comes from the schema the field sits in (see :class:`Part`), so one Practitioner
schema says "the referrer's email address" under ``referrer`` and "the lead practitioner's ..."
under ``lead_practitioner``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from marshmallow import Schema, fields
from marshmallow.types import ErrorMessages

from ehforms.forms.context import current
from ehforms.forms.readers import read_bool, read_level

# The UK postcode format (BS 7666), with the outward and inward parts; GIR 0AA is Girobank's.
_POSTCODE = re.compile(
    r"^(?P<out>GIR|[A-Z]{1,2}[0-9][0-9A-Z]?)\s*(?P<in>[0-9][ABD-HJLNP-UW-Z]{2})$"
)
_PHONE = re.compile(r"^\+?[0-9 ()\-]{10,20}$")


def join_choices(choices: Iterable[object]) -> str:
    items = [str(c) for c in choices]
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def owner_of(field: fields.Field) -> str | None:
    """The owner phrase ("the child") of the schema a field sits in, if it has one."""
    node: Any = field.parent
    while node is not None and not isinstance(node, Schema):
        node = getattr(node, "parent", None)
    return getattr(node, "owner", None)


class Labelled(fields.Field):
    """A field whose messages say ``{label}``/``{Label}``; the label is its first argument."""

    default_error_messages: ErrorMessages = {
        "required": "Enter {label}",
        "null": "Enter {label}",
        "validator_failed": "Check {label}",
    }

    def __init__(self, label: str, **kwargs: Any) -> None:
        self.label = label
        metadata = dict(kwargs.pop("metadata", {}) or {})
        metadata.setdefault("title", _capitalise(label))
        super().__init__(metadata=metadata, **kwargs)

    def labels(self) -> tuple[str, str]:
        noun = self.label
        owner = owner_of(self)
        if owner:
            phrase = f"{owner}'s {noun}"
            return phrase, _capitalise(phrase)
        return f"the {noun}", _capitalise(noun)

    def make_error(self, key: str, **kwargs: Any) -> Any:
        label, subject = self.labels()
        return super().make_error(key, label=label, Label=subject, **kwargs)


class Text(Labelled, fields.String):
    """Trimmed text; an empty string is missing (the schema's pre-load drops it)."""

    default_error_messages: ErrorMessages = {
        "invalid": "{Label} must be text",
        "invalid_utf8": "{Label} must be text",
        "too_long": "{Label} must be {max} characters or fewer",
    }

    def __init__(self, label: str, *, max_length: int = 200, **kwargs: Any) -> None:
        self.max_length = max_length
        super().__init__(label, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if len(text) > self.max_length:
            raise self.make_error("too_long", max=f"{self.max_length:,}")
        return text

    def _jsonschema_type_mapping(self) -> dict[str, Any]:
        return {"type": "string", "minLength": 1, "maxLength": self.max_length}


class LongText(Text):
    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(label, max_length=5000, **kwargs)


class Choice(Text):
    """One of a fixed set of codes."""

    default_error_messages: ErrorMessages = {"one_of": "{Label} must be {choices}"}

    def __init__(self, label: str, choices: Iterable[str], **kwargs: Any) -> None:
        self.choices = tuple(choices)
        super().__init__(label, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text not in self.choices:
            raise self.make_error("one_of", choices=join_choices(self.choices))
        return text

    def _jsonschema_type_mapping(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices)}


class Email(Text):
    default_error_messages: ErrorMessages = {
        "invalid_email": "Enter {label} in the correct format, like name@example.gov.uk"
    }
    _pattern = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not self._pattern.match(text):
            raise self.make_error("invalid_email")
        return text

    def _jsonschema_type_mapping(self) -> dict[str, Any]:
        return {"type": "string", "format": "email", "maxLength": self.max_length}


class Phone(Text):
    default_error_messages: ErrorMessages = {
        "invalid_phone": "Enter {label} as a UK telephone number, like 0161 496 0123"
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not _PHONE.match(text) or sum(c.isdigit() for c in text) < 10:
            raise self.make_error("invalid_phone")
        return text


class Postcode(Text):
    """A UK postcode, stored upper case with one space: ``m8 5ab`` becomes ``M8 5AB``."""

    default_error_messages: ErrorMessages = {
        "invalid_postcode": "{Label} must be a UK postcode, like M8 5AB"
    }

    def __init__(self, label: str = "postcode", **kwargs: Any) -> None:
        super().__init__(label, max_length=10, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        return normalise_postcode(text) or self._fail()

    def _fail(self) -> str:
        raise self.make_error("invalid_postcode")

    def _jsonschema_type_mapping(self) -> dict[str, Any]:
        return {"type": "string", "pattern": r"^[A-Za-z]{1,3}[0-9][0-9A-Za-z]? ?[0-9][A-Za-z]{2}$"}


def normalise_postcode(text: str) -> str | None:
    match = _POSTCODE.match(re.sub(r"\s+", " ", text.strip().upper()))
    if not match:
        return None
    return f"{match['out']} {match['in']}"


def postcode_district(postcode: str) -> str:
    """The outward code: ``M11 2AB`` is in district ``M11``, not ``M1``."""
    return postcode.split(" ")[0]


class NHSNumber(Text):
    """Ten digits (spaces or dashes allowed between them) passing the modulus 11 check."""

    default_error_messages: ErrorMessages = {
        "digits": "{Label} must be 10 digits, like 943 476 5919",
        "checksum": (
            "Check {label}: the digits do not make a real NHS number, so one may be mistyped"
        ),
    }

    def __init__(self, label: str = "NHS number", **kwargs: Any) -> None:
        super().__init__(label, max_length=20, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**20:
            value = str(value)  # beyond that, Python refuses to write out a huge int
        text = re.sub(r"[\s-]", "", super()._deserialize(value, attr, data, **kwargs))
        if not re.fullmatch(r"\d{10}", text):
            raise self.make_error("digits")
        if not nhs_number_valid(text):
            raise self.make_error("checksum")
        return text

    def _jsonschema_type_mapping(self) -> dict[str, Any]:
        return {"type": "string", "pattern": r"^\d{3} ?\d{3} ?\d{4}$"}


def nhs_number_valid(digits: str) -> bool:
    """The NHS number modulus 11 check: weights 10 to 2 on the first nine digits."""
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


class Bool(Labelled, fields.Boolean):
    """``label`` is a clause: "a child is at risk of significant harm"."""

    default_error_messages: ErrorMessages = {
        "required": "Say whether {label}: true or false",
        "null": "Say whether {label}: true or false",
        "invalid": "Say whether {label}: true or false",
    }

    def labels(self) -> tuple[str, str]:
        clause = self.label
        return clause, _capitalise(clause)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        # the reader the safeguarding check builds on: what is read as yes here is a risk there
        answer = read_bool(value)
        if answer is None:
            raise self.make_error("invalid")
        return answer


class Integer(Labelled, fields.Integer):
    default_error_messages: ErrorMessages = {
        "invalid": "{Label} must be a whole number, like 3",
        "too_large": "{Label} must be a whole number, like 3",
    }


class Level(Integer):
    """The level of need, 1 to 5; ``allowed`` says which levels this form takes."""

    default_error_messages: ErrorMessages = {
        "not_allowed": "{Label} must be {allowed} for this form",
        "level_1": (
            "Level of need 1 means universal services can meet the family's needs, so this is "
            "not an Early Help request: choose level 2, 3 or 4, or signpost the family to "
            "universal services"
        ),
    }

    def __init__(self, allowed: Iterable[int], *, form: str = "", **kwargs: Any) -> None:
        self.allowed = tuple(allowed)
        self.form = form
        super().__init__("level of need", strict=True, **kwargs)

    def allowed_here(self) -> tuple[int, ...]:
        """The contract's levels for this form, or the council profile's (its pathways, or
        ``[forms.<type>] levels``)."""
        council = current().council
        if council is None or not self.form:
            return self.allowed
        return council.allowed_levels(self.form, self.allowed)

    def _validate_missing(self, value: Any) -> None:
        council = current().council
        if value is fields.missing_ and council is not None and not council.level_required:
            return  # a council without numbered levels: the level may be left out
        super()._validate_missing(value)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        # the reader the safeguarding check builds on: what is read as 5 here is a concern there
        level = read_level(value)
        if level is None:
            raise self.make_error("invalid")
        allowed = self.allowed_here()
        if level not in allowed:
            if level == 1:
                raise self.make_error("level_1")
            raise self.make_error("not_allowed", allowed=join_choices(allowed))
        return level

    def _jsonschema_type_mapping(self) -> dict[str, Any]:
        return {"type": "integer", "enum": list(self.allowed)}


class Part(Labelled, fields.Nested):
    """A nested part of a form; ``owner`` ("the child") names whose fields these are."""

    default_error_messages: ErrorMessages = {
        "type": "{Label} must be a group of fields, not a single value"
    }

    def __init__(self, label: str, nested: Any, *, owner: str | None = None, **kwargs: Any):
        self.owner = owner
        super().__init__(label, nested=nested, **kwargs)

    def _deserialize(
        self, value: Any, attr: Any, data: Any, partial: Any = None, **kwargs: Any
    ) -> Any:
        if not isinstance(value, Mapping):
            raise self.make_error("type")
        return super()._deserialize(value, attr, data, partial=partial, **kwargs)

    @property
    def schema(self) -> Schema:
        schema = super().schema
        schema.owner = self.owner  # type: ignore[attr-defined]
        return schema


class Many(Labelled, fields.List):
    """A list; ``empty`` is said when fewer than ``min_items`` are given."""

    default_error_messages: ErrorMessages = {
        "invalid": "{Label} must be a list",
        "empty": "Enter at least one {item}",
        "too_many": "{Label} must have {max} items or fewer",
    }

    def __init__(
        self, label: str, inner: fields.Field, *, item: str, min_items: int = 0, **kwargs: Any
    ) -> None:
        self.item = item
        self.min_items = min_items
        self.max_items = 100
        super().__init__(label, cls_or_instance=inner, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[Any]:
        if isinstance(value, list):
            value = [v for v in value if not _blank(v)]
            if len(value) > self.max_items:
                raise self.make_error("too_many", max=self.max_items)
        result = super()._deserialize(value, attr, data, **kwargs)
        if len(result) < self.min_items:
            raise self.make_error("empty", item=self.item)
        return result

    def _validate_missing(self, value: Any) -> None:
        if self.required and (value is None or value == [] or value is fields.missing_):
            raise self.make_error("empty", item=self.item)
        super()._validate_missing(value)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def Lines(label: str, *, item: str, min_items: int = 0, **kwargs: Any) -> Many:  # noqa: N802
    """A list of lines of text (blank lines dropped)."""
    return Many(label, LongText(item), item=item, min_items=min_items, **kwargs)


__all__ = [
    "Bool",
    "Choice",
    "Email",
    "Integer",
    "Level",
    "Lines",
    "LongText",
    "Many",
    "NHSNumber",
    "Part",
    "Phone",
    "Postcode",
    "Text",
    "join_choices",
    "normalise_postcode",
    "postcode_district",
]
