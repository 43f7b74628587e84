"""A root's template overrides, checked before it processes anything: each must render the
sample forms, or the root refuses to run (a message naming the document, exit 2), rather than
deliver forms without their letters.

Only a root whose ``templates/`` differs from the shipped templates is checked, and only when
that difference changes: the last overrides that rendered are remembered by their hash in
``.ehforms/templates-checked``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from importlib.abc import Traversable
from pathlib import Path

from ehforms.config import Config
from ehforms.content import TEMPLATES, builtin_templates, samples
from ehforms.documents import TITLES, plan
from ehforms.errors import ConfigError
from ehforms.forms import validate
from ehforms.mailroom import STATE
from ehforms.render import renderer_for
from ehforms.routing import ROUTED, Decision

CHECKED = "templates-checked"
# the samples are valid as of the demo's time of receipt
SAMPLE_TIME = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


def _files(folder: Traversable, prefix: str = "") -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for item in folder.iterdir():
        name = f"{prefix}{item.name}"
        if isinstance(item, Path) and item.is_symlink():  # never followed: the renderer refuses it
            found[name] = b"link to " + str(item.readlink()).encode()
        elif item.is_dir():
            found.update(_files(item, name + "/"))
        elif item.is_file():
            found[name] = item.read_bytes()
    return found


def overridden(root: Path) -> dict[str, bytes]:
    """The files of ``root/templates`` that are not the shipped ones, by name."""
    local = root / TEMPLATES
    if not local.is_dir():
        return {}
    shipped = _files(builtin_templates())
    return {name: data for name, data in _files(local).items() if shipped.get(name) != data}


def check_overrides(root: Path, config: Config) -> None:
    """Render every sample form's documents with the root's templates, when they differ from
    the shipped ones and from the last overrides that rendered."""
    changed = overridden(root)
    if not changed:
        return
    digest = hashlib.sha256()
    for name in sorted(changed):
        digest.update(name.encode() + b"\0" + hashlib.sha256(changed[name]).digest())
    key = digest.hexdigest()
    record = root / STATE / CHECKED
    if record.is_file() and record.read_text(encoding="utf-8").strip() == key:
        return
    renderer = renderer_for(root)
    for name, data in samples():
        validation = validate(json.loads(data), SAMPLE_TIME)
        if validation.data is None or validation.form_type is None:
            continue
        planned = plan(
            validation.form_type, validation.data, Decision(ROUTED), config, SAMPLE_TIME, []
        )
        for document in planned:
            try:
                renderer.document(document.name, document.context)
            except Exception as error:  # whatever a template does wrong, said in one line
                raise ConfigError(
                    f"The templates in {root / TEMPLATES} do not render the sample "
                    f"{validation.form_type} ({name}): the {TITLES[document.name].lower()} "
                    f"could not be made ({type(error).__name__}: {error}). Correct the "
                    "template, or delete it to use the one ehforms ships"
                ) from None
    if record.parent.is_dir():
        record.write_text(key + "\n", encoding="utf-8")
