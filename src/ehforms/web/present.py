"""Words for the pages: a form as sections of summary rows with the labels a person would
say, dates as people write them, mailbox and form type names. Presentation only: every value
stays text (the templates autoescape it), nothing here reads a file or the ledger."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import Schema
from marshmallow import fields as mm

from ehforms.config import Config
from ehforms.forms import SCHEMAS
from ehforms.forms.dates import Date, Timestamp
from ehforms.forms.fields import Bool, Choice, Labelled, Many, Part
from ehforms.registry import FORM_TYPES

UNKNOWN_TYPE = "Form of unknown type"
MISSING = "Not given"


@dataclass
class Row:
    label: str
    value: str | list[str]


@dataclass
class Section:
    title: str
    rows: list[Row] = field(default_factory=list)


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


# a submission id in a page's address: a ULID, checked before anything is looked up
SUBMISSION_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def words(code: str) -> str:
    """A key or code as words: ``private_rented`` → "Private rented"."""
    return capital(str(code).replace("_", " ").strip())


def form_name(form_type: str | None) -> str:
    if form_type and form_type in FORM_TYPES:
        return str(FORM_TYPES[form_type].title)
    return UNKNOWN_TYPE


def mailbox_name(config: Config, mailbox: str) -> str:
    """The name a person knows a mailbox by (the contract layer decides it)."""
    return config.mailbox_name(mailbox)


def when(value: dt.datetime | None, zone: ZoneInfo) -> str:
    """``24 November 2026, 9:05am`` in the council's time zone."""
    if value is None:
        return ""
    local = value.astimezone(zone)
    hour = local.hour % 12 or 12
    return f"{local.day} {local:%B %Y}, {hour}:{local:%M}{'am' if local.hour < 12 else 'pm'}"


def short(value: dt.datetime, zone: ZoneInfo) -> str:
    """``24 Nov 2026 09:05``: for a table of many times."""
    return f"{value.astimezone(zone):%-d %b %Y %H:%M}"


DUES = {"written_followup": "Written follow-up", "allocations_meeting": "Allocations meeting"}


def due_name(what: str) -> str:
    return DUES.get(what, words(what))


def who(value: str) -> str:
    """An audit row's person; a failed sign-in's hashed email, cut short."""
    return f"Email hashed: {value[1:13]}…" if value.startswith("#") else value


def day(value: str | dt.date) -> str:
    try:
        parsed = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return f"{parsed.day} {parsed:%B %Y}"


def _label(name: str, spec: mm.Field | None) -> str:
    if isinstance(spec, Bool):
        return capital(spec.label) + "?"
    if isinstance(spec, Labelled):
        return capital(spec.label)
    return words(name)


def _value(value: Any, spec: mm.Field | None, zone: ZoneInfo) -> str | list[str]:
    if value is None or value == "" or value == []:
        return MISSING
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(spec, Timestamp) and isinstance(value, str):
        try:
            return when(dt.datetime.fromisoformat(value), zone)
        except ValueError:
            return value
    if isinstance(spec, Date):
        return day(value)
    if isinstance(spec, Choice):
        return words(str(value))
    if isinstance(value, list):
        inner = spec.inner if isinstance(spec, Many) else None
        return [_flat(item, inner, zone) for item in value]
    if isinstance(value, Mapping):
        nested = spec.schema if isinstance(spec, Part) else None
        return [f"{row.label}: {row.value}" for row in _rows(value, nested, zone)]
    return str(value)


def _flat(value: Any, spec: mm.Field | None, zone: ZoneInfo) -> str:
    shown = _value(value, spec, zone)
    return "; ".join(shown) if isinstance(shown, list) else shown


def _rows(values: Mapping[str, Any], schema: Schema | None, zone: ZoneInfo) -> list[Row]:
    known = schema.fields if schema is not None else {}
    rows = []
    for name, value in values.items():
        spec = known.get(name)
        shown = _value(value, spec, zone)
        if isinstance(shown, list):
            shown = [
                _flat(item, None, zone) if not isinstance(item, str) else item for item in shown
            ]
        rows.append(Row(_label(name, spec), shown))
    return rows


def sections(form: Mapping[str, Any], zone: ZoneInfo) -> list[Section]:
    """The form's content, part by part: a section for each part and for each child or family
    member, in the order the form gave them; fields the schema does not know are still shown,
    by their key in words."""
    form_type = form.get("form_type")
    schema = SCHEMAS[form_type]() if isinstance(form_type, str) and form_type in SCHEMAS else None
    known = schema.fields if schema is not None else {}
    first = Section("About this form")
    result = [first]
    for name, value in form.items():
        spec = known.get(name)
        if name == "form_type":
            continue
        if isinstance(value, Mapping):
            nested = spec.schema if isinstance(spec, Part) else None
            result.append(Section(_label(name, spec), _rows(value, nested, zone)))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            inner = spec.inner if isinstance(spec, Many) else None
            item = capital(spec.item) if isinstance(spec, Many) else _label(name, spec)
            nested = inner.schema if isinstance(inner, Part) else None
            for index, entry in enumerate(value, start=1):
                result.append(Section(f"{item} {index}", _rows(entry, nested, zone)))
        else:
            first.rows.append(Row(_label(name, spec), _value(value, spec, zone)))
    return [section for section in result if section.rows]
