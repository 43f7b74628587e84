"""The one decision "is this a safeguarding concern?": a form that must go to MASH at once,
urgent, whatever else is wrong with it. When in doubt, MASH.

:func:`is_concern` makes it, for a form read whole (by :func:`ehforms.forms.validate`) and for
what could be salvaged from a file that could not be read (``ehforms.salvage.salvage``), with
the lenient readers of :mod:`ehforms.forms.readers`, which say "could mean yes" of whatever the
validator's fields accept as yes. So a value the validator reads as a risk, or as level 5,
always sends the form to MASH.

A concern is:

- every MARF (a form type that could mean ``marf``, anywhere in the form);
- a ``risk_of_significant_harm`` or ``child_protection_concern`` that could mean yes, on any
  form or none (on a form other than a notification or a MARF it is a field that form does not
  have, which is itself a sign the practitioner meant to say it);
- a ``level_of_need`` that could mean 5, except a transfer's own level (level 5 is an Early Help
  level for a joint-worked transfer, which goes to its hub).

Fields are found at any depth and under any spelling of their names (``Risk of significant
harm``, ``riskOfSignificantHarm``, ``form/level_of_need``), so that a form wrapped in another
object, or laid out by another form builder, still says what it says.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ehforms.forms.readers import may_be_level_5, may_be_marf, may_be_true

FORM_TYPE = "form_type"
RISK = "risk_of_significant_harm"
PROTECTION = "child_protection_concern"
LEVEL = "level_of_need"
SIGNALS = (FORM_TYPE, RISK, PROTECTION, LEVEL)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_INDEX = re.compile(r"\[[^\]]*\]")
# Cheap test before a key is normalised: every signal's name holds one of these.
_HINTS = ("type", "risk", "harm", "protection", "level", "need")
_HINT = re.compile("|".join(_HINTS), re.IGNORECASE)


def signal_name(key: Any) -> str | None:
    """The signal a field's name stands for, in any spelling, or ``None``.

    ``"Risk of significant harm"``, ``"riskOfSignificantHarm"``, ``"RISK-OF-SIGNIFICANT-HARM"``
    and ``"form/risk_of_significant_harm"`` (a PDF field inside a group) all stand for
    ``risk_of_significant_harm``.
    """
    if not isinstance(key, str):
        return None
    if key in SIGNALS:
        return key
    if len(key) > 200:
        return None
    if not _HINT.search(key):
        return None
    text = unicodedata.normalize("NFKC", _CAMEL.sub("_", key)).casefold()
    parts = [part for part in re.split(r"[/.]", _INDEX.sub("", text)) if part.strip()]
    name = _NOT_WORD.sub("_", parts[-1] if parts else "").strip("_")
    return name if name in SIGNALS else None


@dataclass
class Signals:
    """Every value given for a signal field: at the top of the form, and deeper down."""

    top: dict[str, list[Any]] = field(default_factory=dict)
    nested: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, name: str, value: Any, *, top: bool) -> None:
        (self.top if top else self.nested).setdefault(name, []).append(value)

    def values(self, name: str, *, top: bool = True, nested: bool = True) -> list[Any]:
        return (self.top.get(name, []) if top else []) + (
            self.nested.get(name, []) if nested else []
        )


_CONTAINERS = (dict, list)
# The signal (or None) of names seen before: a form's groups repeat the same few names.
_KNOWN: dict[Any, str | None] = {}
_SCALARS = (str, int, float, bool, type(None))


def _signal_keys(node: Mapping[Any, Any]) -> list[tuple[Any, str]]:
    """The keys of one group that stand for a signal, with the signal's name (among 100,000
    keys, the few worth a look are found in one scan of them all)."""
    if len(node) <= 16:  # a group of a form: its names recur, so each is looked at once
        keys = []
        for key in node:
            if key in _KNOWN:
                name = _KNOWN[key]
            else:
                name = signal_name(key)
                if isinstance(key, str) and len(key) <= 64:
                    if len(_KNOWN) >= 4096:
                        _KNOWN.clear()
                    _KNOWN[key] = name
            if name is not None:
                keys.append((key, name))
        return keys
    try:
        joined = "\n".join(node)
    except TypeError:  # a key that is not text: only in a form built in code
        candidates = [key for key in node if isinstance(key, str)]
    else:
        lowered = joined.lower()
        if len(lowered) != len(joined):  # a letter whose lower case is longer, like İ
            candidates = [key for key in node if _HINT.search(key)]
        else:
            lines = set()
            for hint in _HINTS:  # str.find is far quicker than a regular expression here
                at = lowered.find(hint)
                while at >= 0:
                    start = lowered.rfind("\n", 0, at) + 1
                    end = lowered.find("\n", at)
                    end = len(lowered) if end < 0 else end
                    lines.add((start, end))
                    at = lowered.find(hint, end)
            candidates = [joined[start:end] for start, end in sorted(lines)]
            if any(key not in node for key in candidates):  # a key with a line break in it
                candidates = [key for key in node if _HINT.search(key)]
    keys = []
    for key in candidates:
        name = signal_name(key)
        if name is not None:
            keys.append((key, name))
    return keys


def _other(item: Any) -> bool:
    """A container other than a plain dict or list (a form built in code, not read from JSON)."""
    return isinstance(item, Mapping | tuple) and not isinstance(item, str)


def collect(form: Any) -> Signals:
    """The signal fields of a form (or any JSON value), at any depth.

    One pass a level, no recursion: safe and quick on a form of any size the intake lets
    through.
    """
    found = Signals()
    level = [form] if isinstance(form, Mapping | list | tuple) else []
    top = True
    while level:
        below: list[Any] = []
        for node in level:
            if not node:
                continue
            items: Iterable[Any]
            if isinstance(node, dict | Mapping):
                for key, name in _signal_keys(node):
                    found.add(name, node[key], top=top)
                items = node.values()
            else:
                items = node
            below += [
                item
                for item in items
                if type(item) in _CONTAINERS or (type(item) not in _SCALARS and _other(item))
            ]
        level = below
        top = False
    return found


def is_concern(form: Any, form_type: str | None) -> bool:
    """Whether a form is a safeguarding concern, to go to MASH at once whatever else is wrong.

    ``form`` is the form as read (a dict, or anything a file held), or what was salvaged from a
    file that could not be read (each signal field with a list of the values found: a list
    counts as any of its items). ``form_type`` is the type the validator read, or ``None``
    when it is missing or unknown.
    """
    if form_type == "marf":
        return True
    found = collect(form)
    if any(may_be_marf(value) for value in found.values(FORM_TYPE)):
        return True
    for name in (RISK, PROTECTION):
        if any(may_be_true(value) for value in found.values(name)):
            return True
    levels = found.values(LEVEL, top=form_type != "transfer")
    return any(may_be_level_5(value) for value in levels)


__all__ = ["SIGNALS", "Signals", "collect", "is_concern", "signal_name"]
