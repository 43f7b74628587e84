"""Making a working root (``ehforms init``), from the content ehforms ships."""

from __future__ import annotations

import os
from importlib.abc import Traversable
from pathlib import Path

from ehforms.config import CONFIG_FILE, load_config
from ehforms.content import TEMPLATES, builtin_templates
from ehforms.errors import ConfigError, RootError
from ehforms.mailroom import Mailroom
from ehforms.profiles import DEFAULT_PROFILE, profile_templates, profile_text, set_locally


def _copy_tree(source: Traversable, target: Path, mailroom: Mailroom | _Plain) -> list[str]:
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


def init_root(directory: Path, profile: str | None = None) -> list[str]:
    """Make (or complete) a working root from a council profile (``example`` unless one is
    named); returns a line for each thing made. A profile with keys to set locally is written,
    with its templates, but its mailboxes wait until the keys are set and ``init`` runs again.
    """
    lines = []
    if directory.exists() and not directory.is_dir():
        raise RootError(f"{directory} is a file, not a folder")
    name = profile or DEFAULT_PROFILE
    text = profile_text(name)  # an unknown profile is refused before anything is made
    if not directory.exists():
        directory.mkdir(parents=True)
        os.chmod(directory, 0o750)  # noqa: S103 - group (hub staff) read, others nothing
        lines.append(f"Made {directory}")
    config_path = directory / CONFIG_FILE
    if not config_path.exists():
        config_path.write_text(text, encoding="utf-8")
        os.chmod(config_path, 0o640)
        lines.append(f"Wrote {config_path} (council profile {name})")
    elif profile is not None and f'profile = "{profile}"' not in config_path.read_text("utf-8"):
        raise RootError(
            f"{config_path} is already there, from another profile. Leave out --profile to "
            "complete this root, or choose a new folder"
        )
    templates = directory / TEMPLATES
    try:
        config = load_config(directory)
    except ConfigError:
        import tomllib

        with config_path.open("rb") as handle:
            keys = set_locally(tomllib.load(handle))
        if not keys:
            raise
        _copy_templates(name, templates, None)
        return [
            *lines,
            f"Before ehforms can use {directory}, set these keys in {config_path}: "
            + ", ".join(keys),
            f"Then run ehforms init {directory} again to make the mailboxes",
        ]
    mailroom = Mailroom(directory, config)
    for folder in mailroom.init():
        lines.append(f"Made {folder.relative_to(mailroom.root)}/")
    lines += _copy_templates(name, templates, mailroom)
    return lines


def _copy_templates(profile: str, templates: Path, mailroom: Mailroom | None) -> list[str]:
    """The profile's template overrides, then the shipped templates, into a root that has
    none yet."""
    if templates.exists():
        return []
    writer: Mailroom | _Plain = mailroom if mailroom is not None else _Plain()
    copied: list[str] = []
    overrides = profile_templates(profile)
    if overrides is not None:
        copied += _copy_tree(overrides, templates, writer)
    copied += _copy_tree(builtin_templates(), templates, writer)
    return [f"Copied {len(copied)} template files into {templates}"]


class _Plain:
    """Writes files as the mailroom would, for a root whose configuration cannot load yet."""

    def mkdir(self, path: Path) -> None:
        path.mkdir(mode=0o750, parents=True, exist_ok=True)

    def write_file(self, path: Path, data: bytes) -> None:
        path.write_bytes(data)
        os.chmod(path, 0o640)
