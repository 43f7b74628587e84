"""Date and time fields, and the rules a date keeps relative to the day of receipt."""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Any

from dateutil.relativedelta import relativedelta
from marshmallow import fields
from marshmallow.types import ErrorMessages

from ehforms.forms.context import today
from ehforms.forms.fields import Labelled

_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_UK_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def parse_date(text: str) -> dt.date | None:
    """ISO ``2026-11-20`` or UK ``20/11/2026`` (``D/M/YYYY``); never the US order."""
    text = text.strip()
    match = _ISO_DATE.match(text)
    if match:
        year, month, day = (int(g) for g in match.groups())
    else:
        match = _UK_DATE.match(text)
        if not match:
            return None
        day, month, year = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


class When(StrEnum):
    """A date's rule relative to the day of receipt. An enum, so a misspelt rule fails at once
    instead of silently checking nothing."""

    PAST = "past"
    NOT_FUTURE = "not_future"
    CHILD_BIRTH = "child_birth"  # in the past, and less than 25 years ago
    NEXT_10_MONTHS = "next_10_months"


class Date(Labelled, fields.Field):
    """A calendar date; ``when`` adds a rule relative to the day of receipt."""

    default_error_messages: ErrorMessages = {
        "invalid": "{Label} must be a real date, like 20/11/2026",
        "past": "{Label} must be in the past",
        "not_future": "{Label} must be today or in the past",
        "under_25": (
            "{Label} must be less than 25 years ago: Early Help is for children and young "
            "people under 25"
        ),
        "next_10_months": "{Label} must be within the next 10 months",
    }

    def __init__(self, label: str, *, when: When | None = None, **kwargs: Any) -> None:
        self.when = None if when is None else When(when)
        super().__init__(label, **kwargs)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else value.isoformat()

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.date:
        parsed = parse_date(value) if isinstance(value, str) else None
        if parsed is None:
            raise self.make_error("invalid")
        self.check(parsed, today())
        return parsed

    def check(self, value: dt.date, day: dt.date) -> None:
        when = self.when
        if when in (When.PAST, When.CHILD_BIRTH) and value > day:
            raise self.make_error("past")
        if when == When.NOT_FUTURE and value > day:
            raise self.make_error("not_future")
        if when == When.CHILD_BIRTH and value <= day - relativedelta(years=25):
            raise self.make_error("under_25")
        if when == When.NEXT_10_MONTHS and not day < value <= day + relativedelta(months=10):
            raise self.make_error("next_10_months")

    def _jsonschema_type_mapping(self) -> dict[str, Any]:
        return {"type": "string", "format": "date"}


class Timestamp(Labelled, fields.Field):
    """ISO 8601 date and time that must carry its offset (``Z`` or ``+00:00``)."""

    default_error_messages: ErrorMessages = {
        "invalid": (
            "{Label} must be a date and time with a time zone, like 2026-11-24T09:00:00+00:00"
        ),
        "no_offset": "{Label} must include a time zone, like 2026-11-24T09:00:00Z",
    }

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else value.isoformat()

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.datetime:
        if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d", value.strip()):
            raise self.make_error("invalid")
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise self.make_error("invalid") from None
        if parsed.tzinfo is None:
            raise self.make_error("no_offset")
        return parsed

    def _jsonschema_type_mapping(self) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}
