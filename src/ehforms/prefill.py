"""Forms for practitioners: blank, or prefilled from what routed forms said of a case.

So a family tells its story once: a new form for a case starts with the children, family,
address, consent and lead practitioner that earlier forms gave. The layout of a fillable form
comes from the marshmallow schema, so the PDF's field names are the JSON paths (with ``/`` for
``.``, which PDF field names may not hold): ``children[0]/date_of_birth``.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema
from marshmallow import fields as mm

from ehforms.errors import EhformsError
from ehforms.forms import SCHEMAS
from ehforms.forms.dates import Date, Timestamp
from ehforms.forms.fields import (
    Bool,
    Choice,
    Labelled,
    Level,
    LongText,
    Many,
    Part,
)
from ehforms.text import plain_text

# What a new form takes from earlier forms for the same case, newest first.
CARRIED = ("children", "family", "address", "consent", "lead_practitioner")
SLOTS = {"children": 4, "family": 5, "default": 4, "lines": 5}


class PrefillRefused(EhformsError):
    """Nothing of this case may be offered (the family withdrew consent)."""


@dataclass
class Field:
    name: str
    label: str
    value: str = ""
    kind: str = "text"  # text, textarea, select
    choices: tuple[str, ...] = ()
    hint: str = ""
    required: bool = False


@dataclass
class Section:
    title: str
    fields: list[Field] = field(default_factory=list)


def _text(value: Any) -> str:
    """An answer as a form field holds it: without the control and bidirectional-formatting
    characters an earlier form may have carried (see :func:`ehforms.render.plain_text`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return plain_text(str(value))


def _title(text: str) -> str:
    return text[:1].upper() + text[1:]


def _leaf(path: str, field_obj: mm.Field, value: Any) -> Field:
    label = _title(field_obj.label) if isinstance(field_obj, Labelled) else path
    if isinstance(field_obj, Bool):
        return Field(
            path,
            _title(field_obj.label) + "?",
            _text(value),
            "select",
            ("", "yes", "no"),
            required=field_obj.required,
        )
    if isinstance(field_obj, Level):
        return Field(
            path,
            label,
            _text(value),
            "select",
            ("", *(str(level) for level in field_obj.allowed)),
            required=True,
        )
    if isinstance(field_obj, Choice):
        return Field(
            path,
            label,
            _text(value),
            "select",
            ("", *field_obj.choices),
            required=field_obj.required,
        )
    if isinstance(field_obj, Timestamp):
        return Field(path, label, _text(value), hint="DD/MM/YYYY HH:MM", required=True)
    if isinstance(field_obj, Date):
        return Field(path, label, _text(value), hint="DD/MM/YYYY", required=field_obj.required)
    kind = "textarea" if isinstance(field_obj, LongText) else "text"
    return Field(path, label, _text(value), kind, required=field_obj.required)


def _walk(schema: Schema, values: Mapping[str, Any], prefix: str) -> list[Field]:
    found = []
    for name, field_obj in schema.fields.items():
        path = f"{prefix}{name}"
        value = values.get(name) if isinstance(values, Mapping) else None
        if isinstance(field_obj, Part):
            found += _walk(field_obj.schema, value or {}, f"{path}/")
        elif isinstance(field_obj, Many) and isinstance(field_obj.inner, Part):
            items = value if isinstance(value, list) else []
            for index in range(max(len(items) + 1, SLOTS["default"])):
                item = items[index] if index < len(items) else {}
                found += _walk(field_obj.inner.schema, item, f"{path}[{index}]/")
        elif isinstance(field_obj, Many):
            found += _lines(path, field_obj, value)
        else:
            found.append(_leaf(path, field_obj, value))
    return found


def sections(form_type: str, values: Mapping[str, Any] | None = None) -> list[Section]:
    """The form's questions, grouped as a person fills them in, with any prefilled answers."""
    values = values or {"form_type": form_type}
    schema = SCHEMAS[form_type]()
    result: list[Section] = [Section("About this form")]
    for name, field_obj in schema.fields.items():
        value = values.get(name)
        if isinstance(field_obj, Part):
            result.append(
                Section(_title(field_obj.label), _walk(field_obj.schema, value or {}, f"{name}/"))
            )
        elif isinstance(field_obj, Many) and isinstance(field_obj.inner, Part):
            items = value if isinstance(value, list) else []
            slots = max(len(items) + 1, SLOTS.get(name, SLOTS["default"]))
            item_label = _title(field_obj.item)
            for index in range(slots):
                item = items[index] if index < len(items) else {}
                result.append(
                    Section(
                        f"{item_label} {index + 1}",
                        _walk(field_obj.inner.schema, item, f"{name}[{index}]/"),
                    )
                )
        elif isinstance(field_obj, Many):
            result.append(Section(_title(field_obj.label), _lines(name, field_obj, value)))
        else:
            result[0].fields.append(_leaf(name, field_obj, value))
    return result


def _lines(path: str, field_obj: Many, value: Any) -> list[Field]:
    """A list of lines of text: one box per line, with a spare."""
    items = value if isinstance(value, list) else []
    found = []
    for index in range(max(len(items) + 1, SLOTS["lines"])):
        leaf = _leaf(
            f"{path}[{index}]", field_obj.inner, items[index] if index < len(items) else None
        )
        leaf.label = f"{_title(field_obj.label)} ({index + 1})"
        leaf.required = field_obj.required and index == 0
        found.append(leaf)
    return found


def skeleton(form_type: str, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON form: every field present, blanks as "" (which counts as missing)."""
    data = unflatten(
        {f.name: f.value for s in sections(form_type, values) for f in s.fields}, keep_blank=True
    )
    data["form_type"] = form_type
    return data


_TOKEN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d{1,3}\])*)$")


def unflatten(flat: Mapping[str, str], *, keep_blank: bool = False) -> dict[str, Any]:
    """``{"children[0]/given_name": "Leo"}`` back to ``{"children": [{"given_name": "Leo"}]}``.

    Blank answers are dropped, and so are list items left wholly blank, unless ``keep_blank``.
    An answer's line breaks (a PDF viewer writes ``\\r``) become ``\\n``, and control and
    bidirectional-formatting characters go (a document isolates right-to-left writing with
    them: they are not part of what the practitioner wrote).
    """
    root: dict[str, Any] = {}
    for name, raw in flat.items():
        value = plain_text(raw).strip() if isinstance(raw, str) else raw
        if not keep_blank and value in ("", None):
            continue
        parts = name.split("/")
        node: Any = root
        for position, part in enumerate(parts):
            match = _TOKEN.match(part)
            if not match:
                break
            key, indexes = match.group(1), [int(i) for i in re.findall(r"\d+", match.group(2))]
            last = position == len(parts) - 1
            if not indexes:
                if last:
                    node[key] = value
                else:
                    node = node.setdefault(key, {})
                continue
            items = node.setdefault(key, {})
            for depth, index in enumerate(indexes):
                final = depth == len(indexes) - 1
                if final and last:
                    items[index] = value
                elif final:
                    items = items.setdefault(index, {})
                else:
                    items = items.setdefault(index, {})
            node = items
    return _lists(root, keep_blank)


def _lists(node: Any, keep_blank: bool) -> Any:
    if isinstance(node, dict) and node and all(isinstance(k, int) for k in node):
        items = [_lists(node[k], keep_blank) for k in sorted(node)]
        return items if keep_blank else [i for i in items if i not in ("", None, {}, [])]
    if isinstance(node, dict):
        return {k: _lists(v, keep_blank) for k, v in node.items()}
    return node


def carried(
    form_type: str, history: Iterable[tuple[str, Mapping[str, Any]]], case_id: str
) -> dict[str, Any]:
    """What earlier forms of a case say that a new ``form_type`` form can start with.

    ``history`` is oldest first. After a ``consent_withdrawn`` closure nothing is offered.
    """
    history = list(history)
    if not history:
        raise PrefillRefused(f"ehforms knows nothing of case {case_id}: start from a blank form")
    for kind, data in reversed(history):
        if kind == "closure":
            if data.get("closure_reason") == "consent_withdrawn":
                raise PrefillRefused(
                    f"The family of case {case_id} withdrew their consent: nothing of theirs is "
                    "offered for prefill. Start from a blank form"
                )
            break
    wanted = SCHEMAS[form_type]().fields
    values: dict[str, Any] = {"form_type": form_type, "case_id": case_id}
    for kind, data in reversed(history):  # newest first: the latest word wins
        for key in CARRIED:
            if key in wanted and key not in values and data.get(key):
                values[key] = copy.deepcopy(data[key])
        if kind in ("rfas", "closure") and "lead_practitioner" in wanted:
            values.setdefault("lead_practitioner", copy.deepcopy(data.get("lead_practitioner")))
    return {k: v for k, v in values.items() if v not in (None, [], {})}
