"""How a yes-or-no answer, a level of need and a form type are read: one place for both the
validator and the safeguarding check.

Each has a strict reader, which the marshmallow field types use to accept a value, and a
lenient one, which the safeguarding check uses and which is built on the strict one: whatever
the strict reader accepts as "yes", level 5 or ``marf`` the lenient one says could mean it. The
lenient readers fail safe: only a clear "no" (or nothing at all) is not a possible "yes"; a
level is a possible 5 when any number in it is near 5 or it names significant harm.

Pure and cheap on hostile input: no recursion, and every string is read in linear time.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any

from ehforms.registry import NAMES

FORM_TYPES = NAMES  # the registry's form types, in its order

# What the schema accepts for a yes-or-no field, once trimmed, in any case and any width.
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "on", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "off", "0"})
# Further answers that clearly say "no" (or "not applicable"): not accepted by the schema,
# but not a possible "yes" either.
ALSO_NO = frozenset(
    {"none", "nil", "nope", "na", "n/a", "n.a", "not applicable", "no risk", "not at risk"}
)

# Invisible characters a copy and paste brings along (soft hyphen, zero-width space and
# joiners, direction marks, word joiner, BOM).
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_SPACES = re.compile(r"\s+")
_ENDS = " .,;:!?'\"`()[]{}<>*_-"
_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)")
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")  # a decimal digit of another script, like ٥
# A number from 4 (exclusive) to 6 (exclusive): 5, 05, 5.0, 5,5, 4.5...; not 15, 1.5 or 50.
_NEAR_FIVE = re.compile(
    r"(?<![0-9])(?<![0-9][.,])0*(?:5(?:[.,][0-9]*)?|4[.,][0-9]*[1-9][0-9]*)(?![0-9])"
)
_FIVE_WORDS = re.compile(
    r"\bfive\b|\bv\b|significant\s*harm|child\s*protection|\bmash\b|\bcp\b|\bs\.?\s*47\b"
)
_MARF = re.compile(r"marf|multi\W*agency\W*referral|referral\W*to\W*mash")

# A lenient reader looks at no more than this many nested values in one answer.
_MAX_ITEMS = 10_000


def normal_text(text: str) -> str:
    """Text as compared: compatibility forms folded (full-width ``ＹＥＳ`` is ``yes``, ``５`` is
    ``5``), invisible characters dropped, case folded, runs of spaces made one, trimmed."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    return _SPACES.sub(" ", text.casefold()).strip()


def shown(name: Any, limit: int = 60) -> str:
    """A name from a file as a message may quote it: one line of printable characters, at most
    ``limit`` of them (a made-up field name of a megabyte is not copied into a receipt)."""
    text = "".join(c if c.isprintable() else " " for c in str(name)[: limit * 4])
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def blank(value: Any) -> bool:
    """Nothing given: null, empty or spaces only, or an empty list or group."""
    if value is None:
        return True
    if isinstance(value, str):
        return not _INVISIBLE.sub("", value).strip()
    if isinstance(value, list | tuple | Mapping):
        return all(blank(item) for item in _items(value))
    return False


def _items(value: Any) -> Iterator[Any]:
    """The scalar answers inside a list or group, at any depth (at most ``_MAX_ITEMS``;
    beyond that one more item, ``...``, stands for the rest)."""
    stack: list[Iterator[Any]] = [iter(value.values() if isinstance(value, Mapping) else value)]
    seen = 0
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
            continue
        seen += 1
        if seen > _MAX_ITEMS:
            yield "..."
            return
        if isinstance(item, Mapping):
            stack.append(iter(item.values()))
        elif isinstance(item, list | tuple):
            stack.append(iter(item))
        else:
            yield item


_END = object()


# -- yes or no ----------------------------------------------------------------------------


