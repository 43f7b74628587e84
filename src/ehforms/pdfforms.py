"""A practitioner's fillable PDF, read back: only its form fields (never its pages), within
limits, every failure an :class:`IntakeError` with a message business support can act on."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

from ehforms.errors import IntakeError
from ehforms.intake import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    LONDON,
    MAX_PDF_FIELDS,
    FieldIntakeError,
    _broken_text,
    _find,
    _megabytes,
    depth,
    uk_timestamp,
)

# pypdf's limits while it reads a form: no stream of a form inflates anywhere near this (a
# 200 MB bomb is stopped here, not at pypdf's 75 MB), and its warnings are not errors here.
PDF_STREAM_BYTES = 16 * 1024 * 1024


@contextmanager
def _pdf_reading() -> Iterator[None]:
    from pypdf import apply_configuration

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        limit = PDF_STREAM_BYTES
        with apply_configuration(
            maximum_declared_stream_length=limit,
            array_based_stream_maximum_output_length=limit,
            jbig2_maximum_output_length=limit,
            lzw_maximum_output_length=limit,
            run_length_maximum_output_length=limit,
            zlib_maximum_output_length=limit,
            brotli_maximum_output_length=limit,
            stream_decoding_work_maximum_length=4 * limit,
        ):
            yield


def _open_pdf(data: bytes) -> Any:
    from pypdf import PdfReader
    from pypdf.errors import PdfStreamError

    if b"%%EOF" not in data and b"%" not in data.rstrip()[-4:]:
        # pypdf fails on a PDF without its end marker (cut short), but only after reading it
        # backwards line by line: 5 seconds for 5 MB of short lines. Fail at once.
        raise PdfStreamError("Stream has ended unexpectedly")
    return PdfReader(io.BytesIO(data), strict=False)


def _count_fields(reader: Any, limit: int) -> int:
    """How many fields (counting their kids) the PDF's form has, counting no further than
    ``limit`` + 1, without reading them."""
    acro = reader.trailer["/Root"].get_object().get("/AcroForm")
    fields = acro.get_object().get("/Fields") if acro is not None else None
    if fields is None:
        return 0
    count = 0
    stack: list[Iterator[Any]] = [iter(fields.get_object())]
    while stack:
        ref = next(stack[-1], None)
        if ref is None:
            stack.pop()
            continue
        count += 1
        if count > limit:
            break
        item = ref.get_object()
        kids = item.get("/Kids") if hasattr(item, "get") else None
        if kids is not None:
            stack.append(iter(kids.get_object()))
    return count


def _pdf_answers(reader: Any) -> dict[str, Any]:
    """Each field's full name and value, as pypdf reads them."""
    if _count_fields(reader, MAX_PDF_FIELDS) > MAX_PDF_FIELDS:
        raise IntakeError(
            f"This PDF has more than {MAX_PDF_FIELDS:,} fields, far more than an ehforms form: "
            "fill in a form from `ehforms template`, or send the form as JSON"
        )
    fields = reader.get_fields() or {}
    return {str(name): field.get("/V") for name, field in fields.items()}


def _answer(value: Any) -> Any:
    """A field's value as text: a check box's name without its slash (``/Yes`` is ``Yes``),
    a string pypdf could not decode as Latin-1 (so a broken answer is still an answer, and a
    broken risk answer still counts), a list of choices as a list."""
    from pypdf.generic import NameObject

    if isinstance(value, NameObject):
        return str(value)[1:]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, list):
        return [text for item in value[:100] if isinstance(text := _answer(item), str)]
    return None


def read_pdf(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    timezone: ZoneInfo = LONDON,
) -> dict[str, Any]:
    """The answers in a fillable ehforms PDF (its AcroForm fields), as a form.

    Only the form's fields are read, never the pages' content. An encrypted, broken or
    oversized PDF, or one that is not an ehforms form, gets one clear message.
    """
    if len(data) > max_bytes:
        raise IntakeError(
            f"The PDF is larger than {_megabytes(max_bytes)}: a form is much smaller than this. "
            "Check it is the right file"
        )
    try:
        with _pdf_reading():
            reader = _open_pdf(data)
            if reader.is_encrypted:
                raise IntakeError(
                    "The PDF is protected with a password: save it without one and send it again"
                )
            values = _pdf_answers(reader)
    except IntakeError:
        raise
    except Exception as error:  # pypdf raises many kinds on broken files
        raise IntakeError(
            "The PDF could not be read (it may be damaged): save the form again from the PDF "
            f"and send it again ({type(error).__name__})"
        ) from None
    answers = {name: text for name, value in values.items() if (text := _answer(value))}
    if not answers.get("form_type"):
        raise IntakeError(
            "This PDF is not an ehforms form (it has no form_type field): fill in a form "
            "from `ehforms template`, or send the form as JSON"
        )
    from ehforms.prefill import unflatten

    try:
        if any(len(name) > 200 for name in answers):
            raise ValueError("a field name too long for an ehforms form")
        form = unflatten(answers)
    except Exception:  # names no ehforms form has: a part that is also an answer, and such
        raise IntakeError(
            "This PDF's fields are not laid out as an ehforms form's: fill in a form from "
            "`ehforms template`, or send the form as JSON"
        ) from None
    if depth(form, max_depth) > max_depth:
        raise IntakeError(
            f"This PDF's fields nest more than {max_depth} levels deep: an ehforms form never "
            "does. Fill in a form from `ehforms template`, or send the form as JSON"
        )
    where = _find(form, _broken_text)
    if where is not None:
        raise FieldIntakeError(
            where or None, "This text has a broken character in it: type the text again"
        )
    if isinstance(form.get("submitted_at"), str):
        form["submitted_at"] = uk_timestamp(form["submitted_at"], timezone)
    return form
