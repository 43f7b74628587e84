"""Turning a file's bytes into a form (a dict), with size and depth limits. Writes nothing.

Every failure is an :class:`IntakeError` whose message a business support officer can act on;
no input, however broken, raises anything else.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from typing import Any
from zoneinfo import ZoneInfo

from ehforms.errors import IntakeError

LONDON = ZoneInfo("Europe/London")
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_DEPTH = 20


def _megabytes(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.0f} MB"


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise IntakeError(
                f"The field '{key}' appears twice in one part of the form: keep only one"
            )
        result[key] = value
    return result


def _constant(name: str) -> Any:
    raise IntakeError(f"The file holds {name}, which is not a JSON value: use a number or text")


def depth(value: Any) -> int:
    """How deeply lists and objects nest (iterative: no recursion on hostile input)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item)
    return deepest


def read_json(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> dict[str, Any]:
    """Parse a JSON form: UTF-8 with or without a BOM, one object, within the limits."""
    if len(data) > max_bytes:
        raise IntakeError(
            f"The file is larger than {_megabytes(max_bytes)}: a form is much smaller than this. "
            "Check it is the right file"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise IntakeError(
            "The file is not UTF-8 text: save the form as JSON in UTF-8 and send it again"
        ) from None
    if not text.strip():
        raise IntakeError("The file is empty: save the form again and send it again")
    try:
        value = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
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
    if not isinstance(value, dict):
        raise IntakeError(
            "The file must hold one form (a JSON object with fields such as form_type), "
            "not a list or a single value"
        )
    if depth(value) > max_depth:
        raise IntakeError(
            f"The file nests more than {max_depth} levels deep: a form never does. "
            "Check it is the right file"
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


def read_pdf(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, timezone: ZoneInfo = LONDON
) -> dict[str, Any]:
    """The answers in a fillable ehforms PDF (its AcroForm fields), as a form.

    Only the form's fields are read, never the pages' content. An encrypted, broken or
    oversized PDF, or one that is not an ehforms form, gets one clear message.
    """
    from pypdf import PdfReader

    if len(data) > max_bytes:
        raise IntakeError(
            f"The PDF is larger than {_megabytes(max_bytes)}: a form is much smaller than this. "
            "Check it is the right file"
        )
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise IntakeError(
                "The PDF is protected with a password: save it without one and send it again"
            )
        fields = reader.get_fields() or {}
    except IntakeError:
        raise
    except Exception as error:  # pypdf raises many kinds on broken files
        raise IntakeError(
            "The PDF could not be read (it may be damaged): save the form again from the PDF "
            f"and send it again ({type(error).__name__})"
        ) from None
    answers: dict[str, str] = {}
    for name, field in fields.items():
        value = field.get("/V")
        if isinstance(value, str):
            answers[str(name)] = value
    if not answers.get("form_type"):
        raise IntakeError(
            "This PDF is not an ehforms form (it has no form_type field): fill in a form "
            "from `ehforms template`, or send the form as JSON"
        )
    from ehforms.prefill import unflatten

    form = unflatten(answers)
    if isinstance(form.get("submitted_at"), str):
        form["submitted_at"] = uk_timestamp(form["submitted_at"], timezone)
    return form


def read_form(
    name: str,
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    timezone: ZoneInfo = LONDON,
) -> dict[str, Any]:
    """Read a form file by its content: a fillable PDF (``%PDF-``) or JSON."""
    if data[:5] == b"%PDF-":
        return read_pdf(data, max_bytes=max_bytes, timezone=timezone)
    return read_json(data, max_bytes=max_bytes, max_depth=max_depth)
