"""Making a working root (``ehforms init``), from the content ehforms ships."""

from __future__ import annotations

import os
from importlib.abc import Traversable
from pathlib import Path

from ehforms.config import CONFIG_FILE, default_toml, load_config
from ehforms.content import TEMPLATES, builtin_templates
from ehforms.errors import RootError
from ehforms.mailroom import Mailroom


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
