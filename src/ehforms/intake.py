"""Turning a file's bytes into a form (a dict), with size and depth limits. Writes nothing.

Every failure is an :class:`IntakeError` whose message a business support officer can act on;
no input, however broken, raises anything else.

:func:`salvage` reads what a file that is not a readable form still says about the fields that
decide a safeguarding concern, so that such a file still goes to MASH when it should.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import re
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

from ehforms.errors import IntakeError
from ehforms.forms.readers import shown
from ehforms.forms.safeguarding import signal_name

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
        return read_pdf(data, max_bytes=max_bytes, max_depth=max_depth, timezone=timezone)
    return read_json(data, max_bytes=max_bytes, max_depth=max_depth)


# -- salvage: what a file that is not a readable form still says ----------------------------

# Inflating a damaged PDF's compressed streams stops at these sizes (a bomb stays a bomb).
SALVAGE_STREAM_BYTES = 16 * 1024 * 1024
SALVAGE_INFLATE_BYTES = 64 * 1024 * 1024
# A form has each signal field once (a few times, in a PDF updated in place): past these, a
# PDF's raw objects are not looked at further (a hostile PDF could repeat one 100,000 times).
SALVAGE_PDF_FIELDS = 200
SALVAGE_PDF_REFERENCES = 50
SALVAGE_STREAMS = 10_000
# A field's dictionary is looked for within this distance of its name (they are far smaller).
_PDF_WINDOW = 2048

_WORD_GAP = r"[\W_]{0,3}"
_SIGNAL_KEY = (
    rf"(form{_WORD_GAP}type|risk{_WORD_GAP}of{_WORD_GAP}significant{_WORD_GAP}harm|"
    rf"child{_WORD_GAP}protection{_WORD_GAP}concern|level{_WORD_GAP}of{_WORD_GAP}need)"
)
# A signal field in any text that looks like JSON, YAML, a query string or XML, broken or not:
# its name in any spelling, then ':', '=' or '>', then a string, a list or a bare word.
_TEXT_FIELD = re.compile(
    _SIGNAL_KEY + r"[\"'?\s]{0,4}[:=>]\s*"
    r"(\"(?:[^\"\\\r\n]|\\.){0,300}\"?|'[^'\r\n]{0,300}'?|\[[^\]\r\n]{0,300}\]?"
    r"|[^\s,;}\]<)]{1,60})",
    re.IGNORECASE,
)
# A PDF field's partial name and value: literal strings (with escapes) or hex strings.
# (Possessive, and the closing bracket optional: an unterminated string is taken as it is and
# the scan goes on after it, so "/T (/T (/T (..." is read in one pass, not one per bracket.)
_PDF_STRING = rb"\((?:\\.|[^\\)]){0,2000}+\)?|<[0-9A-Fa-f\s]{0,4000}+>?"
_PDF_NAME = re.compile(rb"/T(?![A-Za-z0-9#])\s*(" + _PDF_STRING + rb")", re.DOTALL)
_PDF_VALUE = re.compile(
    rb"/V(?![A-Za-z0-9#])\s*("
    + _PDF_STRING
    + rb"|/[^\s/<>\[\]()]{0,100}+|\[[^\]]{0,4000}+\]?|\d+\s+\d+\s+R|[+-]?[0-9.]{1,40})",
    re.DOTALL,
)
_PDF_HINT = re.compile(rb"type|risk|harm|protection|level|need", re.IGNORECASE)
_PDF_STRINGS = re.compile(_PDF_STRING, re.DOTALL)
_PDF_ESCAPE = re.compile(rb"\\([nrtbf()\\]|[0-7]{1,3}|\r\n|\r|\n)?", re.DOTALL)
_PDF_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}
_DICT_EDGE = re.compile(rb"<<|>>")
_STREAM = re.compile(rb"(?<!end)stream(?:\r\n|\n|\r)")


def salvage(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, thorough: bool = True
) -> dict[str, list[Any]]:
    """What a file that cannot be read as a form still says about a safeguarding concern.

    Returns each signal field found (``form_type``, ``risk_of_significant_harm``,
    ``child_protection_concern``, ``level_of_need``, under any spelling of its name) with
    every value found for it, in the order found: ``{"risk_of_significant_harm": ["yes"]}``.
    :func:`ehforms.forms.safeguarding.is_concern` reads this as it reads a form (a list
    counts as any of its items).

    Reads the file up to ``max_bytes`` (the form size limit), in every encoding the intake
    accepts (UTF-8 with or without a BOM, UTF-16 and UTF-32) and, for a PDF, as far as it can
    be read: through pypdf (decrypting an empty user password, so a PDF with only an owner
    password is read) and, for a damaged one, field by field from its raw objects and its
    compressed streams (inflated within :data:`SALVAGE_INFLATE_BYTES`). ``thorough=False``
    skips pypdf and the inflating: cheap enough to order a backlog by a file's first bytes.

    Never raises for anything a file can hold.
    """
    data = data[:max_bytes]
    found: dict[str, list[Any]] = {}
    if b"%PDF" in data[:1024]:
        if thorough:
            _guarded(_salvage_pypdf, data, found)
        _guarded(_salvage_pdf_objects, data, data, found)
        if thorough:
            for inflated in _inflated_streams(data):
                _guarded(_salvage_pdf_objects, inflated, data, found)
    else:
        for text in _texts(data):
            _guarded(_salvage_text, text, found)
    return {key: _unique(values) for key, values in found.items()}


def _unique(values: list[Any]) -> list[Any]:
    """Each value once (the same field is found again in each encoding tried), in order."""
    seen: set[str] = set()
    unique = []
    for value in values:
        key = repr(value)
        if key not in seen:
            seen.add(key)
            unique.append(value)
    return unique


def _guarded(step: Callable[..., None], *args: Any) -> None:
    """One way of reading a broken file: when it fails, the others still run."""
    try:
        with _pdf_reading():
            step(*args)
    except Exception:  # noqa: S110 - a damaged file may break any reader; the rest still count
        pass


def _add(found: dict[str, list[Any]], name: Any, value: Any) -> None:
    key = signal_name(name)
    if key is not None:
        found.setdefault(key, []).append(value)


def _texts(data: bytes) -> Iterator[str]:
    """The file's text in each encoding it may be in, one at a time."""
    try:
        detected = json.detect_encoding(data)
    except Exception:
        detected = "utf-8"
    encodings = [detected]
    if not detected.startswith("utf-8"):
        encodings.append("utf-8")
    if b"\x00" in data:
        encodings += [e for e in ("utf-16-le", "utf-16-be") if e != detected]
    for encoding in encodings:
        yield data.decode(encoding, errors="replace")


