"""Turning a file's bytes into a form (a dict), with size and depth limits. Writes nothing.

Every failure is an :class:`IntakeError` whose message a business support officer can act on;
no input, however broken, raises anything else.
"""

from __future__ import annotations

import json
from typing import Any

from ehforms.errors import IntakeError

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


def read_form(
    name: str,
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> dict[str, Any]:
    """Read a form file by its content: JSON today (a fillable PDF once rendered ones exist)."""
    if data[:5] == b"%PDF-":
        raise IntakeError(
            "This PDF cannot be read as a form yet: send the form as JSON (.json) instead"
        )
    return read_json(data, max_bytes=max_bytes, max_depth=max_depth)
