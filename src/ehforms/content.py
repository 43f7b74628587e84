"""The content ehforms ships beside the engine: the documents' templates and the sample forms
(synthetic families) that the demo puts through a root."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

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