def _salvage_text(text: str, found: dict[str, list[Any]]) -> None:
    for match in _TEXT_FIELD.finditer(text):
        _add(found, match.group(1), _text_value(match.group(2)))


def _text_value(token: str) -> Any:
    if token[0] == '"':
        if len(token) > 1 and token[-1] == '"':
            try:
                return json.loads(token)
            except ValueError:
                return token[1:-1]
        return token[1:]
    if token[0] == "'":
        return token.strip("'")
    if token[0] == "[":
        try:
            return json.loads(token)
        except ValueError:
            return [item.strip(" \"'") for item in token.strip("[]").split(",")]
    try:
        return json.loads(token)
    except ValueError:
        return token


def _salvage_pypdf(data: bytes, found: dict[str, list[Any]]) -> None:
    reader = _open_pdf(data)
    if reader.is_encrypted:
        reader.decrypt("")  # an owner password only: anyone may open it
    if _count_fields(reader, MAX_PDF_FIELDS) > MAX_PDF_FIELDS:
        return  # the raw objects are read instead, far more cheaply
    for name, value in _pdf_answers(reader).items():
        _add(found, name, _pypdf_value(value))


def _pypdf_value(value: Any) -> Any:
    if hasattr(value, "get_object"):
        value = value.get_object()
    answer = _answer(value)
    if answer is None and isinstance(value, int | float):
        return value
    return answer


def _salvage_pdf_objects(buffer: bytes, document: bytes, found: dict[str, list[Any]]) -> None:
    """Fields read straight from a PDF's objects (or a decompressed object stream's): each
    ``/T (name)`` with the ``/V`` of the same dictionary."""
    fields = 0
    references = _References(document)
    for match in _PDF_NAME.finditer(buffer):
        token = match.group(1)
        if token[:1] == b"(" and not _PDF_HINT.search(token):
            continue  # quicker than decoding each of 70,000 names that cannot be a signal
        name = _pdf_text(token)
        key = signal_name(name)
        if key is None:
            continue
        fields += 1
        if fields > SALVAGE_PDF_FIELDS:
            break
        start, end = _dictionary(buffer, match.start(), match.end())
        for value in _PDF_VALUE.finditer(buffer, start, end):
            found.setdefault(key, []).append(_pdf_value(value.group(1), document, references))


