"""Turning a file's bytes into a form (a dict), with size and depth limits. Writes nothing.

Every failure is an :class:`IntakeError` whose message a business support officer can act on;
no input, however broken, raises anything else.

JSON is read here; fillable PDFs in :mod:`ehforms.pdfforms`; what an unreadable file still
says about a safeguarding concern in :mod:`ehforms.salvage`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

from ehforms.errors import IntakeError
from ehforms.forms.readers import shown

LONDON = ZoneInfo("Europe/London")
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_DEPTH = 20
# A whole number longer than this is not something a form holds (Python refuses to read one
# of more than 4,300 digits at all).
MAX_INT_DIGITS = 100
# Far more fields than any ehforms PDF has (the largest has 131); reading 70,000 with pypdf
# takes six seconds and 300 MB.
MAX_PDF_FIELDS = 2000


class FieldIntakeError(IntakeError):
    """A file that cannot be taken as a form because of one place in it (``field``, a path
    like ``children[0].nhs_number``)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field


def _megabytes(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.0f} MB"


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    result = {}
    for key, value in pairs:
        if key in result:
            raise IntakeError(
                f"The field '{shown(key)}' appears twice in one part of the form: keep only one"
            )
        result[key] = value
    return result


def _constant(name: str) -> Any:
    raise IntakeError(f"The file holds {name}, which is not a JSON value: use a number or text")


_CONTAINERS = (dict, list)


def depth(value: Any, limit: int | None = None) -> int:
    """How deeply lists and objects nest: one pass a level, no recursion on hostile input.

    With ``limit``, stops one level past it (the answer is then ``limit + 1``).
    """
    deepest = 0
    level = [value] if type(value) in _CONTAINERS else []
    while level:
        deepest += 1
        if limit is not None and deepest > limit:
            break
        below: list[Any] = []
        for item in level:
            if item:
                items = item.values() if type(item) is dict else item
                below += [child for child in items if type(child) in _CONTAINERS]
        level = below
    return deepest


def _find(value: Any, wanted: Callable[[Any], bool]) -> str | None:
    """The path (``children[0].nhs_number``) of the first key or value that is ``wanted``, or
    ``None``; ``""`` is the whole value."""
    if wanted(value):
        return ""
    stack: list[tuple[str, Iterator[tuple[Any, Any]]]] = [("", _entries(value))]
    while stack:
        path, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        key, item = entry
        if isinstance(key, int):
            where = f"{path}[{key}]"
        else:
            where = f"{path}.{shown(key)}" if path else shown(key)
            if wanted(key):
                return where
        if wanted(item):
            return where
        if isinstance(item, dict | list):
            stack.append((where, _entries(item)))
    return None


def _entries(value: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(value, dict):
        return iter(value.items())
    if isinstance(value, list):
        return enumerate(value)
    return iter(())


class _TooLarge:
    """Stands in, while a file is read, for a number too large to be a form's."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_LIST_START = re.compile(r"\s*\[")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _broken_text(value: Any) -> bool:
    return isinstance(value, str) and _LONE_SURROGATE.search(value) is not None


def decode(data: bytes) -> str:
    """A JSON file's text: UTF-8 with or without a BOM, or UTF-16 or UTF-32 (with a BOM, or
    told by where its zero bytes fall, as JSON's own rules say)."""
    encoding = json.detect_encoding(data)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        name = encoding.upper().replace("-SIG", "").replace("-LE", "").replace("-BE", "")
        raise IntakeError(
            f"The file is not {name} text: save the form as JSON in UTF-8 and send it again"
        ) from None


def read_json(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> dict[str, Any]:
    """Parse a JSON form: UTF-8 (with or without a BOM) or UTF-16, one object, within the
    limits, every number finite and every string whole."""
    if len(data) > max_bytes:
        raise IntakeError(
            f"The file is larger than {_megabytes(max_bytes)}: a form is much smaller than this. "
            "Check it is the right file"
        )
    text = decode(data)
    if not text.strip():
        raise IntakeError("The file is empty: save the form again and send it again")
    if _LIST_START.match(text):  # refused before a list of a million items is built
        raise IntakeError(
            "The file must hold one form (a JSON object with fields such as form_type), "
            "not a list or a single value"
        )
    broken_escape = _SURROGATE_ESCAPE.search(text) is not None
    too_large: list[str] = []

    def parse_float(number: str) -> Any:
        value = float(number)
        if math.isfinite(value):
            return value
        too_large.append(number)
        return _TooLarge(number)

    def parse_int(number: str) -> Any:
        if len(number) <= MAX_INT_DIGITS:
            return int(number)
        too_large.append(number)
        return _TooLarge(number)

    try:
        value = json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_constant=_constant,
            parse_float=parse_float,
            parse_int=parse_int,
        )
    except json.JSONDecodeError as error:
        raise IntakeError(
            f"The file is not a JSON form: it could not be read at line {error.lineno}, "
            f"column {error.colno} ({error.msg}). Save the form again from the online form "
            "or template and send it again"
        ) from None
    except RecursionError:
        raise IntakeError(
            f"The file nests more than {max_depth} levels deep: a form never does. "
            "Check it is the right file"
        ) from None
    del text
    if not isinstance(value, dict):
        raise IntakeError(
            "The file must hold one form (a JSON object with fields such as form_type), "
            "not a list or a single value"
        )
    if depth(value, max_depth) > max_depth:
        raise IntakeError(
            f"The file nests more than {max_depth} levels deep: a form never does. "
            "Check it is the right file"
        )
    if too_large:
        where = _find(value, lambda item: isinstance(item, _TooLarge))
        raise FieldIntakeError(
            where or None,
            f"This number is too large for a form ({shown(too_large[0], 20)}): "
            "check it and enter it again",
        )
    if broken_escape:
        where = _find(value, _broken_text)
        if where is not None:
            raise FieldIntakeError(
                where or None,
                "This text has a broken character in it (half of a \\u escape pair): "
                "type the text again",
            )
    return value


_UK_TIME = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T,]+(\d{1,2})[:.](\d{2}))?$")


def uk_timestamp(text: str, timezone: ZoneInfo) -> str:
    """``24/11/2026 09:00`` (local time) as ISO 8601 with its offset; other text unchanged."""
    match = _UK_TIME.match(text.strip())
    if not match:
        return text
    day, month, year, hour, minute = match.groups()
    try:
        moment = dt.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), tzinfo=timezone
        )
    except ValueError:
        return text
    return moment.isoformat()


def read_form(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    timezone: ZoneInfo = LONDON,
) -> dict[str, Any]:
    """Read a form file by its content: a fillable PDF (``%PDF-``) or JSON."""
    if data[:5] == b"%PDF-":
        from ehforms.pdfforms import read_pdf

        return read_pdf(data, max_bytes=max_bytes, max_depth=max_depth, timezone=timezone)
    return read_json(data, max_bytes=max_bytes, max_depth=max_depth)
