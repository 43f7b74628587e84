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

from ehforms.council import Council
from ehforms.forms.base import UNKNOWN_FIELD, UNKNOWN_NAMED, counting_unknown
from ehforms.forms.common import FORM_TYPES, FormSchema
from ehforms.forms.context import LONDON, receiving
from ehforms.forms.fields import join_choices
from ehforms.forms.readers import normal_text, read_form_type, shown
from ehforms.forms.safeguarding import is_concern
from ehforms.registry import FORM_TYPES as REGISTRY

# One schema per form type, as the registry names them.
SCHEMAS: dict[str, type[FormSchema]] = {name: form.schema() for name, form in REGISTRY.items()}
if tuple(SCHEMAS) != FORM_TYPES:  # the validator's own list of types must be the registry's
    raise RuntimeError("forms.readers.FORM_TYPES differs from the registry")
# The contract's [limits] messages: at most this many lines in errors.txt.
MAX_MESSAGES = 100


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


def flatten(
    messages: Any, path: str = "", positions: Mapping[str, int] | None = None
) -> list[FieldError]:
    """marshmallow's nested ``messages`` as a flat list of (path, message).

    A name in a path is cut to 60 characters, so a made-up field name of a megabyte does not
    become a megabyte in the receipt. With ``positions`` (see :class:`~.base.Unknown`), the
    unknown fields of each group are listed in the order the form has them.
    """
    if isinstance(messages, str):
        return [FieldError(path or None, messages)]
    if isinstance(messages, list | tuple):
        result: list[FieldError] = []
        for item in messages:
            result += flatten(item, path, positions)
        return result
    if isinstance(messages, Mapping):
        items = list(messages.items())
        if positions:
            slots = [i for i, (_, value) in enumerate(items) if value == [UNKNOWN_FIELD]]
            ordered = sorted(
                (items[i] for i in slots), key=lambda item: (positions.get(item[0], 0), item[0])
            )
            for slot, item in zip(slots, ordered, strict=True):
                items[slot] = item
        result = []
        for key, value in items:
            if key == "_schema":
                child = path
            elif isinstance(key, int):
                child = f"{path}[{key}]"
            else:
                child = f"{path}.{shown(key)}" if path else shown(key)
            result += flatten(value, child, positions)
        return result
    return [FieldError(path or None, str(messages))]


def safeguarding_signal(raw: Any, form_type: str | None) -> bool:
    """Whether a form must go to MASH whatever else is wrong with it: see
    :func:`ehforms.forms.safeguarding.is_concern`, the one place this is decided."""
    return is_concern(raw, form_type)


def detect_form_type(raw: Mapping[str, Any]) -> tuple[str | None, FieldError | None]:
    value = raw.get("form_type")
    form_type = read_form_type(value)
    if form_type is not None:
        return form_type, None
    if value is None or (isinstance(value, str) and not normal_text(value)):
        return None, FieldError("form_type", f"Enter the form type: {join_choices(FORM_TYPES)}")
    return None, FieldError("form_type", f"Form type must be {join_choices(FORM_TYPES)}")


def summarise_unknown(errors: list[FieldError], left_out: int = 0) -> list[FieldError]:
    """Past :data:`UNKNOWN_NAMED` unknown fields (at any level, counting those left out of the
    load), one line says how many there are and names the first few, instead of one line each."""
    unknown = [e for e in errors if e.message == UNKNOWN_FIELD]
    total = len(unknown) + left_out
    if total <= UNKNOWN_NAMED:
        return errors
    names = ", ".join(e.field or "?" for e in unknown[:UNKNOWN_NAMED])
    summary = FieldError(
        None,
        f"This form has {total:,} fields it should not have; the first {UNKNOWN_NAMED}: "
        f"{names}. Check the spelling of each field's name, or remove the field",
    )
    first = errors.index(unknown[0])
    rest = [e for e in errors if e.message != UNKNOWN_FIELD]
    return rest[:first] + [summary] + rest[first:]


def bound(errors: list[FieldError], limit: int) -> tuple[FieldError, ...]:
    """At most ``limit`` problems: past that, the last line says how many more there are."""
    if len(errors) <= limit:
        return tuple(errors)
    kept = errors[: max(limit - 1, 1)]
    more = len(errors) - len(kept)
    return (
        *kept,
        FieldError(
            None,
            f"There {'is' if more == 1 else 'are'} {more:,} more problem"
            f"{'' if more == 1 else 's'} not listed here: correct the ones above, then send the "
            "form again to see the rest",
        ),
    )


def validate(
    raw: Any,
    received_at: dt.datetime,
    *,
    timezone: ZoneInfo = LONDON,
    hubs: Iterable[str] = (),
    max_messages: int = MAX_MESSAGES,
    council: Council | None = None,
) -> Validation:
    """Check one parsed form against the contract, as of ``received_at``.

    At most ``max_messages`` problems are listed, and many unknown fields make one line, so
    the result (and the receipt and ``errors.txt`` made from it) stays small whatever the form.
    """
    if not isinstance(raw, Mapping):
        return Validation(
            None,
            None,
            (FieldError(None, "The file must hold one form: a JSON object"),),
            is_concern(raw, None),
            raw=raw,
        )
    form_type, type_error = detect_form_type(raw)
    safeguarding = is_concern(raw, form_type)
    if form_type is None:
        assert type_error is not None
        return Validation(None, None, (type_error,), safeguarding, raw)
    data = dict(raw)
    data["form_type"] = form_type
    with (
        receiving(received_at, timezone, frozenset(hubs), council),
        counting_unknown() as unknown,
    ):
        try:
            loaded = schema_for(form_type).load(data)
        except ValidationError as error:
            errors = flatten(error.messages, positions=unknown.positions)
            errors = summarise_unknown(errors, unknown.left_out)
            return Validation(form_type, None, bound(errors, max_messages), safeguarding, raw)
    return Validation(form_type, loaded, (), safeguarding, raw)


__all__ = [
    "FORM_TYPES",
    "SCHEMAS",
    "MAX_MESSAGES",
    "FieldError",
    "Validation",
    "bound",
    "flatten",
    "is_concern",
    "safeguarding_signal",
    "validate",
]


# Where a form names a document that must travel with it (the contract's "Attachments and
# bundles"): the signed consent, and a transfer's most recent assessment.
DOCUMENT_FIELDS = (("consent", "document"), ("most_recent_assessment", "document"))


def named_documents(form: Any) -> list[str]:
    """The file names a form (normalised or raw) gives for documents it names, as written."""
    names: list[str] = []
    if not isinstance(form, Mapping):
        return names
    for part, key in DOCUMENT_FIELDS:
        value = form.get(part)
        name = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(name, str) and name.strip() and name.strip() not in names:
            names.append(name.strip())
    return names