def _dictionary(buffer: bytes, start: int, end: int) -> tuple[int, int]:
    """The bounds of the innermost ``<< >>`` around ``start:end`` (within :data:`_PDF_WINDOW`
    either side, and within its object)."""
    low = max(0, start - _PDF_WINDOW)
    object_start = buffer.rfind(b" obj", low, start)
    low = max(low, object_start)
    high = min(len(buffer), end + _PDF_WINDOW)
    object_end = buffer.find(b"endobj", end, high)
    high = object_end if object_end >= 0 else high
    level = 0
    first = low
    for edge in reversed(list(_DICT_EDGE.finditer(buffer, low, start))):
        if edge.group() == b">>":
            level += 1
        elif level == 0:
            first = edge.start()
            break
        else:
            level -= 1
    level = 0
    last = high
    for edge in _DICT_EDGE.finditer(buffer, end, high):
        if edge.group() == b"<<":
            level += 1
        elif level == 0:
            last = edge.end()
            break
        else:
            level -= 1
    return first, last


def _pdf_text(token: bytes) -> str:
    """A PDF string's text: literal ``(...)`` with its escapes, or hex ``<...>``; UTF-16 when
    it starts with a byte order mark, otherwise PDFDocEncoding (read as Latin-1)."""
    if token[:1] == b"<":
        digits = re.sub(rb"[^0-9A-Fa-f]", b"", token)
        raw = bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode("ascii"))
    else:
        body = token[1:-1] if token.endswith(b")") else token[1:]
        raw = _PDF_ESCAPE.sub(_unescape, body)
    if raw[:2] == b"\xfe\xff":
        return raw[2:].decode("utf-16-be", errors="replace")
    if raw[:3] == b"\xef\xbb\xbf":
        return raw[3:].decode("utf-8", errors="replace")
    return raw.decode("latin-1")


def _unescape(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    if code is None or code in (b"\r\n", b"\r", b"\n"):
        return b""
    if code in _PDF_ESCAPES:
        return _PDF_ESCAPES[code]
    if code[:1].isdigit():
        return bytes([int(code, 8) & 0xFF])
    return code


class _References:
    """Where each object of a PDF starts (``12 0 obj``), indexed in one pass when a value
    first refers to one, for at most :data:`SALVAGE_PDF_REFERENCES` look-ups."""

    def __init__(self, document: bytes) -> None:
        self.document = document
        self.left = SALVAGE_PDF_REFERENCES
        self.starts: dict[tuple[bytes, bytes], int] | None = None

    def value(self, number: bytes, generation: bytes) -> Any:
        if self.left <= 0:
            return None
        self.left -= 1
        if self.starts is None:
            self.starts = {}
            for match in _OBJECT.finditer(self.document):
                self.starts.setdefault((match[1].lstrip(b"0") or b"0", match[2]), match.end())
        start = self.starts.get((number.lstrip(b"0") or b"0", generation))
        if start is None:
            return None
        target = _PDF_STRINGS.match(self.document, start)
        return _pdf_text(target.group()) if target else None


_OBJECT = re.compile(rb"(?<![0-9])([0-9]{1,10})\s+([0-9]{1,5})\s+obj\s*")


def _pdf_value(token: bytes, document: bytes, references: _References) -> Any:
    if token[:1] in (b"(", b"<"):
        return _pdf_text(token)
    if token[:1] == b"/":
        name = re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes.fromhex(m[1].decode()), token[1:])
        return name.decode("latin-1")  # a check box's /Yes or /Off
    if token[:1] == b"[":
        return [_pdf_text(item.group()) for item in _PDF_STRINGS.finditer(token)]
    reference = re.fullmatch(rb"(\d+)\s+(\d+)\s+R", token)
    if reference:  # the value is an object of its own
        return references.value(reference[1], reference[2])
    return token.decode("latin-1")  # a number


def _inflated_streams(data: bytes) -> Iterator[bytes]:
    """Each Flate-compressed stream of a PDF that may hold fields, inflated as far as it goes
    (a truncated stream gives what it has), within the salvage budgets. One pass over the
    file: where a stream ends is looked for once, and no stream is copied to be inflated."""
    budget = SALVAGE_INFLATE_BYTES
    view = memoryview(data)
    streams = 0
    stop = -1
    for match in _STREAM.finditer(data):
        if budget <= 0 or streams >= SALVAGE_STREAMS:
            return
        if b"Flate" not in data[max(0, match.start() - 512) : match.start()]:
            continue
        streams += 1
        if stop < match.end():
            stop = data.find(b"endstream", match.end())
            stop = len(data) if stop < 0 else stop
        inflated = _inflate(view[match.end() : stop], min(SALVAGE_STREAM_BYTES, budget))
        budget -= len(inflated)
        if b"/T" in inflated:
            yield inflated


def _inflate(compressed: memoryview, limit: int) -> bytes:
    inflater = zlib.decompressobj()
    parts: list[bytes] = []
    size = 0
    for offset in range(0, len(compressed), 65536):
        try:
            part = inflater.decompress(compressed[offset : offset + 65536], limit - size)
        except zlib.error:
            break
        parts.append(part)
        size += len(part)
        if size >= limit or inflater.eof:
            break
    return b"".join(parts)
