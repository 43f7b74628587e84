"""The base of every form and part schema: trimmed input, unknown fields named as errors."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from marshmallow import RAISE, Schema, pre_load

UNKNOWN_FIELD = "This is not a field of this form: check the spelling of its name, or remove it"
# In one group of fields, at most this many unknown fields are named one by one; the rest are
# only counted (see :func:`counting_unknown`), so a form with 100,000 made-up fields costs no
# more to check than one with 20.
UNKNOWN_NAMED = 20


@dataclass
class Unknown:
    """What a load saw of unknown fields: how many were left out, and where each named one
    came in its group (marshmallow names them in no fixed order; they are listed in the
    form's)."""

    left_out: int = 0
    positions: dict[str, int] = field(default_factory=dict)


_unknown: ContextVar[Unknown | None] = ContextVar("unknown", default=None)


@contextmanager
def counting_unknown() -> Iterator[Unknown]:
    """Within this, unknown fields past :data:`UNKNOWN_NAMED` in one group are left out of the
    load and counted. Outside it every unknown field is named."""
    seen = Unknown()
    token = _unknown.set(seen)
    try:
        yield seen
    finally:
        _unknown.reset(token)


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
        seen = _unknown.get()
        known = self._known_names() if seen is not None else frozenset()
        unknown = 0
        tidy = {}
        for key, value in data.items():
            if isinstance(value, str):
                value = value.strip()
                if not value:
                    continue
            if value is None:
                continue
            if seen is not None and key not in known:
                unknown += 1
                if unknown > UNKNOWN_NAMED:
                    seen.left_out += 1
                    continue
                seen.positions.setdefault(key, unknown)
            tidy[key] = value
        return tidy

    def _known_names(self) -> frozenset[str]:
        names = self.__dict__.get("_ehforms_known")
        if names is None:
            names = frozenset(f.data_key or n for n, f in self.load_fields.items())
            self.__dict__["_ehforms_known"] = names
        return names

    def who(self, default: str) -> str:
        """ "the referrer" where this part belongs to the referrer."""
        return self.owner or default
