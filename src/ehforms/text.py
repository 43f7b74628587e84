"""Text from a form as a document may hold it: pure functions, used by the documents' facts
(``documents``) and the template engine (``render``)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from zoneinfo import ZoneInfo

# What a value may hold in a document. Line breaks of every kind become "\n" (docxtpl makes a
# line break of it; HTML folds it into a space). Then these go: control characters but tab and
# newline (not allowed in DOCX XML; docxtpl would make a new paragraph of U+0007 and a page
# break of U+000C); the bidirectional marks, embeddings, overrides and isolates (U+202E would
# show a name backwards), and the deprecated format characters beside them; lone surrogates
# (which cannot be written as UTF-8 at all); and noncharacters (U+FFFE, U+FFFF...).
_LINE_BREAKS = re.compile("\r\n?|[\x85\u2028\u2029]")
_UNWANTED = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u206f"
    "\ud800-\udfff"
    "\ufdd0-\ufdef\ufffe\uffff"
    + "".join(
        f"{chr(plane + 0xFFFE)}{chr(plane + 0xFFFF)}" for plane in range(0x10000, 0x110000, 0x10000)
    )
    + "]"
)
LRI = "\u2066"  # LEFT-TO-RIGHT ISOLATE: English (or other left-to-right) writing leads the line
RLI = "\u2067"  # RIGHT-TO-LEFT ISOLATE: the line is right-to-left writing only
PDI = "\u2069"  # POP DIRECTIONAL ISOLATE: the end of the value
_RIGHT_TO_LEFT = frozenset({"R", "AL", "AN"})  # Hebrew, Arabic (and others), Arabic digits


def plain_text(text: str) -> str:
    """``text`` as a document may hold it: line breaks as ``\\n``, and without the control,
    bidirectional-formatting, surrogate and noncharacter code points that a form may carry."""
    return _UNWANTED.sub("", _LINE_BREAKS.sub("\n", text))


def _right_to_left(text: str) -> bool:
    return not text.isascii() and any(
        unicodedata.bidirectional(char) in _RIGHT_TO_LEFT for char in text
    )


def _isolate_line(line: str) -> str:
    classes = {unicodedata.bidirectional(char) for char in line}
    if not classes & _RIGHT_TO_LEFT:
        return line
    return f"{LRI if 'L' in classes else RLI}{line}{PDI}"


def isolate(text: str) -> str:
    """Each line of ``text`` that holds right-to-left writing, isolated (… PDI).

    The English around the value, and the numbers after it ("14 Example Street"), then stay
    where they are. A line of right-to-left writing only (an Arabic or Hebrew name) is isolated
    right to left; a line that also holds English ("ليلى worries about sleep") left to right,
    the documents' own direction, so it reads in the order it was written and the name in it
    right to left. (First-strong isolation, as HTML's ``dir="auto"``, would turn that line
    round.) Text without right-to-left writing is returned as it is: an English document is
    unchanged.
    """
    if not _right_to_left(text):
        return text
    return "\n".join(_isolate_line(line) for line in text.split("\n"))


def long_date(day: dt.date | None) -> str:
    """``24 November 2026``: the one way a date is written for a person."""
    return f"{day.day} {day:%B %Y}" if day else ""


def long_time(moment: dt.datetime, timezone: ZoneInfo) -> str:
    """``24 November 2026 at 09:00``, in the council's time zone."""
    local = moment.astimezone(timezone)
    return f"{long_date(local.date())} at {local:%H:%M}"
