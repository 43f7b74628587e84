"""Reading one submission's bytes: the form, its problems, and the safeguarding signal.

Pure: bytes, name, time of receipt and configuration in; a :class:`Validation` out. Never
raises for anything a file can hold. The fail-safe rule lives here: when a file cannot be read
as a form, whatever can be read of it still decides whether it goes to MASH.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ehforms.config import Config
from ehforms.errors import IntakeError
from ehforms.forms import FieldError, Validation, validate
from ehforms.forms.readers import read_form_type
from ehforms.forms.safeguarding import is_concern
from ehforms.intake import read_form
from ehforms.salvage import salvage

# How much of a file ordering a backlog reads.
HEAD_BYTES = 65536


def salvaged_concern(found: dict[str, list[Any]]) -> tuple[str | None, bool]:
    """The form type and the safeguarding signal of what :func:`ehforms.salvage.salvage` found.

    The type is ``marf`` when any type found is, else the one type found, else ``None``: a
    file that says two types is judged as a form of unknown type, which counts every signal.
    """
    types = {read_form_type(value) for value in found.get("form_type", [])} - {None}
    if "marf" in types:
        form_type: str | None = "marf"
    else:
        form_type = types.pop() if len(types) == 1 else None
    return form_type, is_concern(found, form_type)


def hints(head: bytes) -> tuple[bool, bool]:
    """(looks urgent, looks like a closure) from a file's first bytes, in any encoding the
    intake reads: they only order a backlog, so one cheap look, and never an exception."""
    try:
        found = salvage(head, max_bytes=len(head), thorough=False)
        form_type, concern = salvaged_concern(found)
        closure = "closure" in {read_form_type(value) for value in found.get("form_type", [])}
        return concern, closure
    except Exception:
        return False, False


def looks_urgent(head: bytes) -> bool:
    """Whether a file's first bytes look like a safeguarding concern (see :func:`hints`)."""
    return hints(head)[0]


def looks_like_closure(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
        found = salvage(head, max_bytes=len(head), thorough=False)
    except Exception:
        return False
    return "closure" in {read_form_type(value) for value in found.get("form_type", [])}


def may_be_urgent(data: bytes, max_bytes: int | None = None, *, thorough: bool = True) -> bool:
    """Whether a file that ehforms failed on may hold a safeguarding concern (fail safe).

    Reads the whole file (up to ``max_bytes``) as a file that cannot be read is read: every
    encoding, a PDF as far as it goes. Should even that fail, the answer is yes: when in doubt,
    MASH.
    """
    try:
        limit = len(data) if max_bytes is None else max_bytes
        found = salvage(data, max_bytes=limit, thorough=thorough)
        return salvaged_concern(found)[1]
    except Exception:
        return True


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
    """Read and validate one file's bytes; never raises for anything a file can hold.

    A file that cannot be read as a form is refused with its message, but what can be salvaged
    of it still decides the safeguarding signal (and a MARF's type, so it is routed as one).
    """
    try:
        raw = read_form(
            data,
            max_bytes=config.max_file_bytes,
            max_depth=config.max_json_depth,
            timezone=config.timezone,
        )
    except IntakeError as error:
        form_type, concern = salvaged_concern(salvage(data, max_bytes=config.max_file_bytes))
        problem = FieldError(getattr(error, "field", None), str(error))
        return Validation(form_type if concern else None, None, (problem,), concern)
    return validate(
        raw,
        received_at,
        timezone=config.timezone,
        hubs=[hub.key for hub in config.hubs],
        max_messages=config.max_messages,
        council=config.council,
    )