def read_bool(value: Any) -> bool | None:
    """A yes-or-no answer as the schema accepts it, or ``None`` when it is not one.

    ``true``/``false``; the numbers 1 and 0; the words ``true``, ``t``, ``yes``, ``y``, ``on``,
    ``1`` and their opposites, in any case or width, with spaces around.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return True if value == 1 else False if value == 0 else None
    if isinstance(value, float):
        return True if value == 1 else False if value == 0 else None
    if isinstance(value, str) and len(value) <= 100:
        word = normal_text(value)
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def _clear_no(value: Any) -> bool:
    """A scalar that plainly says no."""
    strict = read_bool(value)
    if strict is not None:
        return not strict
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == 0
    if isinstance(value, str) and len(value) <= 100:
        word = normal_text(value).strip(_ENDS)
        if word in FALSE_WORDS or word in ALSO_NO:
            return True
        number = _OTHER_DIGIT.sub(lambda m: str(int(m.group())), word)
        if _NUMBER.fullmatch(number):
            try:
                return float(number.replace(",", ".")) == 0
            except ValueError:
                return False
    return False


def may_be_true(value: Any) -> bool:
    """Whether an answer to a yes-or-no question could mean yes (fail safe).

    Only a clear no (``false``, ``0``, ``"no"``, ``"none"``, ``"n/a"``...) or nothing at all is
    not: ``"maybe"``, ``"unknown"``, ``2`` or ``"yes, see notes"`` could mean yes. In a list or
    group, any item that could mean yes counts. Whatever :func:`read_bool` reads as true
    counts.
    """
    if read_bool(value) is True:
        return True
    if isinstance(value, list | tuple | Mapping):
        return any(may_be_true(item) for item in _items(value))
    return not blank(value) and not _clear_no(value)


# -- level of need ------------------------------------------------------------------------


def read_level(value: Any) -> int | None:
    """A level of need as the schema accepts it, or ``None`` when it is not a whole number.

    A whole number, or text of decimal digits in any script or width (``"05"``, ``"５"``),
    trimmed. Not ``true``, not ``5.0``.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and len(value) <= 100:
        text = normal_text(value)
        if text.isdecimal() and len(text) <= 6:
            return int(text)
    return None


def may_be_level_5(value: Any) -> bool:
    """Whether a level of need could mean level 5 (fail safe).

    Any number from just over 4 to just under 6 (``5``, ``"05"``, ``"５"``, ``5.0``,
    ``"level 5"``, ``"4-5"``, ``4.5``), the word five, or text naming significant harm, child
    protection or MASH. In a list or group, any item. Whatever :func:`read_level` reads as 5
    counts.
    """
    if read_level(value) == 5:
        return True
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int):
        return False
    if isinstance(value, float):
        return math.isfinite(value) and 4 < value < 6
    if isinstance(value, str):
        text = normal_text(value)
        if not text.isascii():
            text = _OTHER_DIGIT.sub(lambda m: str(int(m.group())), text)
        return bool(_NEAR_FIVE.search(text) or _FIVE_WORDS.search(text))
    if isinstance(value, list | tuple | Mapping):
        return any(may_be_level_5(item) for item in _items(value))
    return False


# -- form type ----------------------------------------------------------------------------


def read_form_type(value: Any) -> str | None:
    """The form type as the schema accepts it (in any case or width, trimmed), or ``None``."""
    if isinstance(value, str) and len(value) <= 100:
        text = normal_text(value)
        if text in FORM_TYPES:
            return text
    return None


def may_be_marf(value: Any) -> bool:
    """Whether a form type could mean a MARF: ``marf`` in any spelling, or text naming a
    multi-agency referral. In a list or group, any item."""
    if read_form_type(value) == "marf":
        return True
    if isinstance(value, str):
        return bool(_MARF.search(normal_text(value[:1000])))
    if isinstance(value, list | tuple | Mapping):
        return any(may_be_marf(item) for item in _items(value))
    return False


__all__ = [
    "FORM_TYPES",
    "blank",
    "may_be_level_5",
    "may_be_marf",
    "may_be_true",
    "normal_text",
    "read_bool",
    "read_form_type",
    "read_level",
    "shown",
]
