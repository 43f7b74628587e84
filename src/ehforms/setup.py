"""Making a working root, and the content ehforms ships: templates and sample forms."""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from ehforms.config import CONFIG_FILE, default_toml, load_config
from ehforms.errors import RootError
from ehforms.mailroom import Mailroom

TEMPLATES = "templates"


def builtin_templates() -> Traversable:
    """The templates shipped with ehforms: in the wheel, or at the top of a source checkout."""
    packaged = resources.files("ehforms") / "content" / TEMPLATES
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / TEMPLATES


def samples() -> Iterator[tuple[str, bytes]]:
    """The sample forms (synthetic families) that ``ehforms demo`` puts through a root."""
    folder = resources.files("ehforms") / "samples"
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if item.name.endswith(".json"):
            yield item.name, item.read_bytes()


def _copy_tree(source: Traversable, target: Path, mailroom: Mailroom) -> list[str]:
    made = []
    mailroom.mkdir(target)
    for item in source.iterdir():
        destination = target / item.name
        if item.is_dir():
            made += _copy_tree(item, destination, mailroom)
        elif not destination.exists():
            mailroom.write_file(destination, item.read_bytes())
            made.append(str(destination))
    return made


def init_root(directory: Path) -> list[str]:
    """Make (or complete) a working root; returns a line for each thing made."""
    lines = []
    if directory.exists() and not directory.is_dir():
        raise RootError(f"{directory} is a file, not a folder")
    if not directory.exists():
        directory.mkdir(parents=True)
        os.chmod(directory, 0o750)  # noqa: S103 - group (hub staff) read, others nothing
        lines.append(f"Made {directory}")
    config_path = directory / CONFIG_FILE
    if not config_path.exists():
        config_path.write_text(default_toml(), encoding="utf-8")
        os.chmod(config_path, 0o640)
        lines.append(f"Wrote {config_path}")
    config = load_config(directory)
    mailroom = Mailroom(directory, config)
    for folder in mailroom.init():
        lines.append(f"Made {folder.relative_to(mailroom.root)}/")
    templates = directory / TEMPLATES
    if not templates.exists():
        copied = _copy_tree(builtin_templates(), templates, mailroom)
        lines.append(f"Copied {len(copied)} template files into {templates}")
    return lines
