"""What a file that is not a readable form still says about the fields that decide a
safeguarding concern, so that such a file still goes to MASH when it should. Never raises."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from ehforms.forms.safeguarding import signal_name
from ehforms.intake import DEFAULT_MAX_BYTES, MAX_PDF_FIELDS
from ehforms.pdfforms import _answer, _count_fields, _open_pdf, _pdf_answers, _pdf_reading

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
    """One way of reading a broken file: when it fails, the others still run. Only pypdf's
    reading is under pypdf's limits (a JSON file never loads pypdf)."""
    try:
        if step is _salvage_pypdf:
            with _pdf_reading():
                step(*args)
        else:
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
