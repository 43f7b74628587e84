"""The contract: one marshmallow schema per form, and :func:`validate` to check a form.

``validate`` is pure: it takes the parsed form and the time of receipt, and returns a
:class:`Validation` with the normalised form or the problems, each with its field path
(``children[0].date_of_birth``) and a message a person can act on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import ValidationError

from ehforms.forms.closure import Closure
from ehforms.forms.common import FORM_TYPES, FormSchema
from ehforms.forms.context import LONDON, receiving
from ehforms.forms.fields import join_choices
from ehforms.forms.marf import Marf
from ehforms.forms.notification import Notification
from ehforms.forms.rfas import Rfas
from ehforms.forms.transfer import Transfer

SCHEMAS: dict[str, type[FormSchema]] = {
    "notification": Notification,
    "rfas": Rfas,
    "transfer": Transfer,
    "marf": Marf,
    "closure": Closure,
}
assert tuple(SCHEMAS) == FORM_TYPES

_TRUE = {"true", "yes", "y", "1", "on"}


def _truthy(value: Any) -> bool:
    """Lenient: ``true``, ``1``, ``"yes"``... (what marshmallow's Boolean reads as true)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | str):
        return str(value).strip().lower() in _TRUE
    return False


@dataclass(frozen=True)
class FieldError:
    """One problem: ``field`` is a dotted path, or ``None`` when the file is not a form."""

    field: str | None
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return {"field": self.field, "message": self.message}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(frozen=True)
class Validation:
    form_type: str | None
    data: dict[str, Any] | None
    errors: tuple[FieldError, ...] = ()
    safeguarding: bool = False
    raw: Any = field(default=None, repr=False)

    @property
    def valid(self) -> bool:
        return not self.errors


_instances: dict[str, FormSchema] = {}


def schema_for(form_type: str) -> FormSchema:
    """One schema instance per form type and process: building one (and its nested parts) costs
    more than a load, and a load keeps no state in it (the time of receipt is a context var)."""
    if form_type not in _instances:
        _instances[form_type] = SCHEMAS[form_type]()
    return _instances[form_type]


def flatten(messages: Any, path: str = "") -> list[FieldError]:
    """marshmallow's nested ``messages`` as a flat list of (path, message)."""
    if isinstance(messages, str):
        return [FieldError(path or None, messages)]
    if isinstance(messages, list | tuple):
        result: list[FieldError] = []
        for item in messages:
            result += flatten(item, path)
        return result
    if isinstance(messages, Mapping):
        result = []
        for key, value in messages.items():
            if key == "_schema":
                child = path
            elif isinstance(key, int):
                child = f"{path}[{key}]"
            else:
                child = f"{path}.{key}" if path else str(key)
            result += flatten(value, child)
        return result
    return [FieldError(path or None, str(messages))]


def safeguarding_signal(raw: Mapping[str, Any], form_type: str | None) -> bool:
    """Whether a form must go to MASH whatever else is wrong with it.

    Read leniently from the raw form, so that a broken field elsewhere cannot hide it:
    every MARF; a notification with a risk of significant harm or level of need 5; and a
    form whose type is missing or unknown that says either, or a child protection concern.
    """
    if form_type == "marf":
        return True
    risk = _truthy(raw.get("risk_of_significant_harm"))
    level = raw.get("level_of_need")
    level_5 = (
        isinstance(level, int | str) and not isinstance(level, bool) and (str(level).strip() == "5")
    )
    if form_type == "notification":
        return risk or level_5
    if form_type not in SCHEMAS:
        return risk or level_5 or _truthy(raw.get("child_protection_concern"))
    return False


def detect_form_type(raw: Mapping[str, Any]) -> tuple[str | None, FieldError | None]:
    value = raw.get("form_type")
    if isinstance(value, str):
        value = value.strip().lower()
    if value in (None, ""):
        return None, FieldError("form_type", f"Enter the form type: {join_choices(FORM_TYPES)}")
    if not isinstance(value, str) or value not in SCHEMAS:
        return None, FieldError("form_type", f"Form type must be {join_choices(FORM_TYPES)}")
    return str(value), None


def validate(
    raw: Any,
    received_at: dt.datetime,
    *,
    timezone: ZoneInfo = LONDON,
    hubs: Iterable[str] = (),
) -> Validation:
    """Check one parsed form against the contract, as of ``received_at``."""
    if not isinstance(raw, Mapping):
        return Validation(
            None,
            None,
            (FieldError(None, "The file must hold one form: a JSON object"),),
            raw=raw,
        )
    form_type, type_error = detect_form_type(raw)
    safeguarding = safeguarding_signal(raw, form_type)
    if form_type is None:
        assert type_error is not None
        return Validation(None, None, (type_error,), safeguarding, raw)
    data = dict(raw)
    data["form_type"] = form_type
    with receiving(received_at, timezone, frozenset(hubs)):
        try:
            loaded = schema_for(form_type).load(data)
        except ValidationError as error:
            errors = tuple(flatten(error.messages))
            return Validation(form_type, None, errors, safeguarding, raw)
    return Validation(form_type, loaded, (), safeguarding, raw)


__all__ = [
    "FORM_TYPES",
    "SCHEMAS",
    "FieldError",
    "Validation",
    "flatten",
    "validate",
]
