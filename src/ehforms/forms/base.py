"""The base of every form and part schema: trimmed input, unknown fields named as errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, pre_load

UNKNOWN_FIELD = "This is not a field of this form: check the spelling of its name, or remove it"


class BaseSchema(Schema):
    """Strings are trimmed; an empty string or null counts as missing."""

    owner: str | None = None

    class Meta:
        unknown = RAISE

    error_messages = {  # noqa: RUF012 - marshmallow reads this class attribute
        "unknown": UNKNOWN_FIELD,
        "type": "This must be a group of fields, not a single value",
    }

    @pre_load
    def _tidy(self, data: Any, **_: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        tidy = {}
        for key, value in data.items():
            if isinstance(value, str):
                value = value.strip()
                if not value:
                    continue
            if value is None:
                continue
            tidy[key] = value
        return tidy

    def who(self, default: str) -> str:
        """ "the referrer" where this part belongs to the referrer."""
        return self.owner or default
