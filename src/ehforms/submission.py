"""Reading one submission's bytes: the form, its problems, and the safeguarding signal.

Pure: bytes, name, time of receipt and configuration in; a :class:`Validation` out. Never
raises for anything a file can hold. The fail-safe rule lives here: when a file cannot be read
as a form, whatever can be read of it still decides whether it goes to MASH.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ehforms.config import Config
from ehforms.errors import IntakeError
from ehforms.forms import FieldError, Validation, validate
from ehforms.intake import read_form

# Cheap signs, in the first bytes of a file, that a form is urgent: they only order a backlog.
_URGENT_SIGNS = re.compile(
    rb'"form_type"\s*:\s*"marf"|"risk_of_significant_harm"\s*:\s*true|'
    rb'"child_protection_concern"\s*:\s*true|"level_of_need"\s*:\s*"?5',
    re.IGNORECASE,
)


def looks_urgent(head: bytes) -> bool:
    return bool(_URGENT_SIGNS.search(head))


_CLOSURE_SIGN = re.compile(rb'"form_type"\s*:\s*"\s*closure', re.IGNORECASE)


def looks_like_closure(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return bool(_CLOSURE_SIGN.search(handle.read(65536)))
    except OSError:
        return False


def may_be_urgent(data: bytes) -> bool:
    """Whether a file that ehforms failed on may hold a safeguarding concern (fail safe)."""
    return looks_urgent(data[:65536])


def _json_default(value: Any) -> str:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def form_json(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n").encode()


def errors_text(errors: Iterable[FieldError]) -> str:
    """``errors.txt``: one line per problem, the message first, then where it is."""
    lines = [f"{e.message} ({e.field})" if e.field else e.message for e in errors]
    return "\n".join(lines) + "\n" if lines else ""


def check(name: str, data: bytes, received_at: dt.datetime, config: Config) -> Validation:
    """Read and validate one file's bytes; never raises for anything a file can hold."""
    try:
        raw = read_form(
            name,
            data,
            max_bytes=config.max_file_bytes,
            max_depth=config.max_json_depth,
            timezone=config.timezone,
        )
    except IntakeError as error:
        return Validation(None, None, (FieldError(None, str(error)),), may_be_urgent(data))
    return validate(
        raw, received_at, timezone=config.timezone, hubs=[hub.key for hub in config.hubs]
    )
